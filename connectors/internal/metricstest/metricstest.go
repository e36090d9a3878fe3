// Package metricstest flattens metrics into lines that tests compare: one line per data point,
// with the resource's and the point's attributes (type and value), the metric's name, unit and
// kind, and the point's values, without timestamps or the instrumentation scope.
package metricstest

import (
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Points returns md's data points as sorted lines.
func Points(md pmetric.Metrics) []string {
	var out []string
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := Attrs(rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				head := fmt.Sprintf("%s %s unit=%q", res, m.Name(), m.Unit())
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps := m.Sum().DataPoints()
					for l := 0; l < dps.Len(); l++ {
						dp := dps.At(l)
						out = append(out, fmt.Sprintf("%s sum(monotonic=%v,%s) %s = %d", head, m.Sum().IsMonotonic(), m.Sum().AggregationTemporality(), Attrs(dp.Attributes()), dp.IntValue()))
					}
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for l := 0; l < dps.Len(); l++ {
						dp := dps.At(l)
						out = append(out, fmt.Sprintf("%s histogram(%s) %s = count %d sum %.9g bounds %v buckets %v", head, m.Histogram().AggregationTemporality(), Attrs(dp.Attributes()), dp.Count(), dp.Sum(), dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw()))
					}
				default:
					out = append(out, head+" unexpected type "+m.Type().String())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// Attrs returns m as {key=Type(value),...}, sorted by key.
func Attrs(m pcommon.Map) string {
	var kv []string
	for k, v := range m.All() {
		kv = append(kv, fmt.Sprintf("%s=%s(%s)", k, v.Type(), v.AsString()))
	}
	slices.Sort(kv)
	return "{" + strings.Join(kv, ",") + "}"
}
