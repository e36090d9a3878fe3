package podlogsreceiver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

const benchPayload = "GET /api/v1/orders/12345 200 12.3ms user=alice trace=0af7651916cd43dd8448eb211c80319c region=eu-west-1 az=b"

// benchLines returns n log lines of about 180 bytes in the given format.
func benchLines(n int, f format) []byte {
	var b bytes.Buffer
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < n; i++ {
		ts = ts.Add(time.Millisecond)
		stamp := ts.Format(time.RFC3339Nano)
		if f == formatDocker {
			fmt.Fprintf(&b, `{"log":"line %08d %s\n","stream":"stdout","time":%q}`+"\n", i, benchPayload, stamp)
		} else {
			fmt.Fprintf(&b, "%s stdout F line %08d %s\n", stamp, i, benchPayload)
		}
	}
	return b.Bytes()
}

func BenchmarkParseCRI(b *testing.B) {
	lines := bytes.Split(bytes.TrimSuffix(benchLines(1000, formatCRI), []byte("\n")), []byte("\n"))
	b.ReportAllocs()
	b.SetBytes(int64(len(lines[0]) + 1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := parseCRI(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDocker(b *testing.B) {
	lines := bytes.Split(bytes.TrimSuffix(benchLines(1000, formatDocker), []byte("\n")), []byte("\n"))
	var scratch []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(lines[0]) + 1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := parseDocker(lines[i%len(lines)], &scratch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePath measures the whole per-line path from the bytes of a read to log records
// in a batch handed to a consumer: splitting, parsing, partial and multiline joining, building
// pdata. An op is 10,000 lines; ns/line and allocs/line are reported.
func BenchmarkParsePath(b *testing.B) {
	const lines = 10000
	for _, tc := range []struct {
		name      string
		format    format
		multiline bool
	}{
		{"cri", formatCRI, false},
		{"cri_multiline", formatCRI, true},
		{"docker_multiline", formatDocker, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			if !tc.multiline {
				cfg.Multiline.Presets = nil
			}
			r, err := newReceiver(receivertest.NewNopSettings(typeStr), cfg, consumertest.NewNop())
			require.NoError(b, err)
			chunk := benchLines(lines, tc.format)
			t := &tailed{key: "/var/log/pods/ns_pod_uid/c/0.log", name: "/var/log/pods/ns_pod_uid/c/0.log"}
			t.id = parseIdentity(t.key)
			r.setNow()
			ctx := b.Context()
			b.ReportAllocs()
			b.SetBytes(int64(len(chunk)))
			cpu := cpuTime()
			for b.Loop() {
				r.processLines(ctx, t, chunk)
			}
			require.NoError(b, r.flush(ctx))
			reportPerLine(b, lines, cpu)
		})
	}
}

// BenchmarkReadFiles measures the receiver's read loop over real files (20 pods of 20,000 lines),
// system calls included, up to the consumer. An op reads them all; ns/line is reported.
func BenchmarkReadFiles(b *testing.B) {
	const pods, perPod = 20, 20000
	root := b.TempDir()
	chunk := benchLines(perPod, formatCRI)
	for i := 0; i < pods; i++ {
		dir := filepath.Join(root, fmt.Sprintf("ns_pod%02d_uid", i), "app")
		require.NoError(b, os.MkdirAll(dir, 0o755))
		require.NoError(b, os.WriteFile(filepath.Join(dir, "0.log"), chunk, 0o644))
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{filepath.Join(root, "*", "*", "*.log")}
	b.ReportAllocs()
	b.SetBytes(int64(pods * len(chunk)))
	cpu := cpuTime()
	for b.Loop() {
		var count countingConsumer
		r, err := newReceiver(receivertest.NewNopSettings(typeStr), cfg, &count)
		require.NoError(b, err)
		ctx := b.Context()
		r.poll(ctx, true)
		for r.round(ctx) {
		}
		r.flushAllPending()
		require.NoError(b, r.flush(ctx))
		for _, t := range r.order {
			r.closeFile(t)
		}
		if count.n != pods*perPod {
			b.Fatalf("read %d records, want %d", count.n, pods*perPod)
		}
	}
	reportPerLine(b, pods*perPod, cpu)
}

// reportPerLine reports wall time per line and the process's CPU time per line (all threads,
// so the garbage collector's background work is counted; on a busy machine it is also the
// steadier of the two). cpuStart is cpuTime() taken before the loop.
func reportPerLine(b *testing.B, lines int, cpuStart time.Duration) {
	n := float64(b.N) * float64(lines)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/line")
	b.ReportMetric(float64((cpuTime()-cpuStart).Nanoseconds())/n, "cpu-ns/line")
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingConsumer counts records and drops them, as an exporter that sent them would.
type countingConsumer struct{ n int }

func (c *countingConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *countingConsumer) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	c.n += ld.LogRecordCount()
	return nil
}
