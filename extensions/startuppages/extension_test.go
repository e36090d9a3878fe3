package startuppages

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestReadyReleasesOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		level zapcore.Level
	}{
		{"released", nil, zap.InfoLevel},
		{"unsupported", errUnsupported, zap.DebugLevel},
		{"failed", errors.New("madvise: EPERM"), zap.WarnLevel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			calls := 0
			e := &startupPages{logger: zap.New(core), release: func() (int64, error) {
				calls++
				return 64 << 20, tc.err
			}}
			var _ extensioncapabilities.PipelineWatcher = e
			ctx := context.Background()
			require.NoError(t, e.Start(ctx, componenttest.NewNopHost()))
			require.Zero(t, calls, "nothing is paged out before the pipelines run")
			require.NoError(t, e.Ready())
			require.NoError(t, e.Shutdown(ctx)) // waits for the release
			require.Equal(t, 1, calls)
			require.Equal(t, 1, logs.Len())
			require.Equal(t, tc.level, logs.All()[0].Level)
		})
	}
}

func TestShutdownWithoutReady(t *testing.T) {
	e := &startupPages{logger: zap.NewNop(), release: func() (int64, error) { panic("released without Ready") }}
	require.NoError(t, e.Shutdown(context.Background()))
}
