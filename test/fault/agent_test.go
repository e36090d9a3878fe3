package fault

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// agent is the real lookout binary on its built-in local config (what `lookout` runs with no
// --config), pointed at the proxies through the environment the config documents, on free
// ports. It can be killed and started again on the same ports and run directory.
type agent struct {
	t       *testing.T
	runDir  string
	env     []string
	args    []string // after the port settings: more --config or --set
	wrapper []string // a command that runs the agent (e.g. unshare, for a small file system)

	grpc, http, health, metricsPort string

	mu      sync.Mutex
	p       *lookouttest.Process
	all     []*lookouttest.Process // every process started, in order
	peakRSS int64                  // bytes: the largest VmHWM of any of its processes
	peakHap float64                // bytes: the largest heap it reported (otelcol_process_runtime_heap_alloc_bytes)
	starts  int
	stop    chan struct{}
	stopped sync.WaitGroup
}

type endpoints struct {
	prometheusURL, lokiURL, tempoEndpoint string
}

func newAgent(t *testing.T, ep endpoints, env []string, args ...string) *agent {
	t.Helper()
	_, metricsPort, _ := net.SplitHostPort(lookouttest.FreeAddr(t))
	a := &agent{
		t: t, runDir: t.TempDir(),
		grpc: lookouttest.FreeAddr(t), http: lookouttest.FreeAddr(t), health: lookouttest.FreeAddr(t),
		metricsPort: metricsPort, args: args, stop: make(chan struct{}),
	}
	a.env = append([]string{
		"LOOKOUT_RUN_DIR=" + a.runDir,
		"PROMETHEUS_URL=" + ep.prometheusURL,
		"LOKI_URL=" + ep.lokiURL,
		"TEMPO_ENDPOINT=" + ep.tempoEndpoint,
		"LOOKOUT_METRICS_PORT=" + metricsPort,
		"K8S_NODE_NAME=fault-node",
		"K8S_CLUSTER_NAME=fault",
	}, env...)
	t.Cleanup(func() {
		close(a.stop)
		a.stopped.Wait()
	})
	return a
}

func (a *agent) metricsURL() string { return "http://127.0.0.1:" + a.metricsPort + "/metrics" }
func (a *agent) healthURL() string  { return "http://" + a.health + "/" }

// start runs the agent and waits until it is healthy.
func (a *agent) start() {
	a.t.Helper()
	args := append([]string{
		"--set=receivers::otlp::protocols::grpc::endpoint=" + a.grpc,
		"--set=receivers::otlp::protocols::http::endpoint=" + a.http,
		"--set=extensions::health_check::endpoint=" + a.health,
		"--set=extensions::pprof::endpoint=" + lookouttest.FreeAddr(a.t),
		"--set=extensions::zpages::endpoint=" + lookouttest.FreeAddr(a.t),
	}, a.args...)
	bin := lookoutBin
	if len(a.wrapper) > 0 {
		args = append(append(append([]string(nil), a.wrapper[1:]...), lookoutBin), args...)
		bin = a.wrapper[0]
	}
	p := lookouttest.Start(a.t, bin, args, a.env...)
	a.mu.Lock()
	a.p = p
	a.all = append(a.all, p)
	a.starts++
	first := a.starts == 1
	a.mu.Unlock()
	if first {
		a.stopped.Add(1)
		go a.monitor()
	}
	p.WaitHTTP(a.t, a.healthURL(), 90*time.Second)
}

// kill SIGKILLs the agent.
func (a *agent) kill() {
	a.mu.Lock()
	p := a.p
	a.mu.Unlock()
	a.sampleRSS(p)
	p.Kill()
}

// process returns the current process.
func (a *agent) process() *lookouttest.Process {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.p
}

// output returns the output of every process so far.
func (a *agent) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	outs := make([]string, len(a.all))
	for i, p := range a.all {
		outs[i] = p.Output()
	}
	return strings.Join(outs, "\n--- started again ---\n")
}

// peaks returns the peak RSS and heap seen so far.
func (a *agent) peaks() (rss int64, heap float64) {
	if p := a.process(); p != nil {
		a.sampleRSS(p)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peakRSS, a.peakHap
}

// monitor samples the running process's peak RSS every 250 ms and its heap every second.
func (a *agent) monitor() {
	defer a.stopped.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
		p := a.process()
		if p == nil || p.Exited() {
			continue
		}
		a.sampleRSS(p)
		if i%4 == 0 {
			if v, err := scrapeValue(context.Background(), a.metricsURL(), "otelcol_process_runtime_heap_alloc_bytes", nil); err == nil {
				a.mu.Lock()
				a.peakHap = max(a.peakHap, v)
				a.mu.Unlock()
			}
		}
	}
}

func (a *agent) sampleRSS(p *lookouttest.Process) {
	if p == nil || p.Exited() {
		return
	}
	hwm, err := procStatus(p.Pid(), "VmHWM")
	if err != nil {
		return
	}
	a.mu.Lock()
	a.peakRSS = max(a.peakRSS, hwm)
	a.mu.Unlock()
}

// procStatus reads a "kB" field of /proc/<pid>/status, in bytes. (With a wrapper that execs the
// agent, the pid is the agent's.)
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, field, err)
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

var scrapeClient = &http.Client{Timeout: 5 * time.Second}

// scrapeValue returns the sum of the samples of metric whose labels include every pair of want,
// from a Prometheus text exposition at url.
func scrapeValue(ctx context.Context, url, metric string, want map[string]string) (float64, error) {
	text, err := scrapeText(ctx, url)
	if err != nil {
		return 0, err
	}
	return sumSamples(text, metric, want)
}

// scrapeText fetches a Prometheus text exposition.
func scrapeText(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// sumSamples adds up the samples of metric (labels matching want) in a text exposition; an error
// when there is none.
func sumSamples(text, metric string, want map[string]string) (float64, error) {
	found := false
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, metric) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(metric):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // another metric with this prefix
		}
		match := true
		for k, v := range want {
			if !strings.Contains(labels, k+`="`+v+`"`) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", metric, line, err)
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("no %s%v in the exposition", metric, want)
	}
	return sum, nil
}
