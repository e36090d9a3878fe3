package tracequeue

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/request"
)

// traces makes n spans of one service, named from first on.
func traces(service string, first, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range n {
		s := ss.Spans().AppendEmpty()
		s.SetName("span-" + string(rune('a'+(first+i)%26)))
		s.SetSpanID([8]byte{byte(first + i), 1})
		s.SetTraceID([16]byte{1, byte(first + i)})
		s.Attributes().PutInt("n", int64(first+i))
	}
	return td
}

// twoRequests are requests of 3 and 2 spans of two services, and the traces of both, in order.
func twoRequests(t *testing.T) (a, b *spansRequest, both ptrace.Traces) {
	t.Helper()
	a, err := newRequest(traces("cart", 0, 3))
	require.NoError(t, err)
	b, err = newRequest(traces("checkout", 3, 2))
	require.NoError(t, err)
	both = traces("cart", 0, 3)
	traces("checkout", 3, 2).ResourceSpans().MoveAndAppendTo(both.ResourceSpans())
	return a, b, both
}

// decode decodes what r sends.
func decode(t *testing.T, r *spansRequest) ptrace.Traces {
	t.Helper()
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(bytes.Join(r.chunks, nil))
	require.NoError(t, err)
	return td
}

func TestMergeJoinsRequests(t *testing.T) {
	a, b, want := twoRequests(t)
	out, err := a.MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, b)
	require.NoError(t, err)
	require.Len(t, out, 1)
	m := out[0].(*spansRequest)
	require.Equal(t, 5, m.ItemsCount())
	require.Equal(t, a.BytesSize()+b.BytesSize(), m.BytesSize())

	require.Equal(t, want, decode(t, m))
	require.Len(t, a.chunks, 1, "merging left the request merged into as it was")

	// A batch under the maximum is fine; over it, the error says this exporter does not split.
	_, err = a.MergeSplit(context.Background(), 5, exporterhelper.RequestSizerTypeItems, b)
	require.NoError(t, err)
	_, err = a.MergeSplit(context.Background(), 4, exporterhelper.RequestSizerTypeItems, b)
	require.ErrorContains(t, err, "a batch of 5 (items) is over the maximum of 4")
}

func TestQueueEncoding(t *testing.T) {
	td := traces("cart", 0, 4)
	r, err := newRequest(td)
	require.NoError(t, err)
	other, err := newRequest(traces("cart", 4, 1))
	require.NoError(t, err)
	merged, err := r.MergeSplit(context.Background(), 0, exporterhelper.RequestSizerTypeItems, other)
	require.NoError(t, err)

	b, err := queueEncoding{}.Marshal(context.Background(), r)
	require.NoError(t, err)
	require.Same(t, &r.chunks[0][0], &b[0], "a request of one chunk is queued without a copy")

	for name, req := range map[string]*spansRequest{"one chunk": r, "merged": merged[0].(*spansRequest)} {
		b, err := queueEncoding{}.Marshal(context.Background(), req)
		require.NoError(t, err, name)
		_, got, err := queueEncoding{}.Unmarshal(b)
		require.NoError(t, err, name)
		require.Equal(t, req.ItemsCount(), got.ItemsCount(), name)
		require.Equal(t, req.BytesSize(), got.BytesSize(), name)
		require.Equal(t, decode(t, req), decode(t, got.(*spansRequest)), name)
	}
}

func TestCountSpans(t *testing.T) {
	many := traces("cart", 0, 3)
	traces("checkout", 3, 0).ResourceSpans().MoveAndAppendTo(many.ResourceSpans())
	rs := many.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "pay")
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	for i := range 3 {
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("scope")
		for range i * 2 {
			ss.Spans().AppendEmpty().SetName("x")
		}
	}
	for name, td := range map[string]ptrace.Traces{
		"empty":                     ptrace.NewTraces(),
		"one resource":              traces("cart", 0, 7),
		"resources without spans":   traces("cart", 0, 0),
		"several resources, scopes": many,
	} {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err, name)
		n, err := countSpans(b)
		require.NoError(t, err, name)
		require.Equal(t, td.SpanCount(), n, name)
	}

	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(traces("cart", 0, 3))
	require.NoError(t, err)
	for name, bad := range map[string][]byte{
		"cut short":                b[:len(b)-3],
		"length past the end":      {0x0a, 0x05, 1},
		"bad varint":               {0x0a, 0x80},
		"span cut in a scope":      {0x0a, 0x04, 0x12, 0x02, 0x12, 0x05},
		"group tag without an end": {0x0a, 0x01, 0x0b},
	} {
		_, err := countSpans(bad)
		require.ErrorContains(t, err, "malformed OTLP traces", name)
		_, _, err = queueEncoding{}.Unmarshal(bad)
		require.ErrorContains(t, err, "otlp_grpc traces: queued request: malformed OTLP traces", name)
	}
}

// TestEarlierQueue reads what earlier Lookout versions and upstream's otlp_grpc exporter left in
// the queue (an agent upgraded with spans on disk): Lookout's prefixed requests, upstream's
// request envelope, and the bare OTLP of its older versions.
func TestEarlierQueue(t *testing.T) {
	td := traces("cart", 0, 3)
	envelope, err := request.MarshalTraces(context.Background(), td)
	require.NoError(t, err)
	bare, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	prefixed := append(append(bytes.Clone(queueMagic), 3), bare...)
	for name, b := range map[string][]byte{"Lookout v1": prefixed, "envelope": envelope, "bare OTLP": bare} {
		_, got, err := queueEncoding{}.Unmarshal(b)
		require.NoError(t, err, name)
		require.Equal(t, 3, got.ItemsCount(), name)
		require.Equal(t, td, decode(t, got.(*spansRequest)), name)
	}
	_, _, err = queueEncoding{}.Unmarshal(append(bytes.Clone(queueMagic), 0x80))
	require.ErrorContains(t, err, "bad span count")
	_, _, err = queueEncoding{}.Unmarshal([]byte{0x0d, 0x05, 1})
	require.ErrorContains(t, err, "queued request in upstream's format")
}

// FuzzCountSpans checks countSpans against pdata: on whatever pdata decodes and encodes again
// (what newRequest queues), countSpans counts the spans pdata has. On the raw input it must only
// return: pdata skips groups of unknown fields more loosely than protowire, so the two may read
// a malformed input differently, which the queue never holds.
func FuzzCountSpans(f *testing.F) {
	for _, td := range []ptrace.Traces{ptrace.NewTraces(), traces("cart", 0, 0), traces("cart", 0, 3)} {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = countSpans(b)
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
		if err != nil {
			return
		}
		queued, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		if err != nil {
			return
		}
		n, err := countSpans(queued)
		if err != nil {
			t.Fatalf("countSpans(%x): %v; pdata encoded it, with %d spans", queued, err, td.SpanCount())
		}
		if n != td.SpanCount() {
			t.Fatalf("countSpans counted %d spans in %x, pdata %d", n, queued, td.SpanCount())
		}
	})
}
