package lookouttest

import (
	"context"
	"net"
	"sync"
	"testing"

	_ "go.opentelemetry.io/collector/config/configgrpc" // gzip, zstd and snappy, as the collector's receivers (Tempo's) take
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

// OTLPSink is an OTLP/gRPC server that keeps everything it receives, for tests to look at. It
// takes the compressions that the collector's OTLP receiver (Tempo's) takes.
type OTLPSink struct {
	Addr string

	mu      sync.Mutex
	traces  []ptrace.Traces
	metrics []pmetric.Metrics
	logs    []plog.Logs
}

// StartOTLPSink starts a sink on a free loopback port; it stops when the test ends.
func StartOTLPSink(t testing.TB) *OTLPSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &OTLPSink{Addr: l.Addr().String()}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &traceServer{s: s})
	pmetricotlp.RegisterGRPCServer(srv, &metricServer{s: s})
	plogotlp.RegisterGRPCServer(srv, &logServer{s: s})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s
}

// Traces returns a copy of what the sink received so far.
func (s *OTLPSink) Traces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces...)
}

// Metrics returns a copy of what the sink received so far.
func (s *OTLPSink) Metrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.metrics...)
}

// Logs returns a copy of what the sink received so far.
func (s *OTLPSink) Logs() []plog.Logs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]plog.Logs(nil), s.logs...)
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	s *OTLPSink
}

func (ts *traceServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	ts.s.mu.Lock()
	ts.s.traces = append(ts.s.traces, td)
	ts.s.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}

type metricServer struct {
	pmetricotlp.UnimplementedGRPCServer
	s *OTLPSink
}

func (ms *metricServer) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md := pmetric.NewMetrics()
	req.Metrics().CopyTo(md)
	ms.s.mu.Lock()
	ms.s.metrics = append(ms.s.metrics, md)
	ms.s.mu.Unlock()
	return pmetricotlp.NewExportResponse(), nil
}

type logServer struct {
	plogotlp.UnimplementedGRPCServer
	s *OTLPSink
}

func (ls *logServer) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	ld := plog.NewLogs()
	req.Logs().CopyTo(ld)
	ls.s.mu.Lock()
	ls.s.logs = append(ls.s.logs, ld)
	ls.s.mu.Unlock()
	return plogotlp.NewExportResponse(), nil
}
