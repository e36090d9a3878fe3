//go:build unix

package segmentstorage

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// BenchmarkQueuePattern runs exporterhelper's persistent queue access pattern on this
// extension, on it without its read cache, and on file_storage (bbolt), all with their default
// configs otherwise (no fsync): each op
// puts an item (Batch(Set meta, Set item)), and reads (Batch(Set meta, Get item)) and
// completes (Batch(Set meta, Delete item)) the item put 8 ops before, so that 8 items are
// queued. MB/s is items through the queue; cpu-ns/op is the CPU time of the process (user and
// system, all threads) per op, which is what an agent pays.
func BenchmarkQueuePattern(b *testing.B) {
	for _, size := range []int{4 << 10, 256 << 10, 2 << 20} {
		for _, impl := range []string{"segment", "segment-no-read-cache", "filestorage"} {
			b.Run(fmt.Sprintf("%s/%dKiB", impl, size>>10), func(b *testing.B) {
				client := benchClient(b, impl)
				runQueuePattern(b, client, size, 0)
			})
		}
	}
}

// BenchmarkQueuePatternPaced runs the queue pattern of BenchmarkQueuePattern at 50 ops/s, as an
// agent's traces queue sees 5,000 spans/s sent in requests of 100 (~32 KiB each), next to the
// same paced loop without the queue ("pause-only": the cost of sleeping and waking, which the
// difference leaves out) and to the queue back to back. At that pace each op finds the caches
// cold and costs several times the back-to-back figure (docs/benchmarks.md, "Where the CPU goes").
func BenchmarkQueuePatternPaced(b *testing.B) {
	const pause = 20 * time.Millisecond
	for _, run := range []struct {
		name   string
		queue  bool
		paused time.Duration
	}{{"pause-only", false, pause}, {"segment", true, pause}, {"segment-back-to-back", true, 0}} {
		b.Run(run.name, func(b *testing.B) {
			var client storage.Client
			if run.queue {
				client = benchClient(b, "segment")
			}
			runQueuePattern(b, client, 32<<10, run.paused)
		})
	}
}

// benchClient opens a client of the named extension on a new directory.
func benchClient(b *testing.B, name string) storage.Client {
	ctx := context.Background()
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	cfg.(*Config).Directory = b.TempDir()
	switch name {
	case "segment-no-read-cache":
		cfg.(*Config).ReadCacheSize = 0
	case "filestorage":
		f = filestorage.NewFactory()
		cfg = f.CreateDefaultConfig()
		fc := cfg.(*filestorage.Config)
		fc.Directory, fc.Compaction.Directory = b.TempDir(), b.TempDir()
	}
	ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(b, err)
	require.NoError(b, ext.Start(ctx, nil))
	client, err := ext.(storage.Extension).GetClient(ctx, component.KindExporter, component.MustNewID("otlp_http"), "logs")
	require.NoError(b, err)
	b.Cleanup(func() {
		require.NoError(b, client.Close(ctx))
		require.NoError(b, ext.Shutdown(ctx))
	})
	return client
}

// runQueuePattern puts, reads and completes items of size bytes on client, pausing between ops;
// a nil client only pauses.
func runQueuePattern(b *testing.B, client storage.Client, size int, pause time.Duration) {
	ctx := context.Background()
	const backlog = 8
	item := value("item", size)
	meta := value("meta", 60)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	start := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
		if pause > 0 {
			time.Sleep(pause)
		}
		if client == nil {
			continue
		}
		if err := client.Batch(ctx, storage.SetOperation("qmv0", meta), storage.SetOperation(fmt.Sprint(i), item)); err != nil {
			b.Fatal(err)
		}
		if i < backlog {
			continue
		}
		get := storage.GetOperation(fmt.Sprint(i - backlog))
		if err := client.Batch(ctx, storage.SetOperation("qmv0", meta), get); err != nil {
			b.Fatal(err)
		}
		if len(get.Value) != size {
			b.Fatalf("item %d: %d bytes", i-backlog, len(get.Value))
		}
		if err := client.Batch(ctx, storage.SetOperation("qmv0", meta), storage.DeleteOperation(fmt.Sprint(i-backlog))); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the CPU time the process has used, in nanoseconds.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
