// Package derive builds the list of metric names the Lookout agent emits (package emitted) from
// its pipeline: the agent's collector config, the metadata.yaml of each component it runs (read
// from the module cache at the versions in go.mod), the span_metrics connector run on a sample
// span and the service_graph connector on a sample call, the collector's own telemetry passed
// through the same Prometheus exporter the collector uses, and client_golang's default
// collectors; every name then goes through the prometheus_remote_write exporter's own translator.
//
// It is heavy (it links the connectors and the translator), so only `go generate` and the
// freshness test use it; dashboards and rules read the generated list.
package derive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

// FallbackPipeline is the pipeline description used while collector/config/agent.yaml is absent,
// relative to the repository root.
const FallbackPipeline = "internal/catalog/emitted/derive/agent-pipeline.yaml"

// AgentConfig is the built-in agent config, relative to the repository root.
const AgentConfig = "collector/config/agent.yaml"

// ComponentsFile is the Go file that registers the distribution's components.
const ComponentsFile = "collector/components.go"

// Options says where to look.
type Options struct {
	// RepoRoot is the repository's top directory.
	RepoRoot string
	// Config is the collector config to derive from, relative to RepoRoot; empty means AgentConfig
	// when it exists, FallbackPipeline otherwise.
	Config string
	// Go is the go command; empty means "go".
	Go string
}

// ConfigPath returns the config Derive reads, relative to RepoRoot.
func (o Options) ConfigPath() string {
	if o.Config != "" && filepath.IsAbs(o.Config) {
		if rel, err := filepath.Rel(o.RepoRoot, o.Config); err == nil {
			return rel
		}
	}
	if o.Config != "" {
		return o.Config
	}
	if _, err := os.Stat(filepath.Join(o.RepoRoot, AgentConfig)); err == nil {
		return AgentConfig
	}
	return FallbackPipeline
}

// Derive builds the list.
func Derive(ctx context.Context, opts Options) (*emitted.List, error) {
	if opts.Go == "" {
		opts.Go = "go"
	}
	cfgPath := opts.ConfigPath()
	p, err := loadPipeline(filepath.Join(opts.RepoRoot, cfgPath))
	if err != nil {
		return nil, err
	}
	comps, err := loadComponents(ctx, opts, p)
	if err != nil {
		return nil, err
	}
	prw, err := p.remoteWriteSettings()
	if err != nil {
		return nil, err
	}
	tr := translator{settings: prw}

	var (
		metrics []emitted.Metric
		errs    []error
	)
	add := func(ms []emitted.Metric, err error) {
		metrics = append(metrics, ms...)
		if err != nil {
			errs = append(errs, err)
		}
	}

	// Metrics that components emit as data (receivers in a metrics pipeline).
	for _, id := range p.used[kindReceiver] {
		if !p.inMetricsPipeline(kindReceiver, id) {
			continue
		}
		c := comps.byType[typeOf(id)]
		switch c.Type {
		case "host_metrics":
			add(hostMetrics(tr, c, p.componentConfig(kindReceiver, id)))
		case "kubelet_stats":
			add(kubeletStats(tr, c, p.componentConfig(kindReceiver, id)))
		case "prometheus":
			add(scrapeReport(tr, comps.helpers[pkgPromScrape]))
		default:
			add(dataMetrics(tr, c, c.meta, p.componentConfig(kindReceiver, id), nil))
		}
	}
	var spanMetrics *emitted.SpanMetrics
	for _, id := range p.used[kindConnector] {
		if !p.inMetricsPipeline(kindConnector, id) {
			continue
		}
		switch t := typeOf(id); t {
		case "span_metrics", "spanmetrics":
			if spanMetrics != nil {
				errs = append(errs, fmt.Errorf("%s: more than one span_metrics connector feeds metrics; the dashboards assume one", cfgPath))
				continue
			}
			sm, ms, err := runSpanMetrics(ctx, tr, comps.byType[t], p.componentConfig(kindConnector, id))
			spanMetrics = sm
			add(ms, err)
		case "service_graph", "servicegraph":
			add(runServiceGraph(ctx, tr, comps.byType[t], p.componentConfig(kindConnector, id)))
		}
	}
	add(translateOne(tr, otelMetric{name: targetInfoProbe, kind: kindGauge, source: "prometheus_remote_write exporter (resource attributes)"}))

	// The collector's own telemetry, when the agent scrapes it.
	selfJob, scrape, err := p.selfScrape()
	if err != nil {
		errs = append(errs, err)
	} else if selfJob != "" {
		add(selfTelemetry(tr, p, comps, scrape))
	}

	// Go services scraped by the agent (the demo services) expose client_golang's collectors.
	add(goServiceMetrics(tr, comps.helpers[pkgGoCollectors]))

	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("derive metric names from %s: %w", cfgPath, err)
	}
	metrics = dedupe(metrics)
	return emitted.New(cfgPath, selfJob, spanMetrics, metrics)
}

// dedupe drops exact repeats (e.g. a helper's metric reached through two components).
func dedupe(ms []emitted.Metric) []emitted.Metric {
	seen := map[string]bool{}
	var out []emitted.Metric
	for _, m := range ms {
		k := m.Name + "\x00" + m.Source
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// metadata is the part of a component's metadata.yaml the list needs.
type metadata struct {
	Type           string              `yaml:"type"`
	DeprecatedType string              `yaml:"deprecated_type"`
	Metrics        map[string]mdMetric `yaml:"metrics"`
	Telemetry      struct {
		Metrics map[string]mdMetric `yaml:"metrics"`
	} `yaml:"telemetry"`
}

type mdMetric struct {
	Enabled     bool   `yaml:"enabled"`
	Unit        string `yaml:"unit"`
	Description string `yaml:"description"`
	Prefix      string `yaml:"prefix"`
	Sum         *struct {
		Monotonic bool `yaml:"monotonic"`
	} `yaml:"sum"`
	Gauge     *struct{} `yaml:"gauge"`
	Histogram *struct{} `yaml:"histogram"`
}

func (m mdMetric) kind() (string, error) {
	switch {
	case m.Sum != nil && m.Sum.Monotonic:
		return kindCounter, nil
	case m.Sum != nil:
		return kindUpDown, nil
	case m.Gauge != nil:
		return kindGauge, nil
	case m.Histogram != nil:
		return kindHistogram, nil
	}
	return "", errors.New("neither sum, gauge nor histogram")
}

func readMetadata(path string) (metadata, error) {
	var md metadata
	b, err := os.ReadFile(path)
	if err != nil {
		return md, err
	}
	if err := yaml.Unmarshal(b, &md); err != nil {
		return md, fmt.Errorf("%s: %w", path, err)
	}
	return md, nil
}

// dataMetrics returns the enabled metrics of a metadata.yaml, with the component config's
// `metrics: {name: {enabled: bool}}` overrides applied; skip, when set, filters names out.
func dataMetrics(tr translator, c component, md metadata, cfg map[string]any, condition func(name string) string) ([]emitted.Metric, error) {
	overrides := enabledOverrides(cfg)
	var (
		out  []emitted.Metric
		errs []error
	)
	for _, name := range sortedKeys(md.Metrics) {
		m := md.Metrics[name]
		enabled := m.Enabled
		if v, ok := overrides[name]; ok {
			enabled = v
		}
		if !enabled {
			continue
		}
		kind, err := m.kind()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s metric %s: %w", c.source(), name, err))
			continue
		}
		om := otelMetric{name: strings.SplitN(name, "@", 2)[0], unit: m.Unit, kind: kind, source: c.source()}
		if condition != nil {
			om.condition = condition(name)
		}
		ms, err := translateOne(tr, om)
		out = append(out, ms...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func enabledOverrides(cfg map[string]any) map[string]bool {
	out := map[string]bool{}
	ms, _ := cfg["metrics"].(map[string]any)
	for name, v := range ms {
		if m, ok := v.(map[string]any); ok {
			if e, ok := m["enabled"].(bool); ok {
				out[name] = e
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hostMetrics reads the metadata.yaml of each configured scraper.
func hostMetrics(tr translator, c component, cfg map[string]any) ([]emitted.Metric, error) {
	scrapers, _ := cfg["scrapers"].(map[string]any)
	if len(scrapers) == 0 {
		return nil, fmt.Errorf("%s: no scrapers configured", c.Type)
	}
	var (
		out  []emitted.Metric
		errs []error
	)
	for _, name := range sortedKeys(scrapers) {
		path := filepath.Join(c.Dir, "internal", "scraper", name+"scraper", "metadata.yaml")
		md, err := readMetadata(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("host_metrics scraper %s: %w", name, err))
			continue
		}
		if md.Type != name {
			errs = append(errs, fmt.Errorf("host_metrics scraper %s: %s has type %q", name, path, md.Type))
			continue
		}
		sc, _ := scrapers[name].(map[string]any)
		sub := c
		sub.Package += " (" + name + " scraper)"
		ms, err := dataMetrics(tr, sub, md, sc, nil)
		out = append(out, ms...)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// kubeletStats reads the receiver's metadata.yaml, keeping the configured metric groups.
func kubeletStats(tr translator, c component, cfg map[string]any) ([]emitted.Metric, error) {
	// The receiver's default groups (kubeletstatsreceiver's defaultMetricGroups; a test checks).
	groups := map[string]bool{"container": true, "pod": true, "node": true}
	if gs, ok := cfg["metric_groups"].([]any); ok {
		groups = map[string]bool{}
		for _, g := range gs {
			groups[fmt.Sprint(g)] = true
		}
	}
	return dataMetrics(tr, c, c.meta, cfg, func(name string) string {
		g := kubeletGroup(name)
		if groups[g] {
			return ""
		}
		return "kubelet_stats metric_groups includes " + g
	})
}

func kubeletGroup(name string) string {
	switch {
	case strings.HasPrefix(name, "container."), strings.HasPrefix(name, "k8s.container."):
		return "container"
	case strings.HasPrefix(name, "k8s.pod."):
		return "pod"
	case strings.HasPrefix(name, "k8s.node."):
		return "node"
	case strings.HasPrefix(name, "k8s.volume."):
		return "volume"
	}
	return "unknown"
}
