package querycheck

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		expr, want, wantErr string
		vars                map[string]string
	}{
		{expr: `rate(x{a="$service"}[$__rate_interval])`, vars: map[string]string{"service": "orders"}, want: `rate(x{a="orders"}[5m])`},
		{expr: `x{a=~"${node:regex}", b="[[service]]"}`, vars: map[string]string{"node": ".+", "service": "s"}, want: `x{a=~".+", b="s"}`},
		{expr: `x{a="$nope"}`, wantErr: "no value for variable(s) nope"},
		{expr: `sum(x)`, want: `sum(x)`},
	}
	for _, tt := range tests {
		got, err := Expand(tt.expr, tt.vars)
		if tt.wantErr != "" {
			require.ErrorContains(t, err, tt.wantErr)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
	}
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr    string
		want    []string
		wantErr string
	}{
		{expr: `sum(rate(a_total[5m])) / sum(rate(b_total[5m])) or vector(0)`, want: []string{"a_total", "b_total"}},
		{expr: `histogram_quantile(0.9, sum by (le) (rate(h_bucket{x="y"}[1m])))`, want: []string{"h_bucket"}},
		{expr: `{__name__="up", job="x"} == 0`, want: []string{"up"}},
		{expr: `service:request_errors:ratio_rate5m{service_name="a"} / 0.001 > 14.4`, want: []string{"service:request_errors:ratio_rate5m"}},
		{expr: `{job="x"}`, wantErr: "has no fixed metric name"},
		{expr: `sum(rate(x[5m])`, wantErr: "parse"},
	}
	for _, tt := range tests {
		got, err := MetricNames(tt.expr)
		if tt.wantErr != "" {
			require.ErrorContains(t, err, tt.wantErr, tt.expr)
			continue
		}
		require.NoError(t, err, tt.expr)
		require.Equal(t, tt.want, got)
	}
}

func TestCheck(t *testing.T) {
	known := func(n string) error {
		if n == "good" {
			return nil
		}
		return errors.New(n + " is unknown")
	}
	require.NoError(t, Check(`rate(good[5m])`, known))
	require.ErrorContains(t, Check(`good + bad`, known), `in "good + bad": bad is unknown`)
}
