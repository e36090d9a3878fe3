package faultproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func lineItems(_ *http.Request, body []byte) ([]string, error) { return Tokens(string(body)), nil }

func TestHTTPFaults(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer backend.Close()
	p, err := StartHTTP(HTTPOptions{Target: backend.URL, Items: lineItems})
	require.NoError(t, err)
	defer p.Close()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	post := func(body string) (*http.Response, error) {
		resp, err := client.Post(p.URL()+"/push?x=1", "text/plain", strings.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	resp, err := post("<<a>> <<b>>")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	p.Set(Fault{Kind: Status, Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond})
	resp, err = post("<<c>>")
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "2", resp.Header.Get("Retry-After"))

	p.Set(Fault{Kind: Refuse})
	client.CloseIdleConnections() // the proxy cut it; a new one is refused
	_, err = post("<<c>>")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)

	p.Set(Fault{Kind: Reset})
	_, err = post("<<c>>")
	require.Error(t, err)

	// A hanging request goes through once the fault is lifted.
	p.Set(Fault{Kind: Hang})
	go func() { time.Sleep(200 * time.Millisecond); p.Set(Fault{}) }()
	resp, err = post("<<c>> <<a>>")
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	st := p.Stats()
	require.Equal(t, map[string]int{"a": 2, "b": 1, "c": 1}, st.Delivered)
	require.Equal(t, 1, st.Duplicates())
	require.Equal(t, []string{"d"}, st.Missing([]string{"a", "d"}))
	require.Equal(t, map[int]int{204: 2, 429: 1, 0: 1}, st.ByStatus)
	// The body "<<c>>" reached the proxy twice (429, reset; the refused attempt never did): one gap.
	require.Len(t, st.Retries(), 1)
	require.Len(t, st.Retries()[0], 1)
	require.NoError(t, p.Err())
}

func TestHTTPAuthorization(t *testing.T) {
	var gotAuth string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
	}))
	defer backend.Close()
	p, err := StartHTTP(HTTPOptions{Target: backend.URL, Authorization: "Bearer s3cret"})
	require.NoError(t, err)
	defer p.Close()
	req, _ := http.NewRequest(http.MethodPost, p.URL(), nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, gotAuth, "the proxy does not pass credentials on")
	http.DefaultClient.CloseIdleConnections()
}

type traceBackend struct {
	ptraceotlp.UnimplementedGRPCServer
}

func (*traceBackend) Export(context.Context, ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	return ptraceotlp.NewExportResponse(), nil
}

func TestTracesFaults(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &traceBackend{})
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	p, err := StartTraces(TracesOptions{Target: l.Addr().String()})
	require.NoError(t, err)
	defer p.Close()
	conn, err := grpc.NewClient(p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	export := func(ids ...string) error {
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		for _, id := range ids {
			sp := ss.Spans().AppendEmpty()
			sp.SetName("op")
			sp.Attributes().PutStr(SpanIDAttribute, id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		return err
	}
	require.NoError(t, export("s1", "s2"))
	p.Set(Fault{Kind: Status, Status: http.StatusTooManyRequests, RetryAfter: time.Second})
	err = export("s3")
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	require.Len(t, status.Convert(err).Details(), 1, "RetryInfo")
	p.Set(Fault{Kind: Refuse})
	require.Equal(t, codes.Unavailable, status.Code(export("s3")))
	p.Set(Fault{})
	require.Eventually(t, func() bool { return export("s3") == nil }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, map[string]int{"s1": 1, "s2": 1, "s3": 1}, p.Stats().Delivered)
}
