package faultproxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	_ "go.opentelemetry.io/collector/config/configgrpc" // the gzip, zstd and snappy compressors, as the collector's receivers (Tempo's) take
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TracesOptions configures an OTLP/gRPC traces proxy.
type TracesOptions struct {
	// Target is the backend's OTLP/gRPC host:port (plain text).
	Target string
	// Items returns the IDs of the spans of a request; nil: SpanIDs.
	Items func(ptrace.Traces) []string
	// TLS, when set, makes the proxy serve TLS with it (set ClientAuth for mTLS).
	TLS *tls.Config
	// Authorization, when set, is the "authorization" metadata every call must carry; others get
	// Unauthenticated.
	Authorization string
	// Addr is the loopback address to listen on; empty: a free port.
	Addr string
}

// Traces is a running OTLP/gRPC traces proxy.
type Traces struct {
	ptraceotlp.UnimplementedGRPCServer
	opts   TracesOptions
	ln     *listener
	rec    *recorder
	conn   *grpc.ClientConn
	client ptraceotlp.GRPCClient

	mu      sync.Mutex
	srv     *grpc.Server
	serving sync.WaitGroup
	lastErr error
}

// StartTraces starts an OTLP/gRPC traces proxy; Close stops it.
func StartTraces(opts TracesOptions) (*Traces, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if opts.Items == nil {
		opts.Items = SpanIDs
	}
	// The listener stays plain: grpc does the TLS handshake itself (credentials.NewTLS).
	ln, err := newListener(addr, nil)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(opts.Target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		ln.close()
		return nil, fmt.Errorf("dial backend %s: %w", opts.Target, err)
	}
	p := &Traces{opts: opts, ln: ln, rec: newRecorder(), conn: conn, client: ptraceotlp.NewGRPCClient(conn)}
	p.serve()
	return p, nil
}

// SpanIDAttribute is the span attribute that holds a span's number in the fault suite: the
// spans' names are few, as a service's operations are (span metrics make a series of each).
const SpanIDAttribute = "fault.id"

// SpanIDs returns the SpanIDAttribute of every span.
func SpanIDs(td ptrace.Traces) []string {
	var out []string
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		ss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < ss.Len(); j++ {
			spans := ss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if id, ok := spans.At(k).Attributes().Get(SpanIDAttribute); ok {
					out = append(out, id.Str())
				}
			}
		}
	}
	return out
}

// Addr is the proxy's host:port.
func (p *Traces) Addr() string { return p.ln.addr }

func (p *Traces) serve() {
	l := p.ln.current()
	if l == nil {
		return
	}
	var opts []grpc.ServerOption
	if p.opts.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(p.opts.TLS)))
	}
	srv := grpc.NewServer(opts...)
	ptraceotlp.RegisterGRPCServer(srv, p)
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	p.serving.Add(1)
	go func() {
		defer p.serving.Done()
		_ = srv.Serve(l)
	}()
}

func (p *Traces) stopServer() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	p.ln.close()
	if srv != nil {
		srv.Stop()
	}
	p.serving.Wait()
}

// Set changes the proxy's behaviour and returns the previous one.
func (p *Traces) Set(f Fault) Fault {
	old := p.rec.set(f)
	switch {
	case f.Kind == Refuse && old.Kind != Refuse:
		p.stopServer()
	case f.Kind != Refuse && old.Kind == Refuse:
		if err := p.ln.open(); err == nil {
			p.serve()
		} else {
			p.mu.Lock()
			p.lastErr = err
			p.mu.Unlock()
		}
	}
	return old
}

// Fault returns the current behaviour.
func (p *Traces) Fault() Fault { f, _ := p.rec.get(); return f }

// Stats returns a copy of the counts so far.
func (p *Traces) Stats() Stats { return p.rec.stats() }

// Unique is the number of distinct spans the backend accepted so far.
func (p *Traces) Unique() int { return p.rec.uniqueCount() }

// Err reports a failure to listen again.
func (p *Traces) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Close stops the proxy.
func (p *Traces) Close() {
	p.stopServer()
	_ = p.conn.Close()
}

// grpcStatus maps an HTTP status to the gRPC code a backend would answer instead.
func grpcStatus(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return codes.Unavailable
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	}
	return codes.Internal
}

// httpOf maps a gRPC code back to an HTTP status, for the stats.
func httpOf(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.DeadlineExceeded, codes.Canceled:
		return 0
	}
	return http.StatusInternalServerError
}

// Export is the OTLP trace service.
func (p *Traces) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	body, _ := req.MarshalProto()
	if p.opts.Authorization != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get("authorization"); len(got) != 1 || got[0] != p.opts.Authorization {
			p.rec.record(body, http.StatusUnauthorized, Pass, nil)
			return ptraceotlp.NewExportResponse(), status.Error(codes.Unauthenticated, "missing or wrong credentials")
		}
	}
	for {
		f, changed := p.rec.get()
		switch f.Kind {
		case Refuse, Reset:
			p.rec.record(body, 0, f.Kind, nil)
			p.ln.cutConns()
			return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, "fault proxy: connection cut")
		case Status:
			p.rec.record(body, f.Status, f.Kind, nil)
			st := status.New(grpcStatus(f.Status), "fault proxy: "+f.String())
			if f.RetryAfter > 0 {
				if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(f.RetryAfter)}); err == nil {
					st = d
				}
			}
			return ptraceotlp.NewExportResponse(), st.Err()
		case Delay:
			select {
			case <-time.After(f.Delay):
			case <-ctx.Done():
				p.rec.record(body, 0, f.Kind, nil)
				return ptraceotlp.NewExportResponse(), ctx.Err()
			}
		case Hang:
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				p.rec.record(body, 0, f.Kind, nil)
				return ptraceotlp.NewExportResponse(), ctx.Err()
			}
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		if dl, ok := ctx.Deadline(); ok {
			fctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
		}
		resp, err := p.client.Export(fctx, req)
		cancel()
		if err != nil {
			p.rec.record(body, httpOf(status.Code(err)), f.Kind, nil)
			if strings.Contains(err.Error(), "connection refused") {
				return resp, status.Error(codes.Unavailable, "fault proxy: backend: "+err.Error())
			}
			return resp, err
		}
		p.rec.record(body, http.StatusOK, f.Kind, p.opts.Items(req.Traces()))
		return resp, nil
	}
}
