package derive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

// OpenTelemetry metric kinds.
const (
	kindCounter   = "counter"   // monotonic sum
	kindUpDown    = "updown"    // non-monotonic sum
	kindGauge     = "gauge"     // gauge
	kindHistogram = "histogram" // explicit-bucket histogram
	kindSummary   = "summary"   // summary (scraped only)
	kindUnknown   = "untyped"   // scraped without a type
	metricsNameLb = "__name__"  // the metric name label
	probeResource = "derive.probe"
)

// targetInfoProbe asks translateOne for the target_info series the exporter adds per resource.
const targetInfoProbe = "derive.target_info.probe"

// otelMetric is one metric on its way into the remote-write exporter.
type otelMetric struct {
	name, unit, kind  string
	source, condition string
}

// translator runs the prometheus_remote_write exporter's translator with the agent's settings.
type translator struct {
	settings prometheusremotewrite.Settings
}

// translateOne passes one metric through the exporter's translator and returns its family.
func translateOne(tr translator, m otelMetric) ([]emitted.Metric, error) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", probeResource)
	rm.Resource().Attributes().PutStr("service.instance.id", "1")
	rm.Resource().Attributes().PutStr("host.name", "probe")
	om := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	om.SetName(m.name)
	om.SetUnit(m.unit)
	ts := pcommon.NewTimestampFromTime(fixedTime)
	promType := emitted.TypeGauge
	switch m.kind {
	case kindCounter, kindUpDown:
		s := om.SetEmptySum()
		s.SetIsMonotonic(m.kind == kindCounter)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := s.DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetIntValue(1)
		if m.kind == kindCounter {
			promType = emitted.TypeCounter
		}
	case kindGauge, kindUnknown:
		dp := om.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetIntValue(1)
	case kindHistogram:
		h := om.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetCount(1)
		dp.SetSum(1)
		dp.ExplicitBounds().FromRaw([]float64{1})
		dp.BucketCounts().FromRaw([]uint64{1, 0})
		promType = emitted.TypeHistogram
	case kindSummary:
		dp := om.SetEmptySummary().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetCount(1)
		dp.SetSum(1)
		q := dp.QuantileValues().AppendEmpty()
		q.SetQuantile(0.5)
		q.SetValue(1)
		promType = emitted.TypeSummary
	default:
		return nil, fmt.Errorf("%s: %s: unknown kind %q", m.source, m.name, m.kind)
	}
	series, err := prometheusremotewrite.FromMetrics(md, tr.settings)
	if err != nil {
		return nil, fmt.Errorf("%s: translate %s: %w", m.source, m.name, err)
	}
	names := map[string]bool{}
	for _, s := range series {
		for _, l := range s.Labels {
			if l.Name == metricsNameLb {
				names[l.Value] = true
			}
		}
	}
	if m.name == targetInfoProbe {
		if !names["target_info"] {
			return nil, nil // the exporter's target_info is disabled
		}
		return []emitted.Metric{{Name: "target_info", Type: emitted.TypeGauge, From: "target_info", Source: m.source}}, nil
	}
	delete(names, "target_info")
	family, err := familyName(names, promType)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", m.source, m.name, err)
	}
	return []emitted.Metric{{Name: family, Type: promType, From: m.name, Unit: m.unit, Source: m.source, Condition: m.condition}}, nil
}

// familyName finds the family name from the series names the translator produced.
func familyName(names map[string]bool, promType string) (string, error) {
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	sort.Strings(list)
	switch {
	case len(list) == 1 && promType != emitted.TypeHistogram && promType != emitted.TypeSummary:
		return list[0], nil
	case promType == emitted.TypeHistogram && len(list) == 3:
		for _, n := range list {
			if base, ok := strings.CutSuffix(n, "_bucket"); ok && names[base+"_sum"] && names[base+"_count"] {
				return base, nil
			}
		}
	case promType == emitted.TypeSummary && len(list) == 3:
		for _, n := range list {
			if names[n+"_sum"] && names[n+"_count"] {
				return n, nil
			}
		}
	}
	return "", fmt.Errorf("unexpected series from the translator: %s", strings.Join(list, ", "))
}

func decodeJSONStream[T any](b []byte) ([]T, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []T
	for {
		var v T
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		out = append(out, v)
	}
}
