package podlogsreceiver

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the receiver's own metrics, exported with the collector's telemetry (:8888).
type metrics struct {
	linesRead   metric.Int64Counter
	bytesRead   metric.Int64Counter
	records     metric.Int64Counter
	parseErrors metric.Int64Counter
	dropped     metric.Int64Counter
	refused     metric.Int64Counter
	rotations   metric.Int64Counter
	lost        metric.Int64Counter

	reg metric.Registration

	mu        sync.Mutex
	filesOpen int64
	tracked   int64
	lag       map[string]int64 // per path: bytes on disk not yet committed
}

var attrKind = func(k string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", k)))
}

func newMetrics(meter metric.Meter) (*metrics, error) {
	m := &metrics{lag: map[string]int64{}}
	var errs, err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, e := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		err = errors.Join(err, e)
		return c
	}
	m.linesRead = counter("otelcol_podlogs_lines_read", "{line}", "Physical lines read from container log files.")
	m.bytesRead = counter("otelcol_podlogs_read", "By", "Bytes read from container log files.")
	m.records = counter("otelcol_podlogs_records", "{record}", "Log records accepted by the next consumer (after partial and multiline joining).")
	m.parseErrors = counter("otelcol_podlogs_parse_errors", "{line}", "Lines that did not follow their file's format (kept as raw text), by kind.")
	m.dropped = counter("otelcol_podlogs_dropped_records", "{record}", "Log records the next consumer rejected with a permanent error.")
	m.refused = counter("otelcol_podlogs_refused_batches", "{batch}", "Batches the next consumer refused with a retryable error (retried; reading paused).")
	m.rotations = counter("otelcol_podlogs_rotations", "{rotation}", "Rotation events, by kind: rotated (a rotated file read to its end), copytruncate (a truncated file's rest found in its rotated copy), truncate (no copy found: read again from the start), removed.")
	m.lost = counter("otelcol_podlogs_lost_files", "{file}", "Files that disappeared before they were read to the end (rotated away and deleted while the agent was down).")
	errs = err

	open, e1 := meter.Int64ObservableGauge("otelcol_podlogs_files_open", metric.WithUnit("{file}"),
		metric.WithDescription("Files held open."))
	tracked, e2 := meter.Int64ObservableGauge("otelcol_podlogs_files_tracked", metric.WithUnit("{file}"),
		metric.WithDescription("Paths being tailed."))
	lag, e3 := meter.Int64ObservableGauge("otelcol_podlogs_file_lag", metric.WithUnit("By"),
		metric.WithDescription("Bytes of each file not yet accepted by the next consumer."))
	errs = errors.Join(errs, e1, e2, e3)
	if errs != nil {
		return nil, errs
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		o.ObserveInt64(open, m.filesOpen)
		o.ObserveInt64(tracked, m.tracked)
		for path, v := range m.lag {
			o.ObserveInt64(lag, v, metric.WithAttributeSet(attribute.NewSet(attribute.String(attrFilePath, path))))
		}
		return nil
	}, open, tracked, lag)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) shutdown() {
	if m.reg != nil {
		_ = m.reg.Unregister()
	}
}
