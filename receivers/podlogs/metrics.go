package podlogsreceiver

import (
	"context"
	"os"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/lookoutdev/lookout/receivers/podlogs/internal/metadata"
)

// metrics are the receiver's own metrics (declared in metadata.yaml, built by mdatagen's
// TelemetryBuilder), exported with the collector's telemetry (:8888). The gauges are read from
// a snapshot the reading goroutine updates at each poll; the lag's path is stat'ed afresh at each
// observation, so that the lag keeps growing while reading is paused (the next consumer blocks or
// refuses, and no poll runs).
type metrics struct {
	*metadata.TelemetryBuilder

	mu        sync.Mutex
	filesOpen int64
	tracked   int64
	lag       map[string]lagSnapshot // per path
}

// lagSnapshot is what a poll knew of one path's lag: the bytes on disk not yet committed.
type lagSnapshot struct {
	pathSize   int64  // the size of the file at the path at the poll (0: no file there)
	dev, ino   uint64 // that file's identity: a fresh size is used only for the same file
	sub        int64  // subtracted from the path's size: the commit offset when reading it
	rest       int64  // lag outside the path's file (the rest of a rotated file being finished)
	statOnRead bool   // the path had a file at the poll
}

// current is the lag now: the snapshot with the path's file size read again.
func (l lagSnapshot) current(path string) int64 {
	size := l.pathSize
	if l.statOnRead {
		if fi, err := os.Stat(path); err == nil {
			if dev, ino := fileID(fi); dev == l.dev && ino == l.ino {
				size = fi.Size()
			}
		}
	}
	return max(0, size-l.sub) + l.rest
}

func attrKind(k string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", k)))
}

func newMetrics(set component.TelemetrySettings) (*metrics, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	m := &metrics{TelemetryBuilder: tb, lag: map[string]lagSnapshot{}}
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
			for path, l := range m.lag {
				o.Observe(l.current(path), metric.WithAttributeSet(attribute.NewSet(attribute.String(attrFilePath, path))))
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
