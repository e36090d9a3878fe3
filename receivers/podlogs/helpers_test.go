package podlogsreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
	"weak"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// sink is a consumer that counts the numbered tokens ("<<name-000042>>") in the bodies it
// accepts, and can be told to refuse data.
type sink struct {
	mu      sync.Mutex
	counts  map[string]int
	firstAt map[string]int64 // token → records accepted before its first arrival
	records []plog.LogRecord
	res     []map[string]any
	keep    bool
	// bodies holds a weak pointer to the body bytes of every accepted batch (records whose
	// bodies share one buffer), to see what outlives the batch.
	bodies []weak.Pointer[byte]
	// held, when hold is set, is the first body of every accepted batch as the batch had it,
	// next to a copy: a string that outlives its batch, as a component that keeps one would.
	hold bool
	held [][2]string

	mode     atomic.Int32 // one of sinkAccept, sinkRetryable, sinkPermanent
	calls    atomic.Int64
	accepted atomic.Int64
}

const (
	sinkAccept int32 = iota
	sinkRetryable
	sinkPermanent
	sinkPermanentOnce
)

func newSink() *sink { return &sink{counts: map[string]int{}, firstAt: map[string]int64{}} }

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.calls.Add(1)
	switch s.mode.Load() {
	case sinkRetryable:
		return errors.New("backend down")
	case sinkPermanent:
		return consumererror.NewPermanent(errors.New("rejected"))
	case sinkPermanentOnce:
		s.mode.Store(sinkAccept)
		return consumererror.NewPermanent(errors.New("rejected once"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ld.LogRecordCount() > 0 {
		body := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str()
		s.bodies = append(s.bodies, weak.Make(unsafe.StringData(body)))
		if s.hold {
			s.held = append(s.held, [2]string{body, strings.Clone(body)})
		}
	}
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		rl := ld.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				for _, tok := range tokens(lr.Body().AsString()) {
					if s.counts[tok] == 0 {
						s.firstAt[tok] = s.accepted.Load()
					}
					s.counts[tok]++
				}
				if s.keep {
					c := plog.NewLogRecord()
					lr.CopyTo(c)
					s.records = append(s.records, c)
					s.res = append(s.res, rl.Resource().Attributes().AsRaw())
				}
				s.accepted.Add(1)
			}
		}
	}
	return nil
}

// tokens returns the "<<...>>" tokens of a body.
func tokens(body string) []string {
	var out []string
	for {
		i := strings.Index(body, "<<")
		if i < 0 {
			return out
		}
		j := strings.Index(body[i:], ">>")
		if j < 0 {
			return out
		}
		out = append(out, strings.Clone(body[i+2:i+j])) // not a part of body: the test sees what keeps batches alive
		body = body[i+j+2:]
	}
}

// arrivedAfter returns how many records had been accepted when the last of want first arrived.
func (s *sink) arrivedAfter(want []string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, w := range want {
		n = max(n, s.firstAt[w])
	}
	return n
}

// missing returns the expected tokens not seen, and how many were seen more than once.
func (s *sink) missing(want []string) (missing []string, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range want {
		switch n := s.counts[w]; {
		case n == 0:
			missing = append(missing, w)
		case n > 1:
			dups += n - 1
		}
	}
	return missing, dups
}

func (s *sink) waitAll(t testing.TB, want []string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing, dups := s.missing(want)
		if len(missing) == 0 {
			return dups
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			t.Fatalf("%d of %d lines never arrived, e.g. %v", len(missing), len(want), missing[:min(10, len(missing))])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// podFile writes a container log file in the kubelet's layout.
type podFile struct {
	t      testing.TB
	path   string
	name   string
	docker bool
	f      *os.File
	n      int
	want   []string
	rotSeq int
	clock  time.Time
}

func newPodFile(t testing.TB, root, ns, pod, container string, docker bool) *podFile {
	dir := filepath.Join(root, fmt.Sprintf("%s_%s_%s-uid", ns, pod, pod), container)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	p := &podFile{t: t, path: filepath.Join(dir, "0.log"), name: pod + "/" + container, docker: docker,
		clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	p.open()
	return p
}

func (p *podFile) open() {
	f, err := os.OpenFile(p.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(p.t, err)
	p.f = f
}

func (p *podFile) close() { _ = p.f.Close() }

// line formats one log line in the file's format.
func (p *podFile) line(stream, tag, content string) string {
	p.clock = p.clock.Add(time.Microsecond)
	ts := p.clock.Format(time.RFC3339Nano)
	if p.docker {
		var b bytes.Buffer
		b.WriteString(`{"log":`)
		lg := content
		if tag == "F" {
			lg += "\n"
		}
		b.WriteString(jsonString(lg))
		fmt.Fprintf(&b, `,"stream":%q,"time":%q}`+"\n", stream, ts)
		return b.String()
	}
	return fmt.Sprintf("%s %s %s %s\n", ts, stream, tag, content)
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// next writes numbered lines and remembers their tokens.
func (p *podFile) next(count int, pad string) {
	var b strings.Builder
	for i := 0; i < count; i++ {
		p.n++
		tok := fmt.Sprintf("%s-%06d", p.name, p.n)
		p.want = append(p.want, tok)
		b.WriteString(p.line("stdout", "F", "<<"+tok+">> "+pad))
	}
	p.write(b.String())
}

func (p *podFile) write(s string) {
	_, err := p.f.WriteString(s)
	require.NoError(p.t, err)
}

// renameRotate moves the file aside, as the kubelet does, and reopens a new one.
func (p *podFile) renameRotate() {
	p.rotSeq++
	require.NoError(p.t, os.Rename(p.path, fmt.Sprintf("%s.%d", p.path, p.rotSeq)))
	p.close()
	p.open()
}

// copyTruncate copies the file aside and truncates it, as logrotate's copytruncate does.
func (p *podFile) copyTruncate() {
	p.rotSeq++
	data, err := os.ReadFile(p.path)
	require.NoError(p.t, err)
	require.NoError(p.t, os.WriteFile(fmt.Sprintf("%s.%d", p.path, p.rotSeq), data, 0o644))
	require.NoError(p.t, p.f.Truncate(0))
}

// harness runs the receiver against a real file_storage extension.
type harness struct {
	t        testing.TB
	root     string
	stateDir string
	sink     *sink
	tel      *componenttest.Telemetry
	ext      extension.Extension
	rcv      receiver.Logs
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, root: t.TempDir(), stateDir: t.TempDir(), sink: newSink()}
	return h
}

func (h *harness) config() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{filepath.Join(h.root, "*", "*", "*.log")}
	id := component.MustNewID("file_storage")
	cfg.Storage = &id
	cfg.PollInterval = 50 * time.Millisecond
	cfg.FlushTimeout = 100 * time.Millisecond
	return cfg
}

type testHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h testHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func (h *harness) start(cfg *Config) *podlogsReceiver {
	h.t.Helper()
	ctx := context.Background()
	h.tel = componenttest.NewTelemetry()
	if cfg.Storage != nil {
		f := filestorage.NewFactory()
		scfg := f.CreateDefaultConfig().(*filestorage.Config)
		scfg.Directory = h.stateDir
		ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), scfg)
		require.NoError(h.t, err)
		require.NoError(h.t, ext.Start(ctx, componenttest.NewNopHost()))
		h.ext = ext
	}
	set := receivertest.NewNopSettings(typeStr)
	set.ID = component.NewID(typeStr)
	set.TelemetrySettings = h.tel.NewTelemetrySettings()
	if os.Getenv("PODLOGS_DEBUG") != "" {
		set.Logger = zaptest.NewLogger(h.t, zaptest.Level(zap.DebugLevel))
	}
	r, err := newReceiver(set, cfg, h.sink)
	require.NoError(h.t, err)
	r.removedGrace = 300 * time.Millisecond
	host := testHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{}}
	if h.ext != nil {
		host.exts[*cfg.Storage] = h.ext
	}
	require.NoError(h.t, r.Start(ctx, host))
	h.rcv = r
	return r
}

func (h *harness) stop() {
	h.t.Helper()
	ctx := context.Background()
	require.NoError(h.t, h.rcv.Shutdown(ctx))
	if h.ext != nil {
		require.NoError(h.t, h.ext.Shutdown(ctx))
		h.ext = nil
	}
	require.NoError(h.t, h.tel.Shutdown(ctx))
}

// storedKeys lists the offsets committed in file_storage (opening it while the receiver is stopped).
func (h *harness) storedOffsets() map[string]int64 {
	h.t.Helper()
	ctx := context.Background()
	f := filestorage.NewFactory()
	scfg := f.CreateDefaultConfig().(*filestorage.Config)
	scfg.Directory = h.stateDir
	ext, err := f.Create(ctx, extensiontest.NewNopSettings(f.Type()), scfg)
	require.NoError(h.t, err)
	require.NoError(h.t, ext.Start(ctx, componenttest.NewNopHost()))
	defer func() { require.NoError(h.t, ext.Shutdown(ctx)) }()
	client, err := ext.(storage.Extension).GetClient(ctx, component.KindReceiver, component.NewID(typeStr), "")
	require.NoError(h.t, err)
	defer client.Close(ctx)
	out := map[string]int64{}
	require.NoError(h.t, client.(storage.Walker).Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		cp, err := unmarshalCheckpoint(value)
		require.NoError(h.t, err)
		out[strings.TrimPrefix(key, checkpointPrefix)] = cp.offset
		return nil, nil
	}))
	return out
}

// metricSum returns the sum of a counter or gauge's data points.
func (h *harness) metricSum(name string) int64 {
	m, err := h.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var total int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			total += dp.Value
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			total += dp.Value
		}
	}
	return total
}

func componentID(s string) component.ID {
	var id component.ID
	if err := id.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return id
}

func settings() receiver.Settings {
	set := receivertest.NewNopSettings(typeStr)
	set.ID = component.NewID(typeStr)
	return set
}
