package startuppages

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"
)

// startupPages pages out the binary once the pipelines run (extensioncapabilities.PipelineWatcher).
type startupPages struct {
	logger  *zap.Logger
	release func() (int64, error) // returns the bytes of the binary that were resident before
	done    chan struct{}         // closed when the release of the last Ready is over
}

func (e *startupPages) Start(context.Context, component.Host) error { return nil }

// Ready is called once every pipeline has started: start-up is over. The release runs on its own
// goroutine, so that it does not hold up the collector's start.
func (e *startupPages) Ready() error {
	done := make(chan struct{})
	e.done = done
	go func() {
		defer close(done)
		start := time.Now()
		resident, err := e.release()
		switch {
		case errors.Is(err, errUnsupported):
			e.logger.Debug("startup_pages: not supported on this platform", zap.Error(err))
		case err != nil:
			e.logger.Warn("startup_pages: paging out the binary failed; it stays resident", zap.Error(err))
		default:
			e.logger.Info("startup_pages: paged out the binary's code and read-only data",
				zap.Int64("resident_bytes_before", resident), zap.Duration("took", time.Since(start)))
		}
	}()
	return nil
}

func (e *startupPages) NotReady() error { return nil }

// Shutdown waits for a release under way.
func (e *startupPages) Shutdown(ctx context.Context) error {
	if e.done == nil {
		return nil
	}
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errUnsupported = errors.New("startup_pages: paging out is supported on Linux only")
