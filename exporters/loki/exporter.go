package lokiexporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"

	"github.com/lookoutdev/lookout/exporters/loki/internal/metadata"
)

const (
	tenantHeader = "X-Scope-OrgID"
	// maxErrorBody is how much of a refusal's body is read for its message.
	maxErrorBody = 64 << 10
	// maxLoggedMessage is how much of Loki's message a log line quotes.
	maxLoggedMessage = 1024
)

// lokiExporter pushes logs to Loki: exporterhelper calls convert as logs arrive, then push from
// its queue consumers.
type lokiExporter struct {
	cfg       *Config
	set       exporter.Settings
	enc       *encoder
	telemetry *metadata.TelemetryBuilder
	userAgent string
	client    *http.Client
	exporter  attribute.KeyValue // exporter="<component ID>", as exporterhelper's own metrics have
	logged    sync.Map           // reason -> struct{}: refusals already logged at warn level
}

func newExporter(cfg *Config, set exporter.Settings) (*lokiExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("create telemetry: %w", err)
	}
	return &lokiExporter{
		cfg:       cfg,
		set:       set,
		enc:       newEncoder(cfg),
		telemetry: tb,
		userAgent: fmt.Sprintf("%s/%s (loki exporter)", set.BuildInfo.Command, set.BuildInfo.Version),
		exporter:  attribute.String("exporter", set.ID.String()),
	}, nil
}

func (e *lokiExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.Client.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("loki exporter: create HTTP client: %w", err)
	}
	e.client = client
	return nil
}

func (e *lokiExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.telemetry.Shutdown()
	return nil
}

// convert encodes ld into push bodies, one per tenant: what the queue holds (request.go). It
// counts the lines max_line_size cut or dropped.
func (e *lokiExporter) convert(ctx context.Context, ld plog.Logs) (xexporterhelper.Request, error) {
	lent, _ := ctx.Value(lentPartsKey{}).(*lentParts)
	batches, stats := e.enc.group(ld)
	if stats.truncated > 0 {
		e.telemetry.LokiExporterLongLines.Add(ctx, int64(stats.truncated), metric.WithAttributes(e.exporter, attribute.String("action", "truncated")))
	}
	if stats.dropped > 0 {
		e.telemetry.LokiExporterLongLines.Add(ctx, int64(stats.dropped), metric.WithAttributes(e.exporter, attribute.String("action", "dropped")))
	}
	req := &pushRequest{parts: make([]tenantPart, 0, len(batches))}
	for _, tb := range batches {
		if tb.entries == 0 {
			continue
		}
		req.parts = append(req.parts, e.enc.part(tb, lent))
	}
	e.enc.release(batches)
	return req, nil
}

// lentParts, in the context of a ConsumeLogs call, has convert frame the request's parts in
// buffers lent for that call (encoder.queuedBuf) instead of new ones, and collects them. That
// is for a queue on disk (diskQueued): the request is written to storage, which copies it,
// before ConsumeLogs returns, and nothing refers to those buffers afterwards.
type lentParts struct{ bufs [][]byte }

type lentPartsKey struct{}

// diskQueued is the exporter when its queue is on disk: each request's buffers go back to the
// encoder once the queue has stored it (on 1 KiB pod logs a third of the bytes the agent
// allocated, and of the garbage collections they cost).
type diskQueued struct {
	exporter.Logs
	enc *encoder
}

func (d diskQueued) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	lent := &lentParts{}
	err := d.Logs.ConsumeLogs(context.WithValue(ctx, lentPartsKey{}, lent), ld)
	for _, b := range lent.bufs {
		d.enc.queuedBuf.put(b)
	}
	return err
}

// push sends a request, one push per tenant. Tenants whose push fails with a retryable error
// are handed back to exporterhelper for a retry (only those: see pushRequest.OnError); a refused
// push is dropped, counted and, once per reason, logged with Loki's message.
func (e *lokiExporter) push(ctx context.Context, r xexporterhelper.Request) error {
	req, ok := r.(*pushRequest)
	if !ok {
		return consumererror.NewPermanent(fmt.Errorf("loki exporter: cannot send a %T", r))
	}
	var (
		retryErrs, permErrs error
		failed              = map[string]bool{}
	)
	for _, p := range req.parts {
		err := e.pushTenant(ctx, p)
		switch {
		case err == nil:
		case consumererror.IsPermanent(err):
			permErrs = errors.Join(permErrs, err)
		default:
			retryErrs = errors.Join(retryErrs, err)
			failed[p.tenant] = true
		}
	}
	if retryErrs != nil {
		// Keep the longest Retry-After of the failed tenants: exporterhelper looks for it with errors.As.
		if d := longestThrottle(retryErrs); d > 0 {
			retryErrs = exporterhelper.NewThrottleRetry(retryErrs, d)
		}
		return &failedTenants{err: retryErrs, tenants: failed}
	}
	if permErrs != nil {
		return consumererror.NewPermanent(permErrs)
	}
	return nil
}

// throttleError carries a Retry-After delay for one tenant's push.
type throttleError struct {
	err   error
	delay time.Duration
}

func (t *throttleError) Error() string { return t.err.Error() }
func (t *throttleError) Unwrap() error { return t.err }

func longestThrottle(err error) time.Duration {
	var longest time.Duration
	var walk func(error)
	walk = func(err error) {
		var te *throttleError
		if errors.As(err, &te) && te.delay > longest {
			longest = te.delay
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return longest
}

// pushTenant sends one tenant's streams and classifies the outcome.
func (e *lokiExporter) pushTenant(ctx context.Context, p tenantPart) error {
	var (
		body        []byte
		contentType = "application/x-protobuf"
		err         error
	)
	switch e.cfg.Format {
	case FormatJSON:
		contentType = "application/json"
		if body, err = p.raw(); err == nil {
			body, err = protobufToJSON(body)
		}
	default:
		body, err = p.body()
	}
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("encode push for tenant %q: %w", p.tenant, err))
	}

	if !httpguts.ValidHeaderFieldValue(p.tenant) {
		// A tenant from a resource attribute can hold bytes no HTTP header may carry (control
		// characters, newlines): no retry can send it, so it is dropped (exporterhelper counts it).
		return consumererror.NewPermanent(fmt.Errorf("tenant %q (resource attribute %q) is not a valid %s header value: %d entries dropped", p.tenant, e.cfg.Tenant.FromAttribute, tenantHeader, p.entries))
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Client.Endpoint, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("build push request: %w", err))
	}
	httpReq.Header.Set("Content-Type", contentType)
	httpReq.Header.Set("User-Agent", e.userAgent)
	if p.tenant != "" {
		httpReq.Header.Set(tenantHeader, p.tenant)
	}

	start := time.Now()
	resp, err := e.client.Do(httpReq)
	if err != nil {
		e.telemetry.LokiExporterPushDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(e.exporter, attribute.String("status_code", "error")))
		return fmt.Errorf("push %d entries for tenant %q to %s: %w", p.entries, p.tenant, e.cfg.Client.Endpoint, err)
	}
	msg, readErr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	e.telemetry.LokiExporterPushDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(e.exporter, attribute.String("status_code", strconv.Itoa(resp.StatusCode))))

	out := classify(resp.StatusCode, resp.Header.Get("Retry-After"), string(msg), time.Now())
	switch out.kind {
	case outcomeOK:
		e.telemetry.LokiExporterSentEntries.Add(ctx, int64(p.entries), metric.WithAttributes(e.exporter))
		e.telemetry.LokiExporterSentBytes.Add(ctx, int64(len(body)), metric.WithAttributes(e.exporter))
		return nil
	case outcomeRetry:
		err := fmt.Errorf("push %d entries for tenant %q: HTTP %d: %s", p.entries, p.tenant, resp.StatusCode, firstLine(string(msg)))
		if readErr != nil {
			err = errors.Join(err, fmt.Errorf("read response: %w", readErr))
		}
		if out.retryAfter > 0 {
			return &throttleError{err: err, delay: out.retryAfter}
		}
		return err
	default:
		failed := out.ignored
		if failed <= 0 || failed > p.entries {
			failed = p.entries
		}
		if accepted := p.entries - failed; accepted > 0 {
			e.telemetry.LokiExporterSentEntries.Add(ctx, int64(accepted), metric.WithAttributes(e.exporter))
		}
		e.telemetry.LokiExporterFailedEntries.Add(ctx, int64(failed), metric.WithAttributes(e.exporter, attribute.String("reason", out.reason)))
		e.logRefusal(p, resp.StatusCode, out.reason, failed, string(msg))
		return consumererror.NewPermanent(fmt.Errorf("loki refused %d of %d entries for tenant %q (HTTP %d, reason %s)", failed, p.entries, p.tenant, resp.StatusCode, out.reason))
	}
}

// logRefusal logs Loki's message at warn level the first time a reason occurs, then at debug.
func (e *lokiExporter) logRefusal(p tenantPart, status int, reason string, failed int, msg string) {
	fields := []zap.Field{
		zap.String("reason", reason), zap.Int("status", status), zap.String("tenant", p.tenant),
		zap.Int("dropped_entries", failed), zap.String("loki_message", truncateUTF8(strings.TrimSpace(msg), maxLoggedMessage)),
	}
	if _, seen := e.logged.LoadOrStore(reason, struct{}{}); seen {
		e.set.Logger.Debug("Loki refused log entries; dropping them", fields...)
		return
	}
	e.set.Logger.Warn("Loki refused log entries; dropping them (logged once per reason, then at debug level; see otelcol_loki_exporter_failed_entries)", fields...)
}

type outcomeKind int

const (
	outcomeOK outcomeKind = iota
	outcomeRetry
	outcomeDrop
)

type outcome struct {
	kind       outcomeKind
	reason     string        // for outcomeDrop
	retryAfter time.Duration // for outcomeRetry, from Retry-After
	ignored    int           // for outcomeDrop: entries Loki says it ignored, 0 if it does not say
}

// classify decides what a push response means: 2xx delivered; 408, 429 and 5xx retryable
// (honouring Retry-After); anything else refused for good, with a reason.
func classify(status int, retryAfter, msg string, now time.Time) outcome {
	switch {
	case status >= 200 && status < 300:
		return outcome{kind: outcomeOK}
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return outcome{kind: outcomeRetry, retryAfter: parseRetryAfter(retryAfter, now)}
	case status == http.StatusBadRequest:
		return outcome{kind: outcomeDrop, reason: refusalReason(msg), ignored: ignoredEntries(msg)}
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return outcome{kind: outcomeDrop, reason: "unauthorized"}
	case status == http.StatusNotFound:
		return outcome{kind: outcomeDrop, reason: "not_found"}
	case status == http.StatusRequestEntityTooLarge:
		return outcome{kind: outcomeDrop, reason: "too_large"}
	default:
		return outcome{kind: outcomeDrop, reason: "rejected"}
	}
}

// refusalReason classifies the message of a Loki 400.
func refusalReason(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "out of order"), strings.Contains(m, "too far behind"):
		return "out_of_order"
	case strings.Contains(m, "too old"), strings.Contains(m, "greater_than_max_sample_age"):
		return "too_old"
	case strings.Contains(m, "too new"), strings.Contains(m, "too far in the future"):
		return "too_new"
	case strings.Contains(m, "line too long"), strings.Contains(m, "line_too_long"), strings.Contains(m, "max entry size"):
		return "line_too_long"
	case strings.Contains(m, "rate limit"), strings.Contains(m, "rate_limited"), strings.Contains(m, "stream limit"),
		strings.Contains(m, "streams limit"), strings.Contains(m, "maximum active stream"):
		return "rate_limited"
	case strings.Contains(m, "label"):
		return "invalid_labels"
	}
	return "other"
}

// ignoredEntries sums the "total ignored: N out of M" counts of a Loki message.
func ignoredEntries(msg string) int {
	const marker = "total ignored: "
	n := 0
	for {
		i := strings.Index(msg, marker)
		if i < 0 {
			return n
		}
		msg = msg[i+len(marker):]
		j := 0
		for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
			j++
		}
		if v, err := strconv.Atoi(msg[:j]); err == nil && strings.HasPrefix(msg[j:], " out of ") {
			n += v
		}
	}
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncateUTF8(s, 256)
}
