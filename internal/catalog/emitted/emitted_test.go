package emitted

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestList(t *testing.T) {
	l, err := New("p.yaml", "job", nil, []Metric{
		{Name: "b_seconds", Type: TypeHistogram, From: "b", Unit: "s", Source: "x"},
		{Name: "a_total", Type: TypeCounter, From: "a", Source: "x"},
		{Name: "c", Type: TypeGauge, From: "c", Source: "y", Condition: "c is on"},
		{Name: "d", Type: TypeSummary, From: "d", Source: "y"},
	})
	require.NoError(t, err)
	require.Equal(t, "a_total", l.Metrics[0].Name, "sorted by name")

	m, ok := l.Lookup("b_seconds_bucket")
	require.True(t, ok)
	require.Equal(t, "b_seconds", m.Name)
	_, ok = l.Lookup("b_seconds")
	require.False(t, ok, "a histogram family has no plain series")
	require.NoError(t, l.Unconditional("d_sum"))
	require.ErrorContains(t, l.Unconditional("c"), "c is only emitted when c is on")
	require.ErrorContains(t, l.Unconditional("nope"), "nope is not a metric the agent emits")

	n, err := l.Named("a")
	require.NoError(t, err)
	require.Equal(t, "a_total", n)
	_, err = l.Named("c")
	require.ErrorContains(t, err, "only emitted when")
	_, err = l.Named("z")
	require.ErrorContains(t, err, "the agent emits no metric z")

	b, err := l.Encode()
	require.NoError(t, err)
	back, err := Parse(b)
	require.NoError(t, err)
	require.Equal(t, l.Metrics, back.Metrics)
	require.Equal(t, l.Names(), back.Names())
}

func TestParseErrors(t *testing.T) {
	_, err := Parse([]byte("pipeline: x\nmetrics:\n  - {name: a, type: tally, from: a, source: s}\n"))
	require.ErrorContains(t, err, `metric a: unknown type "tally"`)
	_, err = Parse([]byte("pipeline: x\nextra: 1\n"))
	require.ErrorContains(t, err, "field extra not found")
	_, err = New("p", "", nil, []Metric{{Name: "a", Type: TypeGauge, Source: "s1"}, {Name: "a", Type: TypeGauge, Source: "s2"}})
	require.ErrorContains(t, err, "series a comes from both s1 and s2")
}

func TestDefault(t *testing.T) {
	l, err := Default()
	require.NoError(t, err)
	require.NotEmpty(t, l.Metrics)
	require.NotNil(t, l.SpanMetrics)
	require.NoError(t, l.Unconditional(l.SpanMetrics.Calls))
	require.NoError(t, l.Unconditional(l.SpanMetrics.Duration+"_bucket"))
}
