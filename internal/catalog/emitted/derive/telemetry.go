package derive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/config/configtelemetry"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

var fixedTime = time.Unix(1_700_000_000, 0)

// selfTelemetry lists the collector's own metrics as the agent's self-scrape delivers them: the
// collector exposes them with the OpenTelemetry Prometheus exporter, the prometheus receiver reads
// them back (name and type kept, unit lost), and the remote-write exporter translates them.
func selfTelemetry(tr translator, p *pipeline, cs *components, exp selfExposition) ([]emitted.Metric, error) {
	type src struct {
		c      component
		config map[string]any
	}
	var srcs []src
	dependsOn := func(kind, helper string) bool {
		for _, id := range p.used[kind] {
			if cs.byType[typeOf(id)].Deps[helper] {
				return true
			}
		}
		return false
	}
	for _, kind := range []string{kindReceiver, kindProcessor, kindExporter, kindConnector} {
		for _, id := range p.used[kind] {
			srcs = append(srcs, src{cs.byType[typeOf(id)], p.componentConfig(kind, id)})
		}
	}
	for _, h := range []struct{ kind, pkg string }{
		{kindReceiver, pkgReceiverHelper}, {kindReceiver, pkgScraperHelper}, {kindReceiver, pkgFileConsumer},
		{kindProcessor, pkgProcessorHelper}, {kindExporter, pkgExporterHelper},
	} {
		if dependsOn(h.kind, h.pkg) {
			srcs = append(srcs, src{c: cs.helpers[h.pkg]})
		}
	}
	srcs = append(srcs, src{c: cs.helpers[pkgService]})

	// The Prometheus reader serves the registry with promhttp, which adds its own error counter
	// (go.opentelemetry.io/contrib/otelconf's prometheusReader).
	reg := prometheus.NewRegistry()
	_ = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	fams, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather promhttp metrics: %w", err)
	}

	var (
		out  []emitted.Metric
		errs []error
	)
	for _, f := range fams {
		ms, err := translateOne(tr, otelMetric{name: f.GetName(), kind: scrapedKind(f.GetType()),
			source: cs.helpers[pkgPromHTTP].source() + " (the self-scrape endpoint's handler)"})
		out = append(out, ms...)
		errs = append(errs, err)
	}
	for _, s := range srcs {
		for _, key := range sortedKeys(s.c.meta.Telemetry.Metrics) {
			m := s.c.meta.Telemetry.Metrics[key]
			if !m.Enabled {
				continue
			}
			name, err := telemetryName(s.c, key, m)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if sig := signalOf(name); sig != "" && !p.signals[sig] {
				continue
			}
			kind, err := m.kind()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s telemetry %s: %w", s.c.source(), key, err))
				continue
			}
			om := otelMetric{name: name, unit: m.Unit, kind: kind, source: s.c.source() + " (own telemetry, self-scraped)"}
			om.condition = telemetryCondition(s.c, m, name, s.config, exp)
			exposed, err := expose(om, exp)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ms, err := translateOne(tr, exposed)
			for i := range ms {
				ms[i].From = name
			}
			out = append(out, ms...)
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// telemetryCondition says when a telemetry metric exists only under some configuration.
func telemetryCondition(c component, m mdMetric, name string, cfg map[string]any, exp selfExposition) string {
	switch {
	case strings.Contains(m.Description, "Only available on detailed level") && exp.level < configtelemetry.LevelDetailed:
		return "service::telemetry::metrics::level is detailed"
	case c.Package == pkgService && m.Prefix != "":
		// The service records these only through its pipeline instrumentation, which the
		// alpha feature gate below turns on (service/internal/obsconsumer).
		return "the feature gate telemetry.newPipelineTelemetry is enabled"
	case strings.Contains(name, "_wal_") && cfg["wal"] == nil:
		return "the exporter's wal is configured"
	}
	return ""
}

// expose returns the metric as the collector's Prometheus endpoint shows it (and so as the
// prometheus receiver reads it back): the exposition name, the exposition type, no unit.
func expose(m otelMetric, exp selfExposition) (otelMetric, error) {
	// The same choice as go.opentelemetry.io/contrib/otelconf's prometheusReaderOpts.
	strategy := otlptranslator.NoUTF8EscapingWithSuffixes
	if exp.withoutUnits && exp.withoutTypeSuffix {
		strategy = otlptranslator.NoTranslation
	}
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(), otelprom.WithTranslationStrategy(strategy))
	if err != nil {
		return m, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	meter := mp.Meter("derive")
	ctx := context.Background()
	unit := metric.WithUnit(m.unit)
	switch m.kind {
	case kindCounter:
		c, err := meter.Int64Counter(m.name, unit)
		if err != nil {
			return m, err
		}
		c.Add(ctx, 1)
	case kindUpDown:
		c, err := meter.Int64UpDownCounter(m.name, unit)
		if err != nil {
			return m, err
		}
		c.Add(ctx, 1)
	case kindGauge:
		g, err := meter.Int64Gauge(m.name, unit)
		if err != nil {
			return m, err
		}
		g.Record(ctx, 1)
	case kindHistogram:
		h, err := meter.Float64Histogram(m.name, unit)
		if err != nil {
			return m, err
		}
		h.Record(ctx, 1)
	default:
		return m, fmt.Errorf("%s: cannot expose kind %q", m.name, m.kind)
	}
	fams, err := reg.Gather()
	if err != nil {
		return m, fmt.Errorf("gather %s: %w", m.name, err)
	}
	if len(fams) != 1 {
		return m, fmt.Errorf("exposing %s gave %d families", m.name, len(fams))
	}
	out := m
	out.name, out.kind, out.unit = fams[0].GetName(), scrapedKind(fams[0].GetType()), ""
	return out, nil
}

// scrapedKind is the OpenTelemetry kind the prometheus receiver gives a scraped family.
func scrapedKind(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return kindCounter
	case dto.MetricType_GAUGE:
		return kindGauge
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return kindHistogram
	case dto.MetricType_SUMMARY:
		return kindSummary
	}
	return kindUnknown
}

// goServiceMetrics lists what a Go service using client_golang's default registry exposes
// (its Go and process collectors), as the agent's scrape delivers it.
func goServiceMetrics(tr translator, c component) ([]emitted.Metric, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	fams, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather client_golang collectors: %w", err)
	}
	source := c.source() + " default Go and process collectors (scraped Go services)"
	var (
		out  []emitted.Metric
		errs []error
	)
	for _, f := range fams {
		ms, err := translateOne(tr, otelMetric{name: f.GetName(), kind: scrapedKind(f.GetType()), source: source})
		out = append(out, ms...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

var (
	reportSampleVar = regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*reportSample\{\s*\n\s*name:\s*\[\]byte\("([a-z_]+)"`)
	addReportSample = regexp.MustCompile(`addReportSample\((\w+),`)
)

// scrapeReport lists the series the Prometheus scrape loop (which the prometheus receiver runs)
// adds for every target, read from that package's source at the version in go.mod: the samples
// its report function always adds, and the ones it adds only with extra scrape metrics.
func scrapeReport(tr translator, c component) ([]emitted.Metric, error) {
	path := filepath.Join(c.Dir, "scrape.go")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the scrape loop's report samples: %w", err)
	}
	src := string(b)
	names := map[string]string{}
	for _, m := range reportSampleVar.FindAllStringSubmatch(src, -1) {
		names[m[1]] = m[2]
	}
	start := strings.Index(src, "func (sl *scrapeLoop) report(")
	if start < 0 || len(names) == 0 {
		return nil, fmt.Errorf("%s: the scrape loop's report function or its samples are not where expected", path)
	}
	body := src[start:]
	if end := strings.Index(body[1:], "\nfunc "); end > 0 {
		body = body[:end+1]
	}
	always, _, _ := strings.Cut(body, "if sl.reportExtraMetrics")
	var (
		out  []emitted.Metric
		errs []error
		seen = map[string]bool{}
	)
	for _, m := range addReportSample.FindAllStringSubmatch(body, -1) {
		name, ok := names[m[1]]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		om := otelMetric{name: name, kind: kindGauge, source: c.source() + " (scrape loop report)"}
		if !strings.Contains(always, m[0]) {
			om.condition = "the scrape config enables extra scrape metrics"
		}
		ms, err := translateOne(tr, om)
		out = append(out, ms...)
		errs = append(errs, err)
	}
	if !seen["up"] {
		errs = append(errs, fmt.Errorf("%s: found no `up` sample in the scrape loop's report", path))
	}
	return out, errors.Join(errs...)
}
