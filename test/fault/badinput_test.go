package fault

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// otlpHTTPBodyLimit is confighttp's default max_request_body_size (20 MiB), which the built-in
// configs keep: the OTLP/HTTP receiver refuses a larger body, compressed or not.
const otlpHTTPBodyLimit = 20 << 20

// otlpGRPCMessageLimit is configgrpc's default max_recv_msg_size_mib (4 MiB).
const otlpGRPCMessageLimit = 4 << 20

// badRequest is one malformed request and what the agent must answer.
type badRequest struct {
	name string
	// send sends it; it returns the HTTP status or gRPC code the agent answered, as text.
	send func(ctx context.Context) (string, error)
	// want are the acceptable answers.
	want []string
}

// TestBadInput feeds the real binary's OTLP receivers malformed requests — undecodable protobuf
// and JSON, a body over the receiver's limit (plain and as a gzip bomb), a body that claims gzip
// and is not, content types it does not take, a GET, garbage bytes on the gRPC port, an
// undecodable and an oversized gRPC message — each followed by good requests (logs, spans and
// samples over OTLP/HTTP). Each bad request gets a 4xx (or a gRPC error that an OTLP client does
// not retry), the process stays up and healthy, and every good request reaches its backend; the
// steady load (pod logs, OTLP/gRPC spans and samples) goes on meanwhile and loses nothing.
func TestBadInput(t *testing.T) {
	skipShort(t)
	sc := currentScale()
	r := newRig(t, rigOptions{})
	r.agent.start()
	r.startLoad(steadyRate(sc))
	r.waitFlowing()

	base := "http://" + r.agent.http
	post := func(path, contentType, encoding string, body []byte) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			return httpStatus(ctx, http.MethodPost, base+path, contentType, encoding, body)
		}
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		return buf.Bytes()
	}
	garbage := []byte("\x0a\xff\xff\xff\xff\x0fnot a protobuf message \x00\x01\x02")
	huge := bytes.Repeat([]byte{0x0a}, otlpHTTPBodyLimit+(1<<20)) // a length prefix, over and over
	bomb := gz(make([]byte, 3*otlpHTTPBodyLimit))                 // 60 MiB of zeros, 60 KiB gzipped
	goodTraces, _ := ptraceotlp.NewExportRequestFromTraces(spans("fault-"+r.id+"-http", []string{"x"})).MarshalProto()

	cases := []badRequest{
		{name: "OTLP/HTTP traces: malformed protobuf", send: post("/v1/traces", "application/x-protobuf", "", garbage), want: []string{"400"}},
		{name: "OTLP/HTTP logs: malformed JSON", send: post("/v1/logs", "application/json", "", []byte(`{"resourceLogs": [{"scopeLogs": [`)), want: []string{"400"}},
		{name: "OTLP/HTTP metrics: JSON of the wrong shape", send: post("/v1/metrics", "application/json", "", []byte(`{"resourceMetrics": "none"}`)), want: []string{"400"}},
		{name: "OTLP/HTTP logs: body over the 20 MiB limit", send: post("/v1/logs", "application/x-protobuf", "", huge), want: []string{"400", "413"}},
		{name: "OTLP/HTTP traces: gzip bomb (60 MiB unzipped)", send: post("/v1/traces", "application/x-protobuf", "gzip", bomb), want: []string{"400", "413"}},
		{name: "OTLP/HTTP traces: Content-Encoding gzip, body not gzip", send: post("/v1/traces", "application/x-protobuf", "gzip", goodTraces), want: []string{"400"}},
		{name: "OTLP/HTTP traces: Content-Type text/plain", send: post("/v1/traces", "text/plain", "", goodTraces), want: []string{"415"}},
		{name: "OTLP/HTTP logs: no Content-Type", send: post("/v1/logs", "", "", garbage), want: []string{"415"}},
		{name: "OTLP/HTTP traces: GET", send: func(ctx context.Context) (string, error) {
			return httpStatus(ctx, http.MethodGet, base+"/v1/traces", "", "", nil)
		}, want: []string{"405"}},
		{name: "OTLP/gRPC: garbage bytes on the port", send: func(ctx context.Context) (string, error) {
			return rawGarbage(ctx, r.agent.grpc)
		}, want: []string{"connection closed"}},
		{name: "OTLP/gRPC traces: undecodable message", send: func(ctx context.Context) (string, error) {
			return grpcRaw(ctx, r.agent.grpc, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", garbage)
		}, want: []string{codes.Internal.String(), codes.InvalidArgument.String()}},
		{name: "OTLP/gRPC logs: message over the 4 MiB limit", send: func(ctx context.Context) (string, error) {
			return grpcRaw(ctx, r.agent.grpc, "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
				bytes.Repeat([]byte{0x0a, 0x00}, otlpGRPCMessageLimit))
		}, want: []string{codes.ResourceExhausted.String()}},
	}

	good := newGoodSender(r, base)
	good.send(t) // before any bad one: the good path works
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		got, err := c.send(ctx)
		cancel()
		require.NoError(t, err, c.name)
		t.Logf("%s: %s", c.name, got)
		require.Contains(t, c.want, got, "%s: answered %s", c.name, got)
		require.False(t, r.agent.process().Exited(), "%s: the agent exited:\n%s", c.name, tail(r.agent.output(), 50))
		code, err := httpStatus(context.Background(), http.MethodGet, r.agent.healthURL(), "", "", nil)
		require.NoError(t, err, "%s: health check", c.name)
		require.Equal(t, "200", code, "%s: health check", c.name)
		good.send(t)
	}
	time.Sleep(2 * time.Second)
	r.stopLoad()

	// Every good request between the bad ones arrives.
	lookouttest.Eventually(t, sc.drainTimeout, func() error {
		var errs []string
		if m := r.loki.Stats().Missing(good.logs); len(m) > 0 {
			errs = append(errs, fmt.Sprintf("%d of %d OTLP/HTTP log records not delivered", len(m), len(good.logs)))
		}
		if m := r.tempo.Stats().Missing(good.spans); len(m) > 0 {
			errs = append(errs, fmt.Sprintf("%d of %d OTLP/HTTP spans not delivered", len(m), len(good.spans)))
		}
		if m := r.rw.Stats().Missing(good.samples); len(m) > 0 {
			errs = append(errs, fmt.Sprintf("%d of %d OTLP/HTTP samples not delivered", len(m), len(good.samples)))
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	})
	require.NotContains(t, r.agent.output(), "panic:", "the agent panicked")

	note := fmt.Sprintf("%d bad requests (HTTP: bad protobuf/JSON, >20 MiB, gzip bomb, bad gzip, wrong/no content type, GET; gRPC: garbage bytes, bad and >4 MiB message): all refused, agent up and healthy; %d good OTLP/HTTP requests between them all delivered",
		len(cases), len(good.logs))
	recovery := r.waitDelivered(time.Now(), sc.drainTimeout, allSignals...)
	r.record(badInputScenario(), recovery, map[signal]string{sigLogs: note, sigTraces: note, sigMetrics: note}, allNoLoss, 30*time.Second)
}

// httpStatus sends one request and returns the status code as text; the body is read and dropped.
func httpStatus(ctx context.Context, method, url, contentType, encoding string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return fmt.Sprint(resp.StatusCode), nil
}

// rawGarbage writes bytes that are not HTTP/2 to the gRPC port and reports whether the server
// closed the connection.
func rawGarbage(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := c.Write(bytes.Repeat([]byte("GARBAGE\x00\xff"), 1000)); err != nil {
		return "connection closed", nil // closed while we wrote: the answer we want
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return "still open after 10 s", nil
	}
	return "connection closed", nil
}

// rawCodec sends a []byte as the message, so that a test can put any bytes in a gRPC call.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return nil, fmt.Errorf("rawCodec: %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	if b, ok := v.(*[]byte); ok {
		*b = append((*b)[:0], data...)
		return nil
	}
	return fmt.Errorf("rawCodec: %T", v)
}

func (rawCodec) Name() string { return "proto" } // the content subtype the server decodes with

// grpcRaw calls method with payload as the raw message and returns the status code's name.
func grpcRaw(ctx context.Context, addr, method string, payload []byte) (string, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	var reply []byte
	err = conn.Invoke(ctx, method, payload, &reply)
	return status.Code(err).String(), nil
}

// goodSender sends numbered logs, spans and samples over OTLP/HTTP (protobuf), one of each per
// call, and remembers what the agent accepted.
type goodSender struct {
	r                    *rig
	base                 string
	n                    int
	logs, spans, samples []string
}

func newGoodSender(r *rig, base string) *goodSender { return &goodSender{r: r, base: base} }

func (g *goodSender) send(t *testing.T) {
	t.Helper()
	g.n++
	run := g.r.id + "h" // its own run label: these samples do not mix with the load's
	logID := fmt.Sprintf("%s-hl-%07d", g.r.id, g.n)
	spanID := fmt.Sprintf("%s-hs-%07d", g.r.id, g.n)
	sampleID := faultproxy.SampleID(run, float64(g.n))

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "fault-"+g.r.id+"-http")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("<<" + logID + ">> " + logPayload)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	logsBody, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	tracesBody, err := ptraceotlp.NewExportRequestFromTraces(spans(g.r.id+"-http", []string{spanID})).MarshalProto()
	require.NoError(t, err)
	metricsBody, err := pmetricotlp.NewExportRequestFromMetrics(samples(run, []string{sampleID}, time.Now())).MarshalProto()
	require.NoError(t, err)

	for _, req := range []struct {
		path string
		body []byte
		ids  *[]string
		id   string
	}{{"/v1/logs", logsBody, &g.logs, logID}, {"/v1/traces", tracesBody, &g.spans, spanID}, {"/v1/metrics", metricsBody, &g.samples, sampleID}} {
		code, err := httpStatus(context.Background(), http.MethodPost, g.base+req.path, "application/x-protobuf", "", req.body)
		require.NoError(t, err, req.path)
		require.Equal(t, "200", code, "a good request to %s", req.path)
		*req.ids = append(*req.ids, req.id)
	}
}
