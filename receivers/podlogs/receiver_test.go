package podlogsreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestFormatsIdentityAndContent(t *testing.T) {
	h := newHarness(t)
	h.sink.keep = true
	cri := newPodFile(t, h.root, "shop", "cart-7d9f", "app", false)
	dock := newPodFile(t, h.root, "kube-system", "dns-1", "coredns", true)
	big := strings.Repeat("x", 1<<20-len("<<big>> ")) // one 1 MiB line, split by the runtime at 16 KiB
	for _, p := range []*podFile{cri, dock} {
		p.next(3, "plain")
		content := "<<big>> " + big
		for len(content) > 16<<10 {
			p.write(p.line("stdout", "P", content[:16<<10]))
			content = content[16<<10:]
		}
		p.write(p.line("stdout", "F", content))
		p.write(p.line("stderr", "F", "<<bad-utf8>> \xff\xfe ok"))
		p.next(1, "after")
	}
	cri.write("not a cri line <<garbage>> \x00\x01\x02\n")
	cri.next(1, "end")

	h.start(h.config())
	defer h.stop()
	want := append(append([]string{"big", "bad-utf8", "garbage"}, cri.want...), dock.want...)
	h.sink.waitAll(t, want, 10*time.Second)

	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	var sawBig, sawBad int
	for i, lr := range h.sink.records {
		body := lr.Body().Str()
		res := h.sink.res[i]
		switch {
		case strings.HasPrefix(body, "<<big>>"):
			sawBig++
			require.Len(t, body, 1<<20)
			require.Equal(t, "stdout", attr(lr, attrIOStream))
		case strings.HasPrefix(body, "<<bad-utf8>>"):
			sawBad++
			// CRI keeps the bytes (each run of invalid ones becomes U+FFFD); docker's
			// JSON writer had already replaced them.
			require.Contains(t, []string{"<<bad-utf8>> \uFFFD ok", "<<bad-utf8>> \uFFFD\uFFFD ok"}, body)
			require.Equal(t, "stderr", attr(lr, attrIOStream))
		case strings.Contains(body, "<<garbage>>"):
			require.Equal(t, "not a cri line <<garbage>> \x00\x01\x02", body)
			require.Zero(t, lr.Timestamp())
		}
		if strings.Contains(body, "shop") || res[attrNamespace] == "shop" {
			require.Equal(t, map[string]any{
				attrNamespace: "shop", attrPodName: "cart-7d9f", attrPodUID: "cart-7d9f-uid",
				attrContainer: "app", attrRestartCount: int64(0),
			}, res)
		} else {
			require.Equal(t, "kube-system", res[attrNamespace])
			require.Equal(t, "coredns", res[attrContainer])
		}
		if !strings.Contains(body, "<<garbage>>") {
			require.NotZero(t, lr.Timestamp(), body[:min(len(body), 40)])
		}
	}
	require.Equal(t, 2, sawBig)
	require.Equal(t, 2, sawBad)
	require.GreaterOrEqual(t, h.metricSum("otelcol_podlogs_parse_errors"), int64(1))
	require.Positive(t, h.metricSum("otelcol_podlogs_lines_read"))
	require.Positive(t, h.metricSum("otelcol_podlogs_read"))
}

func attr(lr plog.LogRecord, k string) string {
	v, ok := lr.Attributes().Get(k)
	if !ok {
		return ""
	}
	return v.AsString()
}

// TestRotationLosesNothing writes numbered lines from several files as fast as it can while
// rotating them, and checks that every line arrives.
func TestRotationLosesNothing(t *testing.T) {
	for _, kind := range []string{"rename", "copytruncate"} {
		t.Run(kind, func(t *testing.T) {
			h := newHarness(t)
			var files []*podFile
			for i := 0; i < 4; i++ {
				files = append(files, newPodFile(t, h.root, "ns", fmt.Sprintf("pod%d", i), "c", false))
			}
			h.start(h.config())
			defer h.stop()
			require.Eventually(t, func() bool { return h.metricSum("otelcol_podlogs_files_tracked") == 4 }, 5*time.Second, 10*time.Millisecond)
			var wg sync.WaitGroup
			for _, p := range files {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for round := 0; round < 10; round++ {
						for i := 0; i < 30; i++ {
							p.next(100, "payload-payload-payload-payload-payload-payload-payload-payload")
						}
						if kind == "rename" {
							p.renameRotate()
						} else {
							p.copyTruncate()
						}
					}
					p.next(100, "tail")
				}()
			}
			wg.Wait()
			var want []string
			for _, p := range files {
				want = append(want, p.want...)
			}
			dups := h.sink.waitAll(t, want, 60*time.Second)
			t.Logf("%s: %d lines, 0 lost, %d duplicates, rotations seen %d", kind, len(want), dups, h.metricSum("otelcol_podlogs_rotations"))
			require.Zero(t, dups)
		})
	}
}

// TestTruncation checks a file truncated in place (no rotated copy) is read again from its start.
func TestTruncation(t *testing.T) {
	h := newHarness(t)
	p := newPodFile(t, h.root, "ns", "pod", "c", false)
	p.next(500, "before")
	h.start(h.config())
	defer h.stop()
	h.sink.waitAll(t, p.want, 10*time.Second)
	require.NoError(t, p.f.Truncate(0))
	p.next(100, "after truncation, longer than before so the size alone does not tell")
	h.sink.waitAll(t, p.want, 10*time.Second)
}

// TestRestartResumesFromCommittedOffsets stops the receiver, writes and rotates while it is
// down, and checks that the next one reads exactly what was not delivered.
func TestRestartResumesFromCommittedOffsets(t *testing.T) {
	h := newHarness(t)
	rename := newPodFile(t, h.root, "ns", "a", "c", false)
	ct := newPodFile(t, h.root, "ns", "b", "c", true)
	for _, p := range []*podFile{rename, ct} {
		p.next(2000, "first run")
	}
	h.start(h.config())
	h.sink.waitAll(t, append(rename.want, ct.want...), 10*time.Second)
	h.stop()
	offsets := h.storedOffsets()
	require.Len(t, offsets, 2)

	// While down: more lines, a rename rotation (twice) and a copytruncate.
	rename.next(300, "down")
	rename.renameRotate()
	rename.next(300, "down after first rotation")
	rename.renameRotate()
	rename.next(300, "down after second rotation")
	ct.next(300, "down")
	ct.copyTruncate()
	ct.next(300, "down after copytruncate")

	h.start(h.config())
	defer h.stop()
	dups := h.sink.waitAll(t, append(rename.want, ct.want...), 10*time.Second)
	require.Zero(t, dups, "a clean stop commits everything delivered")
}

// TestBackpressureAndAtLeastOnce: while the next consumer refuses data, the receiver reads no
// further and commits nothing; once it accepts, everything arrives.
func TestBackpressureAndAtLeastOnce(t *testing.T) {
	h := newHarness(t)
	p := newPodFile(t, h.root, "ns", "pod", "c", false)
	p.next(20000, "payload")
	h.sink.mode.Store(sinkRetryable)
	cfg := h.config()
	cfg.Batch.MaxRecords = 1000
	cfg.Retry.InitialInterval = 10 * time.Millisecond
	cfg.Retry.MaxInterval = 20 * time.Millisecond
	h.start(cfg)
	require.Eventually(t, func() bool { return h.sink.calls.Load() >= 10 }, 10*time.Second, 10*time.Millisecond)
	// Retrying the same batch: no more than the lines of one read were read.
	read := h.metricSum("otelcol_podlogs_lines_read")
	require.Less(t, read, int64(5000), "reading must pause while the consumer refuses")
	require.Positive(t, h.metricSum("otelcol_podlogs_refused_batches"))
	h.stop()
	for path, off := range h.storedOffsets() {
		require.Zero(t, off, "nothing may be committed while refused: %s", path)
	}

	h.sink.mode.Store(sinkAccept)
	h.start(cfg)
	defer h.stop()
	h.sink.waitAll(t, p.want, 20*time.Second)
}

// TestLagGrowsWhileReadingPauses: while the next consumer refuses, no poll runs, yet the lag
// gauge follows what is written meanwhile (LookoutLogTailingLag must see a paused receiver).
func TestLagGrowsWhileReadingPauses(t *testing.T) {
	h := newHarness(t)
	p := newPodFile(t, h.root, "ns", "pod", "c", false)
	p.next(100, "payload")
	h.sink.mode.Store(sinkRetryable)
	cfg := h.config()
	cfg.Retry.InitialInterval = 10 * time.Millisecond
	cfg.Retry.MaxInterval = 20 * time.Millisecond
	h.start(cfg)
	defer h.stop()
	require.Eventually(t, func() bool { return h.sink.calls.Load() >= 3 }, 10*time.Second, 10*time.Millisecond)
	before := h.metricSum("otelcol_podlogs_file_lag")
	require.Positive(t, before, "nothing was committed: the whole file is lag")
	fi, err := os.Stat(p.path)
	require.NoError(t, err)
	p.next(1000, "payload")
	fi2, err := os.Stat(p.path)
	require.NoError(t, err)
	require.Equal(t, before+fi2.Size()-fi.Size(), h.metricSum("otelcol_podlogs_file_lag"))
}

func TestPermanentErrorDropsAndMovesOn(t *testing.T) {
	h := newHarness(t)
	p := newPodFile(t, h.root, "ns", "pod", "c", false)
	p.next(10, "first batch")
	h.sink.mode.Store(sinkPermanentOnce)
	h.start(h.config())
	defer h.stop()
	require.Eventually(t, func() bool { return h.metricSum("otelcol_podlogs_dropped_records") > 0 }, 10*time.Second, 10*time.Millisecond)
	p.next(10, "second batch")
	h.sink.waitAll(t, p.want[10:], 10*time.Second)
	// The rejected records are counted, not sent again; the others of the file arrived.
	missing, _ := h.sink.missing(p.want[:10])
	require.Len(t, missing, int(h.metricSum("otelcol_podlogs_dropped_records")))
}

func TestNewPodsRemovedFilesAndGzip(t *testing.T) {
	h := newHarness(t)
	cfg := h.config()
	cfg.PollInterval = 200 * time.Millisecond // the default
	h.start(cfg)
	defer h.stop()

	// A new pod shows up within a second.
	p := newPodFile(t, h.root, "ns", "new", "c", false)
	written := time.Now()
	p.next(1, "hello")
	h.sink.waitAll(t, p.want, 5*time.Second)
	require.Less(t, time.Since(written), time.Second, "a new pod's first line took too long")

	// Compressed rotated files are never read.
	gz := filepath.Join(filepath.Dir(p.path), "0.log.20260101-000000.gz")
	require.NoError(t, os.WriteFile(gz, []byte(p.line("stdout", "F", "<<gz>>")), 0o644))
	gzPod := filepath.Join(h.root, "ns_gz_uid", "c")
	require.NoError(t, os.MkdirAll(gzPod, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(gzPod, "0.log.gz"), []byte(p.line("stdout", "F", "<<gz2>>")), 0o644))

	// A file removed while open is read to its end, then forgotten.
	p.next(1000, "before removal")
	require.NoError(t, os.RemoveAll(filepath.Dir(filepath.Dir(p.path))))
	p.next(10, "written after removal to the open file")
	last := p.line("stdout", "F", "<<no-newline>> the last line, cut short")
	p.write(last[:len(last)-1])
	h.sink.waitAll(t, append(p.want, "no-newline"), 10*time.Second)
	missing, _ := h.sink.missing([]string{"gz", "gz2"})
	require.Len(t, missing, 2)
	require.Eventually(t, func() bool { return h.metricSum("otelcol_podlogs_files_tracked") == 0 }, 5*time.Second, 50*time.Millisecond)
	h.stop()
	require.Empty(t, h.storedOffsets(), "a removed file's offset is deleted")
	h.start(cfg) // for the deferred stop
}

// TestManyFilesBoundedOpenFiles tails far more files than max_open_files.
func TestManyFilesBoundedOpenFiles(t *testing.T) {
	h := newHarness(t)
	var want []string
	var files []*podFile
	for i := 0; i < 1500; i++ {
		p := newPodFile(t, h.root, "ns", fmt.Sprintf("p%04d", i), "c", i%2 == 0)
		p.next(3, "x")
		p.close()
		files = append(files, p)
		want = append(want, p.want...)
	}
	cfg := h.config()
	cfg.MaxOpenFiles = 32
	h.start(cfg)
	defer h.stop()
	h.sink.waitAll(t, want, 60*time.Second)
	require.LessOrEqual(t, h.metricSum("otelcol_podlogs_files_open"), int64(32))
	// And appends to files that were closed to respect the limit are still found.
	for _, p := range files[:100] {
		p.open()
		p.next(1, "second round")
		p.close()
		want = append(want, p.want[len(p.want)-1])
	}
	h.sink.waitAll(t, want, 30*time.Second)
	require.Equal(t, int64(1500), h.metricSum("otelcol_podlogs_files_tracked"))
}

func TestJSONBodies(t *testing.T) {
	h := newHarness(t)
	h.sink.keep = true
	p := newPodFile(t, h.root, "ns", "pod", "c", false)
	p.write(p.line("stdout", "F", `{"level":"error","msg":"<<j1>> failed","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","user":"u1","n":3,"ok":true,"nested":{"a":[1,"b"]}}`))
	p.write(p.line("stdout", "F", `{"broken json <<j2>>`))
	p.write(p.line("stdout", "F", `plain <<j3>>`))
	cfg := h.config()
	cfg.JSON.Enabled = true
	h.start(cfg)
	defer h.stop()
	h.sink.waitAll(t, []string{"j1", "j2", "j3"}, 10*time.Second)
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	lr := h.sink.records[0]
	require.Equal(t, "<<j1>> failed", lr.Body().Str())
	require.Equal(t, "error", lr.SeverityText())
	require.Equal(t, plog.SeverityNumberError, lr.SeverityNumber())
	require.Equal(t, "0af7651916cd43dd8448eb211c80319c", lr.TraceID().String())
	require.Equal(t, "b7ad6b7169203331", lr.SpanID().String())
	require.Equal(t, map[string]any{
		"user": "u1", "n": int64(3), "ok": true, "nested": map[string]any{"a": []any{int64(1), "b"}},
		attrIOStream: "stdout",
	}, lr.Attributes().AsRaw())
	require.Equal(t, `{"broken json <<j2>>`, h.sink.records[1].Body().Str())
	require.Equal(t, `plain <<j3>>`, h.sink.records[2].Body().Str())
}

func TestLifecycleWithoutStorage(t *testing.T) {
	h := newHarness(t)
	cfg := h.config()
	cfg.Storage = nil
	p := newPodFile(t, h.root, "ns", "pod", "c", false)
	p.next(5, "x")
	h.start(cfg)
	h.sink.waitAll(t, p.want, 10*time.Second)
	h.stop()
}

func TestStartFailsOnMissingStorage(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	id := componentID("file_storage/missing")
	cfg.Storage = &id
	r, err := NewFactory().CreateLogs(context.Background(), settings(), cfg, newSink())
	require.NoError(t, err)
	err = r.Start(context.Background(), testHost{exts: nil})
	require.ErrorContains(t, err, `storage: extension "file_storage/missing" not found`)
	require.NoError(t, r.Shutdown(context.Background()))
}

// TestFairReading: a small file is not starved by a big one; its lines go out with the first batch.
func TestFairReading(t *testing.T) {
	h := newHarness(t)
	big := newPodFile(t, h.root, "ns", "a-big", "c", false)
	small := newPodFile(t, h.root, "ns", "b-small", "c", false)
	big.next(100000, "payload-payload-payload-payload-payload-payload-payload-payload-payload")
	small.next(10, "small")
	cfg := h.config()
	cfg.Multiline.Presets = nil // no record held back waiting for its next line
	h.start(cfg)
	defer h.stop()
	h.sink.waitAll(t, small.want, 10*time.Second)
	require.Less(t, h.sink.arrivedAfter(small.want), int64(len(big.want)/2), "the small file waited for most of the big one")
	h.sink.waitAll(t, big.want, 30*time.Second)
}

// A batch the next consumer accepted is the consumer's: the receiver keeps nothing of it (each
// file's place in the batch used to outlive it, holding up to one old batch per file).
func TestAcceptedBatchesAreReleased(t *testing.T) {
	h := newHarness(t)
	var files []*podFile
	for _, pod := range []string{"a", "b", "c"} {
		f := newPodFile(t, h.root, "ns", pod, "c", false)
		f.next(2000, "payload")
		files = append(files, f)
	}
	cfg := h.config()
	cfg.Multiline.Presets = nil // no record held back waiting for its next line
	cfg.Batch.MaxRecords = 500
	h.start(cfg)
	defer h.stop()
	for _, f := range files {
		h.sink.waitAll(t, f.want, 10*time.Second)
	}
	runtime.GC()
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	require.Greater(t, len(h.sink.bodies), 3)
	var kept int
	for _, b := range h.sink.bodies {
		if b.Value() != nil {
			kept++
		}
	}
	require.Zero(t, kept, "batches still reachable after the consumer accepted them, of %d", len(h.sink.bodies))
}

// TestReuseBuffers: with reuse_buffers, every line still arrives intact, and a body kept past its
// batch's ConsumeLogs is written over by a later batch (what makes the option unsafe for such a
// consumer); without it, a kept body stays as it was.
func TestReuseBuffers(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprint(reuse), func(t *testing.T) {
			h := newHarness(t)
			p := newPodFile(t, h.root, "ns", "pod", "c", false)
			p.next(5000, "payload")
			cfg := h.config()
			cfg.Batch.MaxRecords = 500
			cfg.ReuseBuffers = reuse
			h.sink.hold = true
			h.start(cfg)
			defer h.stop()
			h.sink.waitAll(t, p.want, 10*time.Second)
			h.sink.mu.Lock()
			defer h.sink.mu.Unlock()
			require.Greater(t, len(h.sink.held), 3)
			changed := 0
			for _, b := range h.sink.held {
				if b[0] != b[1] {
					changed++
				}
			}
			if reuse {
				require.Positive(t, changed, "no kept body was written over: the arena was not reused")
			} else {
				require.Zero(t, changed, "kept bodies changed after their batch was accepted")
			}
		})
	}
}
