package e2e

import (
	"testing"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/stretchr/testify/require"
)

// Unit tests of the log-query checks of catalog_test.go: quick, no backend.

func TestParseLogQuery(t *testing.T) {
	for _, tc := range []struct {
		query, err string
		want       logQuery
	}{
		{
			query: `{service_name="payments", namespace=~"demo|prod"} | trace_id!="" | line_format "{{.trace_id}} {{ .span_id }}"`,
			want: logQuery{
				selector:     []labelMatcher{{"service_name", "=", "payments"}, {"namespace", "=~", "demo|prod"}},
				filters:      []labelMatcher{{"trace_id", "!=", ""}},
				formatFields: []string{"trace_id", "span_id"},
			},
		},
		{
			query: `{service_name="a|b}"} | trace_id=~"ab.*"`,
			want:  logQuery{selector: []labelMatcher{{"service_name", "=", "a|b}"}}, filters: []labelMatcher{{"trace_id", "=~", "ab.*"}}},
		},
		{query: `{service_name="x"}`, want: logQuery{selector: []labelMatcher{{"service_name", "=", "x"}}}},
		{query: `service_name="x"`, err: "does not start with a stream selector"},
		{query: `{service_name="x"`, err: "no closing }"},
		{query: `{}`, err: "empty stream selector"},
		{query: `{service_name="x"} |= "error"`, err: `stage "= \"error\""`},
		{query: `{service_name="x"} | json`, err: "label filters and line_format only"},
		{query: `{service_name=x}`, err: `"service_name=x" is not name op "value"`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got, err := parseLogQuery(tc.query)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestEvalLogQuery(t *testing.T) {
	streams := []recordedStream{
		{labels: map[string]string{"service_name": "payments", "level": "info"}, entries: []recordedEntry{
			{line: "a", metadata: map[string]string{"trace_id": "aaaa", "k8s_pod_name": "p1"}},
			{line: "b", metadata: map[string]string{"trace_id": "bbbb"}},
			{line: "c", metadata: map[string]string{}},
		}},
		{labels: map[string]string{"service_name": "orders", "level": "info"}, entries: []recordedEntry{
			{line: "d", metadata: map[string]string{"trace_id": "aaaa"}},
		}},
	}
	eval := func(q string) logQueryReport {
		t.Helper()
		lq, err := parseLogQuery(q)
		require.NoError(t, err)
		rep, err := evalLogQuery(lq, streams)
		require.NoError(t, err)
		return rep
	}
	require.Equal(t, logQueryReport{streams: 1, entries: 3, selected: 2}, eval(`{service_name="payments"} | trace_id!=""`))
	require.Equal(t, logQueryReport{streams: 1, entries: 3, selected: 3}, eval(`{service_name="payments"} | trace_id=~".*"`))
	require.Equal(t, logQueryReport{streams: 1, entries: 3, selected: 1}, eval(`{service_name="payments"} | trace_id=~"aa.*"`))
	require.Equal(t, logQueryReport{streams: 2, entries: 4, selected: 2}, eval(`{level="info"} | trace_id="aaaa"`))
	// A name the agent does not send is reported, whether selector, filter or line_format.
	require.Equal(t, logQueryReport{streams: 1, entries: 3, selected: 3, missing: []string{"traceID"}}, eval(`{service_name="payments"} | traceID=~".*"`))
	require.Equal(t, logQueryReport{streams: 1, entries: 3, selected: 3, missing: []string{"tid"}}, eval(`{service_name="payments"} | line_format "{{.tid}}"`))
	require.Equal(t, logQueryReport{notLabels: []string{"k8s_pod_name"}}, eval(`{k8s_pod_name="p1"}`))

	require.NoError(t, metadataOnly(streams, "trace_id"))
	require.ErrorContains(t, metadataOnly(streams, "level"), "is a stream label")
	require.ErrorContains(t, metadataOnly(streams, "span_id"), "in no entry's structured metadata")
}

func TestLokiRecorderDecodes(t *testing.T) {
	r := &lokiRecorder{streams: map[string]*recordedStream{}}
	req := push.PushRequest{Streams: []push.Stream{{
		Labels:  `{service_name="payments", level="info"}`,
		Entries: []push.Entry{{Line: "x", StructuredMetadata: push.LabelsAdapter{{Name: "trace_id", Value: "ab"}}}},
	}}}
	raw, err := req.Marshal()
	require.NoError(t, err)
	r.record("application/x-protobuf", "", snappy.Encode(nil, raw))
	r.record("application/json", "", []byte(`{"streams":[{"stream":{"service_name":"orders"},"values":[["1","y",{"trace_id":"cd"}],["2","z"]]}]}`))
	r.record("application/json", "", []byte(`{"streams":[{"stream":{},"values":[["1"]]}]}`))
	r.record("application/x-protobuf", "gzip", nil)
	streams, pushes, bad := r.snapshot()
	require.Equal(t, 4, pushes)
	require.Len(t, bad, 2)
	require.Len(t, streams, 2)
	got := map[string][]recordedEntry{}
	for _, s := range streams {
		got[s.labels["service_name"]] = s.entries
	}
	require.Equal(t, []recordedEntry{{line: "x", metadata: map[string]string{"trace_id": "ab"}}}, got["payments"])
	require.Equal(t, []recordedEntry{{line: "y", metadata: map[string]string{"trace_id": "cd"}}, {line: "z", metadata: map[string]string{}}}, got["orders"])
}
