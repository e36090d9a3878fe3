package derive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	servicegraphconnector "github.com/lookoutdev/lookout/connectors/servicegraph"
	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

// runServiceGraph runs the service_graph connector with the agent's config on one failed call
// between two services (a client span and its server span) and returns the metrics it emits.
func runServiceGraph(ctx context.Context, tr translator, c component, cfgMap map[string]any) ([]emitted.Metric, error) {
	f := servicegraphconnector.NewFactory()
	cfg := f.CreateDefaultConfig().(*servicegraphconnector.Config)
	if err := confmap.NewFromStringMap(cfgMap).Unmarshal(cfg); err != nil {
		return nil, fmt.Errorf("connectors::service_graph: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("connectors::service_graph: %w", err)
	}
	// Flush at once instead of after the agent's interval; this changes no name.
	cfg.MetricsFlushInterval = 10 * time.Millisecond

	td := ptrace.NewTraces()
	addProbeSpan(td, probeResource, ptrace.SpanKindClient, pcommon.SpanID{1}, pcommon.SpanID{})
	addProbeSpan(td, probeResource+".server", ptrace.SpanKindServer, pcommon.SpanID{2}, pcommon.SpanID{1})
	md, err := runConnector(ctx, f, cfg, td)
	if err != nil {
		return nil, err
	}

	var (
		out  []emitted.Metric
		errs []error
	)
	for _, m := range metricsOf(md) {
		om := otelMetric{name: m.Name(), unit: m.Unit(), source: c.source()}
		switch {
		case m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic():
			om.kind = kindCounter
		case m.Type() == pmetric.MetricTypeHistogram:
			om.kind = kindHistogram
		default:
			errs = append(errs, fmt.Errorf("service_graph emitted %s of type %s", m.Name(), m.Type()))
			continue
		}
		fam, err := translateOne(tr, om)
		out = append(out, fam...)
		errs = append(errs, err)
	}
	if len(out) == 0 {
		errs = append(errs, errors.New("service_graph emitted no metrics for a call between two services"))
	}
	return out, errors.Join(errs...)
}
