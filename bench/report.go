package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Report is one Run: the machine, when, how busy it was, and the results.
type Report struct {
	Started, Finished  time.Time
	CPUModel           string
	CPUs               int
	LoadStart, LoadEnd string // /proc/loadavg's 1, 5 and 15 minute averages
	Commit             string // set by the caller
	Results            []Result
	Quick              bool // QuickScenarios: not for judging speed
}

func newReport() *Report {
	return &Report{Started: time.Now(), CPUModel: cpuModel(), CPUs: runtime.NumCPU(), LoadStart: loadAvg()}
}

func (r *Report) finish() {
	r.Finished = time.Now()
	r.LoadEnd = loadAvg()
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// find returns the result of collector in scenario.
func (r *Report) find(scenario, collector string) (Result, bool) {
	for _, res := range r.Results {
		if res.Scenario == scenario && res.Collector == collector {
			return res, true
		}
	}
	return Result{}, false
}

func (r *Report) scenarios() []string {
	var out []string
	seen := map[string]bool{}
	for _, res := range r.Results {
		if !seen[res.Scenario] {
			seen[res.Scenario] = true
			out = append(out, res.Scenario)
		}
	}
	return out
}

// Failed lists the results with errors.
func (r *Report) Failed() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Err != nil {
			out = append(out, res)
		}
	}
	return out
}

const mib = 1 << 20

// Markdown renders the machine, the table, the targets and the notes.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s – %s on %d × %s; load average (1, 5, 15 min) %s at the start, %s at the end.\n",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Finished.UTC().Format("15:04 UTC"), r.CPUs, r.CPUModel, r.LoadStart, r.LoadEnd)
	if r.Commit != "" {
		fmt.Fprintf(&b, "Lookout at commit `%s`.", r.Commit)
	}
	if r.Quick {
		b.WriteString(" **Quick scenarios: they check that everything works, their figures are not for judging speed.**")
	}
	b.WriteString("\n\n")
	b.WriteString("| scenario | collector | items | CPU s per M items | × upstream | items/s | peak RSS MiB (anon) | steady RSS MiB (anon) | bytes per item |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
	var notes []string
	for _, sc := range r.scenarios() {
		up, hasUp := r.find(sc, Upstream)
		for _, c := range append(slices.Clone(Collectors), "cat") {
			res, ok := r.find(sc, c)
			if !ok {
				continue
			}
			cpu, ratio := "", ""
			switch {
			case res.Err != nil && res.Items == 0:
				cpu = "failed"
			case res.Kind == KindIdle:
				if res.Window > 0 {
					cpu = fmt.Sprintf("%.2f s/min", res.CPU.Seconds()*60/res.Window.Seconds())
				}
				if c == Lookout && hasUp && up.CPU > 0 && up.Window > 0 {
					ratio = fmt.Sprintf("%.2f", (res.CPU.Seconds()/res.Window.Seconds())/(up.CPU.Seconds()/up.Window.Seconds()))
				}
			default:
				cpu = fmt.Sprintf("%.2f", res.CPUPerMillion())
				if c != Upstream && hasUp && up.CPUPerMillion() > 0 {
					ratio = fmt.Sprintf("%.2f", res.CPUPerMillion()/up.CPUPerMillion())
				}
			}
			items, rate, peak, steady, bpi := "", "", "", "", ""
			if res.Items > 0 {
				items = fmt.Sprintf("%d", res.Items)
			}
			if res.Rate() > 0 {
				rate = fmt.Sprintf("%.0f", res.Rate())
			}
			if res.PeakRSS > 0 {
				peak = fmt.Sprintf("%.0f", float64(res.PeakRSS)/mib)
				if res.PeakAnon > 0 {
					peak += fmt.Sprintf(" (%.0f)", float64(res.PeakAnon)/mib)
				}
			}
			if res.SteadyRSS > 0 {
				steady = fmt.Sprintf("%.0f (%.0f)", float64(res.SteadyRSS)/mib, float64(res.SteadyAnon)/mib)
			}
			if res.BytesPerItem() > 0 {
				bpi = fmt.Sprintf("%.1f", res.BytesPerItem())
			}
			mark := ""
			for _, n := range res.Notes {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", sc, c, n))
				mark = "¹"
			}
			if res.Err != nil {
				notes = append(notes, fmt.Sprintf("%s, %s: **error**: %s", sc, c, oneLine(res.Err.Error())))
				mark = " ✗"
			}
			fmt.Fprintf(&b, "| %s | %s%s | %s | %s | %s | %s | %s | %s | %s |\n", sc, c, mark, items, cpu, ratio, rate, peak, steady, bpi)
		}
	}
	if t := r.targets(); t != "" {
		b.WriteString("\n" + t)
	}
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// targets checks issue 10's targets against the results it has.
func (r *Report) targets() string {
	var lines []string
	check := func(ok bool, format string, args ...any) {
		mark := "met"
		if !ok {
			mark = "**missed**"
		}
		lines = append(lines, fmt.Sprintf("- %s: %s", fmt.Sprintf(format, args...), mark))
	}
	for _, sc := range r.scenarios() {
		l, okL := r.find(sc, Lookout)
		u, okU := r.find(sc, Upstream)
		if !okL || l.Err != nil {
			continue
		}
		switch l.Kind {
		case KindLogs:
			if okU && u.Err == nil && u.CPUPerMillion() > 0 {
				ratio := l.CPUPerMillion() / u.CPUPerMillion()
				check(ratio <= 0.2, "%s: CPU per line %.2f× upstream (target ≤ 0.2×)", sc, ratio)
			}
			check(l.PeakRSS <= 100*mib, "%s: peak RSS %.0f MiB, highest RssAnon %.0f MiB (target ≤ 100 MiB of RSS)", sc, float64(l.PeakRSS)/mib, float64(l.PeakAnon)/mib)
		case KindTraces, KindMetrics:
			if okU && u.Err == nil && u.CPUPerMillion() > 0 {
				ratio := l.CPUPerMillion() / u.CPUPerMillion()
				check(ratio <= 1.0, "%s: CPU per item %.2f× upstream (target ≤ 1.0×)", sc, ratio)
			}
		case KindIdle:
			check(l.SteadyRSS <= 60*mib, "%s: steady RSS %.0f MiB (target ≤ 60 MiB)", sc, float64(l.SteadyRSS)/mib)
		}
		if d, ok := r.find(sc, UpstreamMatched); ok && d.Err == nil && d.CPUPerMillion() > 0 {
			lines = append(lines, fmt.Sprintf("- %s: CPU per item %.2f× upstream-matched (upstream's components configured as Lookout is; a comparison, not a target)",
				sc, l.CPUPerMillion()/d.CPUPerMillion()))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return "Targets (issue 10):\n\n" + strings.Join(lines, "\n") + "\n"
}

// HistoryRow is the one-line summary of a run kept in docs/benchmarks.md's history.
func (r *Report) HistoryRow() string {
	cell := func(kind Kind, collector string) string {
		for _, res := range r.Results {
			if res.Kind == kind && res.Collector == collector && res.Err == nil && (kind != KindLogs || strings.Contains(res.Scenario, "200 B")) {
				if kind == KindIdle {
					return fmt.Sprintf("%.0f", float64(res.SteadyRSS)/mib)
				}
				if kind == KindTraces && !strings.Contains(res.Scenario, "max") && res.CPUPerMillion() > 0 {
					return fmt.Sprintf("%.1f", res.CPUPerMillion())
				}
				if kind != KindTraces && res.CPUPerMillion() > 0 {
					return fmt.Sprintf("%.1f", res.CPUPerMillion())
				}
			}
		}
		return "–"
	}
	logsRSS := "–"
	for _, res := range r.Results {
		if res.Kind == KindLogs && res.Collector == Lookout && strings.Contains(res.Scenario, "200 B") && res.Err == nil {
			logsRSS = fmt.Sprintf("%.0f", float64(res.PeakRSS)/mib)
		}
	}
	commit := r.Commit
	if commit == "" {
		commit = "–"
	}
	return fmt.Sprintf("| %s | `%s` | %s | %s / %s | %s | %s / %s | %s / %s | %s / %s |",
		r.Started.UTC().Format("2006-01-02 15:04"), commit, r.LoadStart,
		cell(KindLogs, Lookout), cell(KindLogs, Upstream), logsRSS,
		cell(KindTraces, Lookout), cell(KindTraces, Upstream),
		cell(KindMetrics, Lookout), cell(KindMetrics, Upstream),
		cell(KindIdle, Lookout), cell(KindIdle, Upstream))
}

// Markers of the generated parts of docs/benchmarks.md.
const (
	latestBegin  = "<!-- BEGIN latest: written by `make bench` (go run ./bench/cmd/bench); do not edit -->"
	latestEnd    = "<!-- END latest -->"
	historyBegin = "<!-- BEGIN history: `make bench` adds a row per run -->"
	historyEnd   = "<!-- END history -->"
)

// historyHeader heads the history table.
const historyHeader = "| run (UTC) | commit | load at start | logs 200 B: CPU s/M lines, lookout / upstream | logs: lookout peak RSS MiB | traces 5k/s: CPU s/M spans | scrape: CPU s/M samples | idle: steady RSS MiB |\n|---|---|---|---|---|---|---|---|"

// UpdateDoc writes rep into the benchmarks document at path: the latest results replace the
// generated section, a row is added to the history, and everything else is kept.
func UpdateDoc(path string, rep *Report) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w (it holds the hand-written parts; restore it from git)", path, err)
	}
	doc := string(b)
	doc, err = replaceBetween(doc, latestBegin, latestEnd, rep.Markdown())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	i := strings.Index(doc, historyEnd)
	if i < 0 || !strings.Contains(doc, historyBegin) {
		return fmt.Errorf("%s: no history section (%q … %q)", path, historyBegin, historyEnd)
	}
	doc = doc[:i] + rep.HistoryRow() + "\n" + doc[i:]
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func replaceBetween(doc, begin, end, body string) (string, error) {
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no section %q … %q", begin, end)
	}
	return doc[:i+len(begin)] + "\n" + body + doc[j:], nil
}
