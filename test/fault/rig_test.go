package fault

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/test/fault/backends"
	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// KeepEnv names a directory where a failed scenario leaves the agent's whole output.
const KeepEnv = "LOOKOUT_FAULT_KEEP"

// ArgsEnv adds command-line arguments (space-separated, e.g. --set=...) to every agent the
// scenarios start: to try a configuration change against the whole suite.
const ArgsEnv = "LOOKOUT_FAULT_ARGS"

// rig is one scenario's world: the three real backends, a fault proxy in front of each, the
// agent between the load and the proxies, and the load generators.
type rig struct {
	t  *testing.T
	id string // the run's ID: in every numbered item, namespace and service name

	vl     *backends.VictoriaLogs
	prom   *backends.Prometheus
	jaeger *backends.Jaeger
	loki   *faultproxy.HTTP   // in front of VictoriaLogs' Loki push API
	rw     *faultproxy.HTTP   // in front of Prometheus' remote-write receiver
	tempo  *faultproxy.Traces // in front of Jaeger's OTLP/gRPC

	agent *agent

	logs    *logWriter
	spans   *otlpSender
	metrics *otlpSender
	started time.Time
	stop    context.CancelFunc
	loadEnd chan struct{}
}

type rigOptions struct {
	// rules are Prometheus rule files to evaluate (every second).
	rules []string
	// the proxies' TLS and credentials (security scenarios).
	lokiTLS, rwTLS, tempoTLS    *tls.Config
	lokiAuth, rwAuth, tempoAuth string
	// agentEnv and agentArgs are added to the agent's environment and command line.
	agentEnv  []string
	agentArgs []string
	// wrapper runs the agent under another command (disk-full scenario).
	wrapper []string
}

var idChars = "abcdefghijklmnopqrstuvwxyz0123456789"

func newID() string {
	b := randomID()
	var s strings.Builder
	for _, c := range b[:8] {
		s.WriteByte(idChars[int(c)%len(idChars)])
	}
	return s.String()
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, id: newID()}
	r.vl = backends.StartVictoriaLogs(t)
	r.prom = backends.StartPrometheus(t, o.rules...)
	r.jaeger = backends.StartJaeger(t)
	var err error
	r.loki, err = faultproxy.StartHTTP(faultproxy.HTTPOptions{
		Target: r.vl.Base(), Items: faultproxy.LokiPushTokens, TLS: o.lokiTLS, Authorization: o.lokiAuth,
	})
	require.NoError(t, err)
	t.Cleanup(r.loki.Close)
	r.rw, err = faultproxy.StartHTTP(faultproxy.HTTPOptions{
		Target: r.prom.Base(), Items: faultproxy.RemoteWriteSamples(probeMetric), TLS: o.rwTLS, Authorization: o.rwAuth,
	})
	require.NoError(t, err)
	t.Cleanup(r.rw.Close)
	r.tempo, err = faultproxy.StartTraces(faultproxy.TracesOptions{
		Target: r.jaeger.OTLPAddr, TLS: o.tempoTLS, Authorization: o.tempoAuth,
	})
	require.NoError(t, err)
	t.Cleanup(r.tempo.Close)

	r.agent = newAgent(t, endpoints{
		prometheusURL: r.rw.URL() + backends.WritePath,
		lokiURL:       r.loki.URL() + backends.PushPath,
		tempoEndpoint: r.tempo.Addr(),
	}, o.agentEnv, append(o.agentArgs, strings.Fields(os.Getenv(ArgsEnv))...)...)
	r.agent.wrapper = o.wrapper
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		if dir := os.Getenv(KeepEnv); dir != "" {
			path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".agent.log")
			if err := os.WriteFile(path, []byte(r.agent.output()), 0o644); err == nil {
				t.Logf("agent output in %s", path)
				return
			}
		}
		t.Logf("agent output (the end; %s=<dir> keeps all of it):\n%s", KeepEnv, tail(r.agent.output(), 200))
	})
	return r
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// setAll sets the same fault on the three proxies.
func (r *rig) setAll(f faultproxy.Fault) {
	r.loki.Set(f)
	r.rw.Set(f)
	r.tempo.Set(f)
}

// The span load: requests of loadSpansPerRequest spans from loadSpanSenders senders at once.
const (
	loadSpansPerRequest = 20
	loadSpanSenders     = 4
)

// startLoad starts the three generators at the rates rate returns (per second; a function, so
// that a scenario can change them).
func (r *rig) startLoad(rate func() (logs, spans, samples int)) {
	r.t.Helper()
	var err error
	r.logs, err = newLogWriter(r.agent.runDir, r.id)
	require.NoError(r.t, err)
	r.spans, err = newOTLPSender(r.agent.grpc, "s", r.id, loadSpansPerRequest, loadSpanSenders)
	require.NoError(r.t, err)
	r.metrics, err = newOTLPSender(r.agent.grpc, "m", r.id, 1000, 1) // one worker: samples in order
	require.NoError(r.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.started = time.Now()
	r.loadEnd = make(chan struct{})
	done := make(chan struct{}, 3)
	go func() { pace(ctx, func() int { l, _, _ := rate(); return l }, r.logs.write); done <- struct{}{} }()
	go func() { pace(ctx, func() int { _, s, _ := rate(); return s }, r.spans.offer); done <- struct{}{} }()
	go func() { pace(ctx, func() int { _, _, m := rate(); return m }, r.metrics.offer); done <- struct{}{} }()
	go func() {
		for range 3 {
			<-done
		}
		close(r.loadEnd)
	}()
	r.t.Cleanup(r.stopLoad)
}

// stopLoad stops the generators and waits for the senders' queued batches.
func (r *rig) stopLoad() {
	if r.stop == nil {
		return
	}
	r.stop()
	r.stop = nil
	<-r.loadEnd
	r.spans.close()
	r.metrics.close()
	r.logs.close()
}

// signal names a data kind in results.
type signal string

const (
	sigLogs    signal = "logs"
	sigTraces  signal = "traces"
	sigMetrics signal = "metrics"
)

var allSignals = []signal{sigLogs, sigTraces, sigMetrics}

// sent returns the IDs of what the agent accepted, per signal.
func (r *rig) sent(s signal) []string {
	switch s {
	case sigLogs:
		w, err := r.logs.sent()
		require.NoError(r.t, err, "writing the pod log")
		return w
	case sigTraces:
		return r.spans.stats().want
	default:
		return r.metrics.stats().want
	}
}

func (r *rig) proxy(s signal) interface {
	Unique() int
	Stats() faultproxy.Stats
} {
	switch s {
	case sigLogs:
		return r.loki
	case sigTraces:
		return r.tempo
	default:
		return r.rw
	}
}

// waitDelivered waits until the proxy of each signal saw the backend accept every item sent
// (or timeout), and returns, per signal, how long after from that happened (0: never).
func (r *rig) waitDelivered(from time.Time, timeout time.Duration, signals ...signal) map[signal]time.Duration {
	out := map[signal]time.Duration{}
	want := map[signal][]string{}
	for _, s := range signals {
		want[s] = r.sent(s)
	}
	deadline := time.Now().Add(timeout)
	for len(out) < len(signals) && time.Now().Before(deadline) {
		for _, s := range signals {
			if _, ok := out[s]; ok {
				continue
			}
			p := r.proxy(s)
			if p.Unique() < len(want[s]) {
				continue
			}
			if len(p.Stats().Missing(want[s])) == 0 {
				out[s] = time.Since(from)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return out
}

// stored returns how many times the backend stored each item of the run, asking its own query
// API (VictoriaLogs' LogsQL, Jaeger's trace search, Prometheus' PromQL).
func (r *rig) stored(ctx context.Context, s signal) (map[string]int, error) {
	switch s {
	case sigLogs:
		return r.vl.Tokens(ctx, fmt.Sprintf(`{namespace=%q}`, r.logs.namespace), faultproxy.Tokens)
	case sigTraces:
		// 15-second slices: at the full scale's 10x (5,000 spans/s) a 2-minute answer was too
		// large for Jaeger to give within the minute a check allowed.
		return r.jaeger.SpanTags(ctx, "fault-"+r.id, faultproxy.SpanIDAttribute, r.started.Add(-time.Minute), time.Now().Add(time.Minute), 15*time.Second)
	default:
		series, err := r.prom.RawValues(ctx, fmt.Sprintf(`%s{run=%q}`, probeMetric, r.id), time.Since(r.started)+2*time.Minute)
		if err != nil {
			return nil, err
		}
		out := map[string]int{}
		for _, vals := range series {
			for _, v := range vals {
				out[faultproxy.SampleID(r.id, v)]++
			}
		}
		return out, nil
	}
}

// outcome is what became of one signal's data in a scenario.
type outcome struct {
	sent, received, lost, duplicated int
	missing                          []string
	cause                            string // what the backend says of the loss, when it says anything
}

// check compares what was sent with what the backend stored, polling until nothing is missing
// or timeout; duplicates are the deliveries the proxy saw beyond the first of each item (the
// backends merge or keep copies in their own ways).
func (r *rig) check(s signal, timeout time.Duration) outcome {
	r.t.Helper()
	want := r.sent(s)
	var got map[string]int
	var err error
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		got, err = r.stored(ctx, s)
		cancel()
		if err == nil && missingFrom(got, want) == 0 {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	require.NoError(r.t, err, "asking the %s backend", s)
	o := outcome{sent: len(want), duplicated: r.proxy(s).Stats().Duplicates()}
	for _, id := range want {
		if got[id] == 0 {
			o.missing = append(o.missing, id)
		}
	}
	o.lost = len(o.missing)
	o.received = o.sent - o.lost
	sort.Strings(o.missing)
	if o.lost > 0 && s == sigMetrics {
		// Prometheus answers 2xx for a request in which a sample is no later than the one
		// before it in its series, and drops that sample.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := scrapeValue(ctx, r.prom.Base()+"/metrics", "prometheus_tsdb_out_of_order_samples_total", nil)
		cancel()
		o.cause = fmt.Sprintf("Prometheus dropped %v samples as out of order (prometheus_tsdb_out_of_order_samples_total; %v)", n, err)
	}
	return o
}

func missingFrom(got map[string]int, want []string) int {
	n := 0
	for _, id := range want {
		if got[id] == 0 {
			n++
		}
	}
	return n
}

// requireNoLoss fails the test when o lost anything.
func requireNoLoss(t *testing.T, s signal, o outcome) {
	t.Helper()
	require.NotZero(t, o.sent, "%s: nothing was sent", s)
	require.Zero(t, o.lost, "%s: %d of %d lost, e.g. %v %s", s, o.lost, o.sent, o.missing[:min(10, len(o.missing))], o.cause)
}

// rulesFile is the agent's self-alerts, as the catalog generates them.
func rulesFile() string {
	return filepath.Join(lookouttest.RepoRoot(), "alerts", "generated", "rules", "lookout-agent.yaml")
}

// waitAlerts waits until each alert in names is pending or firing in Prometheus.
func (r *rig) waitAlerts(timeout time.Duration, names ...string) map[string]string {
	r.t.Helper()
	states := map[string]string{}
	lookouttest.Eventually(r.t, timeout, func() error {
		alerts, err := r.prom.Alerts(context.Background())
		if err != nil {
			return err
		}
		for _, a := range alerts {
			states[a.Labels["alertname"]] = a.State
		}
		var missing []string
		for _, n := range names {
			if states[n] == "" {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("alerts not pending or firing: %v (have %v)", missing, states)
		}
		return nil
	})
	return states
}

// agentCounter reads a counter of the agent's own metrics (0 when it does not exist yet).
func (r *rig) agentCounter(metric string, labels map[string]string) float64 {
	v, err := scrapeValue(context.Background(), r.agent.metricsURL(), metric, labels)
	if err != nil {
		return 0
	}
	return v
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
