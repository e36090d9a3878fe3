package fault

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// row is one line of the results table in docs/reliability.md.
type row struct {
	scenario string
	signal   signal
	outcome
	peakRSS  int64
	recovery time.Duration // 0: not measured (the scenario has no fault that ends)
	note     string
	failed   bool
}

type resultSet struct {
	mu   sync.Mutex
	rows []row
}

var results = &resultSet{}

func (rs *resultSet) add(r row) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.rows = append(rs.rows, r)
}

func mib(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%d MiB", (b+(1<<19))>>20)
}

func (r row) cells() []string {
	rec := "-"
	if r.recovery > 0 {
		rec = r.recovery.Round(100 * time.Millisecond).String()
	}
	name := r.scenario
	if r.failed {
		name += " **(FAILED)**"
	}
	return []string{name, string(r.signal), fmt.Sprint(r.sent), fmt.Sprint(r.received), fmt.Sprint(r.lost),
		fmt.Sprint(r.duplicated), mib(r.peakRSS), rec, r.note}
}

const tableHeader = "| scenario | signal | sent | received | lost | duplicated | peak RSS | recovery | note |\n" +
	"|---|---|---:|---:|---:|---:|---:|---:|---|\n"

func (rs *resultSet) table() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var b strings.Builder
	b.WriteString(tableHeader)
	for _, r := range rs.rows {
		b.WriteString("| " + strings.Join(r.cells(), " | ") + " |\n")
	}
	return b.String()
}

// report prints the table (go test -v shows it; `make test` logs it).
func (rs *resultSet) report(w io.Writer) error {
	rs.mu.Lock()
	n := len(rs.rows)
	rs.mu.Unlock()
	if n == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nfault suite results (%s):\n%s\n", currentScale().name, rs.table())
	return err
}

func reliabilityDoc() string {
	return filepath.Join(lookouttest.RepoRoot(), "docs", "reliability.md")
}

func beginMarker(section string) string {
	return "<!-- BEGIN " + section + ": written by `LOOKOUT_RELIABILITY_WRITE=1 go test ./test/fault`; do not edit -->"
}

func endMarker(section string) string { return "<!-- END " + section + " -->" }

// write puts this run's rows into the section's table in the doc (a row of the same scenario and
// signal is replaced, others are kept, so that a run of some scenarios updates just theirs), with
// when and where they were measured. Only the section between its markers changes.
func (rs *resultSet) write(path, section string, now time.Time) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(b)
	begin, end := beginMarker(section), endMarker(section)
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q ... %q section", path, begin, end)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fields := strings.Fields(string(load))
	loadavg := "unknown"
	if len(fields) >= 3 {
		loadavg = strings.Join(fields[:3], " ")
	}
	// The rows already there, by "scenario|signal".
	var order []string
	lines := map[string]string{}
	for _, l := range strings.Split(doc[i:j], "\n") {
		if k := rowKey(l); k != "" {
			order = append(order, k)
			lines[k] = l
		}
	}
	for _, l := range strings.Split(rs.table(), "\n") {
		k := rowKey(l)
		if k == "" {
			continue
		}
		if _, ok := lines[k]; !ok {
			order = append(order, k)
		}
		lines[k] = l
	}
	var table strings.Builder
	table.WriteString(tableHeader)
	for _, k := range order {
		table.WriteString(lines[k] + "\n")
	}
	body := fmt.Sprintf("%s\nLast written %s on %d CPUs (load average at the end: %s), %s.\n\n%s",
		begin, now.UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), loadavg, runtime.Version(), table.String())
	doc = doc[:i] + body + doc[j:]
	return os.WriteFile(path, []byte(doc), 0o644)
}

// rowKey is "scenario|signal" of a table row, "" for other lines (and the header).
func rowKey(line string) string {
	cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
	if !strings.HasPrefix(strings.TrimSpace(line), "|") || len(cells) < 3 {
		return ""
	}
	name := strings.TrimSpace(strings.ReplaceAll(cells[0], "**(FAILED)**", ""))
	sig := strings.TrimSpace(cells[1])
	if name == "scenario" || strings.HasPrefix(name, "---") {
		return ""
	}
	return name + "|" + sig
}
