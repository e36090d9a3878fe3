package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// traceServices is how many services (resources) a request's spans come from.
const traceServices = 5

// traceGen sends spans to a collector's OTLP/gRPC receiver synchronously, a batch per request,
// and counts what the collector acknowledged: a span counts as sent only once its request
// returned success. Span IDs carry a sequence number, so the sink can check that every
// acknowledged span arrived (unlike telemetrygen, whose SDK queue drops spans unthrottled).
type traceGen struct {
	conn   *grpc.ClientConn
	client ptraceotlp.GRPCClient
	batch  int

	next    atomic.Uint64
	acked   atomic.Int64
	refused atomic.Int64
	lastErr atomic.Pointer[string]

	mu     sync.Mutex
	ranges [][2]uint64 // acknowledged [from, to) sequence numbers
}

func newTraceGen(addr string, batch int) (*traceGen, error) {
	if batch < traceServices || batch%traceServices != 0 {
		return nil, fmt.Errorf("trace generator: batch of %d spans: want a multiple of %d", batch, traceServices)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("trace generator: connect to %s: %w", addr, err)
	}
	return &traceGen{conn: conn, client: ptraceotlp.NewGRPCClient(conn), batch: batch}, nil
}

func (g *traceGen) close() error { return g.conn.Close() }

// run sends until ctx ends from workers goroutines, at rate spans a second in all (0: each
// worker sends its next request as soon as the last one was answered).
func (g *traceGen) run(ctx context.Context, workers int, rate float64) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.worker(ctx, w, workers, rate)
		}()
	}
	wg.Wait()
}

func (g *traceGen) worker(ctx context.Context, w, workers int, rate float64) {
	td := traceTemplate(g.batch, w)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(g.batch) * float64(workers) / rate)
	}
	// Spread the workers' sends over one interval.
	next := time.Now().Add(interval * time.Duration(w) / time.Duration(workers))
	for ctx.Err() == nil {
		if interval > 0 {
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			next = next.Add(interval)
			if late := time.Since(next); late > time.Second {
				next = time.Now() // fell behind: do not burst to catch up
			}
		}
		from := g.next.Add(uint64(g.batch)) - uint64(g.batch)
		stamp(td, from)
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := g.client.Export(rctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
		if err == nil && resp.PartialSuccess().RejectedSpans() > 0 {
			err = fmt.Errorf("%d spans rejected: %s", resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage())
		}
		if err != nil {
			if ctx.Err() != nil && errors.Is(rctx.Err(), context.Canceled) {
				return // the run ended while the request was in flight: neither acked nor refused
			}
			g.refused.Add(int64(g.batch))
			msg := err.Error()
			g.lastErr.Store(&msg)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		g.acked.Add(int64(g.batch))
		g.mu.Lock()
		g.ranges = append(g.ranges, [2]uint64{from, from + uint64(g.batch)})
		g.mu.Unlock()
	}
}

// missing counts the acknowledged spans that t has not seen.
func (g *traceGen) missing(t *tracker) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var n int64
	for _, r := range g.ranges {
		n += t.missing(0, r[0], r[1])
	}
	return n
}

// traceTemplate builds one request's spans: traceServices resources, each with its share of
// spans, every span with 10 attributes such as an HTTP server's instrumentation sets.
func traceTemplate(batch, worker int) ptrace.Traces {
	td := ptrace.NewTraces()
	routes := []string{"/api/v1/orders/{id}", "/api/v1/cart", "/api/v1/users/{id}", "/healthz", "/api/v1/search"}
	per := batch / traceServices
	for s := range traceServices {
		rs := td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.PutStr("service.name", fmt.Sprintf("svc-%d", s))
		ra.PutStr("service.namespace", "shop")
		ra.PutStr("service.version", "1.4.2")
		ra.PutStr("k8s.namespace.name", "bench")
		ra.PutStr("k8s.pod.name", fmt.Sprintf("svc-%d-7d9f8b6c5-w%02d", s, worker))
		ra.PutStr("telemetry.sdk.language", "go")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		ss.Scope().SetVersion("0.60.0")
		for i := range per {
			sp := ss.Spans().AppendEmpty()
			route := routes[i%len(routes)]
			sp.SetName("GET " + route)
			sp.SetKind(ptrace.SpanKindServer)
			a := sp.Attributes()
			method := "GET"
			if i%4 == 3 {
				method = "POST"
			}
			status := int64(200)
			if i%50 == 49 {
				status = 500
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
			a.PutStr("http.request.method", method)
			a.PutStr("http.route", route)
			a.PutInt("http.response.status_code", status)
			a.PutStr("url.path", fmt.Sprintf("/api/v1/orders/%d", 10000+i))
			a.PutStr("url.scheme", "http")
			a.PutStr("server.address", fmt.Sprintf("svc-%d.shop.svc.cluster.local", s))
			a.PutInt("server.port", 8080)
			a.PutStr("client.address", fmt.Sprintf("10.1.%d.%d", s, i%250))
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) bench/1.0")
			a.PutStr("network.protocol.version", "1.1")
		}
	}
	return td
}

// stamp gives td's spans the sequence numbers from, from+1, ... (in their span IDs), trace IDs
// (five spans to a trace), parents, and times ending now.
func stamp(td ptrace.Traces, from uint64) {
	now := time.Now()
	seq := from
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for j := 0; j < spans.Len(); j++ {
			sp := spans.At(j)
			id := spanIDFor(seq)
			sp.SetSpanID(pcommon.SpanID(id))
			trace := seq / 5
			var tid pcommon.TraceID
			for k := range 8 {
				tid[k] = byte(trace >> (8 * k))
				tid[15-k] = byte(trace>>(8*k)) ^ 0x5a
			}
			sp.SetTraceID(tid)
			if seq%5 != 0 {
				sp.SetParentSpanID(pcommon.SpanID(spanIDFor(seq - seq%5)))
			} else {
				sp.SetParentSpanID(pcommon.SpanID{})
			}
			d := time.Duration(1+seq%200) * time.Millisecond
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-d)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
			seq++
		}
	}
}
