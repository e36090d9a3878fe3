package lokiexporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"

	"github.com/lookoutdev/lookout/exporters/loki/internal/metadata"
)

// convertLogs turns ld into a request with the default config and tenants from "tenant".
func convertLogs(t *testing.T, ld plog.Logs) *pushRequest {
	t.Helper()
	e := startExporter(t, "http://127.0.0.1:1/loki/api/v1/push", nil, nil, func(c *Config) { c.Tenant.FromAttribute = "tenant" })
	req, err := e.convert(context.Background(), ld)
	require.NoError(t, err)
	return req.(*pushRequest)
}

// decoded returns each tenant's lines, per stream, as Loki would read the request.
func decoded(t *testing.T, r *pushRequest) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range r.parts {
		// As Loki reads it: golang/snappy, then the protobuf.
		body, err := p.body()
		require.NoError(t, err)
		raw, err := snappy.Decode(nil, body)
		require.NoError(t, err, "tenant %q: the body is a snappy block", p.tenant)
		require.Len(t, raw, p.size, "tenant %q: recorded size", p.tenant)
		var pr push.PushRequest
		require.NoError(t, pr.Unmarshal(raw), "tenant %q: the body is a PushRequest", p.tenant)
		n := 0
		for _, s := range pr.Streams {
			for _, l := range lines(s) {
				out[p.tenant] = append(out[p.tenant], s.Labels+" "+l)
				n++
			}
		}
		require.Equal(t, n, p.entries, "tenant %q: entry count", p.tenant)
	}
	return out
}

// numbered is one resource (service svc, tenant) with n lines "svc-i".
func numbered(tenant, svc string, n int) res {
	recs := make([]rec, n)
	for i := range recs {
		recs[i] = rec{line: fmt.Sprintf("%s-%d", svc, i), at: time.Duration(i) * time.Millisecond}
	}
	return res{attrs: map[string]any{"tenant": tenant, "service.name": svc}, recs: recs}
}

func TestMergeAppendsStreamsPerTenant(t *testing.T) {
	a := convertLogs(t, logsOf(numbered("t1", "a", 3), numbered("t2", "b", 2)))
	b := convertLogs(t, logsOf(numbered("t1", "c", 4)))
	want := decoded(t, a)
	for k, v := range decoded(t, b) {
		want[k] = append(want[k], v...)
	}
	aBytes, bBytes := a.BytesSize(), b.BytesSize()

	out, err := a.MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeBytes, b)
	require.NoError(t, err)
	require.Len(t, out, 1)
	m := out[0].(*pushRequest)
	require.Len(t, m.parts, 2, "one part per tenant")
	require.Equal(t, want, decoded(t, m))
	require.Equal(t, 9, m.ItemsCount())
	require.Equal(t, aBytes+bBytes, m.BytesSize())
	// The inputs are unchanged (exporterhelper may still hold them when a merge fails).
	require.Equal(t, aBytes, a.BytesSize())
	require.Equal(t, 5, a.ItemsCount())
}

func TestSplitAtStreamBoundaries(t *testing.T) {
	// Four streams of 3, 5, 2 and 6 lines, in two tenants.
	r := convertLogs(t, logsOf(numbered("t1", "a", 3), numbered("t1", "b", 5), numbered("t2", "c", 2), numbered("t2", "d", 6)))
	all := decoded(t, r)
	streamBytes := map[string]int{}
	for _, p := range r.parts {
		raw, err := p.raw()
		require.NoError(t, err)
		streams, err := splitStreams(p.tenant, raw)
		require.NoError(t, err)
		for _, s := range streams {
			streamBytes[fmt.Sprint(s.entries)] = len(s.raw)
		}
	}
	tests := []struct {
		name    string
		szt     exporterhelper.RequestSizerType
		max     int
		entries []int // per returned request
	}{
		{"items 8", exporterhelper.RequestSizerTypeItems, 8, []int{8, 8}},
		{"items 5", exporterhelper.RequestSizerTypeItems, 5, []int{3, 5, 2, 6}}, // 6 > 5: one stream is never cut
		{"items 100", exporterhelper.RequestSizerTypeItems, 100, []int{16}},
		{"bytes of two streams", exporterhelper.RequestSizerTypeBytes, max(streamBytes["3"]+streamBytes["5"], streamBytes["2"]+streamBytes["6"]), []int{8, 8}},
		{"1 byte", exporterhelper.RequestSizerTypeBytes, 1, []int{3, 5, 2, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := r.MergeSplit(context.Background(), tt.max, tt.szt, nil)
			require.NoError(t, err)
			var got []int
			merged := map[string][]string{}
			for _, o := range out {
				got = append(got, o.ItemsCount())
				for k, v := range decoded(t, o.(*pushRequest)) {
					merged[k] = append(merged[k], v...)
				}
			}
			require.Equal(t, tt.entries, got)
			require.Equal(t, all, merged, "every line once, in order")
		})
	}
	_, err := r.MergeSplit(context.Background(), 10, exporterhelper.RequestSizerTypeRequests, nil)
	require.ErrorContains(t, err, "batching by \"requests\" is not supported")
}

func TestOnErrorKeepsFailedTenants(t *testing.T) {
	r := convertLogs(t, logsOf(numbered("t1", "a", 3), numbered("t2", "b", 2)))
	require.Same(t, r, r.OnError(errors.New("network down")), "an error for the whole request keeps it whole")
	left := r.OnError(fmt.Errorf("wrapped: %w", &failedTenants{err: errors.New("503"), tenants: map[string]bool{"t2": true}})).(*pushRequest)
	require.Len(t, left.parts, 1)
	require.Equal(t, "t2", left.parts[0].tenant)
	require.Equal(t, 2, left.ItemsCount())
}

func TestQueueEncoding(t *testing.T) {
	ld := logsOf(numbered("t1", "a", 3), numbered("", "b", 2))
	r := convertLogs(t, ld)
	enc := queueEncoding{convert: func(ctx context.Context, ld plog.Logs) (xexporterhelper.Request, error) {
		return convertLogs(t, ld), nil
	}}

	b, err := enc.Marshal(context.Background(), r)
	require.NoError(t, err)
	_, got, err := enc.Unmarshal(b)
	require.NoError(t, err)
	require.Equal(t, decoded(t, r), decoded(t, got.(*pushRequest)))
	require.Equal(t, r.BytesSize(), got.BytesSize())

	// A request of one part, as convert makes it, is queued as it was framed then: no copy.
	one := convertLogs(t, logsOf(numbered("t1", "a", 3)))
	ob, err := enc.Marshal(context.Background(), one)
	require.NoError(t, err)
	require.Same(t, &one.parts[0].queued[0], &ob[0])
	_, got, err = enc.Unmarshal(ob)
	require.NoError(t, err)
	require.Equal(t, decoded(t, one), decoded(t, got.(*pushRequest)))

	// A merged request (several blocks per tenant) is queued as one block per tenant.
	merged, err := r.MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeBytes, convertLogs(t, ld))
	require.NoError(t, err)
	m := merged[0].(*pushRequest)
	require.Len(t, m.parts[0].blocks, 2)
	mb, err := enc.Marshal(context.Background(), m)
	require.NoError(t, err)
	_, got, err = enc.Unmarshal(mb)
	require.NoError(t, err)
	require.Len(t, got.(*pushRequest).parts[0].blocks, 1)
	require.Equal(t, decoded(t, m), decoded(t, got.(*pushRequest)))
	require.Equal(t, 2*r.BytesSize(), got.BytesSize())

	// What an earlier version queued (OTLP logs, with exporterhelper's context envelope or bare)
	// becomes the same request.
	withCtx, err := pdatareq.MarshalLogs(context.Background(), ld)
	require.NoError(t, err)
	bare, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	for name, b := range map[string][]byte{"request envelope": withCtx, "bare OTLP": bare} {
		_, got, err := enc.Unmarshal(b)
		require.NoError(t, err, name)
		require.Equal(t, decoded(t, r), decoded(t, got.(*pushRequest)), name)
	}

	for name, b := range map[string][]byte{
		"truncated body":  b[:len(b)-1],
		"garbage":         []byte("\xff\xff\xff"),
		"truncated count": append(append([]byte(nil), queueMagic...), 0x02, 't', '1'),
	} {
		_, _, err := enc.Unmarshal(b)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), "loki exporter: queued request", name)
	}
}

// lineSink is a Loki push endpoint that fails while down is set and records every line.
type lineSink struct {
	mu    sync.Mutex
	down  bool
	lines map[string]int
}

func (s *lineSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req push.PushRequest
	body, err := io.ReadAll(r.Body)
	if err == nil {
		body, err = snappy.Decode(nil, body)
	}
	if err == nil {
		err = req.Unmarshal(body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	for _, st := range req.Streams {
		for _, l := range lines(st) {
			s.lines[l]++
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *lineSink) set(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *lineSink) count() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.lines {
		total += n
	}
	return len(s.lines), total
}

type storageHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// startStorage starts file_storage on dir, as the collector would.
func startStorage(t *testing.T, dir string) (component.Component, storageHost) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	id := component.NewID(f.Type())
	return ext, storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{id: ext}}
}

// TestPersistentQueueAcrossRestartAndUpgrade sends logs through the real exporterhelper queue in
// file_storage while Loki is down, restarts the exporter on the same directory, and counts every
// line at Loki once it is back. The first exporter is the queue as an earlier version wrote it
// (exporterhelper's OTLP encoding): an upgrade must lose nothing that was on disk.
func TestPersistentQueueAcrossRestartAndUpgrade(t *testing.T) {
	sink := &lineSink{down: true, lines: map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	dir := t.TempDir()
	ctx := context.Background()
	storageID := component.MustNewID("file_storage")

	newConfig := func() *Config {
		cfg := createDefaultConfig().(*Config)
		cfg.Client.Endpoint = srv.URL + "/loki/api/v1/push"
		cfg.Retry.InitialInterval = 10 * time.Millisecond
		cfg.Retry.MaxInterval = 50 * time.Millisecond
		q := *cfg.Queue.Get()
		q.StorageID = &storageID
		cfg.Queue = configoptional.Some(q)
		return cfg
	}
	set := exportertest.NewNopSettings(metadata.Type)
	const perCall, calls = 500, 6

	// start starts file_storage on dir and the exporter create makes; stop stops both.
	start := func(create func(*Config) (exporter.Logs, error)) (exp exporter.Logs, stop func()) {
		ext, host := startStorage(t, dir)
		exp, err := create(newConfig())
		require.NoError(t, err)
		require.NoError(t, exp.Start(ctx, host))
		return exp, func() {
			require.NoError(t, exp.Shutdown(ctx))
			require.NoError(t, ext.Shutdown(ctx))
		}
	}
	// feed sends calls/2 batches of numbered lines, then lets a few pushes fail.
	feed := func(exp exporter.Logs, prefix string) {
		for i := range calls / 2 {
			require.NoError(t, exp.ConsumeLogs(ctx, logsOf(numbered("", fmt.Sprintf("%s%d", prefix, i), perCall))))
		}
		time.Sleep(100 * time.Millisecond)
	}
	current := func(cfg *Config) (exporter.Logs, error) { return NewFactory().CreateLogs(ctx, set, cfg) }

	// 1. An earlier version's exporter: the same ID, OTLP logs queued; Loki down.
	old, stop := start(func(cfg *Config) (exporter.Logs, error) {
		return exporterhelper.NewLogs(ctx, set, cfg, func(context.Context, plog.Logs) error {
			return errors.New("loki is down")
		}, exporterhelper.WithQueue(cfg.Queue), exporterhelper.WithRetry(cfg.Retry))
	})
	feed(old, "old")
	stop()

	// 2. This version, Loki still down: more lines queued, then a restart.
	exp, stop := start(current)
	feed(exp, "new")
	stop()
	distinct, _ := sink.count()
	require.Zero(t, distinct)

	// 3. Restart with Loki up: everything arrives.
	sink.set(false)
	_, stop = start(current)
	require.Eventually(t, func() bool { d, _ := sink.count(); return d == perCall*calls }, 20*time.Second, 20*time.Millisecond)
	stop()
	distinct, total := sink.count()
	t.Logf("lines: %d sent, %d distinct at Loki, %d duplicates", perCall*calls, distinct, total-distinct)
	require.Equal(t, perCall*calls, distinct)
	for i := range calls / 2 {
		for _, svc := range []string{"old", "new"} {
			require.Equal(t, 1, sink.lines[fmt.Sprintf("%s%d-%d", svc, i, perCall-1)], "last line of %s%d", svc, i)
		}
	}
}

// TestDiskQueueLendsBuffers: with the queue in file_storage (or segment_storage), which copy what
// they store, the buffer a request was framed in goes back to the encoder once the request is
// queued, the next request is framed in the same one, and every line still arrives; in memory or
// in a storage extension not known to copy, the exporter is not wrapped to do so.
func TestDiskQueueLendsBuffers(t *testing.T) {
	ctx := context.Background()
	set := exportertest.NewNopSettings(metadata.Type)
	withStorage := func(cfg *Config, id *component.ID) *Config {
		q := *cfg.Queue.Get()
		q.StorageID = id
		cfg.Queue = configoptional.Some(q)
		return cfg
	}
	for _, tc := range []struct {
		storage string
		lends   bool
	}{{"", false}, {"segment_storage", true}, {"file_storage", true}, {"db_storage", false}} {
		cfg := createDefaultConfig().(*Config)
		if tc.storage != "" {
			id := component.MustNewID(tc.storage)
			cfg = withStorage(cfg, &id)
		}
		exp, err := NewFactory().CreateLogs(ctx, set, cfg)
		require.NoError(t, err)
		_, ok := exp.(diskQueued)
		require.Equal(t, tc.lends, ok, "storage %q", tc.storage)
	}

	sink := &lineSink{lines: map[string]int{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	ext, host := startStorage(t, t.TempDir())
	defer func() { require.NoError(t, ext.Shutdown(ctx)) }()
	cfg := createDefaultConfig().(*Config)
	cfg.Client.Endpoint = srv.URL + "/loki/api/v1/push"
	id := component.MustNewID("file_storage")
	exp, err := NewFactory().CreateLogs(ctx, set, withStorage(cfg, &id))
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, host))
	spare := &exp.(diskQueued).enc.queuedBuf
	// The first request is the largest, so that every later one fits in its buffer.
	const perCall, calls = 300, 4
	sizes := []int{2 * perCall, perCall, perCall, perCall}
	var first *byte
	for i, n := range sizes {
		require.NoError(t, exp.ConsumeLogs(ctx, logsOf(numbered("", fmt.Sprintf("svc%d", i), n))))
		require.NotNil(t, spare.buf, "call %d: the buffer was not given back", i)
		if i == 0 {
			first = unsafe.SliceData(spare.buf)
		} else {
			require.Equal(t, first, unsafe.SliceData(spare.buf), "call %d: framed in a new buffer", i)
		}
	}
	const lines = perCall * (calls + 1)
	require.Eventually(t, func() bool { d, _ := sink.count(); return d == lines }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, exp.Shutdown(ctx))
	_, total := sink.count()
	require.Equal(t, lines, total)
}
