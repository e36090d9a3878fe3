package prometheusremotewriteexporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang/snappy"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// sweepInterval is how long a series' labels are kept after it was last seen.
const sweepInterval = 5 * time.Minute

type remoteWrite struct {
	cfg       *Config
	set       exporter.Settings
	userAgent string
	client    *http.Client

	mu        sync.Mutex // guards the translator and free
	tr        *translator
	lastSweep time.Time
	// free holds the buffers of pushes that have returned, one per queue consumer at most: a
	// sync.Pool would drop them at every other collection, and they grow to a push's size.
	free []*buffers
}

// buffers are one push's requests, before and after compression.
type buffers struct {
	raw, compressed []byte
	ends            []int // where each request ends in raw
}

func newExporter(cfg *Config, set exporter.Settings) (*remoteWrite, error) {
	tr, err := newTranslator(cfg)
	if err != nil {
		return nil, fmt.Errorf("prometheus_remote_write exporter: %w", err)
	}
	return &remoteWrite{
		cfg:       cfg,
		set:       set,
		userAgent: fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		tr:        tr,
		lastSweep: time.Now(),
	}, nil
}

func (e *remoteWrite) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("prometheus_remote_write exporter: create HTTP client: %w", err)
	}
	e.client = client
	return nil
}

func (e *remoteWrite) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	return nil
}

// push writes md to Prometheus in requests of at most max_batch_size_bytes (before snappy),
// one after the other. A request the server refuses for good (4xx) does not stop the others;
// any other failure returns before the rest are sent, and the retry sends md again (Prometheus
// takes a sample it already has without complaint).
func (e *remoteWrite) push(ctx context.Context, md pmetric.Metrics) error {
	e.mu.Lock()
	var b *buffers
	if n := len(e.free); n > 0 {
		b, e.free = e.free[n-1], e.free[:n-1]
	} else {
		b = new(buffers)
	}
	defer func() {
		e.mu.Lock()
		e.free = append(e.free, b)
		e.mu.Unlock()
	}()
	if time.Since(e.lastSweep) >= sweepInterval {
		e.tr.sweep()
		e.lastSweep = time.Now()
	}
	b.raw, b.ends = b.raw[:0], b.ends[:0]
	start, prev := 0, 0
	raw, st := e.tr.appendMetrics(b.raw, md, func(end int) {
		if end-start > e.cfg.MaxBatchSizeBytes && prev > start {
			b.ends = append(b.ends, prev)
			start = prev
		}
		prev = end
	})
	e.mu.Unlock()
	b.raw = raw
	if len(raw) > start {
		b.ends = append(b.ends, len(raw))
	}
	if st.firstErr != nil {
		e.set.Logger.Warn("Points that cannot be written to Prometheus were dropped",
			zap.Int("dropped_points", st.dropped), zap.Error(st.firstErr))
	}

	var refused error
	from := 0
	for _, end := range b.ends {
		b.compressed = snappy.Encode(b.compressed[:cap(b.compressed)], raw[from:end])
		from = end
		if err := e.send(ctx, b.compressed); err != nil {
			if !consumererror.IsPermanent(err) {
				return err
			}
			refused = errors.Join(refused, err)
		}
	}
	return refused
}

// send posts one snappy-compressed WriteRequest. A refusal with 5xx or 429 (or no answer) is
// retried; any other is permanent: the same request would be refused again.
func (e *remoteWrite) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("remote write request: %w", err))
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", e.userAgent)
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("remote write to %s: %w", e.cfg.Endpoint, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	err = fmt.Errorf("remote write to %s refused: HTTP %s: %s", e.cfg.Endpoint, resp.Status, bytes.TrimSpace(msg))
	if resp.StatusCode/100 == 5 || resp.StatusCode == http.StatusTooManyRequests {
		if d := retryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			return exporterhelper.NewThrottleRetry(err, d)
		}
		return err
	}
	return consumererror.NewPermanent(err)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
