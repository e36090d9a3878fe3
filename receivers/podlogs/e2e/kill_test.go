// Package e2e runs the real lookout binary with the podlogs receiver and the loki exporter
// against a counting Loki push sink, and kills it with SIGKILL while files rotate and the
// backend goes down and comes back.
package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

var lookoutBin string

func TestMain(m *testing.M) { lookouttest.Main(m, &lookoutBin) }

// lokiSink is a Loki push endpoint (protobuf + snappy) that counts the numbered tokens
// ("<<name-0000042>>") of the lines it accepts. While down it answers 503, as Loki does when
// its ingesters are unavailable.
type lokiSink struct {
	down   atomic.Bool
	pushes atomic.Int64
	bad    atomic.Int64

	mu     sync.Mutex
	counts map[string]int
}

func (s *lokiSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		http.Error(w, "backend down", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		s.bad.Add(1)
		http.Error(w, "snappy: "+err.Error(), http.StatusBadRequest)
		return
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		s.bad.Add(1)
		http.Error(w, "protobuf: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, st := range req.Streams {
		for _, e := range st.Entries {
			for _, tok := range tokens(e.Line) {
				s.counts[tok]++
			}
		}
	}
	s.mu.Unlock()
	s.pushes.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func tokens(line string) []string {
	var out []string
	for {
		i := strings.Index(line, "<<")
		if i < 0 {
			return out
		}
		j := strings.Index(line[i:], ">>")
		if j < 0 {
			return out
		}
		out = append(out, line[i+2:i+j])
		line = line[i+j+2:]
	}
}

func (s *lokiSink) tally(want []string) (lost []string, dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range want {
		switch n := s.counts[w]; {
		case n == 0:
			lost = append(lost, w)
		case n > 1:
			dups += n - 1
		}
	}
	return lost, dups
}

// podWriter writes a container's log the way a runtime and the kubelet do: CRI or docker
// json-file lines, long lines split into 16 KiB partial lines, rotation by rename (or by
// copytruncate) every few thousand lines, older rotated files gzip'd.
type podWriter struct {
	dir, path, name string
	docker          bool
	copytruncate    bool
	rotateEvery     int
	f               *os.File
	n, sinceRotate  int
	rotations       int
	want            []string
	clock           time.Time
	rng             *rand.Rand
}

func newPodWriter(t *testing.T, root string, i int, rng *rand.Rand) *podWriter {
	pod := fmt.Sprintf("pod%02d", i)
	dir := filepath.Join(root, fmt.Sprintf("e2e_%s_%s-uid", pod, pod), "app")
	must(os.MkdirAll(dir, 0o755))
	w := &podWriter{
		dir: dir, path: filepath.Join(dir, "0.log"), name: pod, docker: i%3 == 2, copytruncate: i%2 == 1,
		rotateEvery: 2000 + 1000*(i%4), clock: time.Now().UTC(), rng: rng,
	}
	w.open(t)
	return w
}

func (w *podWriter) open(t *testing.T) {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(err)
	w.f = f
}

func (w *podWriter) entry(b *bytes.Buffer, stream, tag, content string) {
	w.clock = w.clock.Add(time.Microsecond)
	ts := w.clock.Format(time.RFC3339Nano)
	if !w.docker {
		fmt.Fprintf(b, "%s %s %s %s\n", ts, stream, tag, content)
		return
	}
	if tag == "F" {
		content += "\n"
	}
	b.WriteString(`{"log":`)
	b.WriteString(jsonString(content))
	fmt.Fprintf(b, `,"stream":%q,"time":%q}`+"\n", stream, ts)
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c < 0x20 || c >= 0x80:
			fmt.Fprintf(&b, `\u%04x`, c) // docker escapes what is not valid UTF-8
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

const payload = "GET /api/v1/orders/12345 200 12.3ms user=alice trace=0af7651916cd43dd8448eb211c80319c region=eu-west-1 az=b"

// write appends count numbered lines, with the odd awkward one among them.
func (w *podWriter) write(t *testing.T, count int) {
	var b bytes.Buffer
	for i := 0; i < count; i++ {
		w.n++
		tok := fmt.Sprintf("<<%s-%07d>>", w.name, w.n)
		w.want = append(w.want, tok[2:len(tok)-2])
		stream := "stdout"
		if w.n%7 == 0 {
			stream = "stderr"
		}
		switch {
		case w.n == 1500:
			// A line of 1 MiB, split by the runtime into 16 KiB partial lines.
			content := tok + " " + strings.Repeat("y", 1<<20)
			for len(content) > 16<<10 {
				w.entry(&b, stream, "P", content[:16<<10])
				content = content[16<<10:]
			}
			w.entry(&b, stream, "F", content)
		case w.n%997 == 0:
			// A partial line: the runtime split it at a buffer boundary.
			w.entry(&b, stream, "P", tok+" first half ")
			w.entry(&b, stream, "F", "second half")
		case w.n%1009 == 0:
			w.entry(&b, stream, "F", tok+" invalid UTF-8 \xff\xfe\xc3 "+payload)
		case w.n%1013 == 0 && !w.docker:
			// Binary garbage that is not a CRI line at all, before a numbered line.
			b.WriteString("\x00\x01\x02garbage\x7f\x80\n")
			w.entry(&b, stream, "F", tok+" "+payload)
		default:
			w.entry(&b, stream, "F", tok+" "+payload)
		}
	}
	_, err := w.f.Write(b.Bytes())
	must(err)
	w.sinceRotate += count
	if w.sinceRotate >= w.rotateEvery {
		w.rotate(t)
	}
}

func (w *podWriter) rotate(t *testing.T) {
	w.sinceRotate = 0
	w.rotations++
	rotated := fmt.Sprintf("%s.%s-%04d", w.path, time.Now().UTC().Format("20060102-150405"), w.rotations)
	if w.copytruncate {
		data, err := os.ReadFile(w.path)
		must(err)
		must(os.WriteFile(rotated, data, 0o644))
		must(w.f.Truncate(0))
	} else {
		must(os.Rename(w.path, rotated))
		must(w.f.Close())
		w.open(t)
	}
	// Like the kubelet, keep the newest rotated files as they are and gzip the older ones (after
	// a delay long enough for the agent to have read them: the kubelet rotates every few minutes).
	entries, err := filepath.Glob(w.path + ".*")
	must(err)
	var plain []string
	for _, e := range entries {
		if !strings.HasSuffix(e, ".gz") {
			plain = append(plain, e)
		}
	}
	sort.Strings(plain)
	for len(plain) > 6 {
		old := plain[0]
		plain = plain[1:]
		data, err := os.ReadFile(old)
		must(err)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(data)
		must(zw.Close())
		must(os.WriteFile(old+".gz", gz.Bytes(), 0o644))
		must(os.Remove(old))
	}
}

type agent struct {
	t                 *testing.T
	root, state, sink string
	health, metrics   string
	p                 *lookouttest.Process
}

func (a *agent) start() {
	a.t.Helper()
	a.health, a.metrics = lookouttest.FreeAddr(a.t), lookouttest.FreeAddr(a.t)
	_, metricsPort, _ := net.SplitHostPort(a.metrics)
	cfg := fmt.Sprintf(`
receivers:
  podlogs:
    include: [%[1]s/*/*/*.log]
    storage: segment_storage
exporters:
  loki:
    client:
      endpoint: http://%[2]s/loki/api/v1/push
    labels:
      resource_attributes:
        - {attribute: k8s.namespace.name, label: namespace}
        - {attribute: k8s.pod.name, label: pod}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
    sending_queue:
      storage: segment_storage
      queue_size: 1073741824 # 1 GiB on disk: the 9 s outage must not fill it
      batch:
        flush_timeout: 200ms
extensions:
  health_check:
    endpoint: %[3]s
  segment_storage:
    directory: %[4]s
service:
  extensions: [health_check, segment_storage]
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[5]s
  pipelines:
    logs:
      receivers: [podlogs]
      exporters: [loki]
`, a.root, a.sink, a.health, a.state, metricsPort)
	path := filepath.Join(a.t.TempDir(), "config.yaml")
	require.NoError(a.t, os.WriteFile(path, []byte(cfg), 0o600))
	a.p = lookouttest.Start(a.t, lookoutBin, []string{"--config", path})
	a.p.WaitHTTP(a.t, "http://"+a.health+"/", 60*time.Second)
}

// TestKillAtRandomPointsLosesNothing writes numbered lines from 16 containers at about 20,000
// lines/s through rename and copytruncate rotations (every 2,000-5,000 lines), partial lines, a
// line of 1 MiB, invalid UTF-8 and binary garbage, and SIGKILLs the agent at random points while
// the backend is up, then down, then up again. Every line must arrive; duplicates are allowed
// only from what was in flight at a kill.
func TestKillAtRandomPointsLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary for about a minute")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d", seed)

	sink := &lokiSink{counts: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: sink, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	a := &agent{t: t, root: t.TempDir(), state: t.TempDir(), sink: ln.Addr().String()}
	var writers []*podWriter
	for i := 0; i < 16; i++ {
		writers = append(writers, newPodWriter(t, a.root, i, rng))
	}

	// The writer: ~20,000 lines/s (16 files × 13 lines per 10 ms tick) for 24 s.
	const runFor = 24 * time.Second
	done := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				writeErr <- fmt.Errorf("writer: %v", r)
			}
		}()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		end := time.Now().Add(runFor)
		for time.Now().Before(end) {
			<-tick.C
			for _, w := range writers {
				w.write(t, 13)
			}
		}
	}()

	a.start()
	start := time.Now()
	kills := 0
	for {
		select {
		case <-done:
		case <-time.After(time.Duration(700+rng.IntN(1800)) * time.Millisecond):
		}
		if isDone(done) {
			break
		}
		elapsed := time.Since(start)
		// The backend is down from 6 s to 15 s.
		sink.down.Store(elapsed > 6*time.Second && elapsed < 15*time.Second)
		a.p.Kill()
		kills++
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		a.start()
	}
	select {
	case err := <-writeErr:
		t.Fatal(err)
	default:
	}
	sink.down.Store(false)

	var want []string
	rotations := 0
	for _, w := range writers {
		want = append(want, w.want...)
		rotations += w.rotations
	}
	deadline := time.Now().Add(3 * time.Minute)
	var lost []string
	var dups int
	for {
		lost, dups = sink.tally(want)
		if len(lost) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d lines from %d files, %d rotations, %d SIGKILLs (backend down 6s-15s): %d lost, %d duplicates",
		len(want), len(writers), rotations, kills, len(lost), dups)
	if len(lost) > 0 {
		sort.Strings(lost)
		t.Fatalf("%d lines lost, e.g. %v", len(lost), lost[:min(20, len(lost))])
	}
	require.Zero(t, sink.bad.Load(), "the sink could not decode some pushes")
	// Each kill may send again what was read but not yet committed (at most one receiver batch
	// of 8192 records) and what the exporter had in flight (one queue batch).
	require.LessOrEqual(t, dups, kills*2*8192)

	// The receiver's own metrics are exported with the collector's.
	resp, err := http.Get("http://" + a.metrics + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"otelcol_podlogs_lines_read", "otelcol_podlogs_read", "otelcol_podlogs_files_open",
		"otelcol_podlogs_file_lag", "otelcol_podlogs_parse_errors", "otelcol_podlogs_records"} {
		require.Contains(t, string(body), name)
	}
}

// must panics on an error: the writer runs in its own goroutine, where require cannot stop the
// test; the panic is recovered there and reported.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
