package segmentstorage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/lookoutdev/lookout/extensions/segmentstorage/internal/metadata"
)

// storageHost is a component.Host that has one extension.
type storageHost map[component.ID]component.Component

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h }

// backend is the push function of the exporter: it fails while down, and counts each record
// it takes by body.
type backend struct {
	down     atomic.Bool
	attempts atomic.Int64
	mu       sync.Mutex
	bodies   map[string]int
}

func (b *backend) push(_ context.Context, ld plog.Logs) error {
	b.attempts.Add(1)
	if b.down.Load() {
		return errors.New("backend down")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		sls := rls.At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				b.bodies[lrs.At(k).Body().Str()]++
			}
		}
	}
	return nil
}

func (b *backend) received() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.bodies {
		n += c
	}
	return n
}

// TestPersistentQueue runs exporterhelper's persistent queue on the extension: logs are
// accepted while the backend is down, the collector restarts twice on the same directory, and
// when the backend comes back every record arrives exactly once.
func TestPersistentQueue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	storageID := component.NewID(metadata.Type)
	be := &backend{bodies: map[string]int{}}
	be.down.Store(true)
	queueLogs, logs := observer.New(zap.InfoLevel)

	// start starts the extension and an exporter whose queue is stored by it, and returns a
	// function that shuts both down.
	start := func() (exporter.Logs, func()) {
		f := NewFactory()
		cfg := f.CreateDefaultConfig().(*Config)
		cfg.Directory = dir
		cfg.SegmentSize = mib
		cfg.SmallWriteReserve = 64 << 10
		eset := extensiontest.NewNopSettings(f.Type())
		eset.Logger = zaptest.NewLogger(t)
		ext, err := f.Create(ctx, eset, cfg)
		require.NoError(t, err)
		require.NoError(t, ext.Start(ctx, storageHost{storageID: ext}))
		exp, stop := startQueuedExporter(t, ext, storageID, be, zap.New(queueLogs))
		return exp, func() {
			stop()
			require.NoError(t, ext.Shutdown(ctx))
		}
	}
	sent := map[string]bool{}
	send := func(exp exporter.Logs, from, to int) {
		for body := range sendLogs(t, exp, from, to) {
			sent[body] = true
		}
	}
	waitForAttempts := func(n int64) {
		require.Eventually(t, func() bool { return be.attempts.Load() >= n }, 10*time.Second, time.Millisecond)
	}

	exp, stop := start()
	send(exp, 0, 100)
	waitForAttempts(10) // the consumers hold requests, retrying
	stop()

	exp, stop = start()
	send(exp, 100, 200)
	waitForAttempts(be.attempts.Load() + 10)
	stop()

	be.down.Store(false)
	exp, stop = start()
	send(exp, 200, 250)
	require.Eventually(t, func() bool { return be.received() >= len(sent) }, 5*time.Second, 5*time.Millisecond, "received %d of %d", be.received(), len(sent))
	stop()

	_, stop = start() // nothing left to deliver again
	time.Sleep(100 * time.Millisecond)
	stop()

	require.Len(t, logs.FilterMessage("Moved items for dispatching back to queue").All(), 2,
		"the requests held by consumers at shutdown were put back at each restart while the backend was down")
	be.mu.Lock()
	defer be.mu.Unlock()
	require.Len(t, be.bodies, len(sent))
	for body, n := range be.bodies {
		require.True(t, sent[body], "unexpected record %.40q", body)
		require.Equal(t, 1, n, "record %.40q", body)
	}
}

// startQueuedExporter starts a logs exporter (test/loki, the same queue at each start) whose
// persistent queue is kept by the started storage extension ext, known as storageID, and
// pushes to be; stop shuts the exporter down.
func startQueuedExporter(t *testing.T, ext component.Component, storageID component.ID, be *backend, logger *zap.Logger) (exp exporter.Logs, stop func()) {
	t.Helper()
	ctx := context.Background()
	qcfg := exporterhelper.NewDefaultQueueConfig()
	qcfg.StorageID = &storageID
	qcfg.NumConsumers = 3
	qcfg.Batch = configoptional.None[exporterhelper.BatchConfig]()
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval, retry.MaxInterval, retry.MaxElapsedTime = 5*time.Millisecond, 20*time.Millisecond, 0
	xset := exportertest.NewNopSettings(component.MustNewType("test"))
	xset.ID = component.NewIDWithName(xset.ID.Type(), "loki")
	xset.Logger = logger
	exp, err := exporterhelper.NewLogs(ctx, xset, struct{}{}, be.push,
		exporterhelper.WithQueue(configoptional.Some(qcfg)), exporterhelper.WithRetry(retry))
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, storageHost{storageID: ext}))
	return exp, func() { require.NoError(t, exp.Shutdown(ctx)) }
}

// sendLogs sends requests from to to (excluded) of three records each, of sizes up to 20 KiB,
// and returns the bodies of the records.
func sendLogs(t *testing.T, exp exporter.Logs, from, to int) map[string]bool {
	t.Helper()
	sent := map[string]bool{}
	for i := from; i < to; i++ {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for j := range 3 {
			body := fmt.Sprintf("request %d record %d %s", i, j, strings.Repeat("x", i*j*97%(20<<10)))
			lrs.AppendEmpty().Body().SetStr(body)
			sent[body] = true
		}
		require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	}
	return sent
}
