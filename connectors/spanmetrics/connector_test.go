package spanmetricsconnector

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/connector/spanmetricsconnector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/lookoutdev/lookout/connectors/internal/metricstest"
)

// agentConfig is the agent's span_metrics section (collector/config/agent.yaml).
func agentConfig() map[string]any {
	return map[string]any{
		"histogram": map[string]any{
			"unit":     "s",
			"explicit": map[string]any{"buckets": []any{"5ms", "10ms", "25ms", "50ms", "100ms", "250ms", "500ms", "1s", "2500ms", "5s", "10s"}},
		},
		"dimensions": []any{
			map[string]any{"name": "http.request.method"},
			map[string]any{"name": "http.response.status_code"},
			map[string]any{"name": "rpc.grpc.status_code"},
		},
		"resource_metrics_key_attributes": []any{"service.name", "service.namespace", "k8s.namespace.name", "k8s.pod.name"},
		"aggregation_cardinality_limit":   5000,
		"metrics_flush_interval":          "15s",
		"metrics_expiration":              "5m",
	}
}

func loadConfig(t testing.TB, f connector.Factory, m map[string]any) any {
	t.Helper()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(m).Unmarshal(cfg))
	return cfg
}

// newTest returns Lookout's connector (not started: the test flushes it) with the given config
// and the sink it sends to.
func newTest(t testing.TB, m map[string]any) (*connectorImp, *consumertest.MetricsSink) {
	t.Helper()
	f := NewFactory()
	sink := new(consumertest.MetricsSink)
	conn, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), loadConfig(t, f, m), sink)
	require.NoError(t, err)
	return conn.(*connectorImp), sink
}

type spanSpec struct {
	name       string
	kind       ptrace.SpanKind
	status     ptrace.StatusCode
	duration   time.Duration
	attrs      map[string]any
	traceState string
}

// addResource appends a resource with attrs and spans to td.
func addResource(td ptrace.Traces, attrs map[string]any, spans ...spanSpec) {
	rs := td.ResourceSpans().AppendEmpty()
	if err := rs.Resource().Attributes().FromRaw(attrs); err != nil {
		panic(err)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	end := pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0))
	for i, sp := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetName(sp.name)
		s.SetKind(sp.kind)
		s.Status().SetCode(sp.status)
		s.SetTraceID(pcommon.TraceID{byte(i + 1)})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.SetStartTimestamp(end - pcommon.Timestamp(sp.duration))
		s.SetEndTimestamp(end)
		s.TraceState().FromRaw(sp.traceState)
		if err := s.Attributes().FromRaw(sp.attrs); err != nil {
			panic(err)
		}
	}
}

func pod(svc, name string, extra ...any) map[string]any {
	m := map[string]any{"service.name": svc, "service.namespace": "shop", "k8s.namespace.name": "prod", "k8s.pod.name": name}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// variedTraces are spans of every kind and status, with dimensions as strings, integers,
// missing, or only on the resource, and durations on, around and beyond bucket bounds.
func variedTraces() []ptrace.Traces {
	var out []ptrace.Traces
	durations := []time.Duration{0, -time.Millisecond, time.Millisecond, 5 * time.Millisecond, 5*time.Millisecond + 1, 250 * time.Millisecond, 10 * time.Second, time.Minute}
	for batch := range 4 {
		td := ptrace.NewTraces()
		for p := range 3 {
			var spans []spanSpec
			for i := range 40 {
				sp := spanSpec{
					name:     fmt.Sprintf("GET /r%d", i%5),
					kind:     ptrace.SpanKind(i % 6),
					status:   ptrace.StatusCode(i % 3),
					duration: durations[(i+batch)%len(durations)],
					attrs:    map[string]any{"http.request.method": []string{"GET", "POST"}[i%2], "url.path": fmt.Sprint(i)},
				}
				switch i % 4 {
				case 0:
					sp.attrs["http.response.status_code"] = int64(200 + i%3*100)
				case 1:
					sp.attrs["http.response.status_code"] = "503"
				case 2:
					sp.attrs["rpc.grpc.status_code"] = int64(i % 17)
				}
				spans = append(spans, sp)
			}
			addResource(td, pod(fmt.Sprintf("svc-%d", p%2), fmt.Sprintf("pod-%d", p), "k8s.container.name", "app", "rpc.grpc.status_code", int64(99)), spans...)
		}
		// No service.name: not counted by either.
		addResource(td, map[string]any{"k8s.pod.name": "anonymous"}, spanSpec{name: "x", duration: time.Millisecond})
		out = append(out, td)
	}
	return out
}

// TestMatchesContrib feeds the same spans, with the agent's config, to contrib's spanmetrics
// connector and to Lookout's, and compares every data point they send once each series has
// been sent before (the first time, both send a new calls counter as 0).
func TestMatchesContrib(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func() map[string]any
	}{
		{"agent", agentConfig},
		// Contrib's default unit is ms; Lookout's is s, Prometheus' base unit.
		{"defaults", func() map[string]any { return map[string]any{"histogram": map[string]any{"unit": "s"}} }},
		{"whole resource as key, ms, default dimension", func() map[string]any {
			return map[string]any{
				"histogram":  map[string]any{"unit": "ms"},
				"dimensions": []any{map[string]any{"name": "http.request.method"}, map[string]any{"name": "deployment.environment", "default": "none"}},
			}
		}},
		{"cardinality limit", func() map[string]any {
			m := agentConfig()
			m["aggregation_cardinality_limit"] = 7
			return m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, oursSink := newTest(t, tc.cfg())
			for _, td := range variedTraces() {
				require.NoError(t, ours.ConsumeTraces(context.Background(), td))
			}
			ours.flush(context.Background())
			ours.flush(context.Background())
			require.Len(t, oursSink.AllMetrics(), 2)
			got := metricstest.Points(oursSink.AllMetrics()[1])

			want := contribPoints(t, tc.cfg())
			require.NotEmpty(t, want)
			assert.Equal(t, want, got)
		})
	}
}

// contribPoints runs contrib's connector on variedTraces with cfg and returns the data points it
// sends after every series has been sent once.
func contribPoints(t *testing.T, m map[string]any) []string {
	f := contrib.NewFactory()
	cfg := loadConfig(t, f, m).(*contrib.Config)
	cfg.MetricsFlushInterval = 5 * time.Millisecond
	sink := new(consumertest.MetricsSink)
	conn, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	for _, td := range variedTraces() {
		require.NoError(t, conn.ConsumeTraces(context.Background(), td))
	}
	require.NoError(t, conn.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, conn.Shutdown(context.Background())) }()
	// The first flush sends new calls counters as 0; the second sends the totals.
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) >= 2 }, 10*time.Second, time.Millisecond)
	md := sink.AllMetrics()[1]
	// Contrib adds the collector's instance ID (random at each start) to every series; Lookout
	// does not (README.md).
	removed := 0
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		ms := rms.At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			switch m.Type() {
			case pmetric.MetricTypeSum:
				for k := 0; k < m.Sum().DataPoints().Len(); k++ {
					if m.Sum().DataPoints().At(k).Attributes().Remove("collector.instance.id") {
						removed++
					}
				}
			case pmetric.MetricTypeHistogram:
				for k := 0; k < m.Histogram().DataPoints().Len(); k++ {
					if m.Histogram().DataPoints().At(k).Attributes().Remove("collector.instance.id") {
						removed++
					}
				}
			}
		}
	}
	require.NotZero(t, removed, "contrib no longer adds collector.instance.id: README.md and this test need updating")
	return metricstest.Points(md)
}

func TestFirstFlushSendsNewCallsAsZero(t *testing.T) {
	c, sink := newTest(t, agentConfig())
	td := ptrace.NewTraces()
	addResource(td, pod("orders", "orders-1"), spanSpec{name: "GET /", kind: ptrace.SpanKindServer, duration: 7 * time.Millisecond})
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	c.flush(context.Background())
	c.flush(context.Background())
	require.Len(t, sink.AllMetrics(), 2)
	for i, want := range []int64{0, 2} {
		calls := sink.AllMetrics()[i].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
		assert.Equal(t, "traces.span.metrics.calls", calls.Name())
		assert.Equal(t, want, calls.Sum().DataPoints().At(0).IntValue(), "flush %d", i)
		dur := sink.AllMetrics()[i].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(1)
		assert.Equal(t, uint64(2), dur.Histogram().DataPoints().At(0).Count(), "flush %d", i)
		assert.Equal(t, []uint64{0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, dur.Histogram().DataPoints().At(0).BucketCounts().AsRaw())
	}
}

func TestDimensions(t *testing.T) {
	m := agentConfig()
	m["dimensions"] = []any{
		map[string]any{"name": "http.request.method"},
		map[string]any{"name": "deployment.environment", "default": "unknown"},
		map[string]any{"name": "rpc.grpc.status_code"},
	}
	c, sink := newTest(t, m)
	td := ptrace.NewTraces()
	addResource(td, pod("orders", "orders-1", "deployment.environment", "prod", "http.request.method", "FROM-RESOURCE"),
		spanSpec{name: "a", attrs: map[string]any{"http.request.method": "GET"}},
		spanSpec{name: "b"},
	)
	addResource(td, pod("orders", "orders-2"), spanSpec{name: "c", attrs: map[string]any{"rpc.grpc.status_code": int64(14)}})
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	c.flush(context.Background())
	got := map[string]map[string]any{}
	rms := sink.AllMetrics()[0].ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		dps := rms.At(i).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			a := dps.At(j).Attributes().AsRaw()
			got[a["span.name"].(string)] = a
		}
	}
	base := func(name string, extra ...any) map[string]any {
		a := map[string]any{"service.name": "orders", "span.name": name, "span.kind": "SPAN_KIND_UNSPECIFIED", "status.code": "STATUS_CODE_UNSET"}
		for i := 0; i < len(extra); i += 2 {
			a[extra[i].(string)] = extra[i+1]
		}
		return a
	}
	assert.Equal(t, map[string]map[string]any{
		"a": base("a", "http.request.method", "GET", "deployment.environment", "prod"),
		"b": base("b", "http.request.method", "FROM-RESOURCE", "deployment.environment", "prod"),
		"c": base("c", "deployment.environment", "unknown", "rpc.grpc.status_code", int64(14)),
	}, got)
}

func TestCardinalityLimit(t *testing.T) {
	m := agentConfig()
	m["aggregation_cardinality_limit"] = 2
	c, sink := newTest(t, m)
	td := ptrace.NewTraces()
	addResource(td, pod("orders", "orders-1"), spanSpec{name: "a"}, spanSpec{name: "b"}, spanSpec{name: "c"}, spanSpec{name: "d"}, spanSpec{name: "a"})
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	c.flush(context.Background())
	c.flush(context.Background())
	counts := map[string]int64{}
	dps := sink.AllMetrics()[1].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		counts[metricstest.Attrs(dps.At(i).Attributes())] = dps.At(i).IntValue()
	}
	require.Len(t, counts, 3, "two series and the overflow series: %v", counts)
	assert.Equal(t, int64(2), counts["{otel.metric.overflow=Bool(true)}"])
	var total int64
	for _, n := range counts {
		total += n
	}
	assert.Equal(t, int64(5), total, "every span counted once")
}

func TestExpiration(t *testing.T) {
	c, sink := newTest(t, agentConfig())
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	for _, p := range []string{"old", "new"} {
		td := ptrace.NewTraces()
		addResource(td, pod("orders", p), spanSpec{name: "a"})
		require.NoError(t, c.ConsumeTraces(context.Background(), td))
		now = now.Add(4 * time.Minute)
	}
	// "old" was last seen 8 minutes ago, "new" 4: the flush sends both, then drops "old".
	c.flush(context.Background())
	c.flush(context.Background())
	pods := func(md pmetric.Metrics) []string {
		var out []string
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			v, _ := md.ResourceMetrics().At(i).Resource().Attributes().Get("k8s.pod.name")
			out = append(out, v.Str())
		}
		slices.Sort(out)
		return out
	}
	assert.Equal(t, []string{"new", "old"}, pods(sink.AllMetrics()[0]))
	assert.Equal(t, []string{"new"}, pods(sink.AllMetrics()[1]))
}

func TestResourceCacheSize(t *testing.T) {
	m := agentConfig()
	m["resource_metrics_cache_size"] = 2
	c, _ := newTest(t, m)
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	for _, p := range []string{"a", "b", "a", "c"} {
		td := ptrace.NewTraces()
		addResource(td, pod("orders", p), spanSpec{name: "x"})
		require.NoError(t, c.ConsumeTraces(context.Background(), td))
		now = now.Add(time.Second)
	}
	var left []string
	for r := range maps.Values(c.resources) {
		v, _ := r.attrs.Get("k8s.pod.name")
		left = append(left, v.Str())
	}
	slices.Sort(left)
	assert.Equal(t, []string{"a", "c"}, left, "b, seen least recently, is dropped")
}

func TestShutdownFlushes(t *testing.T) {
	m := agentConfig()
	m["metrics_flush_interval"] = "1h"
	c, sink := newTest(t, m)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	td := ptrace.NewTraces()
	addResource(td, pod("orders", "orders-1"), spanSpec{name: "a"})
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	require.Empty(t, sink.AllMetrics())
	require.NoError(t, c.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 1)
	assert.Equal(t, 2, sink.DataPointCount())
	require.NoError(t, c.Shutdown(context.Background()), "a second shutdown does nothing")
	assert.Len(t, sink.AllMetrics(), 1)
}

func TestFlushesOnInterval(t *testing.T) {
	m := agentConfig()
	m["metrics_flush_interval"] = "10ms"
	c, sink := newTest(t, m)
	td := ptrace.NewTraces()
	addResource(td, pod("orders", "orders-1"), spanSpec{name: "a"})
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) >= 2 }, 10*time.Second, time.Millisecond)
	require.NoError(t, c.Shutdown(context.Background()))
}

// TestNothingAllocatedForKnownSeries: a span whose series exists costs no allocation.
func TestNothingAllocatedForKnownSeries(t *testing.T) {
	c, _ := newTest(t, agentConfig())
	td := benchTraces()
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	allocs := testing.AllocsPerRun(20, func() {
		_ = c.ConsumeTraces(context.Background(), td)
	})
	assert.Zero(t, allocs)
}

// benchTraces is a request like bench/'s traces scenario: 200 server spans of two services,
// each with 10 attributes.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	routes := []string{"/api/v1/orders/{id}", "/api/v1/cart", "/api/v1/users/{id}", "/healthz", "/api/v1/search"}
	for s := range 2 {
		var spans []spanSpec
		for i := range 100 {
			method, code, status := "GET", int64(200), ptrace.StatusCodeUnset
			if i%4 == 3 {
				method = "POST"
			}
			if i%50 == 49 {
				code, status = 500, ptrace.StatusCodeError
			}
			spans = append(spans, spanSpec{
				name: "GET " + routes[i%len(routes)], kind: ptrace.SpanKindServer, status: status,
				duration: time.Duration(1+i%200) * time.Millisecond,
				attrs: map[string]any{
					"http.request.method": method, "http.route": routes[i%len(routes)], "http.response.status_code": code,
					"url.path": fmt.Sprintf("/api/v1/orders/%d", 10000+i), "url.scheme": "http",
					"server.address": fmt.Sprintf("svc-%d.shop.svc.cluster.local", s), "server.port": int64(8080),
					"client.address": fmt.Sprintf("10.1.%d.%d", s, i), "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) bench/1.0",
					"network.protocol.version": "1.1",
				},
			})
		}
		addResource(td, pod(fmt.Sprintf("svc-%d", s), fmt.Sprintf("svc-%d-7d9f8b6c5-w01", s), "service.version", "1.4.2", "telemetry.sdk.language", "go"), spans...)
	}
	return td
}

// BenchmarkConsumeTraces compares Lookout's connector with contrib's on the same requests and
// config (the agent's), side by side.
func BenchmarkConsumeTraces(b *testing.B) {
	td := benchTraces()
	for _, bc := range []struct {
		name string
		f    connector.Factory
	}{{"lookout", NewFactory()}, {"contrib", contrib.NewFactory()}} {
		f := bc.f
		b.Run(bc.name, func(b *testing.B) {
			conn, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), loadConfig(b, f, agentConfig()), consumertest.NewNop())
			require.NoError(b, err)
			b.ReportAllocs()
			b.SetBytes(int64(td.SpanCount())) // "MB/s" reads as millions of spans a second
			for b.Loop() {
				if err := conn.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
