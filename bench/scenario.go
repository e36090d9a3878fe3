package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Kind is what a scenario feeds the collectors.
type Kind string

// Scenario kinds.
const (
	KindLogs    Kind = "logs"    // pod log files present at start, read to the end (a backlog drain)
	KindTraces  Kind = "traces"  // OTLP/gRPC spans at a fixed rate, or as fast as acknowledged
	KindMetrics Kind = "metrics" // Prometheus targets scraped every 15 s, remote write
	KindIdle    Kind = "idle"    // nothing flowing
)

// Scenario is one workload, run through each collector in turn.
type Scenario struct {
	Name string
	Kind Kind

	// Logs: how many lines, in how many pods' files, of what size.
	Pods, Lines, LineSize int

	// Traces: spans a second in all (0: as fast as acknowledged), concurrent senders, spans a
	// request.
	TraceRate    float64
	TraceWorkers int
	TraceBatch   int

	// Metrics: targets, series per target.
	Targets, Series int

	// Traces, metrics and idle: time before the measured window (start-up, first scrapes), and
	// the window.
	Warmup, Window time.Duration

	// Runs is how many times Lookout and upstream each run the scenario, taking turns, where one
	// run's CPU per item moves by 10-20 % from run to run on a shared VM: the table has each
	// one's median run, and a note every run's figure. 0 means once; upstream-matched (a
	// comparison, not a target) and cat run once.
	Runs int
}

// scrapeInterval is the interval both collectors' configs scrape targets at.
const scrapeInterval = 15 * time.Second

// FullScenarios is what `make bench` runs (about 37 minutes on 2 cores). The scenarios whose
// ratio is closest to its target run three times, traces at 5,000 spans/s five: at a tenth of a
// core its runs spread the most (±20-30 %). Scrape runs three times too: one 120 s run of the
// same binary reads anywhere from 0.91× to 1.20× upstream's.
func FullScenarios() []Scenario {
	return []Scenario{
		{Name: "pod logs, 200 B lines", Kind: KindLogs, Pods: 20, Lines: 2_000_000, LineSize: 200, Runs: 3},
		{Name: "pod logs, 100 B lines", Kind: KindLogs, Pods: 20, Lines: 2_000_000, LineSize: 100, Runs: 3},
		{Name: "pod logs, 1 KiB lines", Kind: KindLogs, Pods: 20, Lines: 2_000_000, LineSize: 1024, Runs: 3},
		{Name: "OTLP traces, 5,000 spans/s", Kind: KindTraces, TraceRate: 5000, TraceWorkers: 2, TraceBatch: 100, Warmup: 10 * time.Second, Window: 30 * time.Second, Runs: 5},
		{Name: "OTLP traces, max rate", Kind: KindTraces, TraceWorkers: 4, TraceBatch: 200, Warmup: 10 * time.Second, Window: 30 * time.Second, Runs: 3},
		{Name: "scrape 100 targets × 1,000 series", Kind: KindMetrics, Targets: 100, Series: 1000, Window: 8 * scrapeInterval, Runs: 3},
		{Name: "idle", Kind: KindIdle, Warmup: 10 * time.Second, Window: 60 * time.Second},
	}
}

// QuickScenarios are small versions of every kind, to see that the harness and both
// collectors work (about a minute and a half); their figures are not for judging speed.
func QuickScenarios() []Scenario {
	return []Scenario{
		{Name: "pod logs, 200 B lines (quick)", Kind: KindLogs, Pods: 4, Lines: 100_000, LineSize: 200},
		{Name: "OTLP traces, 2,000 spans/s (quick)", Kind: KindTraces, TraceRate: 2000, TraceWorkers: 2, TraceBatch: 100, Warmup: 2 * time.Second, Window: 3 * time.Second},
		{Name: "OTLP traces, max rate (quick)", Kind: KindTraces, TraceWorkers: 2, TraceBatch: 200, Warmup: 2 * time.Second, Window: 3 * time.Second},
		{Name: "scrape 10 targets × 1,000 series (quick)", Kind: KindMetrics, Targets: 10, Series: 1000, Window: 0},
		{Name: "idle (quick)", Kind: KindIdle, Warmup: 2 * time.Second, Window: 5 * time.Second},
	}
}

// Result is what one collector did in one scenario.
type Result struct {
	Scenario  string
	Kind      Kind
	Collector string // lookout, upstream, or cat (the floor for reading log files)

	Items  int64         // items delivered in the measured window
	CPU    time.Duration // user+system CPU time of the process in the window
	Window time.Duration

	PeakRSS, PeakAnon     int64 // VmHWM and the highest RssAnon, start-up included
	SteadyRSS, SteadyAnon int64 // medians over the window
	WireBytes, WireItems  int64 // bytes the sink read (framing included) and the items they carried

	Notes []string
	Err   error // what did not arrive, or went wrong
}

// CPUPerMillion is CPU-seconds per million items; 0 when no item was measured.
func (r Result) CPUPerMillion() float64 {
	if r.Items == 0 {
		return 0
	}
	return r.CPU.Seconds() * 1e6 / float64(r.Items)
}

// Rate is the items a second delivered in the window.
func (r Result) Rate() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Items) / r.Window.Seconds()
}

// BytesPerItem is what the collector sent per item.
func (r Result) BytesPerItem() float64 {
	if r.WireItems == 0 {
		return 0
	}
	return float64(r.WireBytes) / float64(r.WireItems)
}

// Options choose what Run measures and with what.
type Options struct {
	Lookout, Upstream string // the binaries
	Work              string // data, run directories (with each collector's output) and profiles
	Scenarios         []Scenario
	Collectors        []string  // default: Collectors
	Profile           bool      // take a CPU profile of each collector in each window (Work/profiles)
	Log               io.Writer // progress; nil: none
}

// binary is the binary of the named collector; "" for an unknown name.
func (o Options) binary(collector string) string {
	switch collector {
	case Lookout:
		return o.Lookout
	case Upstream, UpstreamMatched:
		return o.Upstream
	}
	return ""
}

// runsIn reports whether the named collector runs in scenarios of kind k: upstream-matched runs
// only where its config differs from upstream's, everywhere but idle.
func runsIn(collector string, k Kind) bool {
	return collector != UpstreamMatched || k != KindIdle
}

// harness holds what the runs of one Run share.
type harness struct {
	opts  Options
	sinks *sinks
	log   io.Writer
}

// Run runs every scenario through every collector, one at a time, and returns the results. A
// collector that fails in one scenario gets a Result with Err; Run goes on with the rest.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if len(opts.Collectors) == 0 {
		opts.Collectors = Collectors
	}
	if err := os.MkdirAll(opts.Work, 0o755); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	// Each collector runs from a copy of its binary written here, as a container runtime writes
	// an image's files: how a binary's file got into the page cache moves the RSS of its mapped
	// pages by tens of MiB, most for a file the linker wrote a moment before (README: peak RSS).
	// Only the binaries of the collectors that run are copied, each once.
	copies := map[string]string{} // binary given -> its copy
	for _, c := range opts.Collectors {
		bin := opts.binary(c)
		if bin == "" {
			return nil, fmt.Errorf("collector %q: no binary given", c)
		}
		if _, ok := copies[bin]; ok {
			continue
		}
		copied, err := copyBinary(bin, filepath.Join(opts.Work, "run-bin", c))
		if err != nil {
			return nil, fmt.Errorf("collector %q: %w", c, err)
		}
		copies[bin] = copied
	}
	opts.Lookout, opts.Upstream = copies[opts.Lookout], copies[opts.Upstream]
	s, err := startSinks()
	if err != nil {
		return nil, err
	}
	defer s.close()
	h := &harness{opts: opts, sinks: s, log: opts.Log}
	if h.log == nil {
		h.log = io.Discard
	}
	rep := newReport()
	for _, sc := range opts.Scenarios {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rs, err := h.scenario(ctx, sc)
		rep.Results = append(rep.Results, rs...)
		if err != nil {
			return rep, err
		}
	}
	rep.finish()
	return rep, nil
}

// copyBinary copies the executable src to dst (replacing it) and returns dst.
func copyBinary(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("copy binary: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("copy binary: %w", err)
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("copy binary: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", fmt.Errorf("copy binary: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", fmt.Errorf("copy binary %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("copy binary %s: %w", src, err)
	}
	return dst, nil
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// scenario runs sc through each collector. Its error is for the harness's own failures (the
// data cannot be written); collectors' failures are in the results.
func (h *harness) scenario(ctx context.Context, sc Scenario) ([]Result, error) {
	h.logf("scenario %q", sc.Name)
	var out []Result
	var targets *scrapeTargets
	var logs logSet
	var logDir string
	switch sc.Kind {
	case KindLogs:
		logs = logSet{Pods: sc.Pods, Lines: sc.Lines, Size: sc.LineSize}
		logDir = filepath.Join(h.opts.Work, "data", fmt.Sprintf("logs-%d-%d-%d", sc.Pods, sc.Lines, sc.LineSize))
		size, err := logs.write(logDir)
		if err != nil {
			return nil, err
		}
		h.logf("  %s: %.0f MiB in %s", logs, float64(size)/(1<<20), logDir)
		if err := warm(ctx, logs, logDir); err != nil {
			return nil, err
		}
		cpu, maxRSS, err := catFloorWithRSS(ctx, logs, logDir)
		r := Result{Scenario: sc.Name, Kind: sc.Kind, Collector: "cat", Items: int64(sc.Lines), CPU: cpu, PeakRSS: maxRSS, Err: err}
		out = append(out, r)
	case KindMetrics:
		var err error
		targets, err = startTargets(sc.Targets, sc.Series)
		if err != nil {
			return nil, err
		}
		defer targets.close()
	case KindTraces, KindIdle:
	default:
		return nil, fmt.Errorf("scenario %q: unknown kind %q", sc.Name, sc.Kind)
	}
	runs := map[string][]Result{}
	for round := range max(sc.Runs, 1) {
		for _, name := range h.opts.Collectors {
			if !runsIn(name, sc.Kind) || round > 0 && name != Lookout && name != Upstream {
				continue
			}
			c := collector{name: name, bin: h.opts.binary(name)}
			runDir := filepath.Join(h.opts.Work, "runs", fmt.Sprintf("%s-%s", slug(sc.Name), name))
			if err := prepareRunDir(runDir, logDir); err != nil {
				return out, err
			}
			h.sinks.reset()
			r := Result{Scenario: sc.Name, Kind: sc.Kind, Collector: name}
			var err error
			switch sc.Kind {
			case KindLogs:
				if err := warm(ctx, logs, logDir); err != nil {
					return out, err
				}
				err = h.runLogs(ctx, c, runDir, sc, logs, &r)
			case KindTraces:
				err = h.runTraces(ctx, c, runDir, sc, &r)
			case KindMetrics:
				err = h.runMetrics(ctx, c, runDir, sc, targets, &r)
			case KindIdle:
				err = h.runIdle(ctx, c, runDir, sc, &r)
			}
			r.Err = errors.Join(r.Err, err, h.sinks.problems())
			if r.Err == nil {
				_ = os.RemoveAll(filepath.Join(runDir, "state")) // queues and offsets; the output stays
			}
			h.logf("  %-8s %s", name, summary(r))
			runs[name] = append(runs[name], r)
		}
	}
	for _, name := range h.opts.Collectors {
		if rs := runs[name]; len(rs) > 0 {
			out = append(out, medianRun(rs))
		}
	}
	return out, nil
}

// medianRun returns the run of a collector in a scenario that the table shows: the one with the
// median CPU per item (the lower of the middle two of an even number), with a note of every
// run's figure when there were several; or the first that failed, so that no failure is hidden
// behind a run that went well.
func medianRun(runs []Result) Result {
	for _, r := range runs {
		if r.Err != nil {
			return r
		}
	}
	if len(runs) == 1 {
		return runs[0]
	}
	sorted := slices.SortedStableFunc(slices.Values(runs), func(a, b Result) int {
		return cmp.Compare(a.CPUPerMillion(), b.CPUPerMillion())
	})
	figures := make([]string, len(runs))
	for i, r := range runs {
		figures[i] = fmt.Sprintf("%.2f", r.CPUPerMillion())
	}
	m := sorted[(len(sorted)-1)/2]
	m.Notes = append(slices.Clip(m.Notes), fmt.Sprintf("CPU s per M items in its %d runs, in order: %s; the row is the median run", len(runs), strings.Join(figures, ", ")))
	return m
}

func summary(r Result) string {
	s := fmt.Sprintf("items=%d cpu=%.2fs window=%.1fs cpu/M=%.2fs rate=%.0f/s peakRSS=%dMiB steadyRSS=%dMiB bytes/item=%.1f",
		r.Items, r.CPU.Seconds(), r.Window.Seconds(), r.CPUPerMillion(), r.Rate(), r.PeakRSS>>20, r.SteadyRSS>>20, r.BytesPerItem())
	for _, n := range r.Notes {
		s += "; " + n
	}
	if r.Err != nil {
		s += "\n    ERROR: " + r.Err.Error()
	}
	return s
}

// prepareRunDir makes a fresh run directory: pods/ (a link to the log data when there is
// some), targets/ and state/.
func prepareRunDir(dir, logDir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear run directory: %w", err)
	}
	for _, sub := range []string{"targets", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("run directory: %w", err)
		}
	}
	if logDir == "" {
		return os.MkdirAll(filepath.Join(dir, "pods"), 0o755)
	}
	abs, err := filepath.Abs(filepath.Join(logDir, "pods"))
	if err != nil {
		return fmt.Errorf("log data: %w", err)
	}
	if err := os.Symlink(abs, filepath.Join(dir, "pods")); err != nil {
		return fmt.Errorf("link the log data: %w", err)
	}
	return nil
}

// window measures a process between two readings.
type window struct {
	p     *process
	start procStat
}

func begin(p *process) (window, error) {
	st, err := p.sampler.now()
	return window{p: p, start: st}, err
}

// end fills r's CPU time, window and memory figures.
func (w window) end(r *Result) error {
	st, err := w.p.sampler.now()
	if err != nil {
		return err
	}
	r.CPU = st.cpu - w.start.cpu
	r.Window = st.at.Sub(w.start.at)
	r.SteadyRSS, r.SteadyAnon = w.p.sampler.window(w.start.at, st.at)
	r.PeakRSS, r.PeakAnon = w.p.sampler.peak()
	return nil
}

// profile takes a CPU profile of p for d, then a heap profile, into Work/profiles when
// Options.Profile is set. It returns a function that waits for both: p must run until then (a
// profile as long as the window ends after it).
func (h *harness) profile(ctx context.Context, p *process, name string, d time.Duration) (wait func()) {
	if !h.opts.Profile || d < time.Second {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		base := fmt.Sprintf("http://%s/debug/pprof/", p.pprof)
		if err := h.fetch(ctx, base+fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), name+".pprof"); err != nil {
			h.logf("  profile: %v", err)
			return
		}
		if err := h.fetch(ctx, base+"heap", name+".heap.pprof"); err != nil {
			h.logf("  profile: %v", err)
		}
	}()
	return func() { <-done }
}

func (h *harness) fetch(ctx context.Context, url, file string) error {
	dir := filepath.Join(h.opts.Work, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	path := filepath.Join(dir, file)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	h.logf("  profile: %s", path)
	return f.Close()
}

func (h *harness) runLogs(ctx context.Context, c collector, runDir string, sc Scenario, logs logSet, r *Result) error {
	p, err := c.start(ctx, runDir, h.sinks)
	if err != nil {
		return err
	}
	defer p.stop()
	w, err := begin(p)
	if err != nil {
		return err
	}
	defer h.profile(ctx, p, slug(sc.Name)+"-"+c.name, 5*time.Second)()
	want := int64(logs.Lines)
	var last int64
	progress := time.Now()
	for {
		got := h.sinks.logs.distinct()
		if got >= want {
			break
		}
		if got > last {
			last, progress = got, time.Now()
		}
		if time.Since(progress) > 60*time.Second {
			return fmt.Errorf("no progress for 60s: %d of %d lines arrived", got, want)
		}
		if err := p.alive(); err != nil {
			return err
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	if err := w.end(r); err != nil {
		return err
	}
	r.Items = want
	st := h.sinks.logs.stats()
	if st.dups > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d duplicates", st.dups))
	}
	var errs []error
	for pod := range logs.Pods {
		if n := h.sinks.logs.missing(pod, 0, uint64(logs.perPod(pod))); n > 0 {
			errs = append(errs, fmt.Errorf("pod %d: %d lines missing", pod, n))
		}
	}
	if st.foreign > 0 {
		errs = append(errs, fmt.Errorf("%d log records without a line number arrived", st.foreign))
	}
	r.WireItems = want
	r.WireBytes = h.sinks.loki.wire.Load() + h.sinks.otlpLogs.wire.Load()
	return errors.Join(errs...)
}

func (h *harness) runTraces(ctx context.Context, c collector, runDir string, sc Scenario, r *Result) error {
	p, err := c.start(ctx, runDir, h.sinks)
	if err != nil {
		return err
	}
	defer p.stop()
	gen, err := newTraceGen(p.otlpGRPC, sc.TraceBatch)
	if err != nil {
		return err
	}
	defer gen.close()
	gctx, stopGen := context.WithCancel(ctx)
	genDone := make(chan struct{})
	go func() { defer close(genDone); gen.run(gctx, sc.TraceWorkers, sc.TraceRate) }()
	defer func() { stopGen(); <-genDone }()

	if err := sleep(ctx, sc.Warmup); err != nil {
		return err
	}
	w, err := begin(p)
	if err != nil {
		return err
	}
	acked0, recv0 := gen.acked.Load(), h.sinks.spans.distinct()
	defer h.profile(ctx, p, slug(sc.Name)+"-"+c.name, sc.Window)()
	if err := sleep(ctx, sc.Window); err != nil {
		return err
	}
	if err := w.end(r); err != nil {
		return err
	}
	acked1, recv1 := gen.acked.Load(), h.sinks.spans.distinct()
	stopGen()
	<-genDone
	r.Items = recv1 - recv0
	if lag0, lag1 := acked0-recv0, acked1-recv1; sc.TraceRate > 0 && float64(lag1-lag0) > sc.TraceRate {
		r.Notes = append(r.Notes, fmt.Sprintf("lag grew by %d spans in the window", lag1-lag0))
	} else if sc.TraceRate == 0 && lag1-lag0 > int64(sc.TraceBatch*sc.TraceWorkers)*10 {
		r.Notes = append(r.Notes, fmt.Sprintf("lag grew by %d spans in the window", lag1-lag0))
	}
	if sc.TraceRate > 0 && r.Rate() < 0.95*sc.TraceRate {
		r.Notes = append(r.Notes, fmt.Sprintf("delivered %.0f spans/s of %.0f", r.Rate(), sc.TraceRate))
	}

	// Everything acknowledged must arrive.
	deadline := time.Now().Add(60 * time.Second)
	var missing int64
	for {
		missing = gen.missing(&h.sinks.spans)
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		if err := p.alive(); err != nil {
			return err
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	st := h.sinks.spans.stats()
	r.WireItems = st.count
	r.WireBytes = h.sinks.otlpGRPC.wire.Load() + h.sinks.otlpTraces.wire.Load()
	if n := gen.refused.Load(); n > 0 {
		msg := ""
		if p := gen.lastErr.Load(); p != nil {
			msg = *p
		}
		r.Notes = append(r.Notes, fmt.Sprintf("%d spans refused to the generator (last: %s)", n, msg))
	}
	if st.dups > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d duplicates", st.dups))
	}
	var errs []error
	if missing > 0 {
		errs = append(errs, fmt.Errorf("%d of %d acknowledged spans did not arrive", missing, gen.acked.Load()))
	}
	if st.foreign > 0 {
		errs = append(errs, fmt.Errorf("%d spans without a generator span ID arrived", st.foreign))
	}
	return errors.Join(errs...)
}

func (h *harness) runMetrics(ctx context.Context, c collector, runDir string, sc Scenario, targets *scrapeTargets, r *Result) error {
	targets.resetCounts()
	if err := targets.writeFileSD(filepath.Join(runDir, "targets", "bench.json")); err != nil {
		return err
	}
	p, err := c.start(ctx, runDir, h.sinks)
	if err != nil {
		return err
	}
	defer p.stop()

	// Warm-up: until every target's first scrape arrived whole. With no window (the quick
	// scenario) that first round is what is measured.
	var w window
	if sc.Window == 0 {
		if w, err = begin(p); err != nil {
			return err
		}
	}
	const firstRound = 2*scrapeInterval + 30*time.Second
	deadline := time.Now().Add(firstRound)
	for {
		whole, _, _ := h.sinks.metrics.scrapes(sc.Series)
		if len(whole) >= sc.Targets {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s, %d of %d targets had a whole scrape delivered", firstRound, len(whole), sc.Targets)
		}
		if err := p.alive(); err != nil {
			return err
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	var b0 int64
	if sc.Window > 0 {
		if w, err = begin(p); err != nil {
			return err
		}
		b0 = h.sinks.metrics.benchSamples()
		defer h.profile(ctx, p, slug(sc.Name)+"-"+c.name, sc.Window)()
		if err := sleep(ctx, sc.Window); err != nil {
			return err
		}
	}
	if err := w.end(r); err != nil {
		return err
	}
	r.Items = h.sinks.metrics.benchSamples() - b0

	// Stop the targets, then everything they served must arrive.
	targets.down.Store(true)
	_, served := targets.totalServed()
	deadline = time.Now().Add(30 * time.Second)
	var short []string
	var partial, extra int
	for {
		var whole map[string]int
		whole, partial, extra = h.sinks.metrics.scrapes(sc.Series)
		short = short[:0]
		for addr, n := range served {
			if whole[addr] < n {
				short = append(short, fmt.Sprintf("%s: %d of %d scrapes", addr, whole[addr], n))
			}
		}
		if len(short) == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	h.sinks.metrics.mu.Lock()
	r.WireItems = h.sinks.metrics.samples
	h.sinks.metrics.mu.Unlock()
	r.WireBytes = h.sinks.rw.wire.Load()
	med, worst := h.sinks.metrics.delayStats()
	r.Notes = append(r.Notes, fmt.Sprintf("scrape to remote write: median %s, worst %s", med.Round(10*time.Millisecond), worst.Round(10*time.Millisecond)))
	var errs []error
	if len(short) > 0 {
		errs = append(errs, fmt.Errorf("scrapes served but not delivered whole: %v", short))
	}
	if partial > 0 {
		errs = append(errs, fmt.Errorf("%d scrapes arrived in part", partial))
	}
	if extra > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d scrapes arrived more than once", extra))
	}
	return errors.Join(errs...)
}

func (h *harness) runIdle(ctx context.Context, c collector, runDir string, sc Scenario, r *Result) error {
	p, err := c.start(ctx, runDir, h.sinks)
	if err != nil {
		return err
	}
	defer p.stop()
	if err := sleep(ctx, sc.Warmup); err != nil {
		return err
	}
	w, err := begin(p)
	if err != nil {
		return err
	}
	if err := sleep(ctx, sc.Window); err != nil {
		return err
	}
	if err := p.alive(); err != nil {
		return err
	}
	return w.end(r)
}

// catFloorWithRSS is catFloor with cat's peak RSS.
func catFloorWithRSS(ctx context.Context, s logSet, dir string) (time.Duration, int64, error) {
	cpu, usage, err := catFloor(ctx, s, dir)
	if err != nil {
		return 0, 0, err
	}
	var rss int64
	if ru, ok := usage.(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
	}
	return cpu, rss, nil
}

// slug turns a scenario name into a file name.
func slug(s string) string {
	b := make([]byte, 0, len(s))
	dash := false
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
			dash = false
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
			dash = false
		default:
			if !dash && len(b) > 0 {
				b = append(b, '-')
				dash = true
			}
		}
	}
	for len(b) > 0 && b[len(b)-1] == '-' {
		b = b[:len(b)-1]
	}
	return string(b)
}
