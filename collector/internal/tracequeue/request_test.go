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

	b, err := queueEncoding{}.Marshal(context.Background(), merged[0])
	require.NoError(t, err)
	_, got, err := queueEncoding{}.Unmarshal(b)
	require.NoError(t, err)
	require.Equal(t, 5, got.ItemsCount())
	require.Equal(t, decode(t, merged[0].(*spansRequest)), decode(t, got.(*spansRequest)))

	_, _, err = queueEncoding{}.Unmarshal(append(bytes.Clone(queueMagic), 0x80))
	require.ErrorContains(t, err, "bad span count")
}

// TestUpstreamQueue reads what upstream's otlp_grpc exporter left in the queue (an agent upgraded
// with spans on disk): its request envelope, and bare OTLP from older versions.
func TestUpstreamQueue(t *testing.T) {
	td := traces("cart", 0, 3)
	envelope, err := request.MarshalTraces(context.Background(), td)
	require.NoError(t, err)
	bare, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	for name, b := range map[string][]byte{"envelope": envelope, "bare OTLP": bare} {
		_, got, err := queueEncoding{}.Unmarshal(b)
		require.NoError(t, err, name)
		require.Equal(t, 3, got.ItemsCount(), name)
		require.Equal(t, td, decode(t, got.(*spansRequest)), name)
	}
	_, _, err = queueEncoding{}.Unmarshal([]byte{0x0a, 0x05, 1})
	require.ErrorContains(t, err, "queued request in upstream's format")
}
