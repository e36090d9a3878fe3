package service

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deployed is one service running in the test, with what it recorded.
type deployed struct {
	svc   *Service
	srv   *httptest.Server
	spans *tracetest.SpanRecorder
	logs  *observer.ObservedLogs
	reg   *prometheus.Registry
}

// chain is storefront → orders → payments, each with its own tracer provider, log and registry.
type chain map[Role]*deployed

type fakeSleep struct {
	mu    sync.Mutex
	slept time.Duration
}

func (f *fakeSleep) sleep(_ context.Context, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slept += d
}

func (f *fakeSleep) total() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.slept
}

func startChain(t *testing.T, declineRatio float64, sl *fakeSleep) chain {
	t.Helper()
	c := chain{}
	next := ""
	for _, role := range []Role{Payments, Orders, Storefront} {
		d := &deployed{spans: tracetest.NewSpanRecorder(), reg: prometheus.NewRegistry()}
		core, logs := observer.New(zapcore.DebugLevel)
		d.logs = logs
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(d.spans))
		t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
		transport := &http.Transport{}
		t.Cleanup(transport.CloseIdleConnections)
		svc, err := New(Options{
			Role: role, DownstreamURL: next, Logger: zap.New(core), TracerProvider: tp, Registerer: d.reg,
			DeclineRatio: declineRatio, Transport: transport, Sleep: sl.sleep,
		})
		require.NoError(t, err)
		d.svc = svc
		d.srv = httptest.NewServer(svc.Handler())
		t.Cleanup(d.srv.Close)
		c[role] = d
		next = d.srv.URL
	}
	return c
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

const goodCart = `{"customer":"c-1","items":[{"sku":"tele-01","quantity":1},{"sku":"map-03","quantity":2}]}`

func TestCheckoutOneTraceThroughThreeServices(t *testing.T) {
	c := startChain(t, 0, &fakeSleep{})
	status, body := post(t, c[Storefront].srv.URL+"/checkout", goodCart)
	require.Equal(t, http.StatusOK, status, body)
	var resp CheckoutResponse
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	require.Equal(t, int64(24900+2*1200), resp.TotalCents)
	require.Equal(t, "paid", resp.Status)
	require.True(t, strings.HasPrefix(resp.OrderID, "ord-"), resp.OrderID)

	// Every service recorded spans, all in the storefront's trace.
	root := c[Storefront].spans.Ended()
	require.NotEmpty(t, root)
	traceID := root[0].SpanContext().TraceID()
	wantNames := map[Role][]string{
		Storefront: {"POST /orders", "POST /checkout"},
		Orders:     {"orders.insert", "POST /payments", "POST /orders"},
		Payments:   {"payments.authorize", "POST /payments"},
	}
	for role, want := range wantNames {
		var names []string
		for _, s := range c[role].spans.Ended() {
			require.Equal(t, traceID, s.SpanContext().TraceID(), "%s span %s is in another trace", role, s.Name())
			names = append(names, s.Name())
		}
		require.ElementsMatch(t, want, names, role)
	}

	// Each service logged the request with the trace and its own server span.
	for role, d := range c {
		entries := d.logs.FilterMessage("request handled").All()
		require.Len(t, entries, 1, role)
		fields := entries[0].ContextMap()
		require.Equal(t, traceID.String(), fields["trace_id"], role)
		require.Equal(t, string(role), fields["service"])
		var serverSpan string
		for _, s := range d.spans.Ended() {
			if s.Parent().IsRemote() || !s.Parent().IsValid() {
				serverSpan = s.SpanContext().SpanID().String()
			}
		}
		require.Equal(t, serverSpan, fields["span_id"], role)
	}
	require.Len(t, c[Payments].logs.FilterMessage("payment charged").All(), 1)
	require.Len(t, c[Orders].logs.FilterMessage("order created").All(), 1)
	require.Len(t, c[Storefront].logs.FilterMessage("checkout completed").All(), 1)

	// Request metrics and the business metric of each service.
	require.Equal(t, 1.0, testutil.ToFloat64(c[Storefront].svc.metrics.requests.WithLabelValues("/checkout", "post", "200")))
	require.Equal(t, 1.0, testutil.ToFloat64(c[Orders].svc.metrics.requests.WithLabelValues("/orders", "post", "201")))
	require.Equal(t, 1.0, testutil.ToFloat64(c[Payments].svc.metrics.requests.WithLabelValues("/payments", "post", "200")))
	require.Equal(t, 1.0, testutil.ToFloat64(c[Storefront].svc.metrics.business.WithLabelValues("ok")))
	require.Equal(t, float64(24900+2*1200), testutil.ToFloat64(c[Payments].svc.metrics.chargedCents.WithLabelValues("EUR")))
	require.Equal(t, 1, testutil.CollectAndCount(c[Orders].svc.metrics.itemsPerOrder))
	n, err := testutil.GatherAndCount(c[Storefront].reg, "http_request_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func TestFaultSwitch(t *testing.T) {
	sl := &fakeSleep{}
	c := startChain(t, 0, sl)

	// Payments fails every request: the checkout fails, and says where.
	status, body := post(t, c[Payments].srv.URL+"/fault", `{"error_ratio":1,"latency":"250ms"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.JSONEq(t, `{"error_ratio":1,"latency":"250ms"}`, body)
	require.Equal(t, 1.0, testutil.ToFloat64(c[Payments].svc.metrics.faultErrorRatio))
	require.Equal(t, 0.25, testutil.ToFloat64(c[Payments].svc.metrics.faultLatency))

	status, body = post(t, c[Storefront].srv.URL+"/checkout", goodCart)
	require.Equal(t, http.StatusBadGateway, status)
	require.Contains(t, body, "payments answered 500: injected fault")
	require.GreaterOrEqual(t, sl.total(), 250*time.Millisecond)
	require.Equal(t, 1.0, testutil.ToFloat64(c[Storefront].svc.metrics.business.WithLabelValues("failed")))
	require.Equal(t, 1.0, testutil.ToFloat64(c[Payments].svc.metrics.requests.WithLabelValues("/payments", "post", "500")))
	failed := c[Payments].logs.FilterMessage("request failed").All()
	require.Len(t, failed, 1)
	require.Equal(t, zapcore.ErrorLevel, failed[0].Level)
	require.Equal(t, "injected fault", failed[0].ContextMap()["error"])

	// A partial update keeps the other key; DELETE turns everything off.
	status, body = post(t, c[Payments].srv.URL+"/fault", `{"error_ratio":0}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"error_ratio":0,"latency":"250ms"}`, body)
	req, err := http.NewRequest(http.MethodDelete, c[Payments].srv.URL+"/fault", nil)
	require.NoError(t, err)
	status, body = do(t, req)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"error_ratio":0,"latency":"0s"}`, body)
	status, body = post(t, c[Storefront].srv.URL+"/checkout", goodCart)
	require.Equal(t, http.StatusOK, status, body)
}

func TestFaultSettingsErrors(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"ratio above one", `{"error_ratio":1.5}`, "error_ratio: 1.5 is outside [0, 1]"},
		{"negative ratio", `{"error_ratio":-0.1}`, "error_ratio: -0.1 is outside [0, 1]"},
		{"bad duration", `{"latency":"soon"}`, `latency: time: invalid duration "soon"`},
		{"negative latency", `{"latency":"-1s"}`, "latency: -1s is outside"},
		{"too long", `{"latency":"2h"}`, "latency: 2h0m0s is outside [0s, 1m0s]"},
		{"unknown key", `{"error_rate":0.5}`, `unknown field "error_rate"`},
		{"not json", `error_ratio=0.5`, "want a JSON object"},
		{"two objects", `{"error_ratio":0.5}{}`, "trailing data"},
		{"ratio as string", `{"error_ratio":"0.5"}`, "error_ratio"},
	}
	c := startChain(t, 0, &fakeSleep{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, c[Orders].srv.URL+"/fault", tt.body)
			require.Equal(t, http.StatusBadRequest, status)
			require.Contains(t, body, tt.wantErr)
			require.Equal(t, FaultSettings{}, c[Orders].svc.Fault().Get(), "a rejected change leaves the switch as it was")
		})
	}
}

func TestDeclinedPayment(t *testing.T) {
	c := startChain(t, 1, &fakeSleep{})
	status, body := post(t, c[Storefront].srv.URL+"/checkout", goodCart)
	require.Equal(t, http.StatusPaymentRequired, status, body)
	require.Contains(t, body, "payment declined")
	require.Equal(t, 1.0, testutil.ToFloat64(c[Storefront].svc.metrics.business.WithLabelValues("declined")))
	require.Equal(t, 0, testutil.CollectAndCount(c[Payments].svc.metrics.chargedCents))
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name, path, body, wantErr string
	}{
		{"no items", "/checkout", `{"customer":"c","items":[]}`, "items: at least one item is required"},
		{"unknown sku and bad quantity", "/checkout", `{"items":[{"sku":"x","quantity":0}]}`,
			`items[0].sku: unknown product \"x\"\nitems[0].quantity: 0 is outside [1, 100]`},
		{"unknown field", "/checkout", `{"items":[],"coupon":"free"}`, `unknown field \"coupon\"`},
		{"truncated", "/checkout", `{"items":[`, "request body: unexpected EOF"},
	}
	c := startChain(t, 0, &fakeSleep{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, c[Storefront].srv.URL+tt.path, tt.body)
			require.Equal(t, http.StatusBadRequest, status)
			require.Contains(t, body, tt.wantErr)
		})
	}
	require.Equal(t, float64(len(tests)), testutil.ToFloat64(c[Storefront].svc.metrics.business.WithLabelValues("invalid")))
	// Nothing reached orders.
	require.Empty(t, c[Orders].spans.Ended())

	status, body := post(t, c[Orders].srv.URL+"/orders", `{"items":[{"sku":"map-03","quantity":1}],"total_cents":1}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "total_cents: 1 does not match the items (1200)")
	status, body = post(t, c[Payments].srv.URL+"/payments", `{"amount_cents":-5,"currency":"GBP"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `order_id: required\namount_cents: -5 is not positive\ncurrency: \"GBP\" is not EUR or USD`)
}

func TestDownstreamDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	svc, err := New(Options{Role: Storefront, DownstreamURL: dead.URL})
	require.NoError(t, err)
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	status, body := post(t, srv.URL+"/checkout", goodCart)
	require.Equal(t, http.StatusBadGateway, status)
	require.Contains(t, body, "checkout failed: call orders:")
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"unknown role", Options{Role: "cart"}, `unknown service "cart"`},
		{"no downstream", Options{Role: Orders}, "orders: the downstream payments URL is required"},
		{"bad decline ratio", Options{Role: Payments, DeclineRatio: 2}, "decline ratio 2 is outside [0, 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
