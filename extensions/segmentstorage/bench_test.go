//go:build unix

package segmentstorage

import (
	"context"
	"fmt"
	"syscall"
	"testing"

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
				runQueuePattern(b, client, size)
			})
		}
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

func runQueuePattern(b *testing.B, client storage.Client, size int) {
	ctx := context.Background()
	const backlog = 8
	item := value("item", size)
	meta := value("meta", 60)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	start := cpuTime(b)
	b.ResetTimer()
	for i := range b.N {
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
