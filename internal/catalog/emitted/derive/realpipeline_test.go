package derive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

var lookoutBin string

func TestMain(m *testing.M) { lookouttest.Main(m, &lookoutBin) }

// realConfig is a pipeline with the agent's metric path (self-scrape of its telemetry, host
// metrics, span metrics, service graph, remote write) and the agent's own settings for the parts
// that decide names (span_metrics, service_graph, prometheus_remote_write,
// service::telemetry::metrics), on loopback ports.
func realConfig(t *testing.T, promURL, otlp, telemetry string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(lookouttest.RepoRoot(), AgentConfig))
	require.NoError(t, err)
	var agent map[string]any
	require.NoError(t, yaml.Unmarshal(b, &agent))
	section := func(path ...string) map[string]any {
		m := agent
		for _, p := range path {
			next, ok := m[p].(map[string]any)
			require.True(t, ok, "agent config has no %s", strings.Join(path, "::"))
			m = next
		}
		return m
	}
	spans := section("connectors", "span_metrics")
	spans["metrics_flush_interval"] = "1s"
	graph := section("connectors", "service_graph")
	graph["metrics_flush_interval"] = "1s"
	prw := section("exporters", "prometheus_remote_write")
	prw["endpoint"] = promURL
	tel := section("service", "telemetry", "metrics")
	readers := tel["readers"].([]any)
	pull := readers[0].(map[string]any)["pull"].(map[string]any)["exporter"].(map[string]any)["prometheus"].(map[string]any)
	host, port, _ := strings.Cut(telemetry, ":")
	portNum, err := strconv.Atoi(port)
	require.NoError(t, err)
	pull["host"], pull["port"] = host, portNum

	cfg := map[string]any{
		"receivers": map[string]any{
			"otlp": map[string]any{"protocols": map[string]any{"grpc": map[string]any{"endpoint": otlp}}},
			"prometheus": map[string]any{"config": map[string]any{"scrape_configs": []any{map[string]any{
				"job_name": "self-scrape", "scrape_interval": "2s",
				"static_configs": []any{map[string]any{"targets": []any{telemetry}}},
			}}}},
			"host_metrics": map[string]any{"collection_interval": "2s", "scrapers": map[string]any{
				"cpu": map[string]any{}, "memory": map[string]any{}, "load": map[string]any{}, "filesystem": map[string]any{},
				"network": map[string]any{}, "disk": map[string]any{},
			}},
		},
		"processors": map[string]any{
			"memory_limiter": map[string]any{"check_interval": "1s", "limit_mib": 400},
			"resource":       map[string]any{"attributes": []any{map[string]any{"key": "k8s.node.name", "value": "node-1", "action": "upsert"}}},
			"batch":          map[string]any{"timeout": "200ms"},
		},
		"connectors": map[string]any{"span_metrics": spans, "service_graph": graph},
		"exporters":  map[string]any{"prometheus_remote_write": prw},
		"service": map[string]any{
			"telemetry": map[string]any{"metrics": tel},
			"pipelines": map[string]any{
				"traces":  map[string]any{"receivers": []any{"otlp"}, "processors": []any{"memory_limiter", "batch"}, "exporters": []any{"span_metrics", "service_graph"}},
				"metrics": map[string]any{"receivers": []any{"otlp", "prometheus", "host_metrics", "span_metrics", "service_graph"}, "processors": []any{"memory_limiter", "resource", "batch"}, "exporters": []any{"prometheus_remote_write"}},
			},
		},
	}
	out, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(path, out, 0o644))
	return path
}

func sendSpans(t *testing.T, endpoint string) {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("probe"))))
	backendExp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
	require.NoError(t, err)
	backend := sdktrace.NewTracerProvider(sdktrace.WithBatcher(backendExp), sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("probe-backend"))))
	tr := tp.Tracer("derive-test")
	for i := 0; i < 20; i++ {
		sctx, s := tr.Start(ctx, "GET /probe", trace.WithSpanKind(trace.SpanKindServer))
		// A call to another service: an edge of the service graph.
		cctx, c := tr.Start(sctx, "GET /backend", trace.WithSpanKind(trace.SpanKindClient))
		_, b := backend.Tracer("derive-test").Start(cctx, "GET /backend", trace.WithSpanKind(trace.SpanKindServer))
		if i%4 == 0 {
			s.SetStatus(codes.Error, "probe failure")
			b.SetStatus(codes.Error, "backend failure")
		}
		b.End()
		c.End()
		s.End()
	}
	require.NoError(t, backend.Shutdown(ctx))
	require.NoError(t, tp.Shutdown(ctx))
}

func promNames(ctx context.Context, base string) (map[string]bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/label/__name__/values", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Data []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range r.Data {
		out[n] = true
	}
	return out, nil
}

func promSeries(ctx context.Context, base, match string) ([]map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/series?match[]="+url.QueryEscape(match), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Data []map[string]string `json:"data"`
	}
	return r.Data, json.NewDecoder(resp.Body).Decode(&r)
}

// TestDerivedNamesMatchRealPipeline runs the real lookout binary with the agent's naming settings,
// sends it spans, lets it scrape itself and the host, and checks against a real Prometheus that
// every metric name that arrives is one the derivation predicts (with its labels for span
// metrics), and that the names the dashboards and alerts rely on arrive.
func TestDerivedNamesMatchRealPipeline(t *testing.T) {
	prom := lookouttest.Tool(t, "prometheus", "prometheus")
	promAddr := lookouttest.FreeAddr(t)
	promCfg := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, os.WriteFile(promCfg, []byte("global:\n  scrape_interval: 15s\n"), 0o644))
	p := lookouttest.Start(t, prom, []string{"--config.file=" + promCfg, "--storage.tsdb.path=" + t.TempDir(),
		"--web.listen-address=" + promAddr, "--web.enable-remote-write-receiver"})
	p.WaitHTTP(t, "http://"+promAddr+"/-/ready", 60*time.Second)

	otlp, telemetry := lookouttest.FreeAddr(t), lookouttest.FreeAddr(t)
	cfg := realConfig(t, "http://"+promAddr+"/api/v1/write", otlp, telemetry)
	// The node's name as the DaemonSet gives it (the exporter's k8s_node_name external label).
	agent := lookouttest.Start(t, lookoutBin, []string{"--config=" + cfg}, "K8S_NODE_NAME=node-1")
	agent.WaitHTTP(t, "http://"+telemetry+"/metrics", 60*time.Second)
	sendSpans(t, otlp)

	l, err := Derive(context.Background(), Options{RepoRoot: lookouttest.RepoRoot(), Config: cfg})
	require.NoError(t, err)
	sm := l.SpanMetrics
	require.NotNil(t, sm)

	// Names the generated dashboards and rules read, and the service graph's, which must arrive in
	// this pipeline.
	graphTotal, err := l.Named("traces_service_graph_request_total")
	require.NoError(t, err)
	mustArrive := []string{"up", sm.Calls, sm.Duration + "_bucket", sm.Duration + "_count", graphTotal}
	for _, from := range []string{"traces_service_graph_request_server", "traces_service_graph_request_client"} {
		n, err := l.Named(from)
		require.NoError(t, err)
		mustArrive = append(mustArrive, n+"_bucket")
	}
	for _, from := range []string{"traces_service_graph_request_failed_total", "otelcol_process_uptime", "otelcol_process_cpu_seconds", "otelcol_process_memory_rss",
		"otelcol_exporter_queue_size", "otelcol_exporter_queue_capacity", "otelcol_receiver_accepted_spans",
		"otelcol_exporter_sent_metric_points", "otelcol_processor_incoming_items",
		"system.cpu.time", "system.memory.usage", "system.filesystem.usage", "system.network.io", "system.cpu.load_average.1m"} {
		n, err := l.Named(from)
		require.NoError(t, err)
		mustArrive = append(mustArrive, n)
	}
	base := "http://" + promAddr
	ctx := context.Background()
	lookouttest.Eventually(t, 90*time.Second, func() error {
		got, err := promNames(ctx, base)
		if err != nil {
			return err
		}
		var missing []string
		for _, n := range mustArrive {
			if !got[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not in Prometheus yet: %s", strings.Join(missing, ", "))
		}
		return nil
	})

	got, err := promNames(ctx, base)
	require.NoError(t, err)
	var unknown []string
	for n := range got {
		if _, ok := l.Lookup(n); !ok {
			unknown = append(unknown, n)
		}
	}
	sort.Strings(unknown)
	require.Empty(t, unknown, "metric names in Prometheus that the derivation does not predict")
	t.Logf("%d metric names arrived, all predicted (%d predicted in all)", len(got), len(l.Names()))

	// The span metrics carry the labels and values the SLI queries select.
	series, err := promSeries(ctx, base, sm.Calls)
	require.NoError(t, err)
	var sawServer, sawError bool
	for _, s := range series {
		if s[sm.Labels.SpanName] != "GET /probe" {
			continue // the call to probe-backend, both ends
		}
		require.Equal(t, "probe", s[sm.Labels.Service], "%v", s)
		require.Equal(t, sm.Values.SpanKindServer, s[sm.Labels.SpanKind], "%v", s)
		sawServer = true
		sawError = sawError || s[sm.Labels.StatusCode] == sm.Values.StatusCodeError
	}
	require.True(t, sawServer, "no %s series of GET /probe: %v", sm.Calls, series)
	require.True(t, sawError, "no %s series with %s=%s: %v", sm.Calls, sm.Labels.StatusCode, sm.Values.StatusCodeError, series)
	buckets, err := promSeries(ctx, base, sm.Duration+"_bucket")
	require.NoError(t, err)
	les := map[string]bool{}
	for _, s := range buckets {
		les[s["le"]] = true
	}
	for _, le := range sm.Buckets {
		require.True(t, les[le], "no bucket le=%q in Prometheus (have %v)", le, les)
	}
	// The service graph has the call from probe to probe-backend (and one from "user" to probe,
	// whose server spans have no parent).
	edges, err := promSeries(ctx, base, graphTotal)
	require.NoError(t, err)
	var sawCall bool
	for _, s := range edges {
		sawCall = sawCall || s["client"] == "probe" && s["server"] == "probe-backend"
	}
	require.True(t, sawCall, "no %s series from probe to probe-backend: %v", graphTotal, edges)
	// The agent's own metrics carry the job and node labels the collector alerts select.
	selfName, err := l.Named("otelcol_process_cpu_seconds")
	require.NoError(t, err)
	self, err := promSeries(ctx, base, selfName)
	require.NoError(t, err)
	require.NotEmpty(t, self)
	if l.SelfScrapeJob == "" {
		t.Fatal(errors.New("derivation found no self-scrape job"))
	}
	require.Equal(t, "node-1", self[0]["k8s_node_name"], "%v", self[0])
	t.Logf("self-scraped series labels: %v", self[0])
}
