package derive

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	prometheusremotewriteexporter "github.com/lookoutdev/lookout/exporters/prometheusremotewrite"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"go.opentelemetry.io/collector/config/configtelemetry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
	"gopkg.in/yaml.v3"
)

const (
	kindReceiver  = "receivers"
	kindProcessor = "processors"
	kindExporter  = "exporters"
	kindConnector = "connectors"
)

// pipeline is a collector config reduced to what decides metric names.
type pipeline struct {
	path string
	raw  map[string]any
	// used lists the component IDs each kind has in some pipeline, sorted.
	used map[string][]string
	// signals are the signals that have a pipeline (traces, metrics, logs).
	signals   map[string]bool
	pipelines map[string]pipelineDef
}

type pipelineDef struct {
	Receivers  []string `yaml:"receivers"`
	Processors []string `yaml:"processors"`
	Exporters  []string `yaml:"exporters"`
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

func loadPipeline(path string) (*pipeline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read collector config: %w", err)
	}
	// ${env:NAME:-default} becomes its default: names depend on structure, not on addresses.
	text := envRef.ReplaceAllStringFunc(string(b), func(m string) string {
		return envRef.FindStringSubmatch(m)[2]
	})
	p := &pipeline{path: path, used: map[string][]string{}, signals: map[string]bool{}}
	if err := yaml.Unmarshal([]byte(text), &p.raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var cfg struct {
		Connectors map[string]any `yaml:"connectors"`
		Service    struct {
			Pipelines map[string]pipelineDef `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(cfg.Service.Pipelines) == 0 {
		return nil, fmt.Errorf("%s: service::pipelines is empty", path)
	}
	p.pipelines = cfg.Service.Pipelines
	seen := map[string]map[string]bool{}
	use := func(kind, id string) {
		if seen[kind] == nil {
			seen[kind] = map[string]bool{}
		}
		if !seen[kind][id] {
			seen[kind][id] = true
			p.used[kind] = append(p.used[kind], id)
		}
	}
	for pid, def := range cfg.Service.Pipelines {
		p.signals[typeOf(pid)] = true
		for _, id := range def.Receivers {
			if _, ok := cfg.Connectors[id]; ok {
				use(kindConnector, id)
			} else {
				use(kindReceiver, id)
			}
		}
		for _, id := range def.Processors {
			use(kindProcessor, id)
		}
		for _, id := range def.Exporters {
			if _, ok := cfg.Connectors[id]; ok {
				use(kindConnector, id)
			} else {
				use(kindExporter, id)
			}
		}
	}
	for _, ids := range p.used {
		sort.Strings(ids)
	}
	return p, nil
}

// typeOf returns the type part of a component or pipeline ID ("otlp_http/logs" -> "otlp_http").
func typeOf(id string) string { return strings.SplitN(id, "/", 2)[0] }

// inMetricsPipeline reports whether the receiver or connector id feeds a metrics pipeline.
func (p *pipeline) inMetricsPipeline(kind, id string) bool {
	for pid, def := range p.pipelines {
		if typeOf(pid) != "metrics" {
			continue
		}
		for _, r := range def.Receivers {
			if r == id {
				return true
			}
		}
	}
	return false
}

// componentConfig returns the config map of a component (nil when it has none).
func (p *pipeline) componentConfig(kind, id string) map[string]any {
	section, _ := p.raw[kind].(map[string]any)
	cfg, _ := section[id].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	return cfg
}

// remoteWriteSettings returns the translator settings of the metrics pipelines' remote-write
// exporter, built the way the exporter builds them from its config.
func (p *pipeline) remoteWriteSettings() (prometheusremotewrite.Settings, error) {
	var ids []string
	for _, id := range p.used[kindExporter] {
		if t := typeOf(id); t == "prometheus_remote_write" || t == "prometheusremotewrite" {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		return prometheusremotewrite.Settings{}, fmt.Errorf("%s: want exactly one prometheus_remote_write exporter, have %d", p.path, len(ids))
	}
	// Lookout's exporter names series as contrib's translator does with these settings
	// (exporters/prometheusremotewrite's TestTranslateMatchesContrib).
	cfg := prometheusremotewriteexporter.NewFactory().CreateDefaultConfig().(*prometheusremotewriteexporter.Config)
	if err := confmap.NewFromStringMap(p.componentConfig(kindExporter, ids[0])).Unmarshal(cfg); err != nil {
		return prometheusremotewrite.Settings{}, fmt.Errorf("%s: exporters::%s: %w", p.path, ids[0], err)
	}
	return prometheusremotewrite.Settings{
		Namespace:         cfg.Namespace,
		DisableTargetInfo: true,
		DisableScopeInfo:  cfg.DisableScopeInfo,
		AddMetricSuffixes: cfg.AddMetricSuffixes,
	}, nil
}

// selfExposition is how the collector exposes its own telemetry for the self-scrape.
type selfExposition struct {
	withoutUnits, withoutTypeSuffix bool
	level                           configtelemetry.Level
}

// selfScrape finds the prometheus receiver's scrape job that targets the collector's own
// telemetry endpoint, and how that endpoint names metrics.
func (p *pipeline) selfScrape() (string, selfExposition, error) {
	var exp selfExposition
	tcfg := otelconftelemetry.NewFactory().CreateDefaultConfig().(*otelconftelemetry.Config)
	svc, _ := p.raw["service"].(map[string]any)
	if t, ok := svc["telemetry"].(map[string]any); ok {
		if err := confmap.NewFromStringMap(t).Unmarshal(tcfg); err != nil {
			return "", exp, fmt.Errorf("%s: service::telemetry: %w", p.path, err)
		}
	}
	exp.level = tcfg.Metrics.Level
	port := 0
	for _, r := range tcfg.Metrics.Readers {
		if r.Pull == nil || r.Pull.Exporter.Prometheus == nil || r.Pull.Exporter.Prometheus.Port == nil {
			continue
		}
		prom := r.Pull.Exporter.Prometheus
		port = *prom.Port
		exp.withoutUnits = prom.WithoutUnits != nil && *prom.WithoutUnits
		exp.withoutTypeSuffix = prom.WithoutTypeSuffix != nil && *prom.WithoutTypeSuffix
		break
	}
	if port == 0 || exp.level == configtelemetry.LevelNone {
		return "", exp, nil
	}
	var jobs []string
	for _, id := range p.used[kindReceiver] {
		if typeOf(id) != "prometheus" || !p.inMetricsPipeline(kindReceiver, id) {
			continue
		}
		var rc struct {
			Config struct {
				ScrapeConfigs []struct {
					JobName       string `yaml:"job_name"`
					StaticConfigs []struct {
						Targets []string `yaml:"targets"`
					} `yaml:"static_configs"`
				} `yaml:"scrape_configs"`
			} `yaml:"config"`
		}
		b, _ := yaml.Marshal(p.componentConfig(kindReceiver, id))
		if err := yaml.Unmarshal(b, &rc); err != nil {
			return "", exp, fmt.Errorf("%s: receivers::%s::config: %w", p.path, id, err)
		}
		for _, sc := range rc.Config.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				for _, target := range st.Targets {
					if _, ps, err := net.SplitHostPort(target); err == nil && ps == strconv.Itoa(port) {
						jobs = append(jobs, sc.JobName)
					}
				}
			}
		}
	}
	switch len(jobs) {
	case 0:
		return "", exp, nil
	case 1:
		return jobs[0], exp, nil
	}
	return "", exp, errors.New("more than one scrape job targets the collector's own telemetry port " + strconv.Itoa(port) + ": " + strings.Join(jobs, ", "))
}
