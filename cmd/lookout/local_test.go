package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/internal/outagelog"
)

// localAgent is lookout running its built-in local config on free ports.
type localAgent struct {
	*lookouttest.Process
	runDir, otlp, health, metrics string
}

// startLocal starts `lookout --config lookout:local` plus the given overlay configs.
func startLocal(t *testing.T, runDir string, env []string, overlays ...string) *localAgent {
	t.Helper()
	a := &localAgent{
		runDir: runDir, otlp: lookouttest.FreeAddr(t), health: lookouttest.FreeAddr(t),
	}
	_, metricsPort, _ := strings.Cut(lookouttest.FreeAddr(t), ":")
	a.metrics = "127.0.0.1:" + metricsPort
	args := []string{"--config", "lookout:local"}
	for _, o := range overlays {
		args = append(args, "--config", "file:"+o)
	}
	args = append(args,
		"--set=receivers::otlp::protocols::grpc::endpoint="+a.otlp,
		"--set=receivers::otlp::protocols::http::endpoint="+lookouttest.FreeAddr(t),
		"--set=extensions::health_check::endpoint="+a.health,
		"--set=extensions::pprof::endpoint="+lookouttest.FreeAddr(t),
		"--set=extensions::zpages::endpoint="+lookouttest.FreeAddr(t),
	)
	env = append(env, "LOOKOUT_RUN_DIR="+runDir, "LOOKOUT_METRICS_PORT="+metricsPort)
	a.Process = lookouttest.Start(t, bin, args, env...)
	a.WaitHTTP(t, "http://"+a.health+"/", 60*time.Second)
	return a
}

// writeFile writes content to path, creating its directory.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// podLog is a container log in the CRI format, as the kubelet writes it: two ordinary lines, a
// Java stack trace, a line the runtime split into a partial and a final part, and a Go panic.
const podLog = `2026-11-25T10:00:00.000000001Z stdout F {"level":"info","msg":"order placed","order":42}
2026-11-25T10:00:00.100000000Z stderr F Exception in thread "main" java.lang.IllegalStateException: cart is empty
2026-11-25T10:00:00.100000001Z stderr F 	at shop.Cart.checkout(Cart.java:42)
2026-11-25T10:00:00.100000002Z stderr F 	at shop.Main.main(Main.java:7)
2026-11-25T10:00:00.100000003Z stderr F Caused by: java.lang.NullPointerException
2026-11-25T10:00:00.100000004Z stderr F 	... 2 more
2026-11-25T10:00:00.200000000Z stdout P a line the runtime split 
2026-11-25T10:00:00.200000001Z stdout F into two parts
2026-11-25T10:00:00.300000000Z stderr F panic: runtime error: index out of range [3] with length 3
2026-11-25T10:00:00.300000001Z stderr F 
2026-11-25T10:00:00.300000002Z stderr F goroutine 1 [running]:
2026-11-25T10:00:00.300000003Z stderr F main.main()
2026-11-25T10:00:00.300000004Z stderr F 	/app/main.go:12 +0x1d
2026-11-25T10:00:00.400000000Z stdout F {"level":"info","msg":"after the panic"}
`

func TestLocalConfigDeliversEverySignal(t *testing.T) {
	sink := lookouttest.StartOTLPSink(t)
	runDir := t.TempDir()
	writeFile(t, filepath.Join(runDir, "pods", "shop_storefront-7d9f_0b6a1c2e-1111-2222-3333-444455556666", "storefront", "0.log"), podLog)
	overlay := filepath.Join(t.TempDir(), "to-sink.yaml")
	writeFile(t, overlay, fmt.Sprintf(`exporters:
  otlp_grpc/test:
    endpoint: %s
    tls:
      insecure: true
service:
  pipelines:
    traces:
      exporters: [otlp_grpc/test, span_metrics, service_graph]
    metrics:
      exporters: [otlp_grpc/test]
    logs:
      exporters: [otlp_grpc/test]
`, sink.Addr))
	agent := startLocal(t, runDir, nil, overlay)

	ctx := context.Background()
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("service.version", "1.2.3"))
	traceID := sendTrace(ctx, t, agent.otlp, res)
	sendMetric(ctx, t, agent.otlp, res)
	sendLog(ctx, t, agent.otlp, res)

	// The span arrives intact, with the node's identity added.
	lookouttest.Eventually(t, 30*time.Second, func() error {
		for _, td := range sink.Traces() {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, s := range ss.Spans().All() {
						if s.TraceID() != pcommon.TraceID(traceID) {
							continue
						}
						requireAttrs(t, rs.Resource().Attributes(), map[string]any{
							"service.name": "checkout", "service.version": "1.2.3",
							"k8s.cluster.name": "local", "k8s.node.name": "localhost",
						})
						require.Equal(t, "GET /cart", s.Name())
						require.Equal(t, ptrace.SpanKindServer, s.Kind())
						requireAttrs(t, s.Attributes(), map[string]any{"http.request.method": "GET", "http.response.status_code": int64(500)})
						require.Equal(t, ptrace.StatusCodeError, s.Status().Code())
						return nil
					}
				}
			}
		}
		return fmt.Errorf("trace %s has not arrived", pcommon.TraceID(traceID))
	})

	// The counter arrives with its value, attributes and the scope the service gave it (the
	// remote-write exporter makes labels of it), and its service as the service_name attribute
	// that the exporter makes the label of its series (transform/service_label).
	lookouttest.Eventually(t, 30*time.Second, func() error {
		for _, m := range metricsNamed(sink.Metrics(), "orders_placed") {
			dp := m.Sum().DataPoints().At(0)
			require.Equal(t, int64(7), dp.IntValue())
			requireAttrs(t, dp.Attributes(), map[string]any{"payment.method": "card"})
			requireScope(t, m, "lookout-test", "")
			requireAttrs(t, m.resource.Attributes(), map[string]any{"service_name": "checkout"})
			return nil
		}
		return fmt.Errorf("metric orders_placed has not arrived")
	})

	// The OTLP log record arrives as it was sent; the pod log file's entries arrive parsed, with
	// the pod's identity from the path, JSON lines parsed, the stack traces joined, the split
	// line whole.
	wantFile := []string{
		"order placed", // a JSON line: its msg is the body, its other keys attributes
		"Exception in thread \"main\" java.lang.IllegalStateException: cart is empty\n\tat shop.Cart.checkout(Cart.java:42)\n\tat shop.Main.main(Main.java:7)\nCaused by: java.lang.NullPointerException\n\t... 2 more",
		"a line the runtime split into two parts",
		"panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d",
		"after the panic",
	}
	lookouttest.Eventually(t, 30*time.Second, func() error {
		var fromFile []string
		otlpSeen := false
		for _, ld := range sink.Logs() {
			for _, rl := range ld.ResourceLogs().All() {
				attrs := rl.Resource().Attributes()
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						if lr.Body().AsString() == "payment accepted" {
							requireAttrs(t, attrs, map[string]any{"service.name": "checkout", "k8s.cluster.name": "local"})
							requireAttrs(t, lr.Attributes(), map[string]any{"order.id": "42"})
							require.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
							otlpSeen = true
							continue
						}
						requireAttrs(t, attrs, map[string]any{
							"k8s.namespace.name": "shop", "k8s.pod.name": "storefront-7d9f",
							"k8s.pod.uid": "0b6a1c2e-1111-2222-3333-444455556666", "k8s.container.name": "storefront",
							"k8s.container.restart_count": int64(0), "service.name": "storefront",
						})
						if lr.Body().AsString() == "order placed" {
							require.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
							requireAttrs(t, lr.Attributes(), map[string]any{"order": int64(42), "log.iostream": "stdout"})
						}
						fromFile = append(fromFile, lr.Body().AsString())
					}
				}
			}
		}
		if !otlpSeen || len(fromFile) < len(wantFile) {
			return fmt.Errorf("logs so far: OTLP record seen %v, file entries %q", otlpSeen, fromFile)
		}
		// Records of one stream keep their order; stdout and stderr are joined separately, so a
		// stack trace waiting for its next line may come after a later line of the other stream.
		require.ElementsMatch(t, wantFile, fromFile)
		return nil
	})

	// Span metrics are computed from the trace and flushed into the metrics pipeline.
	lookouttest.Eventually(t, 45*time.Second, func() error {
		for _, m := range metricsNamed(sink.Metrics(), "traces.span.metrics.calls") {
			for _, dp := range m.Sum().DataPoints().All() {
				// A series may first be flushed at zero; the call is counted in a later flush.
				if v, _ := dp.Attributes().Get("span.name"); v.AsString() == "GET /cart" && dp.IntValue() == 1 {
					requireAttrs(t, dp.Attributes(), map[string]any{"service.name": "checkout", "status.code": "STATUS_CODE_ERROR", "http.response.status_code": int64(500)})
					requireScope(t, m, "", "") // transform/own_scope
					requireAttrs(t, m.resource.Attributes(), map[string]any{"service_name": "checkout"})
					return nil
				}
			}
		}
		return fmt.Errorf("span metrics for GET /cart have not arrived")
	})

	// What the agent scrapes (here its own metrics) comes without the receiver's scope, which
	// would be a label naming the receiver and Lookout's version on every series, and with its
	// service_name label from its target.
	lookouttest.Eventually(t, 30*time.Second, func() error {
		for _, m := range metricsNamed(sink.Metrics(), "up") {
			requireScope(t, m, "", "")
			requireAttrs(t, m.Gauge().DataPoints().At(0).Attributes(), map[string]any{"service_name": "lookout"})
			return nil
		}
		return fmt.Errorf("no scrape has arrived")
	})

	// Lookout's own metrics count what it accepted, and keep counting.
	before := ownMetric(t, agent.metrics, `otelcol_receiver_accepted_spans_total{`)
	require.GreaterOrEqual(t, before, 1.0)
	sendTrace(ctx, t, agent.otlp, res)
	lookouttest.Eventually(t, 10*time.Second, func() error {
		if now := ownMetric(t, agent.metrics, `otelcol_receiver_accepted_spans_total{`); now <= before {
			return fmt.Errorf("accepted spans still %v", now)
		}
		return nil
	})

	resp, err := http.Get("http://" + agent.health + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "Server available")
}

// TestLocalConfigWithoutBackends runs the local config with every backend down: Lookout must
// stay up and healthy, and say once per exporter which backend it cannot reach.
func TestLocalConfigWithoutBackends(t *testing.T) {
	closed := func() string { return lookouttest.FreeAddr(t) } // free, so nothing listens
	env := []string{
		"PROMETHEUS_URL=http://" + closed() + "/api/v1/write",
		"LOKI_URL=http://" + closed() + "/loki/api/v1/push",
		"TEMPO_ENDPOINT=" + closed(),
	}
	agent := startLocal(t, t.TempDir(), env)
	ctx := context.Background()
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"))
	sendTrace(ctx, t, agent.otlp, res)
	sendLog(ctx, t, agent.otlp, res)

	warned := func() map[string]int {
		n := map[string]int{}
		for _, e := range logEntries(agent.Output()) {
			if e["msg"] == outagelog.Message {
				n[e["otelcol.component.id"].(string)]++
			}
		}
		return n
	}
	lookouttest.Eventually(t, 60*time.Second, func() error {
		if w := warned(); w["otlp_grpc/tempo"] == 0 || w["loki"] == 0 {
			return fmt.Errorf("warnings so far: %v", w)
		}
		return nil
	})
	time.Sleep(20 * time.Second) // long enough for each exporter to retry more than once
	require.Equal(t, 1, warned()["otlp_grpc/tempo"])
	require.Equal(t, 1, warned()["loki"])
	for _, e := range logEntries(agent.Output()) {
		require.NotEqual(t, "Exporting failed. Will retry the request after interval.", e["msg"], "retries after the first are logged at debug level")
	}
	require.False(t, agent.Exited())
	resp, err := http.Get("http://" + agent.health + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func sendTrace(ctx context.Context, t *testing.T, addr string, res *resource.Resource) trace.TraceID {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	_, span := tp.Tracer("lookout-test").Start(ctx, "GET /cart", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", "GET"), attribute.Int("http.response.status_code", 500)))
	span.SetStatus(codes.Error, "internal error")
	span.End()
	require.NoError(t, tp.Shutdown(ctx))
	return span.SpanContext().TraceID()
}

func sendMetric(ctx context.Context, t *testing.T, addr string, res *resource.Resource) {
	exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(addr), otlpmetricgrpc.WithInsecure())
	require.NoError(t, err)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)), sdkmetric.WithResource(res))
	c, err := mp.Meter("lookout-test").Int64Counter("orders_placed")
	require.NoError(t, err)
	c.Add(ctx, 7, metric.WithAttributes(attribute.String("payment.method", "card")))
	require.NoError(t, mp.Shutdown(ctx)) // flushes
}

func sendLog(ctx context.Context, t *testing.T, addr string, res *resource.Resource) {
	exp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(addr), otlploggrpc.WithInsecure())
	require.NoError(t, err)
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)), sdklog.WithResource(res))
	var r otellog.Record
	r.SetBody(attribute.StringValue("payment accepted"))
	r.SetSeverity(otellog.SeverityInfo)
	r.AddAttributes(attribute.String("order.id", "42"))
	lp.Logger("lookout-test").Emit(ctx, r)
	require.NoError(t, lp.Shutdown(ctx))
}

// requireAttrs checks that attrs hold at least want.
func requireAttrs(t *testing.T, attrs pcommon.Map, want map[string]any) {
	t.Helper()
	got := attrs.AsRaw()
	for k, v := range want {
		require.Equal(t, v, got[k], "attribute %s in %v", k, got)
	}
}

// scopedMetric is a metric and the instrumentation scope it came in.
type scopedMetric struct {
	pmetric.Metric
	scope    pcommon.InstrumentationScope
	resource pcommon.Resource
}

func metricsNamed(all []pmetric.Metrics, name string) []scopedMetric {
	var found []scopedMetric
	for _, md := range all {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() == name {
						found = append(found, scopedMetric{m, sm.Scope(), rm.Resource()})
					}
				}
			}
		}
	}
	return found
}

// requireScope checks a metric's instrumentation scope.
func requireScope(t *testing.T, m scopedMetric, name, version string) {
	t.Helper()
	require.Equal(t, name, m.scope.Name(), "scope name of %s", m.Name())
	require.Equal(t, version, m.scope.Version(), "scope version of %s", m.Name())
}

// ownMetric sums the samples of Lookout's own metrics whose line starts with prefix.
func ownMetric(t *testing.T, addr, prefix string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
			require.NoError(t, err, line)
			sum += v
		}
	}
	return sum
}

var jsonLine = regexp.MustCompile(`(?m)^\{.*\}$`)

// logEntries parses Lookout's JSON log lines.
func logEntries(out string) []map[string]any {
	var entries []map[string]any
	for _, l := range jsonLine.FindAllString(out, -1) {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil {
			entries = append(entries, e)
		}
	}
	return entries
}
