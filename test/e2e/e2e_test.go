// Package e2e runs the whole product the way `make run` does — deploy/local/run.sh, which starts
// the real backends with deploy/local/stack.sh, the demo services with their load, and the
// lookout agent with its built-in local config — on free loopback ports, and checks through each
// backend's own query API that every signal arrives: metrics in Prometheus, logs in
// VictoriaLogs, traces in Jaeger, linked by trace ID; then that Ctrl-C stops everything and a
// second run works. catalog_test.go checks the service catalog's dashboards and alerts on the
// same stack (README.md says what is and is not checked).
//
// To see it fail when one signal stops arriving, point one exporter at a closed port:
//
//	LOOKOUT_E2E_BREAK=traces|logs|metrics make e2e
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

var (
	lookoutBin string // the agent
	demoBin    string // directory of the demo's programs
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lookout-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if lookoutBin, err = lookouttest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	demoBin = filepath.Join(dir, "demo")
	cmd := exec.Command("go", "build", "-o", demoBin+"/", "./demo/cmd/...")
	cmd.Dir = lookouttest.RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./demo/cmd/...: %v\n%s", err, b)
		return 1
	}
	return m.Run()
}

// How long the signals may take to show up once everything is up: the agent scrapes every 15 s,
// flushes span metrics every 15 s, batches for 1 s; Jaeger and VictoriaLogs index within seconds.
// One deadline for all of them, counted from the moment run.sh is ready, so that a run where a
// signal never arrives fails in minutes, not in minutes per query.
const signalTimeout = 4 * time.Minute

// until returns the time left before deadline, at least 20 s (a query's own time to succeed
// once the data is there).
func until(deadline time.Time) time.Duration {
	return max(time.Until(deadline), 20*time.Second)
}

// stack is one run of deploy/local/run.sh, on ports of its own.
type stack struct {
	env  map[string]string
	args []string // to lookout
}

func newStack(t *testing.T, runDir string) *stack {
	t.Helper()
	s := &stack{env: map[string]string{
		"LOOKOUT_RUN_DIR":  runDir,
		"LOOKOUT_BIN":      lookoutBin,
		"LOOKOUT_DEMO_BIN": demoBin,
		"DEMO_RATE":        "10",
	}}
	keys := []string{
		"PROMETHEUS_ADDR", "ALERTMANAGER_ADDR", "VICTORIALOGS_ADDR", "JAEGER_OTLP_GRPC_ADDR",
		"JAEGER_QUERY_ADDR", "JAEGER_QUERY_GRPC_ADDR", "SINK_ADDR",
		"DEMO_STOREFRONT_ADDR", "DEMO_ORDERS_ADDR", "DEMO_PAYMENTS_ADDR",
		"metrics", "AGENT_OTLP_GRPC", "AGENT_HEALTH", "otlp_http", "pprof", "zpages",
	}
	addrs := lookouttest.FreeAddrs(t, len(keys)) // chosen together: no two alike
	for i, k := range keys {
		s.env[k] = addrs[i]
	}
	_, metricsPort, _ := net.SplitHostPort(s.env["metrics"])
	s.env["LOOKOUT_METRICS_PORT"] = metricsPort
	s.args = []string{
		"--set=receivers::otlp::protocols::grpc::endpoint=" + s.env["AGENT_OTLP_GRPC"],
		"--set=receivers::otlp::protocols::http::endpoint=" + s.env["otlp_http"],
		"--set=extensions::health_check::endpoint=" + s.env["AGENT_HEALTH"],
		"--set=extensions::pprof::endpoint=" + s.env["pprof"],
		"--set=extensions::zpages::endpoint=" + s.env["zpages"],
	}
	for _, k := range []string{"metrics", "otlp_http", "pprof", "zpages"} {
		delete(s.env, k) // not environment variables of run.sh
	}
	// Breaking one exporter's endpoint on purpose shows the test failing (see the package doc).
	// LOOKOUT_E2E_BREAK=traces|logs|metrics points that exporter at a closed port.
	switch v := os.Getenv("LOOKOUT_E2E_BREAK"); v {
	case "":
	case "traces":
		s.env["TEMPO_ENDPOINT"] = lookouttest.FreeAddr(t)
	case "logs":
		s.env["LOKI_URL"] = "http://" + lookouttest.FreeAddr(t) + "/loki/api/v1/push"
		s.env["LOKI_OTLP_URL"] = "http://" + lookouttest.FreeAddr(t) + "/otlp/v1/logs"
	case "metrics":
		s.env["PROMETHEUS_URL"] = "http://" + lookouttest.FreeAddr(t) + "/api/v1/write"
	default:
		t.Fatalf("LOOKOUT_E2E_BREAK=%q: want traces, logs or metrics", v)
	}
	return s
}

func (s *stack) environ() []string {
	env := os.Environ()
	for k, v := range s.env {
		env = append(env, k+"="+v)
	}
	return env
}

// run is a running deploy/local/run.sh.
type run struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// start runs deploy/local/run.sh and waits for it to say it is ready.
func (s *stack) start(t *testing.T, timeout time.Duration) *run {
	t.Helper()
	r := &run{out: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(filepath.Join(lookouttest.RepoRoot(), "deploy", "local", "run.sh"), s.args...)
	r.cmd.Env = s.environ()
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	require.NoError(t, r.cmd.Start())
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		if !r.exited() {
			_ = r.interrupt(90 * time.Second)
		}
		if t.Failed() {
			t.Logf("deploy/local/run.sh said:\n%s", r.out.String())
			for _, name := range []string{"lookout", "demo", "prometheus", "jaeger", "victorialogs", "alertmanager", "sink"} {
				b, err := os.ReadFile(filepath.Join(s.env["LOOKOUT_RUN_DIR"], "logs", name+".log"))
				if err == nil {
					t.Logf("the end of logs/%s.log:\n%s", name, tail(string(b), 25))
				}
			}
		}
		// Whatever happened, leave no backend behind.
		stop := exec.Command(filepath.Join(lookouttest.RepoRoot(), "deploy", "local", "stack.sh"), "stop")
		stop.Env = s.environ()
		_ = stop.Run()
	})
	deadline := time.After(timeout)
	for !strings.Contains(r.out.String(), "run.sh: ready") {
		select {
		case <-r.done:
			t.Fatalf("deploy/local/run.sh exited before it was ready (%v):\n%s", r.err, r.out.String())
		case <-deadline:
			t.Fatalf("deploy/local/run.sh not ready after %s:\n%s", timeout, r.out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return r
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// interrupt sends SIGINT, as Ctrl-C does, and waits for the script to finish stopping.
func (r *run) interrupt(timeout time.Duration) error {
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.done:
		return nil
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		return fmt.Errorf("deploy/local/run.sh still running %s after SIGINT", timeout)
	}
}

func TestLocalStack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts the whole local stack")
	}
	ctx := context.Background()
	runDir := t.TempDir()
	s := newStack(t, runDir)
	start := time.Now()
	r := s.start(t, 10*time.Minute)
	t.Logf("run.sh ready in %s", time.Since(start).Round(time.Second))
	deadline := time.Now().Add(signalTimeout)
	prom, logs, jaeger := s.env["PROMETHEUS_ADDR"], s.env["VICTORIALOGS_ADDR"], s.env["JAEGER_QUERY_ADDR"]
	services := []string{"orders", "payments", "storefront"}

	t.Run("traces of every service reach Jaeger", func(t *testing.T) {
		eventually(t, until(deadline), func() error {
			got, err := jaegerServices(ctx, jaeger)
			if err != nil {
				return err
			}
			for _, svc := range services {
				if !slices.Contains(got, svc) {
					return fmt.Errorf("jaeger knows services %v; %s is missing", got, svc)
				}
			}
			return nil
		})
	})

	var logTraceID string
	t.Run("log lines reach the log store with their pod identity and trace ID", func(t *testing.T) {
		eventually(t, until(deadline), func() error {
			// The message is _msg when the store took the JSON line's "msg" as the message
			// (run.sh asks VictoriaLogs to), or a field "msg", or a phrase inside the raw line.
			recs, err := logsQuery(ctx, logs, `_time:15m ("payment charged" or msg:"payment charged")`, 20)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return errors.New(`no "payment charged" line in VictoriaLogs yet`)
			}
			var problems []string
			for _, rec := range recs {
				if err := checkLogRecord(rec, "payments"); err != nil {
					problems = append(problems, err.Error())
					continue
				}
				logTraceID = traceIDOf(rec)
				return nil
			}
			return fmt.Errorf("%d lines, none complete:\n%s", len(recs), strings.Join(problems[:min(len(problems), 3)], "\n"))
		})
	})

	t.Run("a log line's trace ID finds its trace, through all three services", func(t *testing.T) {
		if logTraceID == "" {
			t.Skip("no log line with a trace ID (see the logs subtest)")
		}
		eventually(t, until(deadline), func() error {
			tr, err := jaegerGetTrace(ctx, jaeger, logTraceID)
			if err != nil {
				return err
			}
			if got := tr.services(); !slices.Equal(got, services) {
				return fmt.Errorf("trace %s has spans of %v, want %v", logTraceID, got, services)
			}
			return nil
		})
	})

	t.Run("the services' own metrics reach Prometheus with service and pod labels", func(t *testing.T) {
		for _, svc := range services {
			q := fmt.Sprintf(`http_requests_total{service_name=%q, namespace="demo", container=%q, pod=~"%s-.+"}`, svc, svc, svc)
			eventually(t, until(deadline), nonEmpty(ctx, prom, q))
		}
		eventually(t, until(deadline), nonEmpty(ctx, prom, `storefront_checkouts_total{service_name="storefront", result="ok"} > 0`))
		eventually(t, until(deadline), nonEmpty(ctx, prom, `payments_charged_cents_total{service_name="payments"} > 0`))
	})

	t.Run("span metrics (RED) of every service reach Prometheus with k8s labels", func(t *testing.T) {
		for _, svc := range services {
			q := fmt.Sprintf(`{__name__=~"traces_span_metrics_calls(_total)?", service_name=%q, k8s_namespace_name="demo", k8s_pod_name=~"%s-.+"}`, svc, svc)
			eventually(t, until(deadline), nonEmpty(ctx, prom, q))
			q = fmt.Sprintf(`{__name__=~"traces_span_metrics_duration_.*_bucket", service_name=%q}`, svc)
			eventually(t, until(deadline), nonEmpty(ctx, prom, q))
		}
	})

	// The demo's calls, storefront to orders to payments, each a client span in the caller and a
	// server span in the callee, both seen by the one agent (connectors/servicegraph).
	t.Run("the service graph of the demo's calls reaches Prometheus", func(t *testing.T) {
		for _, edge := range [][2]string{{"storefront", "orders"}, {"orders", "payments"}} {
			q := fmt.Sprintf(`traces_service_graph_request_total{client=%q, server=%q, connection_type=""} > 0`, edge[0], edge[1])
			eventually(t, until(deadline), nonEmpty(ctx, prom, q))
			for _, side := range []string{"server", "client"} {
				q = fmt.Sprintf(`{__name__=~"traces_service_graph_request_%s(_seconds)?_bucket", client=%q, server=%q}`, side, edge[0], edge[1])
				eventually(t, until(deadline), nonEmpty(ctx, prom, q))
			}
		}
	})

	// Run after the scraped series and the span metrics have arrived: no otel_scope labels naming
	// the receiver or a connector and Lookout's version on what the agent scraped or made
	// (transform/own_scope, docs/delivery.md). The demo sends no metrics of its own over OTLP, so
	// no series in Prometheus has them.
	t.Run("series the agent scraped or made carry no otel_scope labels", func(t *testing.T) {
		for _, q := range []string{`{otel_scope_name!=""}`, `{otel_scope_version!=""}`} {
			got, err := promQuery(ctx, prom, q)
			require.NoError(t, err)
			require.Empty(t, got, "series with %s", q)
		}
	})

	t.Run("the fault switch makes errors visible in Prometheus", func(t *testing.T) {
		payments := "http://" + s.env["DEMO_PAYMENTS_ADDR"] + "/fault"
		setFault(t, payments, `{"error_ratio":1}`)
		defer setFault(t, payments, "")
		// New series, so they take a scrape and a remote write from now.
		faultDeadline := time.Now().Add(2 * time.Minute)
		eventually(t, until(faultDeadline), nonEmpty(ctx, prom, `http_requests_total{service_name="payments", code="500"} > 0`))
		eventually(t, until(faultDeadline), nonEmpty(ctx, prom, `storefront_checkouts_total{service_name="storefront", result="failed"} > 0`))
	})

	t.Run("Alertmanager routes to the sink's Slack and PagerDuty endpoints", func(t *testing.T) {
		// Without a team label, both the generated config (alerts/generated/alertmanager.yaml,
		// localized by stack.sh) and the minimal one send critical alerts to PagerDuty and
		// warnings to Slack.
		postAlerts(t, "http://"+s.env["ALERTMANAGER_ADDR"]+"/api/v2/alerts", `[
			{"labels":{"alertname":"E2ETestPage","severity":"critical","service":"payments"},"annotations":{"summary":"e2e page"}},
			{"labels":{"alertname":"E2ETestTicket","severity":"warning","service":"orders"},"annotations":{"summary":"e2e ticket"}}]`)
		eventually(t, 2*time.Minute, func() error { // the generated config waits 30 s to group
			recs, err := sinkReceived(ctx, s.env["SINK_ADDR"])
			if err != nil {
				return err
			}
			var pd, slack bool
			for _, r := range recs {
				pd = pd || (r.Kind == "pagerduty" && strings.Contains(string(r.Body), "E2ETestPage"))
				slack = slack || (r.Kind == "slack" && strings.Contains(string(r.Body), "E2ETestTicket"))
			}
			if !pd || !slack {
				return fmt.Errorf("sink got pagerduty page: %v, slack ticket: %v (records: %d)", pd, slack, len(recs))
			}
			return nil
		})
	})

	t.Run("Ctrl-C stops everything the run started", func(t *testing.T) {
		stopStart := time.Now()
		require.NoError(t, r.interrupt(90*time.Second))
		t.Logf("stopped in %s", time.Since(stopStart).Round(time.Second))
		require.Contains(t, r.out.String(), "run.sh: stopped")
		pids, err := filepath.Glob(filepath.Join(runDir, "pids", "*.pid"))
		require.NoError(t, err)
		require.Empty(t, pids, "pid files left behind")
		for k, v := range s.env {
			if strings.HasSuffix(k, "_ADDR") || strings.HasPrefix(k, "AGENT_") {
				require.False(t, listening(v), "%s %s still accepts connections", k, v)
			}
		}
	})

	t.Run("a second run works and keeps the data", func(t *testing.T) {
		start := time.Now()
		r2 := s.start(t, 5*time.Minute)
		t.Logf("second run ready in %s", time.Since(start).Round(time.Second))
		eventually(t, time.Minute, nonEmpty(ctx, prom, `count_over_time(http_requests_total{service_name="storefront"}[30m])`))
		eventually(t, signalTimeout, func() error {
			got, err := jaegerServices(ctx, jaeger)
			if err != nil {
				return err
			}
			if !slices.Contains(got, "storefront") {
				return fmt.Errorf("jaeger services after restart: %v", got)
			}
			return nil
		})
		require.NoError(t, r2.interrupt(90*time.Second))
	})
}

// checkLogRecord checks that a VictoriaLogs record of a pod log line carries the pod's identity
// (whatever the log exporter calls the fields: Loki labels or OpenTelemetry attributes) and a
// trace ID.
func checkLogRecord(rec map[string]string, service string) error {
	var errs []error
	want := map[string]*regexp.Regexp{
		"namespace": regexp.MustCompile(`^demo$`),
		"pod":       regexp.MustCompile(`^` + service + `-[0-9a-f]+-[0-9a-f]+$`),
		"container": regexp.MustCompile(`^` + service + `$`),
		"service":   regexp.MustCompile(`^` + service + `$`),
	}
	aliases := map[string][]string{
		"namespace": {"k8s.namespace.name", "k8s_namespace_name", "namespace"},
		"pod":       {"k8s.pod.name", "k8s_pod_name", "pod"},
		"container": {"k8s.container.name", "k8s_container_name", "container"},
		"service":   {"service.name", "service_name"},
	}
	for _, what := range []string{"namespace", "pod", "container", "service"} {
		v, ok := field(rec, aliases[what]...)
		if !ok {
			errs = append(errs, fmt.Errorf("no %s field (looked for %v)", what, aliases[what]))
		} else if !want[what].MatchString(v) {
			errs = append(errs, fmt.Errorf("%s %q, want %s", what, v, want[what]))
		}
	}
	// The stream labels (what Loki queries select on) name the namespace, container and
	// service; the pod is structured metadata, one stream per pod being too many.
	stream := streamLabels(rec["_stream"])
	for _, what := range []string{"namespace", "container", "service"} {
		if v, ok := field(stream, aliases[what]...); !ok || !want[what].MatchString(v) {
			errs = append(errs, fmt.Errorf("stream %s: no %s label %s", rec["_stream"], what, want[what]))
		}
	}
	if id := traceIDOf(rec); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		errs = append(errs, fmt.Errorf("trace id %q", id))
	}
	if err := errors.Join(errs...); err != nil {
		keys := make([]string, 0, len(rec))
		for k := range rec {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return fmt.Errorf("record with fields %v: %w", keys, err)
	}
	return nil
}

// streamLabels parses VictoriaLogs' _stream field, `{k="v",k2="v2"}`.
func streamLabels(s string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`([^{},=\s]+)="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(s, -1) {
		if v, err := strconv.Unquote(`"` + m[2] + `"`); err == nil {
			out[m[1]] = v
		}
	}
	return out
}

func field(rec map[string]string, names ...string) (string, bool) {
	for _, n := range names {
		if v, ok := rec[n]; ok && v != "" {
			return v, true
		}
	}
	return "", false
}

// traceIDOf returns the trace ID of a record: a field of its own (structured metadata, a parsed
// attribute), or the trace_id of the JSON line itself.
func traceIDOf(rec map[string]string) string {
	if v, ok := field(rec, "trace_id", "traceID", "trace.id"); ok {
		return v
	}
	var line struct {
		TraceID string `json:"trace_id"`
	}
	_ = json.Unmarshal([]byte(rec["_msg"]), &line)
	return line.TraceID
}

func nonEmpty(ctx context.Context, prom, query string) func() error {
	return func() error {
		got, err := promQuery(ctx, prom, query)
		if err != nil {
			return err
		}
		if len(got) == 0 {
			return fmt.Errorf("prometheus: no series for %s", query)
		}
		return nil
	}
}

func setFault(t *testing.T, url, body string) {
	t.Helper()
	method := "PUT"
	if body == "" {
		method = "DELETE"
	}
	req, err := newRequest(method, url, body)
	require.NoError(t, err)
	_, err = do(req)
	require.NoError(t, err)
}

func postAlerts(t *testing.T, url, body string) {
	t.Helper()
	req, err := newRequest("POST", url, body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	_, err = do(req)
	require.NoError(t, err)
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// eventually is lookouttest.Eventually polling once a second: each try queries a backend.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(time.Second)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
