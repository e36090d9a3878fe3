package servicegraphconnector

import (
	"context"
	"fmt"
	"testing"
	"time"

	contrib "github.com/open-telemetry/opentelemetry-collector-contrib/connector/servicegraphconnector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/lookoutdev/lookout/connectors/internal/metricstest"
)

// agentConfig is the agent's service_graph section (collector/config/agent.yaml).
func agentConfig() map[string]any {
	return map[string]any{
		"latency_histogram_buckets": []any{"5ms", "10ms", "25ms", "50ms", "100ms", "250ms", "500ms", "1s", "2500ms", "5s", "10s"},
		"store":                     map[string]any{"ttl": "5s", "max_items": 5000},
		"metrics_flush_interval":    "15s",
	}
}

func loadConfig(t testing.TB, f connector.Factory, m map[string]any) any {
	t.Helper()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(m).Unmarshal(cfg))
	return cfg
}

// newTest returns Lookout's connector (not started: the test expires and flushes it), its clock
// and the sink it sends to.
func newTest(t testing.TB, m map[string]any) (*connectorImp, *time.Time, *consumertest.MetricsSink) {
	t.Helper()
	f := NewFactory()
	sink := new(consumertest.MetricsSink)
	conn, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), loadConfig(t, f, m), sink)
	require.NoError(t, err)
	c := conn.(*connectorImp)
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	return c, &now, sink
}

type spanSpec struct {
	svc      string
	kind     ptrace.SpanKind
	trace    byte
	id       byte
	parent   byte
	failed   bool
	duration time.Duration
	attrs    map[string]any
}

// traces puts each span in a resource of its service (with k8s.namespace.name "prod").
func traces(spans ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	end := pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0))
	for _, sp := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		if sp.svc != "" {
			rs.Resource().Attributes().PutStr("service.name", sp.svc)
		}
		rs.Resource().Attributes().PutStr("k8s.namespace.name", "prod")
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetName("op")
		s.SetKind(sp.kind)
		s.SetTraceID(pcommon.TraceID{sp.trace, 1})
		s.SetSpanID(pcommon.SpanID{sp.id, 1})
		if sp.parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{sp.parent, 1})
		}
		if sp.failed {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
		s.SetStartTimestamp(end - pcommon.Timestamp(sp.duration))
		s.SetEndTimestamp(end)
		if err := s.Attributes().FromRaw(sp.attrs); err != nil {
			panic(err)
		}
	}
	return td
}

// calls are requests of every shape: pairs in one request and across requests, either end
// first, failed on either end, messaging, database calls, root server spans (from "user"),
// client spans without a server (to their peer, or "unknown"), server spans whose parent never
// comes, and spans that are neither.
func calls() []ptrace.Traces {
	get := map[string]any{"http.request.method": "GET"}
	var out []ptrace.Traces
	for i := range byte(3) {
		t := 10 * i
		out = append(out,
			traces(
				spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: t + 1, id: 1, duration: 30 * time.Millisecond, attrs: get},
				spanSpec{svc: "orders", kind: ptrace.SpanKindServer, trace: t + 1, id: 2, parent: 1, duration: 25 * time.Millisecond, attrs: get},
				spanSpec{svc: "orders", kind: ptrace.SpanKindServer, trace: t + 2, id: 2, parent: 1, duration: 10 * time.Millisecond, failed: i == 1},
				spanSpec{svc: "orders", kind: ptrace.SpanKindClient, trace: t + 3, id: 5, duration: 4 * time.Millisecond, attrs: map[string]any{"db.name": "ordersdb", "db.system": "postgresql"}},
				spanSpec{svc: "web", kind: ptrace.SpanKindServer, trace: t + 4, id: 1, duration: 100 * time.Millisecond},
				spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: t + 5, id: 3, duration: 250 * time.Millisecond, attrs: map[string]any{"peer.service": "payments-api"}},
				spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: t + 6, id: 3, duration: time.Second},
				spanSpec{svc: "orders", kind: ptrace.SpanKindServer, trace: t + 7, id: 9, parent: 8, duration: time.Millisecond},
				spanSpec{svc: "orders", kind: ptrace.SpanKindInternal, trace: t + 1, id: 7, parent: 2},
				spanSpec{kind: ptrace.SpanKindServer, trace: t + 8, id: 1},
			),
			traces(
				spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: t + 2, id: 1, duration: 12 * time.Millisecond, failed: i == 2, attrs: get},
				spanSpec{svc: "orders", kind: ptrace.SpanKindProducer, trace: t + 9, id: 4, duration: 2 * time.Millisecond},
				spanSpec{svc: "billing", kind: ptrace.SpanKindConsumer, trace: t + 9, id: 6, parent: 4, duration: 50 * time.Millisecond},
			),
		)
	}
	return out
}

// TestMatchesContrib feeds the same spans to contrib's servicegraph connector and to Lookout's
// under several configs, lets the unpaired ones expire, and compares every data point sent.
func TestMatchesContrib(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func() map[string]any
	}{
		{"agent", agentConfig},
		{"defaults", func() map[string]any { return map[string]any{} }},
		{"dimensions, extra label", func() map[string]any {
			m := agentConfig()
			m["dimensions"] = []any{"http.request.method", "k8s.namespace.name"}
			m["virtual_node_extra_label"] = true
			return m
		}},
		{"no virtual nodes", func() map[string]any {
			m := agentConfig()
			m["virtual_node_peer_attributes"] = []any{}
			return m
		}},
		{"store full", func() map[string]any {
			m := agentConfig()
			m["store"] = map[string]any{"ttl": "5s", "max_items": 4}
			return m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, now, sink := newTest(t, tc.cfg())
			for _, td := range calls() {
				require.NoError(t, c.ConsumeTraces(context.Background(), td))
			}
			*now = now.Add(10 * time.Second)
			c.expire()
			c.flush(context.Background())
			require.Len(t, sink.AllMetrics(), 1)
			got := metricstest.Points(sink.AllMetrics()[0])

			want := contribPoints(t, tc.cfg())
			require.NotEmpty(t, want)
			assert.Equal(t, want, got)
		})
	}
}

// contribPoints runs contrib's connector on calls() with cfg, with a store TTL of 2s (the
// spans are consumed well within it), and returns the data points it sends once the unpaired
// spans have expired.
func contribPoints(t *testing.T, m map[string]any) []string {
	f := contrib.NewFactory()
	cfg := loadConfig(t, f, m).(*contrib.Config)
	cfg.Store.TTL = 2 * time.Second
	cfg.StoreExpirationLoop = 50 * time.Millisecond
	flush := 50 * time.Millisecond
	cfg.MetricsFlushInterval = &flush
	sink := new(consumertest.MetricsSink)
	conn, err := f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, conn.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, conn.Shutdown(context.Background())) }()
	start := time.Now()
	for _, td := range calls() {
		require.NoError(t, conn.ConsumeTraces(context.Background(), td))
	}
	require.Less(t, time.Since(start), time.Second, "spans consumed too slowly for the TTL")
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	n := len(sink.AllMetrics())
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) > n }, 10*time.Second, time.Millisecond)
	return metricstest.Points(sink.AllMetrics()[len(sink.AllMetrics())-1])
}

func TestEdges(t *testing.T) {
	c, now, sink := newTest(t, agentConfig())
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(
		spanSpec{svc: "orders", kind: ptrace.SpanKindServer, trace: 1, id: 2, parent: 1, duration: 20 * time.Millisecond},
		spanSpec{svc: "web", kind: ptrace.SpanKindServer, trace: 2, id: 1, duration: 7 * time.Millisecond},
	)))
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(
		spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: 1, id: 1, duration: 30 * time.Millisecond, failed: true},
	)))
	// The pair is recorded at once; the root span waits for the store's TTL.
	c.flush(context.Background())
	*now = now.Add(6 * time.Second)
	c.expire()
	c.flush(context.Background())
	require.Len(t, sink.AllMetrics(), 2)
	assert.Equal(t, []string{
		"{} traces_service_graph_request_client unit=\"s\" histogram(Cumulative) {client=Str(web),connection_type=Str(),failed=Bool(true),server=Str(orders)} = count 1 sum 0.03 bounds [0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10] buckets [0 0 0 1 0 0 0 0 0 0 0 0]",
		"{} traces_service_graph_request_failed_total unit=\"\" sum(monotonic=true,Cumulative) {client=Str(web),connection_type=Str(),failed=Bool(true),server=Str(orders)} = 1",
		"{} traces_service_graph_request_server unit=\"s\" histogram(Cumulative) {client=Str(web),connection_type=Str(),failed=Bool(true),server=Str(orders)} = count 1 sum 0.02 bounds [0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10] buckets [0 0 1 0 0 0 0 0 0 0 0 0]",
		"{} traces_service_graph_request_total unit=\"\" sum(monotonic=true,Cumulative) {client=Str(web),connection_type=Str(),failed=Bool(true),server=Str(orders)} = 1",
	}, metricstest.Points(sink.AllMetrics()[0]))
	assert.Equal(t, "traces_service_graph", sink.AllMetrics()[1].ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().Name(), "contrib's scope")
	second := metricstest.Points(sink.AllMetrics()[1])
	assert.Len(t, second, 7, "the pair (with its failure) and the user's call to web: %v", second)
	assert.Contains(t, second, "{} traces_service_graph_request_total unit=\"\" sum(monotonic=true,Cumulative) {client=Str(user),connection_type=Str(virtual_node),failed=Bool(false),server=Str(web)} = 1")
}

func TestStoreFullAllocatesNothing(t *testing.T) {
	m := agentConfig()
	m["store"] = map[string]any{"ttl": "5s", "max_items": 1}
	c, _, _ := newTest(t, m)
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(spanSpec{svc: "web", kind: ptrace.SpanKindServer, trace: 1, id: 1})))
	td := benchTraces()
	var seq uint64
	allocs := testing.AllocsPerRun(20, func() {
		seq = restamp(td, seq)
		_ = c.ConsumeTraces(context.Background(), td)
	})
	assert.Zero(t, allocs)
	assert.Len(t, c.edges, 1)
}

func TestExpiredSpansLeaveTheStore(t *testing.T) {
	c, now, _ := newTest(t, agentConfig())
	for i := range byte(3) {
		require.NoError(t, c.ConsumeTraces(context.Background(), traces(spanSpec{svc: "web", kind: ptrace.SpanKindServer, trace: i + 1, id: 2, parent: 1})))
		*now = now.Add(2 * time.Second)
	}
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: 3, id: 1})))
	// Spans stored at 0s, 2s and 4s; the last is paired. At 6.5s only the first has expired.
	*now = now.Add(500 * time.Millisecond)
	c.expire()
	assert.Len(t, c.edges, 1)
	assert.Len(t, c.queue, 2)
	*now = now.Add(5 * time.Second)
	c.expire()
	assert.Empty(t, c.edges)
	assert.Empty(t, c.queue)
}

func TestStaleSeriesDropped(t *testing.T) {
	c, now, sink := newTest(t, agentConfig())
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(
		spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: 1, id: 1},
		spanSpec{svc: "orders", kind: ptrace.SpanKindServer, trace: 1, id: 2, parent: 1},
	)))
	*now = now.Add(14 * time.Minute)
	c.dropStale()
	assert.Len(t, c.series, 1)
	*now = now.Add(2 * time.Minute)
	c.dropStale()
	assert.Empty(t, c.series)
	c.flush(context.Background())
	assert.Empty(t, sink.AllMetrics(), "nothing to send")
}

func TestShutdownFlushes(t *testing.T) {
	m := agentConfig()
	m["metrics_flush_interval"] = "1h"
	c, _, sink := newTest(t, m)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(
		spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: 1, id: 1},
		spanSpec{svc: "orders", kind: ptrace.SpanKindServer, trace: 1, id: 2, parent: 1},
	)))
	require.Empty(t, sink.AllMetrics())
	require.NoError(t, c.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 1)
	assert.Equal(t, 3, sink.DataPointCount(), "requests, server and client latency")
	require.NoError(t, c.Shutdown(context.Background()))
}

func TestFlushEveryRequestWhenIntervalIsZero(t *testing.T) {
	m := agentConfig()
	m["metrics_flush_interval"] = "0s"
	c, _, sink := newTest(t, m)
	require.NoError(t, c.ConsumeTraces(context.Background(), traces(
		spanSpec{svc: "web", kind: ptrace.SpanKindClient, trace: 1, id: 1},
		spanSpec{svc: "orders", kind: ptrace.SpanKindServer, trace: 1, id: 2, parent: 1},
	)))
	assert.Len(t, sink.AllMetrics(), 1)
}

// benchTraces is a request like bench/'s traces scenario: 200 server spans of two services,
// five to a trace, four of them children of the first (so none pairs).
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for s := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", s))
		rs.Resource().Attributes().PutStr("k8s.pod.name", fmt.Sprintf("svc-%d-7d9f8b6c5-w01", s))
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range 100 {
			sp := spans.AppendEmpty()
			sp.SetName("GET /api/v1/cart")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000))
			sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(1+i)*int64(time.Millisecond)))
			sp.Attributes().PutStr("http.request.method", "GET")
			sp.Attributes().PutInt("http.response.status_code", 200)
		}
	}
	return td
}

// restamp gives td's spans new trace and span IDs, from seq on, and returns the next seq.
func restamp(td ptrace.Traces, seq uint64) uint64 {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for j := 0; j < spans.Len(); j++ {
			sp := spans.At(j)
			var tid pcommon.TraceID
			for k := range 8 {
				tid[k] = byte((seq / 5) >> (8 * k))
			}
			sp.SetTraceID(tid)
			sp.SetSpanID(pcommon.SpanID{byte(seq), byte(seq >> 8), byte(seq >> 16), byte(seq >> 24), 1})
			if seq%5 != 0 {
				first := seq - seq%5
				sp.SetParentSpanID(pcommon.SpanID{byte(first), byte(first >> 8), byte(first >> 16), byte(first >> 24), 1})
			} else {
				sp.SetParentSpanID(pcommon.SpanID{})
			}
			seq++
		}
	}
	return seq
}

// BenchmarkConsumeTraces compares Lookout's connector with contrib's on the same requests (fresh
// trace IDs each time, as at max rate) and config (the agent's), side by side.
func BenchmarkConsumeTraces(b *testing.B) {
	td := benchTraces()
	for _, bc := range []struct {
		name string
		f    connector.Factory
	}{{"lookout", NewFactory()}, {"contrib", contrib.NewFactory()}} {
		b.Run(bc.name, func(b *testing.B) {
			conn, err := bc.f.CreateTracesToMetrics(context.Background(), connectortest.NewNopSettings(bc.f.Type()), loadConfig(b, bc.f, agentConfig()), consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, conn.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(b, conn.Shutdown(context.Background())) }()
			var seq uint64
			b.ReportAllocs()
			b.SetBytes(int64(td.SpanCount())) // "MB/s" reads as millions of spans a second
			for b.Loop() {
				seq = restamp(td, seq)
				if err := conn.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
