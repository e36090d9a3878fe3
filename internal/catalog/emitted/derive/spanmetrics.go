package derive

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	spanmetricsconnector "github.com/lookoutdev/lookout/connectors/spanmetrics"
	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

// The span attributes the connector turns into dimensions (its default dimensions).
const (
	attrServiceName = "service.name"
	attrSpanName    = "span.name"
	attrSpanKind    = "span.kind"
	attrStatusCode  = "status.code"
)

// runSpanMetrics runs the span_metrics connector with the agent's config on one failed server span
// and reads what it emits: metric names, units, histogram bounds, label names and values.
func runSpanMetrics(ctx context.Context, tr translator, c component, cfgMap map[string]any) (*emitted.SpanMetrics, []emitted.Metric, error) {
	f := spanmetricsconnector.NewFactory()
	cfg := f.CreateDefaultConfig().(*spanmetricsconnector.Config)
	if err := confmap.NewFromStringMap(cfgMap).Unmarshal(cfg); err != nil {
		return nil, nil, fmt.Errorf("connectors::span_metrics: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("connectors::span_metrics: %w", err)
	}
	// Flush at once instead of after the agent's interval; this changes no name.
	cfg.MetricsFlushInterval = 10 * time.Millisecond

	td := ptrace.NewTraces()
	addProbeSpan(td, probeResource, ptrace.SpanKindServer, pcommon.SpanID{1}, pcommon.SpanID{})
	md, err := runConnector(ctx, f, cfg, td)
	if err != nil {
		return nil, nil, err
	}
	return readSpanMetrics(tr, c, md)
}

// addProbeSpan adds to td a failed span of 150 ms, "GET /probe", of service in trace 1.
func addProbeSpan(td ptrace.Traces, service string, kind ptrace.SpanKind, id, parent pcommon.SpanID) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(attrServiceName, service)
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("GET /probe")
	span.SetKind(kind)
	span.Status().SetCode(ptrace.StatusCodeError)
	span.SetTraceID(pcommon.TraceID{1})
	span.SetSpanID(id)
	span.SetParentSpanID(parent)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(fixedTime))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(fixedTime.Add(150 * time.Millisecond)))
}

// runConnector runs a traces-to-metrics connector on td and returns the first metrics it emits
// (cfg flushes them within 10 s).
func runConnector(ctx context.Context, f connector.Factory, cfg any, td ptrace.Traces) (pmetric.Metrics, error) {
	sink := new(consumertest.MetricsSink)
	conn, err := f.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		return pmetric.Metrics{}, fmt.Errorf("create %s connector: %w", f.Type(), err)
	}
	if err := conn.Start(ctx, componenttest.NewNopHost()); err != nil {
		return pmetric.Metrics{}, fmt.Errorf("start %s connector: %w", f.Type(), err)
	}
	defer func() { _ = conn.Shutdown(context.Background()) }()
	if err := conn.ConsumeTraces(ctx, td); err != nil {
		return pmetric.Metrics{}, fmt.Errorf("%s connector: %w", f.Type(), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sink.DataPointCount() == 0 {
		if time.Now().After(deadline) {
			return pmetric.Metrics{}, fmt.Errorf("%s connector emitted nothing within 10s", f.Type())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return sink.AllMetrics()[0], nil
}

func readSpanMetrics(tr translator, c component, md pmetric.Metrics) (*emitted.SpanMetrics, []emitted.Metric, error) {
	sm := &emitted.SpanMetrics{}
	var (
		out  []emitted.Metric
		errs []error
	)
	ln := otlptranslator.LabelNamer{PreserveMultipleUnderscores: true}
	label := func(attr string) string {
		l, err := ln.Build(attr)
		if err != nil {
			errs = append(errs, err)
		}
		return l
	}
	attrs := pcommon.NewMap()
	for _, m := range metricsOf(md) {
		om := otelMetric{name: m.Name(), unit: m.Unit(), source: c.source()}
		switch m.Type() {
		case pmetric.MetricTypeSum:
			om.kind = kindUpDown
			if m.Sum().IsMonotonic() {
				om.kind = kindCounter
			}
			if m.Sum().DataPoints().Len() > 0 {
				m.Sum().DataPoints().At(0).Attributes().CopyTo(attrs)
			}
		case pmetric.MetricTypeHistogram:
			om.kind = kindHistogram
		default:
			errs = append(errs, fmt.Errorf("span_metrics emitted %s of type %s", m.Name(), m.Type()))
			continue
		}
		fam, err := translateOne(tr, om)
		errs = append(errs, err)
		if len(fam) == 0 {
			continue
		}
		out = append(out, fam...)
		switch om.kind {
		case kindCounter:
			sm.Calls = fam[0].Name
		case kindHistogram:
			sm.Duration, sm.DurationUnit = fam[0].Name, m.Unit()
			bounds, err := leValues(tr, m)
			errs = append(errs, err)
			sm.Buckets = bounds
		}
	}
	if sm.Calls == "" || sm.Duration == "" {
		errs = append(errs, fmt.Errorf("span_metrics emitted no calls counter or duration histogram (got %d metrics)", len(out)))
	}
	for _, a := range []string{attrServiceName, attrSpanName, attrSpanKind, attrStatusCode} {
		if _, ok := attrs.Get(a); !ok {
			errs = append(errs, fmt.Errorf("span_metrics calls have no %s dimension; the dashboards need it", a))
		}
	}
	sm.Labels = emitted.SpanMetricsLabels{
		Service: label(attrServiceName), SpanName: label(attrSpanName),
		SpanKind: label(attrSpanKind), StatusCode: label(attrStatusCode),
	}
	if v, ok := attrs.Get(attrSpanKind); ok {
		sm.Values.SpanKindServer = v.Str()
	}
	if v, ok := attrs.Get(attrStatusCode); ok {
		sm.Values.StatusCodeError = v.Str()
	}
	return sm, out, errors.Join(errs...)
}

// metricsOf returns the metrics of md.
func metricsOf(md pmetric.Metrics) []pmetric.Metric {
	var out []pmetric.Metric
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				out = append(out, ms.At(k))
			}
		}
	}
	return out
}

// leValues returns the `le` label values the exporter writes for a histogram, without +Inf,
// sorted by value.
func leValues(tr translator, m pmetric.Metric) ([]string, error) {
	md := pmetric.NewMetrics()
	m.CopyTo(md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty())
	series, err := prometheusremotewrite.FromMetrics(md, tr.settings)
	if err != nil {
		return nil, fmt.Errorf("translate %s: %w", m.Name(), err)
	}
	seen := map[string]bool{}
	var les []string
	for _, s := range series {
		for _, l := range s.Labels {
			if l.Name == "le" && l.Value != "+Inf" && !seen[l.Value] {
				seen[l.Value] = true
				les = append(les, l.Value)
			}
		}
	}
	var errs []error
	sort.Slice(les, func(i, j int) bool {
		a, err1 := strconv.ParseFloat(les[i], 64)
		b, err2 := strconv.ParseFloat(les[j], 64)
		errs = append(errs, err1, err2)
		return a < b
	})
	if len(les) == 0 {
		errs = append(errs, fmt.Errorf("%s has no buckets", m.Name()))
	}
	return les, errors.Join(errs...)
}
