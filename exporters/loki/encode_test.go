package lokiexporter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type rec struct {
	line     string
	at       time.Duration // after t0
	severity plog.SeverityNumber
	attrs    map[string]any
	traceID  pcommon.TraceID
	spanID   pcommon.SpanID
}

// logsOf builds plog.Logs with one resource per element of resources, each with its records.
func logsOf(resources ...struct {
	attrs map[string]any
	recs  []rec
}) plog.Logs {
	ld := plog.NewLogs()
	for _, r := range resources {
		rl := ld.ResourceLogs().AppendEmpty()
		_ = rl.Resource().Attributes().FromRaw(r.attrs)
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for _, x := range r.recs {
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(x.line)
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(x.at)))
			lr.SetSeverityNumber(x.severity)
			if x.attrs != nil {
				_ = lr.Attributes().FromRaw(x.attrs)
			}
			lr.SetTraceID(x.traceID)
			lr.SetSpanID(x.spanID)
		}
	}
	return ld
}

type res = struct {
	attrs map[string]any
	recs  []rec
}

func defaultEncoder(t *testing.T, change func(*Config)) *encoder {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Client.Endpoint = "http://127.0.0.1:1/loki/api/v1/push"
	if change != nil {
		change(cfg)
	}
	require.NoError(t, cfg.Validate())
	return newEncoder(cfg)
}

func metaMap(ls push.LabelsAdapter) map[string]string {
	m := map[string]string{}
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

// decode is tb's push request as Loki reads it: marshalled by the encoder, unmarshalled by the
// library.
func decode(t testing.TB, tb *tenantBatch) push.PushRequest {
	t.Helper()
	var req push.PushRequest
	require.NoError(t, req.Unmarshal(rawRequest(t, tb)))
	return req
}

// rawRequest is tb's push request as marshalled by the encoder: its body, decompressed.
func rawRequest(t testing.TB, tb *tenantBatch) []byte {
	t.Helper()
	var w bodyWriter
	size := tb.marshal(&w)
	raw, err := snappy.Decode(nil, w.body)
	require.NoError(t, err)
	require.Len(t, raw, size, "the size marshal returns")
	return raw
}

func lines(s push.Stream) []string {
	var out []string
	for _, e := range s.Entries {
		out = append(out, e.Line)
	}
	return out
}

func TestDefaultLabelsAndMetadata(t *testing.T) {
	k8s := map[string]any{
		"service.name":       "checkout",
		"k8s.namespace.name": "shop",
		"k8s.container.name": "app",
		"k8s.cluster.name":   "prod-eu",
		"k8s.pod.name":       "checkout-7d9f-abcde",
		"k8s.pod.uid":        "0b8e-11",
		"k8s.node.name":      "node-3",
		"host.arch":          "amd64",
	}
	tid := pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	sid := pcommon.SpanID{0xa, 0xb, 0xc, 0xd, 1, 2, 3, 4}
	ld := logsOf(res{attrs: k8s, recs: []rec{
		{line: "paid", severity: plog.SeverityNumberInfo, attrs: map[string]any{"http.status_code": 200, "user.id": "u1"}, traceID: tid, spanID: sid},
		{line: "declined", severity: plog.SeverityNumberError2, at: time.Millisecond},
		{line: "no severity", at: 2 * time.Millisecond},
	}})

	batches, stats := defaultEncoder(t, nil).group(ld)
	require.Zero(t, stats)
	require.Len(t, batches, 1)
	require.Empty(t, batches[0].tenant)
	req := decode(t, batches[0])
	require.Equal(t, []string{
		`{cluster="prod-eu", container="app", level="error", namespace="shop", service_name="checkout"}`,
		`{cluster="prod-eu", container="app", level="info", namespace="shop", service_name="checkout"}`,
		`{cluster="prod-eu", container="app", level="unknown", namespace="shop", service_name="checkout"}`,
	}, []string{req.Streams[0].Labels, req.Streams[1].Labels, req.Streams[2].Labels})

	info := req.Streams[1].Entries[0]
	require.Equal(t, "paid", info.Line)
	require.Equal(t, t0, info.Timestamp.UTC())
	// The pod, node and everything else that is not a label is structured metadata, with
	// sanitized names; trace and span IDs are hex, as Grafana's trace links expect.
	require.Equal(t, map[string]string{
		"k8s_pod_name":     "checkout-7d9f-abcde",
		"k8s_pod_uid":      "0b8e-11",
		"k8s_node_name":    "node-3",
		"host_arch":        "amd64",
		"http_status_code": "200",
		"user_id":          "u1",
		"trace_id":         "0102030405060708090a0b0c0d0e0f10",
		"span_id":          "0a0b0c0d01020304",
	}, metaMap(info.StructuredMetadata))
	require.NotContains(t, metaMap(req.Streams[0].Entries[0].StructuredMetadata), "trace_id")
}

func TestLabelMapping(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		res    map[string]any
		rec    rec
		labels string
		meta   map[string]string
	}{
		{
			name:   "record attribute label, default name sanitized",
			change: func(c *Config) { c.Labels.RecordAttributes = []AttributeLabel{{Attribute: "http.method"}} },
			res:    map[string]any{"service.name": "api"},
			rec:    rec{line: "x", severity: plog.SeverityNumberWarn, attrs: map[string]any{"http.method": "GET", "path": "/"}},
			labels: `{http_method="GET", level="warn", service_name="api"}`,
			meta:   map[string]string{"path": "/"},
		},
		{
			name:   "level off goes to metadata",
			change: func(c *Config) { c.Labels.Level = false },
			res:    map[string]any{"k8s.namespace.name": "ns"},
			rec:    rec{line: "x", severity: plog.SeverityNumberDebug},
			labels: `{namespace="ns"}`,
			meta:   map[string]string{"level": "debug"},
		},
		{
			name:   "no label at all gets the fallback stream",
			change: func(c *Config) { c.Labels.Level = false },
			res:    map[string]any{"other": "v"},
			rec:    rec{line: "x"},
			labels: `{service_name="unknown_service"}`,
			meta:   map[string]string{"other": "v"},
		},
		{
			name:   "empty values are no labels; quotes are escaped",
			res:    map[string]any{"service.name": `say "hi"`, "k8s.namespace.name": ""},
			rec:    rec{line: "x", severity: plog.SeverityNumberFatal},
			labels: `{level="fatal", service_name="say \"hi\""}`,
			meta:   map[string]string{},
		},
		{
			name: "pod as a label when asked",
			change: func(c *Config) {
				c.Labels.ResourceAttributes = []AttributeLabel{{Attribute: "k8s.pod.name", Label: "pod"}}
			},
			res:    map[string]any{"k8s.pod.name": "p-1", "service.name": "s"},
			rec:    rec{line: "x", severity: plog.SeverityNumberTrace},
			labels: `{level="trace", pod="p-1"}`,
			meta:   map[string]string{"service_name": "s"},
		},
		{
			name:   "record attribute overrides resource attribute in metadata",
			res:    map[string]any{"version": "1", "service.name": "s"},
			rec:    rec{line: "x", attrs: map[string]any{"version": "2"}},
			labels: `{level="unknown", service_name="s"}`,
			meta:   map[string]string{"version": "2"},
		},
		{
			name:   "metadata off",
			change: func(c *Config) { c.StructuredMetadata.Enabled = false },
			res:    map[string]any{"service.name": "s", "k8s.pod.name": "p"},
			rec:    rec{line: "x", traceID: pcommon.TraceID{1}},
			labels: `{level="unknown", service_name="s"}`,
			meta:   map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batches, _ := defaultEncoder(t, tt.change).group(logsOf(res{attrs: tt.res, recs: []rec{tt.rec}}))
			require.Len(t, batches, 1)
			req := decode(t, batches[0])
			require.Len(t, req.Streams, 1)
			require.Equal(t, tt.labels, req.Streams[0].Labels)
			require.Equal(t, tt.meta, metaMap(req.Streams[0].Entries[0].StructuredMetadata))
		})
	}
}

func TestSanitizeLabelName(t *testing.T) {
	tests := map[string]string{
		"service.name":   "service_name",
		"k8s.pod.name":   "k8s_pod_name",
		"already_ok":     "already_ok",
		"CamelCase9":     "CamelCase9",
		"1st":            "_1st",
		"__reserved":     "_reserved",
		"___x.y":         "_x_y",
		"http-method":    "http_method",
		"ünïcode":        "_n_code",
		"a b/c":          "a_b_c",
		"":               "",
		".":              "_",
		"_single":        "_single",
		"9":              "_9",
		"name__internal": "name__internal",
	}
	for in, want := range tests {
		got := sanitizeLabelName(in)
		require.Equal(t, want, got, "sanitizeLabelName(%q)", in)
		if got != "" {
			require.True(t, validLabelName(got), "%q is not a valid label name", got)
		}
	}
	require.False(t, validLabelName("__name__"))
	require.False(t, validLabelName("a.b"))
	require.False(t, validLabelName("9a"))
}

func TestSeverityLevel(t *testing.T) {
	tests := []struct {
		n    plog.SeverityNumber
		text string
		want string
	}{
		{plog.SeverityNumberTrace2, "", "trace"},
		{plog.SeverityNumberDebug4, "", "debug"},
		{plog.SeverityNumberInfo, "WARN", "info"}, // the number wins
		{plog.SeverityNumberWarn3, "", "warn"},
		{plog.SeverityNumberError, "", "error"},
		{plog.SeverityNumberFatal4, "", "fatal"},
		{plog.SeverityNumberUnspecified, "WARNING", "warn"},
		{plog.SeverityNumberUnspecified, " err ", "error"},
		{plog.SeverityNumberUnspecified, "critical", "fatal"},
		{plog.SeverityNumberUnspecified, "verbose", "unknown"},
		{plog.SeverityNumberUnspecified, "", "unknown"},
	}
	for _, tt := range tests {
		lr := plog.NewLogRecord()
		lr.SetSeverityNumber(tt.n)
		lr.SetSeverityText(tt.text)
		require.Equal(t, tt.want, severityLevel(lr), "%v %q", tt.n, tt.text)
	}
}

func TestGroupingAndOrdering(t *testing.T) {
	a := map[string]any{"service.name": "a"}
	b := map[string]any{"service.name": "b"}
	// Two resources of service a (they share one stream), one of b; records out of time order,
	// two with the same timestamp (their order is kept).
	ld := logsOf(
		res{attrs: a, recs: []rec{{line: "a3", at: 3}, {line: "a1", at: 1}}},
		res{attrs: b, recs: []rec{{line: "b2", at: 2}, {line: "b1", at: 1}}},
		res{attrs: a, recs: []rec{{line: "a2-first", at: 2}, {line: "a2-second", at: 2}, {line: "a0", at: 0}}},
	)
	batches, _ := defaultEncoder(t, func(c *Config) { c.Labels.Level = false }).group(ld)
	require.Len(t, batches, 1)
	require.Equal(t, 7, batches[0].entries)
	req := decode(t, batches[0])
	require.Len(t, req.Streams, 2)
	require.Equal(t, `{service_name="a"}`, req.Streams[0].Labels)
	require.Equal(t, []string{"a0", "a1", "a2-first", "a2-second", "a3"}, lines(req.Streams[0]))
	require.Equal(t, `{service_name="b"}`, req.Streams[1].Labels)
	require.Equal(t, []string{"b1", "b2"}, lines(req.Streams[1]))
}

func TestTimestampFallback(t *testing.T) {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	observed := lrs.AppendEmpty()
	observed.Body().SetStr("observed")
	observed.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0))
	none := lrs.AppendEmpty()
	none.Body().SetStr("none")
	enc := defaultEncoder(t, func(c *Config) { c.Labels.Level = false })
	enc.now = func() time.Time { return t0.Add(time.Hour) }
	batches, _ := enc.group(ld)
	req := decode(t, batches[0])
	require.Equal(t, []string{"observed", "none"}, lines(req.Streams[0]))
	require.Equal(t, t0, req.Streams[0].Entries[0].Timestamp.UTC())
	require.Equal(t, t0.Add(time.Hour), req.Streams[0].Entries[1].Timestamp.UTC())
}

func TestTenantSplit(t *testing.T) {
	ld := logsOf(
		res{attrs: map[string]any{"service.name": "a", "loki.tenant": "team-a"}, recs: []rec{{line: "a"}}},
		res{attrs: map[string]any{"service.name": "b"}, recs: []rec{{line: "b"}}},
		res{attrs: map[string]any{"service.name": "c", "loki.tenant": "team-c"}, recs: []rec{{line: "c1"}, {line: "c2", at: 1}}},
		res{attrs: map[string]any{"service.name": "a2", "loki.tenant": "team-a"}, recs: []rec{{line: "a2"}}},
	)
	enc := defaultEncoder(t, func(c *Config) {
		c.Tenant = TenantConfig{FromAttribute: "loki.tenant", ID: "default"}
		c.Labels.Level = false
	})
	batches, _ := enc.group(ld)
	require.Len(t, batches, 3)
	got := map[string][]string{}
	for _, tb := range batches {
		for _, s := range decode(t, tb).Streams {
			got[tb.tenant] = append(got[tb.tenant], lines(s)...)
			// The tenant attribute is routing, not metadata.
			for _, e := range s.Entries {
				require.NotContains(t, metaMap(e.StructuredMetadata), "loki_tenant")
			}
		}
	}
	require.Equal(t, map[string][]string{"default": {"b"}, "team-a": {"a", "a2"}, "team-c": {"c1", "c2"}}, got)
	require.Equal(t, []string{"default", "team-a", "team-c"}, []string{batches[0].tenant, batches[1].tenant, batches[2].tenant})
	require.Equal(t, 2, batches[1].entries)
	require.Equal(t, 2, batches[2].entries)

	// Without a static ID, resources without the attribute get no tenant (no header).
	enc = defaultEncoder(t, func(c *Config) { c.Tenant = TenantConfig{FromAttribute: "loki.tenant"} })
	batches, _ = enc.group(ld)
	require.Equal(t, "", batches[0].tenant)
}

func TestLongLines(t *testing.T) {
	long := strings.Repeat("é", 10) // 20 bytes
	ld := logsOf(res{attrs: map[string]any{"service.name": "s"}, recs: []rec{{line: "short"}, {line: long, at: 1}}})

	batches, stats := defaultEncoder(t, func(c *Config) { c.MaxLineSize = 9 }).group(ld)
	require.Equal(t, encodeStats{truncated: 1}, stats)
	req := decode(t, batches[0])
	// Cut at 9 bytes would split an "é": the cut backs off to 8 bytes.
	require.Equal(t, []string{"short", "éééé"}, lines(req.Streams[0]))

	batches, stats = defaultEncoder(t, func(c *Config) { c.MaxLineSize = 9; c.LongLines = LongLineDrop }).group(ld)
	require.Equal(t, encodeStats{dropped: 1}, stats)
	require.Equal(t, 1, batches[0].entries)
	req = decode(t, batches[0])
	require.Equal(t, []string{"short"}, lines(req.Streams[0]))

	_, stats = defaultEncoder(t, func(c *Config) { c.MaxLineSize = 0 }).group(ld)
	require.Zero(t, stats, "0 means no limit")

	require.Equal(t, "ab", truncateUTF8("ab", 5))
	require.Equal(t, "", truncateUTF8("é", 1))
}

func TestStructuredBodies(t *testing.T) {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	m := lrs.AppendEmpty()
	m.Body().SetEmptyMap().PutStr("msg", "hi")
	m.Body().Map().PutInt("n", 1)
	i := lrs.AppendEmpty()
	i.Body().SetInt(42)
	lrs.AppendEmpty() // empty body
	batches, _ := defaultEncoder(t, nil).group(ld)
	require.Equal(t, []string{`{"msg":"hi","n":1}`, "42", ""}, lines(decode(t, batches[0]).Streams[0]))
}

func TestEncodeProtobufRoundTrip(t *testing.T) {
	ld := logsOf(res{attrs: map[string]any{"service.name": "s", "k8s.pod.name": "p"}, recs: []rec{
		{line: "one", severity: plog.SeverityNumberInfo, traceID: pcommon.TraceID{0xff}},
		{line: "two", at: time.Second, severity: plog.SeverityNumberInfo},
	}})
	enc := defaultEncoder(t, nil)
	batches, _ := enc.group(ld)
	body := enc.part(batches[0], nil).blocks[0]
	raw, err := snappy.Decode(nil, body)
	require.NoError(t, err)
	var got push.PushRequest
	require.NoError(t, got.Unmarshal(raw))
	require.Len(t, got.Streams, 1)
	require.Equal(t, `{level="info", service_name="s"}`, got.Streams[0].Labels)
	require.Equal(t, []string{"one", "two"}, lines(got.Streams[0]))
	require.Equal(t, t0.Add(time.Second), got.Streams[0].Entries[1].Timestamp.UTC())
	require.Equal(t, map[string]string{"k8s_pod_name": "p", "trace_id": "ff000000000000000000000000000000"},
		metaMap(got.Streams[0].Entries[0].StructuredMetadata))

	// Buffers are reused: a second encode gives the same bytes, and the first body is its own.
	body2 := enc.part(batches[0], nil).blocks[0]
	require.Equal(t, body, body2)
	require.NotSame(t, &body[0], &body2[0])
}

// TestBodyAcrossBlocks: a request of several snappy blocks, with entries that cross from one
// block into the next (and a line longer than a block), is the library's encoding of the
// request, and its body what snappy.Encode of the whole request gives.
func TestBodyAcrossBlocks(t *testing.T) {
	var recs []rec
	for i := range 300 {
		r := rec{line: strings.Repeat(fmt.Sprintf("line %d ", i), 1+i%200), at: time.Duration(i) * time.Millisecond,
			severity: plog.SeverityNumberInfo, attrs: map[string]any{"n": int64(i / 7)}}
		if i%5 == 0 {
			r.traceID = pcommon.TraceID{byte(i)}
		}
		recs = append(recs, r)
	}
	recs[150].line = strings.Repeat("x", 3*blockSize/2)
	ld := logsOf(
		res{attrs: map[string]any{"service.name": "a", "k8s.pod.name": "p1"}, recs: recs},
		res{attrs: map[string]any{"service.name": "b"}, recs: recs[:40]})
	enc := defaultEncoder(t, nil)
	want := referenceEncode(enc, ld)[""]
	exact, err := want.Marshal()
	require.NoError(t, err)
	require.Greater(t, len(exact), 4*blockSize)

	batches, _ := enc.group(ld)
	require.Len(t, batches, 1)
	p := enc.part(batches[0], nil)
	require.Equal(t, len(exact), p.size)
	require.Equal(t, snappy.Encode(nil, exact), p.blocks[0])
}

func TestEncodeJSON(t *testing.T) {
	ld := logsOf(res{attrs: map[string]any{"service.name": "s", "k8s.pod.name": "p"}, recs: []rec{
		{line: "one \"quoted\"\n", severity: plog.SeverityNumberInfo, spanID: pcommon.SpanID{1}},
	}})
	enc := defaultEncoder(t, nil)
	batches, _ := enc.group(ld)
	body, err := protobufToJSON(rawRequest(t, batches[0]))
	require.NoError(t, err)
	var got struct {
		Streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][]any           `json:"values"`
		} `json:"streams"`
	}
	require.NoError(t, json.Unmarshal(body, &got))
	require.Len(t, got.Streams, 1)
	require.Equal(t, map[string]string{"service_name": "s", "level": "info"}, got.Streams[0].Stream)
	require.Equal(t, [][]any{{"1795600800000000000", "one \"quoted\"\n", map[string]any{"k8s_pod_name": "p", "span_id": "0100000000000000"}}},
		got.Streams[0].Values)
}

func TestSpare(t *testing.T) {
	var s spare
	a := s.get(100)
	require.Len(t, a, 100)
	s.put(a)
	b := s.get(50)
	require.Len(t, b, 50)
	require.Same(t, &a[0], &b[0], "the spare is reused for a smaller request")
	c := s.get(10) // the spare is taken: a new buffer
	require.NotSame(t, &a[0], &c[0])
	s.put(c)
	s.put(b) // the larger one stays
	d := s.get(100)
	require.Same(t, &a[0], &d[0])
	e := s.get(200) // larger than any: new
	require.Len(t, e, 200)
}
