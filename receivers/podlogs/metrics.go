package podlogsreceiver

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lookoutdev/lookout/receivers/podlogs/internal/metadata"
)

// metrics are the receiver's own metrics (declared in metadata.yaml, built by mdatagen's
// TelemetryBuilder), exported with the collector's telemetry (:8888). The gauges are read from
// a snapshot the reading goroutine updates at each poll.
type metrics struct {
	*metadata.TelemetryBuilder

	mu        sync.Mutex
	filesOpen int64
	tracked   int64
	lag       map[string]int64 // per path: bytes on disk not yet committed
}

func attrKind(k string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", k)))
}

func newMetrics(set component.TelemetrySettings) (*metrics, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	m := &metrics{TelemetryBuilder: tb, lag: map[string]int64{}}
	err = tb.RegisterPodlogsFilesOpenCallback(func(_ context.Context, o metric.Int64Observer) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		o.Observe(m.filesOpen)
		return nil
	})
	if err == nil {
		err = tb.RegisterPodlogsFilesTrackedCallback(func(_ context.Context, o metric.Int64Observer) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			o.Observe(m.tracked)
			return nil
		})
	}
	if err == nil {
		err = tb.RegisterPodlogsFileLagCallback(func(_ context.Context, o metric.Int64Observer) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			for path, v := range m.lag {
				o.Observe(v, metric.WithAttributeSet(attribute.NewSet(attribute.String(attrFilePath, path))))
			}
			return nil
		})
	}
	if err != nil {
		tb.Shutdown()
		return nil, err
	}
	return m, nil
}

func (m *metrics) shutdown() { m.Shutdown() }
