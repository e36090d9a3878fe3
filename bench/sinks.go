package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	_ "go.opentelemetry.io/collector/config/configgrpc" // the gzip, zstd and snappy gRPC compressors, as in the collectors
	"google.golang.org/grpc"
)

// maxBody bounds what a sink reads from one request.
const maxBody = 256 << 20

// endpoint is one sink listener: it counts the bytes read from its connections (what the
// collector sent, HTTP or gRPC framing included), its requests, and the bad ones.
type endpoint struct {
	name     string
	addr     string
	wire     atomic.Int64
	requests atomic.Int64
	bad      atomic.Int64
	lastBad  atomic.Pointer[string]
}

func (e *endpoint) refuse(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	e.bad.Add(1)
	e.lastBad.Store(&msg)
	http.Error(w, msg, status)
}

// problem describes the endpoint's bad requests, if any.
func (e *endpoint) problem() error {
	n := e.bad.Load()
	if n == 0 {
		return nil
	}
	msg := ""
	if p := e.lastBad.Load(); p != nil {
		msg = *p
	}
	return fmt.Errorf("%s sink refused %d requests (last: %s)", e.name, n, msg)
}

func (e *endpoint) reset() {
	e.wire.Store(0)
	e.requests.Store(0)
	e.bad.Store(0)
	e.lastBad.Store(nil)
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sinks are the backends both collectors export to: a Loki push endpoint (protobuf+snappy),
// OTLP/HTTP for logs and for traces, OTLP/gRPC for traces, and Prometheus remote write (v1).
// Each signal has its own listener, so that the bytes on the wire are counted per signal.
type sinks struct {
	loki, otlpLogs, otlpTraces, otlpGRPC, rw *endpoint

	logs    tracker // log lines, by pod and line number
	spans   tracker // spans, by the generator's sequence number
	metrics rwStore

	servers []*http.Server
	grpc    *grpc.Server
	bufs    sync.Pool
}

func startSinks() (*sinks, error) {
	s := &sinks{
		loki:       &endpoint{name: "Loki push"},
		otlpLogs:   &endpoint{name: "OTLP/HTTP logs"},
		otlpTraces: &endpoint{name: "OTLP/HTTP traces"},
		otlpGRPC:   &endpoint{name: "OTLP/gRPC traces"},
		rw:         &endpoint{name: "remote write"},
	}
	s.metrics.targets = map[string]*targetSeen{}
	serve := func(e *endpoint, h http.Handler) error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("%s sink: listen: %w", e.name, err)
		}
		e.addr = l.Addr().String()
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		go func() { _ = srv.Serve(countingListener{Listener: l, n: &e.wire}) }()
		return nil
	}
	errs := errors.Join(
		serve(s.loki, http.HandlerFunc(s.serveLoki)),
		serve(s.otlpLogs, s.otlpHTTP(s.otlpLogs, s.addLogs)),
		serve(s.otlpTraces, s.otlpHTTP(s.otlpTraces, s.addSpans)),
		serve(s.rw, http.HandlerFunc(s.serveRemoteWrite)),
	)
	if errs != nil {
		s.close()
		return nil, errs
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.close()
		return nil, fmt.Errorf("%s sink: listen: %w", s.otlpGRPC.name, err)
	}
	s.otlpGRPC.addr = l.Addr().String()
	s.grpc = grpc.NewServer(
		grpc.ForceServerCodec(rawCodec{}),
		grpc.UnknownServiceHandler(s.serveGRPC),
		grpc.MaxRecvMsgSize(maxBody),
	)
	go func() { _ = s.grpc.Serve(countingListener{Listener: l, n: &s.otlpGRPC.wire}) }()
	return s, nil
}

func (s *sinks) close() {
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	if s.grpc != nil {
		s.grpc.Stop()
	}
}

// reset forgets everything received: call it between runs, once the previous collector has
// exited.
func (s *sinks) reset() {
	for _, e := range s.endpoints() {
		e.reset()
	}
	s.logs.reset()
	s.spans.reset()
	s.metrics.reset()
}

func (s *sinks) endpoints() []*endpoint {
	return []*endpoint{s.loki, s.otlpLogs, s.otlpTraces, s.otlpGRPC, s.rw}
}

// problems joins the endpoints' bad requests.
func (s *sinks) problems() error {
	var errs []error
	for _, e := range s.endpoints() {
		errs = append(errs, e.problem())
	}
	return errors.Join(errs...)
}

func (s *sinks) readBody(r *http.Request) (*bytes.Buffer, error) {
	buf, _ := s.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = &bytes.Buffer{}
	}
	buf.Reset()
	var body io.Reader = r.Body
	// Other encodings (snappy: Loki's and remote write's block format) are the caller's.
	switch strings.ToLower(r.Header.Get("Content-Encoding")) {
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			s.bufs.Put(buf)
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(r.Body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxBody))
		if err != nil {
			s.bufs.Put(buf)
			return nil, fmt.Errorf("zstd body: %w", err)
		}
		defer zr.Close()
		body = zr
	}
	n, err := buf.ReadFrom(io.LimitReader(body, maxBody+1))
	if err != nil {
		s.bufs.Put(buf)
		return nil, fmt.Errorf("read body: %w", err)
	}
	if n > maxBody {
		s.bufs.Put(buf)
		return nil, fmt.Errorf("body larger than %d bytes", maxBody)
	}
	return buf, nil
}

// serveLoki takes Loki pushes (protobuf, snappy block format) and records the lines.
func (s *sinks) serveLoki(w http.ResponseWriter, r *http.Request) {
	s.loki.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/loki/api/v1/push" {
		s.loki.refuse(w, http.StatusNotFound, "%s %s: want POST /loki/api/v1/push", r.Method, r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		s.loki.refuse(w, http.StatusUnsupportedMediaType, "Content-Type %q: this sink takes application/x-protobuf", ct)
		return
	}
	buf, err := s.readBody(r)
	if err != nil {
		s.loki.refuse(w, http.StatusBadRequest, "%v", err)
		return
	}
	defer s.bufs.Put(buf)
	raw, err := snappy.Decode(nil, buf.Bytes())
	if err != nil {
		s.loki.refuse(w, http.StatusBadRequest, "snappy: %v", err)
		return
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		s.loki.refuse(w, http.StatusBadRequest, "protobuf PushRequest: %v", err)
		return
	}
	var b batch
	for _, st := range req.Streams {
		for _, e := range st.Entries {
			addLine(&b, []byte(e.Line))
		}
	}
	s.logs.add(&b)
	w.WriteHeader(http.StatusNoContent)
}

func addLine(b *batch, body []byte) {
	if id, ok := parseLineID(body); ok {
		b.ids = append(b.ids, id)
	} else {
		b.foreign++
	}
}

func (s *sinks) addLogs(req []byte) error {
	var b batch
	err := walkLogBodies(req, func(body []byte) { addLine(&b, body) })
	if err != nil {
		return fmt.Errorf("ExportLogsServiceRequest: %w", err)
	}
	s.logs.add(&b)
	return nil
}

func (s *sinks) addSpans(req []byte) error {
	var b batch
	err := walkSpanIDs(req, func(id []byte) {
		if seq, ok := spanSeq(id); ok {
			b.ids = append(b.ids, itemID{seq: seq})
		} else {
			b.foreign++
		}
	})
	if err != nil {
		return fmt.Errorf("ExportTraceServiceRequest: %w", err)
	}
	s.spans.add(&b)
	return nil
}

// otlpHTTP serves one OTLP/HTTP signal (protobuf: plain, gzip'd or zstd'd).
func (s *sinks) otlpHTTP(e *endpoint, add func([]byte) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		if r.Method != http.MethodPost {
			e.refuse(w, http.StatusMethodNotAllowed, "%s: want POST", r.Method)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			e.refuse(w, http.StatusUnsupportedMediaType, "Content-Type %q: this sink takes application/x-protobuf", ct)
			return
		}
		buf, err := s.readBody(r)
		if err != nil {
			e.refuse(w, http.StatusBadRequest, "%v", err)
			return
		}
		defer s.bufs.Put(buf)
		if err := add(buf.Bytes()); err != nil {
			e.refuse(w, http.StatusBadRequest, "%v", err)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty Export*ServiceResponse: everything accepted
	})
}

// rawCodec hands the gRPC handler the request's bytes; an empty response is a valid (empty)
// Export*ServiceResponse.
type rawCodec struct{}

type rawMessage struct{ b []byte }

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*rawMessage).b, nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	m := v.(*rawMessage)
	m.b = append(m.b[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

const grpcTraceExport = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

func (s *sinks) serveGRPC(_ any, stream grpc.ServerStream) error {
	s.otlpGRPC.requests.Add(1)
	method, _ := grpc.MethodFromServerStream(stream)
	if method != grpcTraceExport {
		msg := fmt.Sprintf("method %s: this sink serves %s", method, grpcTraceExport)
		s.otlpGRPC.bad.Add(1)
		s.otlpGRPC.lastBad.Store(&msg)
		return errors.New(msg)
	}
	var in rawMessage
	if err := stream.RecvMsg(&in); err != nil {
		return err
	}
	if err := s.addSpans(in.b); err != nil {
		msg := err.Error()
		s.otlpGRPC.bad.Add(1)
		s.otlpGRPC.lastBad.Store(&msg)
		return err
	}
	return stream.SendMsg(&rawMessage{})
}

// serveRemoteWrite takes Prometheus remote write v1 (snappy'd prompb.WriteRequest).
func (s *sinks) serveRemoteWrite(w http.ResponseWriter, r *http.Request) {
	s.rw.requests.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/write" {
		s.rw.refuse(w, http.StatusNotFound, "%s %s: want POST /api/v1/write", r.Method, r.URL.Path)
		return
	}
	buf, err := s.readBody(r)
	if err != nil {
		s.rw.refuse(w, http.StatusBadRequest, "%v", err)
		return
	}
	defer s.bufs.Put(buf)
	raw, err := snappy.Decode(nil, buf.Bytes())
	if err != nil {
		s.rw.refuse(w, http.StatusBadRequest, "snappy: %v", err)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		s.rw.refuse(w, http.StatusBadRequest, "protobuf WriteRequest: %v", err)
		return
	}
	s.metrics.add(&req, time.Now())
	w.WriteHeader(http.StatusNoContent)
}

// rwStore counts remote-write samples; for the benchmark's own series (named bench_*, with a
// "series" label) it counts samples per target and scrape time stamp, so that a scrape that
// arrived in part is seen.
type rwStore struct {
	mu      sync.Mutex
	samples int64 // every sample, the collector's own series included
	bench   int64 // samples of bench_* series, stale markers excluded
	stale   int64
	targets map[string]*targetSeen // by the instance label
	delays  []time.Duration        // per target scrape: first arrival minus the scrape's time stamp
}

type targetSeen struct {
	byTS map[int64]int // scrape time stamp (ms) -> samples
}

func (m *rwStore) add(req *prompb.WriteRequest, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ts := range req.Timeseries {
		m.samples += int64(len(ts.Samples))
		var name, instance string
		var series bool
		for _, l := range ts.Labels {
			switch l.Name {
			case "__name__":
				name = l.Value
			case "instance":
				instance = l.Value
			case "series":
				series = true
			}
		}
		if !series || !strings.HasPrefix(name, benchMetricPrefix) {
			continue
		}
		t := m.targets[instance]
		if t == nil {
			t = &targetSeen{byTS: map[int64]int{}}
			m.targets[instance] = t
		}
		for _, smp := range ts.Samples {
			if value.IsStaleNaN(smp.Value) || math.IsNaN(smp.Value) {
				m.stale++
				continue
			}
			m.bench++
			if t.byTS[smp.Timestamp] == 0 {
				m.delays = append(m.delays, now.Sub(time.UnixMilli(smp.Timestamp)))
			}
			t.byTS[smp.Timestamp]++
		}
	}
}

func (m *rwStore) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples, m.bench, m.stale = 0, 0, 0
	m.targets = map[string]*targetSeen{}
	m.delays = nil
}

func (m *rwStore) benchSamples() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bench
}

// scrapes returns, per instance, how many scrapes arrived whole (want samples each), and how
// many arrived in part or more than once.
func (m *rwStore) scrapes(want int) (whole map[string]int, partial, extra int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	whole = map[string]int{}
	for inst, t := range m.targets {
		for _, n := range t.byTS {
			switch {
			case n == want:
				whole[inst]++
			case n < want:
				partial++
			default:
				whole[inst]++
				extra++
			}
		}
	}
	return whole, partial, extra
}

// delayStats returns the median and the largest delivery delay of a scrape.
func (m *rwStore) delayStats() (med, worst time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.delays) == 0 {
		return 0, 0
	}
	d := make([]int64, len(m.delays))
	for i, v := range m.delays {
		d[i] = int64(v)
		worst = max(worst, v)
	}
	return time.Duration(median(d)), worst
}
