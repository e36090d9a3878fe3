package lokiexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/lookoutdev/lookout/exporters/loki/internal/metadata"
	"github.com/lookoutdev/lookout/exporters/loki/internal/metadatatest"
)

func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		msg        string
		want       outcome
	}{
		{"200", 200, "", "", outcome{kind: outcomeOK}},
		{"204 (Loki's success)", 204, "", "", outcome{kind: outcomeOK}},
		{"400 out of order", 400, "", "entry with timestamp 2026-11-25 ignored, reason: 'entry out of order' for stream: {app=\"a\"},\ntotal ignored: 3 out of 10", outcome{kind: outcomeDrop, reason: "out_of_order", ignored: 3}},
		{"400 too far behind", 400, "", "entry too far behind, oldest acceptable timestamp is: 2026-11-25T09:00:00Z", outcome{kind: outcomeDrop, reason: "out_of_order"}},
		{"400 too old", 400, "", "entry for stream '{app=\"a\"}' has timestamp too old: 2026-01-01T00:00:00Z, oldest acceptable timestamp is: 2026-11-18T10:00:00Z", outcome{kind: outcomeDrop, reason: "too_old"}},
		{"400 too new", 400, "", "entry for stream '{app=\"a\"}' has timestamp too new: 2027-01-01T00:00:00Z", outcome{kind: outcomeDrop, reason: "too_new"}},
		{"400 line too long", 400, "", "Max entry size '262144' bytes exceeded for stream '{app=\"a\"}' while adding an entry with length '300000' bytes", outcome{kind: outcomeDrop, reason: "line_too_long"}},
		{"400 rate limited by labels", 400, "", "Per stream rate limit exceeded (limit: 3MB/sec) while attempting to ingest for stream '{app=\"a\"}' totaling 4MB", outcome{kind: outcomeDrop, reason: "rate_limited"}},
		{"400 stream limit", 400, "", "Maximum active stream limit exceeded, reduce the number of active streams", outcome{kind: outcomeDrop, reason: "rate_limited"}},
		{"400 bad labels", 400, "", "error parsing labels '{app=}': parse error", outcome{kind: outcomeDrop, reason: "invalid_labels"}},
		{"400 other", 400, "", "stream includes structured metadata, but this feature is disallowed", outcome{kind: outcomeDrop, reason: "other"}},
		{"400 two ignored counts", 400, "", "total ignored: 2 out of 5 for stream a\ntotal ignored: 1 out of 5 for stream b", outcome{kind: outcomeDrop, reason: "other", ignored: 3}},
		{"401", 401, "", "no org id", outcome{kind: outcomeDrop, reason: "unauthorized"}},
		{"403", 403, "", "", outcome{kind: outcomeDrop, reason: "unauthorized"}},
		{"404", 404, "", "404 page not found", outcome{kind: outcomeDrop, reason: "not_found"}},
		{"405", 405, "", "", outcome{kind: outcomeDrop, reason: "rejected"}},
		{"408 retried", 408, "", "", outcome{kind: outcomeRetry}},
		{"413", 413, "", "request body too large", outcome{kind: outcomeDrop, reason: "too_large"}},
		{"429 retried", 429, "", "Ingestion rate limit exceeded", outcome{kind: outcomeRetry}},
		{"429 Retry-After seconds", 429, "7", "", outcome{kind: outcomeRetry, retryAfter: 7 * time.Second}},
		{"429 Retry-After date", 429, now.Add(90 * time.Second).Format(http.TimeFormat), "", outcome{kind: outcomeRetry, retryAfter: 90 * time.Second}},
		{"429 Retry-After garbage", 429, "soon", "", outcome{kind: outcomeRetry}},
		{"429 Retry-After in the past", 429, now.Add(-time.Minute).Format(http.TimeFormat), "", outcome{kind: outcomeRetry}},
		{"500", 500, "", "internal", outcome{kind: outcomeRetry}},
		{"502", 502, "", "", outcome{kind: outcomeRetry}},
		{"503 Retry-After", 503, "2", "", outcome{kind: outcomeRetry, retryAfter: 2 * time.Second}},
		{"504", 504, "", "", outcome{kind: outcomeRetry}},
		{"301", 301, "", "", outcome{kind: outcomeDrop, reason: "rejected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, classify(tt.status, tt.retryAfter, tt.msg, now))
		})
	}
}

// fakeLoki records pushes and answers with respond (200 when nil); it checks nothing itself:
// the tests assert on what it recorded.
type fakeLoki struct {
	mu      sync.Mutex
	pushes  []recordedPush
	respond func(p recordedPush, n int) (status int, header http.Header, body string)
}

type recordedPush struct {
	header http.Header
	req    push.PushRequest
	body   []byte
	at     time.Time
}

func (f *fakeLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p := recordedPush{header: r.Header.Clone(), body: body, at: time.Now()}
	if r.Header.Get("Content-Type") == "application/x-protobuf" {
		if raw, err := snappy.Decode(nil, body); err == nil {
			_ = p.req.Unmarshal(raw)
		}
	}
	f.mu.Lock()
	f.pushes = append(f.pushes, p)
	n := len(f.pushes)
	f.mu.Unlock()
	status, header, msg := http.StatusNoContent, http.Header{}, ""
	if f.respond != nil {
		status, header, msg = f.respond(p, n)
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func (f *fakeLoki) recorded() []recordedPush {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedPush(nil), f.pushes...)
}

// send does what exporterhelper does with ld: convert it, then push it.
func send(e *lokiExporter, ld plog.Logs) error {
	req, err := e.convert(context.Background(), ld)
	if err != nil {
		return err
	}
	return e.push(context.Background(), req)
}

func startExporter(t *testing.T, url string, tel *componenttest.Telemetry, logger *zap.Logger, change func(*Config)) *lokiExporter {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Client.Endpoint = url
	if change != nil {
		change(cfg)
	}
	require.NoError(t, cfg.Validate())
	set := exportertest.NewNopSettings(metadata.Type)
	if tel != nil {
		set = metadatatest.NewSettings(tel)
	}
	if logger != nil {
		set.Logger = logger
	}
	e, err := newExporter(cfg, set)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e
}

func TestPushRequestShape(t *testing.T) {
	for _, format := range []Format{FormatProtobuf, FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			loki := &fakeLoki{}
			srv := httptest.NewServer(loki)
			defer srv.Close()
			e := startExporter(t, srv.URL+"/loki/api/v1/push", nil, nil, func(c *Config) {
				c.Format = format
				c.Tenant.ID = "team-a"
			})
			ld := logsOf(res{attrs: map[string]any{"service.name": "s"}, recs: []rec{{line: "hello"}}})
			require.NoError(t, send(e, ld))
			got := loki.recorded()
			require.Len(t, got, 1)
			require.Equal(t, "team-a", got[0].header.Get("X-Scope-OrgID"))
			require.Contains(t, got[0].header.Get("User-Agent"), "loki exporter")
			require.Empty(t, got[0].header.Get("Content-Encoding"))
			if format == FormatProtobuf {
				require.Equal(t, "application/x-protobuf", got[0].header.Get("Content-Type"))
				require.Len(t, got[0].req.Streams, 1)
				require.Equal(t, "hello", got[0].req.Streams[0].Entries[0].Line)
			} else {
				require.Equal(t, "application/json", got[0].header.Get("Content-Type"))
				require.JSONEq(t, `{"streams":[{"stream":{"service_name":"s","level":"unknown"},"values":[["1795600800000000000","hello"]]}]}`, string(got[0].body))
			}
		})
	}
}

func TestPushOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    http.Header
		msg       string
		permanent bool
		throttle  string // expected in the error text when a Retry-After was honoured
		wantErr   string
	}{
		{name: "accepted", status: 204},
		{name: "400 permanent", status: 400, msg: "entry out of order", permanent: true, wantErr: "reason out_of_order"},
		{name: "401 permanent", status: 401, permanent: true, wantErr: "reason unauthorized"},
		{name: "429 retryable with Retry-After", status: 429, header: http.Header{"Retry-After": {"3"}}, throttle: "Throttle (3s)", wantErr: "HTTP 429"},
		{name: "500 retryable", status: 500, msg: "boom", wantErr: "HTTP 500: boom"},
		{name: "503 retryable", status: 503, wantErr: "HTTP 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeLoki{respond: func(recordedPush, int) (int, http.Header, string) { return tt.status, tt.header, tt.msg }})
			defer srv.Close()
			e := startExporter(t, srv.URL, nil, nil, nil)
			err := send(e, logsOf(res{attrs: map[string]any{"service.name": "s"}, recs: []rec{{line: "x"}}}))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.Equal(t, tt.permanent, consumererror.IsPermanent(err))
			if tt.throttle != "" {
				require.Contains(t, err.Error(), tt.throttle)
			} else {
				require.NotContains(t, err.Error(), "Throttle")
			}
		})
	}

	t.Run("connection refused is retryable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		e := startExporter(t, url, nil, nil, nil)
		err := send(e, logsOf(res{recs: []rec{{line: "x"}}}))
		require.Error(t, err)
		require.False(t, consumererror.IsPermanent(err))
	})
}

func TestPartialTenantFailureRetriesOnlyThatTenant(t *testing.T) {
	loki := &fakeLoki{respond: func(p recordedPush, _ int) (int, http.Header, string) {
		switch p.header.Get("X-Scope-OrgID") {
		case "b":
			return 503, http.Header{"Retry-After": {"1"}}, "ingester unavailable"
		case "c":
			return 400, nil, "entry out of order"
		}
		return 204, nil, ""
	}}
	srv := httptest.NewServer(loki)
	defer srv.Close()
	e := startExporter(t, srv.URL, nil, nil, func(c *Config) { c.Tenant.FromAttribute = "tenant" })
	ld := logsOf(
		res{attrs: map[string]any{"tenant": "a"}, recs: []rec{{line: "a"}}},
		res{attrs: map[string]any{"tenant": "b"}, recs: []rec{{line: "b1"}, {line: "b2"}}},
		res{attrs: map[string]any{"tenant": "c"}, recs: []rec{{line: "c"}}},
	)
	req, err := e.convert(context.Background(), ld)
	require.NoError(t, err)
	err = e.push(context.Background(), req)
	require.Error(t, err)
	require.False(t, consumererror.IsPermanent(err), "a retryable tenant makes the error retryable")
	require.Contains(t, err.Error(), "Throttle (1s)")
	left := req.(*pushRequest).OnError(err).(*pushRequest)
	require.Len(t, left.parts, 1, "only tenant b is retried")
	require.Equal(t, "b", left.parts[0].tenant)
	require.Equal(t, 2, left.ItemsCount())
	require.Len(t, loki.recorded(), 3, "one push per tenant")
}

func TestRefusalsAreCountedAndLoggedOnce(t *testing.T) {
	loki := &fakeLoki{respond: func(p recordedPush, _ int) (int, http.Header, string) {
		if p.header.Get("X-Scope-OrgID") == "old" {
			return 400, nil, "entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01\nuser 'old', total ignored: 2 out of 3 for stream: {a=\"b\"}"
		}
		return 204, nil, ""
	}}
	srv := httptest.NewServer(loki)
	defer srv.Close()
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	core, logs := observer.New(zapcore.DebugLevel)
	e := startExporter(t, srv.URL, tel, zap.New(core), func(c *Config) {
		c.Tenant.FromAttribute = "tenant"
		c.MaxLineSize = 4
	})
	ld := logsOf(
		res{attrs: map[string]any{"tenant": "old"}, recs: []rec{{line: "1"}, {line: "2"}, {line: "3"}}},
		res{attrs: map[string]any{"tenant": "ok"}, recs: []rec{{line: "long line"}}},
	)
	for range 2 {
		err := send(e, ld)
		require.True(t, consumererror.IsPermanent(err))
		require.ErrorContains(t, err, "loki refused 2 of 3 entries")
	}
	warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warns, 1, "logged once per reason")
	require.Equal(t, "too_old", warns[0].ContextMap()["reason"])
	require.Contains(t, warns[0].ContextMap()["loki_message"], "has timestamp too old")
	require.Len(t, logs.FilterLevelExact(zapcore.DebugLevel).All(), 1)

	exp := attribute.String("exporter", "loki")
	reason := attribute.NewSet(exp, attribute.String("reason", "too_old"))
	metadatatest.AssertEqualLokiExporterFailedEntries(t, tel, []metricdata.DataPoint[int64]{{Attributes: reason, Value: 4}},
		metricdatatest.IgnoreTimestamp())
	// 1 of 3 for tenant "old" and 1 for "ok", twice.
	metadatatest.AssertEqualLokiExporterSentEntries(t, tel, []metricdata.DataPoint[int64]{{Attributes: attribute.NewSet(exp), Value: 4}},
		metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualLokiExporterLongLines(t, tel, []metricdata.DataPoint[int64]{{Attributes: attribute.NewSet(exp, attribute.String("action", "truncated")), Value: 2}},
		metricdatatest.IgnoreTimestamp())
	sent, err := tel.GetMetric("otelcol_loki_exporter_sent_bytes")
	require.NoError(t, err)
	var okBytes int64
	for _, p := range loki.recorded() {
		if p.header.Get("X-Scope-OrgID") == "ok" {
			okBytes += int64(len(p.body))
		}
	}
	require.Equal(t, okBytes, sent.Data.(metricdata.Sum[int64]).DataPoints[0].Value, "bytes of accepted pushes only")
	dur, err := tel.GetMetric("otelcol_loki_exporter_push_duration")
	require.NoError(t, err)
	counts := map[string]uint64{}
	for _, dp := range dur.Data.(metricdata.Histogram[float64]).DataPoints {
		code, _ := dp.Attributes.Value("status_code")
		counts[code.AsString()] = dp.Count
	}
	require.Equal(t, map[string]uint64{"204": 2, "400": 2}, counts)
}

// TestExporterhelperRetriesHonouringRetryAfter runs the exporter built by the factory, with its
// queue and batching, against a server that throttles the first push.
func TestExporterhelperRetriesHonouringRetryAfter(t *testing.T) {
	loki := &fakeLoki{respond: func(_ recordedPush, n int) (int, http.Header, string) {
		if n == 1 {
			return 429, http.Header{"Retry-After": {"1"}}, "Ingestion rate limit exceeded"
		}
		return 204, nil, ""
	}}
	srv := httptest.NewServer(loki)
	defer srv.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.Client.Endpoint = srv.URL
	cfg.Retry.InitialInterval = 10 * time.Millisecond
	cfg.Queue.Get().Batch.Get().FlushTimeout = 10 * time.Millisecond
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(res{attrs: map[string]any{"service.name": "s"}, recs: []rec{{line: "a"}, {line: "b", at: 1}}})))
	require.Eventually(t, func() bool { return len(loki.recorded()) >= 2 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))
	got := loki.recorded()
	require.Len(t, got, 2)
	require.Equal(t, got[0].req, got[1].req, "the retry resends the same entries")
	require.Equal(t, []string{"a", "b"}, lines(got[1].req.Streams[0]))
	require.GreaterOrEqual(t, got[1].at.Sub(got[0].at), 900*time.Millisecond,
		"the retry waited for Retry-After (1s), not the 10ms backoff")
}
