package fault

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// Numbered data: every log line, span and metric sample carries an ID ("<run>-l-0000042"), so
// that what reaches the backend can be checked item by item.

// pace calls fn(n) every 50 ms with the number of items due at rate per second, until ctx ends.
func pace(ctx context.Context, rate func() int, fn func(n int)) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	done := 0.0
	last := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			done += float64(rate()) * now.Sub(last).Seconds()
			last = now
			if n := int(done); n > 0 {
				done -= float64(n)
				fn(n)
			}
		}
	}
}

// logWriter writes a container's log file the way the kubelet lays it out
// ($LOOKOUT_RUN_DIR/pods/<ns>_<pod>_<uid>/<container>/0.log), in CRI format.
type logWriter struct {
	namespace string
	id        string
	path      string

	mu   sync.Mutex
	f    *os.File
	n    int
	want []string
	err  error
}

func newLogWriter(runDir, id string) (*logWriter, error) {
	ns := "fault-" + id
	dir := filepath.Join(runDir, "pods", ns+"_app-0_"+id+"-uid", "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "0.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &logWriter{namespace: ns, id: id, path: path, f: f}, nil
}

const logPayload = `GET /api/v1/orders/12345 200 12.3ms region=eu-west-1 az=b msg="request handled"`

// write appends n numbered lines.
func (w *logWriter) write(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	var b strings.Builder
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	ids := make([]string, 0, n)
	for range n {
		w.n++
		id := fmt.Sprintf("%s-l-%07d", w.id, w.n)
		ids = append(ids, id)
		fmt.Fprintf(&b, "%s stdout F <<%s>> %s\n", ts, id, logPayload)
	}
	if _, err := w.f.WriteString(b.String()); err != nil {
		w.err = err
		return
	}
	w.want = append(w.want, ids...)
}

// sent returns the IDs written so far, and the first write error.
func (w *logWriter) sent() ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.want...), w.err
}

func (w *logWriter) close() { w.mu.Lock(); _ = w.f.Close(); w.mu.Unlock() }

// otlpSender sends numbered spans (one trace per batch) or metric samples over OTLP/gRPC, the way
// an SDK does: a refused batch is retried with backoff, and given up after giveUp. Batches that
// cannot even be queued in the sender (it is overloaded) are shed and never count as sent.
type otlpSender struct {
	kind    string // "s" (spans) or "m" (samples)
	id      string
	conn    *grpc.ClientConn
	traces  ptraceotlp.GRPCClient
	metrics pmetricotlp.GRPCClient
	batch   int
	giveUp  time.Duration

	seq       atomic.Int64
	queue     chan []string
	abandoned atomic.Bool // close gave up what is left
	wg        sync.WaitGroup
	mu        sync.Mutex
	want      []string
	refused   int // items given up after retrying
	shed      int // items never sent: the sender's own queue was full
	errs      map[codes.Code]int
	lastErr   string // the last error a call returned
	attempts  int
	// lastSample is the time of the latest probe sample sent (samples senders).
	lastSample time.Time
}

func newOTLPSender(addr, kind, id string, batch, workers int) (*otlpSender, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	s := &otlpSender{
		kind: kind, id: id, conn: conn, batch: batch, giveUp: 2 * time.Minute,
		traces: ptraceotlp.NewGRPCClient(conn), metrics: pmetricotlp.NewGRPCClient(conn),
		queue: make(chan []string, 1024), errs: map[codes.Code]int{},
	}
	for range workers {
		s.wg.Add(1)
		go s.work()
	}
	return s, nil
}

// offer queues n items (in batches); what does not fit in the sender's queue is shed.
func (s *otlpSender) offer(n int) {
	for n > 0 {
		k := min(n, s.batch)
		n -= k
		ids := make([]string, k)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-%s-%07d", s.id, s.kind, s.seq.Add(1))
		}
		select {
		case s.queue <- ids:
		default:
			s.mu.Lock()
			s.shed += k
			s.mu.Unlock()
		}
	}
}

// close stops taking batches and waits for the queued ones to be sent; what is not sent giveUp
// after close is given up (else a queue of batches, each retried for giveUp, could take hours).
func (s *otlpSender) close() {
	close(s.queue)
	abandon := time.AfterFunc(s.giveUp, func() { s.abandoned.Store(true) })
	s.wg.Wait()
	abandon.Stop()
	_ = s.conn.Close()
}

func (s *otlpSender) work() {
	defer s.wg.Done()
	for ids := range s.queue {
		s.send(ids)
	}
}

func (s *otlpSender) send(ids []string) {
	var md pmetric.Metrics
	if s.kind == "m" {
		md = samples(s.id, ids, s.firstSampleTime(len(ids)))
	}
	deadline := time.Now().Add(s.giveUp)
	backoff := 100 * time.Millisecond
	for {
		if s.abandoned.Load() {
			s.mu.Lock()
			s.refused += len(ids)
			s.mu.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		if s.kind == "s" {
			_, err = s.traces.Export(ctx, ptraceotlp.NewExportRequestFromTraces(spans(s.id, ids)))
		} else {
			_, err = s.metrics.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
		}
		cancel()
		s.mu.Lock()
		s.attempts++
		if err == nil {
			s.want = append(s.want, ids...)
			s.mu.Unlock()
			return
		}
		s.errs[status.Code(err)]++
		s.lastErr = err.Error()
		s.mu.Unlock()
		if time.Now().After(deadline) || !retryable(err) {
			s.mu.Lock()
			s.refused += len(ids)
			s.mu.Unlock()
			return
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}

// retryable is what OTLP calls retryable (the SDKs retry these).
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable,
		codes.DataLoss, codes.ResourceExhausted:
		return true
	}
	return false
}

// sendStats are a sender's counts.
type sendStats struct {
	want             []string
	refused, shed    int
	errs             map[codes.Code]int
	lastErr          string
	attempts         int
	sentItems, items int
}

func (s *otlpSender) stats() sendStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := map[codes.Code]int{}
	for k, v := range s.errs {
		errs[k] = v
	}
	return sendStats{want: append([]string(nil), s.want...), refused: s.refused, shed: s.shed, errs: errs, lastErr: s.lastErr, attempts: s.attempts}
}

func randomID() [16]byte {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return b
}

// spans is one trace of one operation whose spans carry their IDs in SpanIDAttribute.
func spans(service string, ids []string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "fault-"+service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("lookout/test/fault")
	tid := pcommon.TraceID(randomID())
	now := time.Now()
	for i, id := range ids {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("GET /items")
		sp.Attributes().PutStr(faultproxy.SpanIDAttribute, id)
		sp.SetTraceID(tid)
		var sid [8]byte
		binary.BigEndian.PutUint64(sid[:], uint64(i+1))
		copy(sid[:4], tid[:4])
		sp.SetSpanID(pcommon.SpanID(sid))
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(3 * time.Millisecond)))
		sp.Attributes().PutStr("http.request.method", "GET")
		sp.Attributes().PutInt("http.response.status_code", 200)
	}
	return td
}

// probeMetric is the gauge whose samples the tests number: its value is the sample's sequence
// number, its "run" attribute the run's ID.
const probeMetric = "fault_probe"

// firstSampleTime returns the time of the first of n probe samples, 1 ms apart and ending now,
// moved later when that is not after the last sample sent: batches sent back to back (the
// sender catching up, an answer within a millisecond) would otherwise overlap, and Prometheus
// drops without an error a sample no later than the one before it in the same request.
func (s *otlpSender) firstSampleTime(n int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := time.Now().Add(-time.Duration(n-1) * time.Millisecond).Truncate(time.Millisecond)
	if !first.After(s.lastSample) {
		first = s.lastSample.Add(time.Millisecond)
	}
	s.lastSample = first.Add(time.Duration(n-1) * time.Millisecond)
	return first
}

// TestFirstSampleTime checks that batches of probe samples sent back to back, well within a
// millisecond, never overlap: each starts after the last sample of the one before, on a whole
// millisecond (Prometheus' resolution).
func TestFirstSampleTime(t *testing.T) {
	var s otlpSender
	var last time.Time
	for i, n := range []int{1, 1, 10, 1, 10, 10} {
		first := s.firstSampleTime(n)
		require.True(t, first.After(last), "batch %d starts at %v, not after %v", i, first, last)
		require.Equal(t, first, first.Truncate(time.Millisecond))
		last = first.Add(time.Duration(n-1) * time.Millisecond)
	}
}

// samples is one data point per ID of the probe gauge, 1 ms apart from first.
func samples(run string, ids []string, first time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "fault-"+run)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(probeMetric)
	g := m.SetEmptyGauge()
	for i, id := range ids {
		var seq int64
		_, _ = fmt.Sscanf(id[strings.LastIndexByte(id, '-')+1:], "%d", &seq)
		dp := g.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("run", run)
		dp.SetTimestamp(pcommon.NewTimestampFromTime(first.Add(time.Duration(i) * time.Millisecond)))
		dp.SetDoubleValue(float64(seq))
	}
	return md
}
