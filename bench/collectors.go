package bench

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lookoutdev/lookout/internal/freeport"
)

var (
	//go:embed configs/upstream.yaml
	upstreamConfig []byte
	//go:embed configs/upstream-matched.yaml
	upstreamMatchedConfig []byte
)

// Collector names.
const (
	Lookout  = "lookout"
	Upstream = "upstream"
	// UpstreamMatched is the upstream binary with upstream.yaml and upstream-matched.yaml merged:
	// configured as Lookout is where it goes beyond upstream's defaults (on-disk queues, span
	// metrics and service graph for logs and traces; the labels of every series for metrics).
	UpstreamMatched = "upstream-matched"
)

// Collectors are the collectors a run has unless told otherwise, in the table's order.
var Collectors = []string{Lookout, Upstream, UpstreamMatched}

// collector is one binary under test and how to run it.
type collector struct {
	name string
	bin  string
}

// process is a running collector.
type process struct {
	name     string
	cmd      *exec.Cmd
	done     chan struct{}
	err      error
	logPath  string
	otlpGRPC string // its OTLP/gRPC receiver, for the trace generator
	pprof    string
	health   string
	sampler  *sampler
	cancel   context.CancelFunc
}

// addrs are the loopback addresses a run gives a collector.
type addrs struct {
	otlpGRPC, otlpHTTP, health, pprof, zpages, metrics string
}

func newAddrs() (addrs, error) {
	var a addrs
	ptrs := []*string{&a.otlpGRPC, &a.otlpHTTP, &a.health, &a.pprof, &a.zpages, &a.metrics}
	free, err := freeport.Addrs(len(ptrs))
	if err != nil {
		return a, err
	}
	for i, p := range ptrs {
		*p = free[i]
	}
	return a, nil
}

// start runs the collector on runDir (pods/, targets/ and state/ inside it) with free ports,
// exporting to s, and waits until its health check answers.
func (c collector) start(ctx context.Context, runDir string, s *sinks) (*process, error) {
	p, err := c.startOnce(ctx, runDir, s)
	if err != nil && strings.Contains(err.Error(), "address already in use") {
		// A port chosen free was taken by another process before the collector bound it.
		p, err = c.startOnce(ctx, runDir, s)
	}
	return p, err
}

func (c collector) startOnce(ctx context.Context, runDir string, s *sinks) (*process, error) {
	a, err := newAddrs()
	if err != nil {
		return nil, err
	}
	_, metricsPort, _ := net.SplitHostPort(a.metrics)
	var args, env []string
	switch c.name {
	case Lookout:
		// Lookout's local config, as shipped: only endpoints and ports change.
		args = []string{
			"--config", "lookout:local",
			"--set=extensions::health_check::endpoint=" + a.health,
			"--set=extensions::pprof::endpoint=" + a.pprof,
			"--set=extensions::zpages::endpoint=" + a.zpages,
			"--set=receivers::otlp::protocols::grpc::endpoint=" + a.otlpGRPC,
			"--set=receivers::otlp::protocols::http::endpoint=" + a.otlpHTTP,
		}
		env = []string{
			"LOOKOUT_RUN_DIR=" + runDir,
			"LOOKOUT_METRICS_PORT=" + metricsPort,
			"PROMETHEUS_URL=http://" + s.rw.addr + "/api/v1/write",
			"LOKI_URL=http://" + s.loki.addr + "/loki/api/v1/push",
			"TEMPO_ENDPOINT=" + s.otlpGRPC.addr,
		}
	case Upstream, UpstreamMatched:
		type config struct {
			file string
			text []byte
		}
		configs := []config{{"upstream.yaml", upstreamConfig}}
		if c.name == UpstreamMatched {
			configs = append(configs, config{"upstream-matched.yaml", upstreamMatchedConfig})
		}
		for _, cf := range configs {
			cfg := filepath.Join(runDir, cf.file)
			if err := os.WriteFile(cfg, cf.text, 0o644); err != nil {
				return nil, fmt.Errorf("write %s: %w", cf.file, err)
			}
			args = append(args, "--config", "file:"+cfg) // later files are merged over earlier ones
		}
		env = []string{
			"BENCH_RUN_DIR=" + runDir,
			"BENCH_HEALTH=" + a.health,
			"BENCH_PPROF=" + a.pprof,
			"BENCH_OTLP_GRPC=" + a.otlpGRPC,
			"BENCH_OTLP_HTTP=" + a.otlpHTTP,
			"BENCH_METRICS_PORT=" + metricsPort,
			"BENCH_LOGS_URL=http://" + s.otlpLogs.addr + "/v1/logs",
			"BENCH_TRACES_URL=http://" + s.otlpTraces.addr + "/v1/traces",
			"BENCH_RW_URL=http://" + s.rw.addr + "/api/v1/write",
		}
	default:
		return nil, fmt.Errorf("unknown collector %q", c.name)
	}
	logPath := filepath.Join(runDir, c.name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", logPath, err)
	}
	defer logFile.Close()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = runDir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.bin, err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	p := &process{
		name: c.name, cmd: cmd, done: make(chan struct{}), logPath: logPath,
		otlpGRPC: a.otlpGRPC, pprof: a.pprof, health: a.health, cancel: cancel,
		sampler: startSampler(sctx, cmd.Process.Pid, 100*time.Millisecond),
	}
	go func() { p.err = cmd.Wait(); cancel(); close(p.done) }()
	if err := waitReady(ctx, "http://"+a.health+"/", 90*time.Second, p.exited); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("%s did not become ready: %w\n%s", c.name, err, p.logTail())
	}
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// alive returns an error when the process has exited.
func (p *process) alive() error {
	if p.exited() {
		return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.logTail())
	}
	return nil
}

// stop sends SIGTERM and waits up to 30 s, then SIGKILL.
func (p *process) stop() error {
	defer p.cancel()
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
		}
	}
	return nil
}

// logTail is the end of the process's output, for error messages.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	const keep = 4000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return "output of " + p.name + " (end):\n" + strings.TrimSpace(string(b))
}

// problems returns the process's log lines at error level (a few), for the run's notes.
func (p *process) errorLines(limit int) []string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"level":"error"`) {
			if len(l) > 300 {
				l = l[:300] + "…"
			}
			out = append(out, l)
			if len(out) == limit {
				break
			}
		}
	}
	return out
}
