// Package service is the demo's three microservices, storefront → orders → payments, each
// instrumented the way Lookout's users instrument theirs: OpenTelemetry traces (server and client
// spans, context propagated over HTTP), Prometheus metrics from client_golang (request counter,
// duration histogram, one business metric) and zap JSON logs carrying trace_id and span_id.
// Each has a fault switch (error ratio, added latency) at /fault.
package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
)

// Role names one of the three services.
type Role string

// The services, in call order.
const (
	Storefront Role = "storefront"
	Orders     Role = "orders"
	Payments   Role = "payments"
)

// Roles lists every service, in call order.
func Roles() []Role { return []Role{Storefront, Orders, Payments} }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown service %q (want storefront, orders or payments)", s)
}

// Downstream is the role that r calls, "" for the last one.
func (r Role) Downstream() Role {
	switch r {
	case Storefront:
		return Orders
	case Orders:
		return Payments
	}
	return ""
}

// Options configure a Service. Nil fields get safe defaults: no-op tracing and logging, an
// unregistered metrics registry.
type Options struct {
	Role Role
	// DownstreamURL is the base URL of the next service (e.g. "http://127.0.0.1:8082"); required
	// for storefront and orders.
	DownstreamURL string
	Logger        *zap.Logger
	// TracerProvider and Propagator: traces and their propagation to the next service.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Registerer receives the service's metrics.
	Registerer prometheus.Registerer
	// Transport is the base transport of calls to the next service.
	Transport http.RoundTripper
	// DeclineRatio is the share of payments declined (business outcome, not a fault).
	DeclineRatio float64
	// Float64 returns a random number in [0, 1); rand.Float64 when nil.
	Float64 func() float64
	// Sleep waits for d or until ctx ends; a context-aware time.Sleep when nil.
	Sleep func(ctx context.Context, d time.Duration)
}

// Service is one demo microservice.
type Service struct {
	opts    Options
	fault   *Fault
	metrics *metrics
	tracer  trace.Tracer
	client  *http.Client
	handler http.Handler
}

// New builds the service named by opts.Role.
func New(opts Options) (*Service, error) {
	if _, err := ParseRole(string(opts.Role)); err != nil {
		return nil, err
	}
	if opts.Role.Downstream() != "" && opts.DownstreamURL == "" {
		return nil, fmt.Errorf("%s: the downstream %s URL is required", opts.Role, opts.Role.Downstream())
	}
	if opts.DeclineRatio < 0 || opts.DeclineRatio > 1 {
		return nil, fmt.Errorf("%s: decline ratio %v is outside [0, 1]", opts.Role, opts.DeclineRatio)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = tracenoop.NewTracerProvider()
	}
	if opts.Propagator == nil {
		opts.Propagator = propagation.TraceContext{}
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	if opts.Float64 == nil {
		opts.Float64 = rand.Float64
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	opts.DownstreamURL = strings.TrimSuffix(opts.DownstreamURL, "/")
	opts.Logger = opts.Logger.With(zap.String("service", string(opts.Role)))

	m, err := newMetrics(opts.Role, opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("%s: metrics: %w", opts.Role, err)
	}
	s := &Service{
		opts:    opts,
		metrics: m,
		tracer:  opts.TracerProvider.Tracer("github.com/lookoutdev/lookout/demo/service"),
	}
	s.fault = &Fault{onChange: func(f FaultSettings) {
		m.faultErrorRatio.Set(f.ErrorRatio)
		m.faultLatency.Set(f.Latency.Seconds())
		opts.Logger.Warn("fault switch changed", zap.Float64("error_ratio", f.ErrorRatio), zap.Duration("latency", f.Latency))
	}}
	otelOpts := []otelhttp.Option{
		otelhttp.WithTracerProvider(opts.TracerProvider),
		otelhttp.WithPropagators(opts.Propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	}
	s.client = &http.Client{
		Transport: otelhttp.NewTransport(opts.Transport, append(otelOpts,
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))...),
		Timeout: 10 * time.Second,
	}

	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) {
		var handler http.Handler = h
		handler = s.withFault(handler)
		handler = s.withLog(handler)
		handler = m.instrument(pattern, handler)
		handler = otelhttp.NewHandler(handler, pattern, otelOpts...)
		mux.Handle(pattern, handler)
	}
	switch opts.Role {
	case Storefront:
		route("GET /products", s.products)
		route("POST /checkout", s.checkout)
	case Orders:
		route("POST /orders", s.createOrder)
	case Payments:
		route("POST /payments", s.charge)
	}
	mux.Handle("/fault", s.fault)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.handler = mux
	return s, nil
}

// Handler serves the service's API, /fault and /healthz (not /metrics: the caller serves its
// registry).
func (s *Service) Handler() http.Handler { return s.handler }

// Fault returns the service's fault switch.
func (s *Service) Fault() *Fault { return s.fault }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// withFault adds the switch's latency and fails the switch's share of requests.
func (s *Service) withFault(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := s.fault.Get()
		if f.Latency > 0 {
			s.opts.Sleep(r.Context(), f.Latency)
		}
		if f.ErrorRatio > 0 && s.opts.Float64() < f.ErrorRatio {
			span := trace.SpanFromContext(r.Context())
			span.SetAttributes(attribute.Bool("demo.fault_injected", true))
			writeError(w, http.StatusInternalServerError, "injected fault")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withLog writes one log line per request, with the trace and span it belongs to, and puts a
// logger carrying those IDs into the request's context for the handler's own lines.
func (s *Service) withLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		log := s.opts.Logger.With(traceFields(r.Context())...)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(withLogger(r.Context(), log)))
		fields := []zap.Field{
			zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", rec.status),
			zap.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		}
		switch {
		case rec.status >= 500:
			log.Error("request failed", append(fields, zap.String("error", rec.errMsg))...)
		case rec.status >= 400:
			log.Warn("request rejected", append(fields, zap.String("error", rec.errMsg))...)
		default:
			log.Info("request handled", fields...)
		}
	})
}

func traceFields(ctx context.Context) []zap.Field {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []zap.Field{zap.String("trace_id", sc.TraceID().String()), zap.String("span_id", sc.SpanID().String())}
}

type loggerKey struct{}

func withLogger(ctx context.Context, l *zap.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

func (s *Service) log(ctx context.Context) *zap.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*zap.Logger); ok {
		return l
	}
	return s.opts.Logger.With(traceFields(ctx)...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	errMsg string
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.errMsg = msg
	}
	writeJSON(w, status, apiError{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body into v, rejecting unknown fields and oversized bodies.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

// call posts req as JSON to the downstream service's path and decodes a 2xx answer into resp.
// It returns the downstream status; a non-2xx answer is an error carrying the downstream's
// message.
func (s *Service) call(ctx context.Context, path string, req, resp any) (int, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("encode request to %s: %w", s.opts.Role.Downstream(), err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.DownstreamURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("call %s: %w", s.opts.Role.Downstream(), err)
	}
	hr.Header.Set("Content-Type", "application/json")
	res, err := s.client.Do(hr)
	if err != nil {
		return 0, fmt.Errorf("call %s: %w", s.opts.Role.Downstream(), err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if err != nil {
		return res.StatusCode, fmt.Errorf("call %s: read answer: %w", s.opts.Role.Downstream(), err)
	}
	if res.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return res.StatusCode, fmt.Errorf("%s answered %d: %s", s.opts.Role.Downstream(), res.StatusCode, e.Error)
	}
	if err := json.Unmarshal(b, resp); err != nil {
		return res.StatusCode, fmt.Errorf("call %s: decode answer: %w", s.opts.Role.Downstream(), err)
	}
	return res.StatusCode, nil
}

// --- storefront ---

// Product is an item the storefront sells.
type Product struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

// Catalog returns what the storefront sells.
func Catalog() []Product { return append([]Product(nil), catalog...) }

var catalog = []Product{
	{"tele-01", "Telescope", 24900},
	{"lens-02", "Eyepiece", 3900},
	{"map-03", "Star map", 1200},
	{"lamp-04", "Red lamp", 1900},
}

func price(sku string) (int64, bool) {
	for _, p := range catalog {
		if p.SKU == sku {
			return p.PriceCents, true
		}
	}
	return 0, false
}

func (s *Service) products(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, catalog)
}

// Item is one line of a cart.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// CheckoutRequest is the storefront's POST /checkout body.
type CheckoutRequest struct {
	Customer string `json:"customer"`
	Items    []Item `json:"items"`
}

// CheckoutResponse is the storefront's answer to a checkout.
type CheckoutResponse struct {
	OrderID    string `json:"order_id"`
	Status     string `json:"status"`
	TotalCents int64  `json:"total_cents"`
}

func validateItems(items []Item) (int64, error) {
	if len(items) == 0 {
		return 0, errors.New("items: at least one item is required")
	}
	var total int64
	var errs []error
	for i, it := range items {
		p, ok := price(it.SKU)
		if !ok {
			errs = append(errs, fmt.Errorf("items[%d].sku: unknown product %q", i, it.SKU))
		}
		if it.Quantity < 1 || it.Quantity > 100 {
			errs = append(errs, fmt.Errorf("items[%d].quantity: %d is outside [1, 100]", i, it.Quantity))
		}
		total += p * int64(it.Quantity)
	}
	return total, errors.Join(errs...)
}

func (s *Service) checkout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req CheckoutRequest
	if err := decode(w, r, &req); err != nil {
		s.metrics.business.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	total, err := validateItems(req.Items)
	if err != nil {
		s.metrics.business.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var order OrderResponse
	status, err := s.call(ctx, "/orders", OrderRequest{Customer: req.Customer, Items: req.Items, TotalCents: total}, &order)
	switch {
	case status == http.StatusPaymentRequired:
		s.metrics.business.WithLabelValues("declined").Inc()
		s.log(ctx).Info("checkout declined", zap.String("customer", req.Customer), zap.Int64("total_cents", total))
		writeError(w, http.StatusPaymentRequired, err.Error())
		return
	case err != nil:
		s.metrics.business.WithLabelValues("failed").Inc()
		recordError(ctx, err)
		writeError(w, http.StatusBadGateway, fmt.Sprintf("checkout failed: %v", err))
		return
	}
	s.metrics.business.WithLabelValues("ok").Inc()
	s.log(ctx).Info("checkout completed", zap.String("order_id", order.OrderID), zap.String("customer", req.Customer),
		zap.Int64("total_cents", total))
	writeJSON(w, http.StatusOK, CheckoutResponse{OrderID: order.OrderID, Status: order.Status, TotalCents: total})
}

func recordError(ctx context.Context, err error) {
	span := trace.SpanFromContext(ctx)
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// --- orders ---

// OrderRequest is the orders service's POST /orders body.
type OrderRequest struct {
	Customer   string `json:"customer"`
	Items      []Item `json:"items"`
	TotalCents int64  `json:"total_cents"`
}

// OrderResponse is the orders service's answer.
type OrderResponse struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
}

func (s *Service) createOrder(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req OrderRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	total, err := validateItems(req.Items)
	if err == nil && total != req.TotalCents {
		err = fmt.Errorf("total_cents: %d does not match the items (%d)", req.TotalCents, total)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	orderID := fmt.Sprintf("ord-%08x", uint32(s.opts.Float64()*(1<<32)))

	// The order is stored before it is paid: a child span stands for the database write.
	_, dbSpan := s.tracer.Start(ctx, "orders.insert", trace.WithAttributes(
		attribute.String("db.system.name", "demo"), attribute.String("order.id", orderID)))
	s.opts.Sleep(ctx, time.Duration(1+s.opts.Float64()*4)*time.Millisecond)
	dbSpan.End()

	items := 0
	for _, it := range req.Items {
		items += it.Quantity
	}
	s.metrics.itemsPerOrder.Observe(float64(items))

	var pay PaymentResponse
	status, err := s.call(ctx, "/payments", PaymentRequest{OrderID: orderID, AmountCents: req.TotalCents, Currency: "EUR"}, &pay)
	switch {
	case status == http.StatusPaymentRequired:
		s.log(ctx).Info("order payment declined", zap.String("order_id", orderID))
		writeError(w, http.StatusPaymentRequired, fmt.Sprintf("order %s: payment declined", orderID))
		return
	case err != nil:
		recordError(ctx, err)
		writeError(w, http.StatusBadGateway, fmt.Sprintf("order %s: %v", orderID, err))
		return
	}
	s.log(ctx).Info("order created", zap.String("order_id", orderID), zap.Int("items", items),
		zap.String("payment_id", pay.PaymentID))
	writeJSON(w, http.StatusCreated, OrderResponse{OrderID: orderID, Status: "paid"})
}

// --- payments ---

// PaymentRequest is the payments service's POST /payments body.
type PaymentRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

// PaymentResponse is the payments service's answer.
type PaymentResponse struct {
	PaymentID string `json:"payment_id"`
}

func (s *Service) charge(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req PaymentRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var errs []error
	if req.OrderID == "" {
		errs = append(errs, errors.New("order_id: required"))
	}
	if req.AmountCents <= 0 {
		errs = append(errs, fmt.Errorf("amount_cents: %d is not positive", req.AmountCents))
	}
	if req.Currency != "EUR" && req.Currency != "USD" {
		errs = append(errs, fmt.Errorf("currency: %q is not EUR or USD", req.Currency))
	}
	if err := errors.Join(errs...); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	_, span := s.tracer.Start(ctx, "payments.authorize", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("order.id", req.OrderID), attribute.Int64("payment.amount_cents", req.AmountCents)))
	s.opts.Sleep(ctx, time.Duration(2+s.opts.Float64()*8)*time.Millisecond)
	declined := s.opts.Float64() < s.opts.DeclineRatio
	span.SetAttributes(attribute.Bool("payment.declined", declined))
	span.End()
	if declined {
		s.log(ctx).Warn("payment declined", zap.String("order_id", req.OrderID), zap.Int64("amount_cents", req.AmountCents))
		writeError(w, http.StatusPaymentRequired, "card declined")
		return
	}
	s.metrics.chargedCents.WithLabelValues(req.Currency).Add(float64(req.AmountCents))
	id := fmt.Sprintf("pay-%08x", uint32(s.opts.Float64()*(1<<32)))
	s.log(ctx).Info("payment charged", zap.String("order_id", req.OrderID), zap.String("payment_id", id),
		zap.Int64("amount_cents", req.AmountCents), zap.String("currency", req.Currency))
	writeJSON(w, http.StatusOK, PaymentResponse{PaymentID: id})
}

// --- metrics ---

type metrics struct {
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	business        *prometheus.CounterVec // storefront: checkouts by result
	itemsPerOrder   prometheus.Histogram   // orders
	chargedCents    *prometheus.CounterVec // payments
	faultErrorRatio prometheus.Gauge
	faultLatency    prometheus.Gauge
}

func newMetrics(role Role, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests served, by handler, method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by handler, method and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"handler", "method", "code"}),
		faultErrorRatio: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "demo_fault_error_ratio", Help: "Share of requests the fault switch fails.",
		}),
		faultLatency: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "demo_fault_latency_seconds", Help: "Latency the fault switch adds to each request.",
		}),
	}
	cs := []prometheus.Collector{m.requests, m.duration, m.faultErrorRatio, m.faultLatency}
	switch role {
	case Storefront:
		m.business = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storefront_checkouts_total", Help: "Checkouts, by result (ok, declined, failed, invalid).",
		}, []string{"result"})
		cs = append(cs, m.business)
	case Orders:
		m.itemsPerOrder = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "orders_items_per_order", Help: "Items in each order placed.", Buckets: []float64{1, 2, 3, 5, 8, 13},
		})
		cs = append(cs, m.itemsPerOrder)
	case Payments:
		m.chargedCents = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payments_charged_cents_total", Help: "Money charged, in cents, by currency.",
		}, []string{"currency"})
		cs = append(cs, m.chargedCents)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// instrument counts and times the requests of one route.
func (m *metrics) instrument(pattern string, h http.Handler) http.Handler {
	_, path, _ := strings.Cut(pattern, " ")
	l := prometheus.Labels{"handler": path}
	return promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(l),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h))
}
