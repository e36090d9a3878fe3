package alerts

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/querycheck"
)

// Rule is a Prometheus recording or alerting rule, in rule-file order of fields.
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Group is a rule group; Prometheus evaluates its rules in order, so recording rules come before
// the alerts that read them.
type Group struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// RuleFile is one Prometheus rule file with the promtool tests of its alerts.
type RuleFile struct {
	// Name is the file name under alerts/generated/rules/.
	Name   string  `yaml:"-"`
	Groups []Group `yaml:"groups"`

	specs []alertSpec
	// extra are test cases beyond one firing and one silent case per alert.
	extra []TestCase
}

// Alert describes one generated alert name, for runbooks and docs.
type Alert struct {
	Name       string
	Summary    string
	Severities []string
	// Kind says which builder made it: slo, collector or node.
	Kind string
	// Teams are the teams it can be routed to.
	Teams []string
	// Services lists the services (for SLO alerts) it is generated for.
	Services []*catalog.Service
}

// RuleSet is every rule generated from a catalog.
type RuleSet struct {
	Files  []*RuleFile
	Alerts []*Alert
}

// Alert names.
const (
	AlertErrorBudgetBurn      = "ServiceErrorBudgetBurn"
	AlertLatencyBudgetBurn    = "ServiceLatencyBudgetBurn"
	AlertAgentDown            = "LookoutAgentDown"
	AlertReceiverRefusing     = "LookoutReceiverRefusingData"
	AlertExporterSendFailing  = "LookoutExporterSendFailing"
	AlertExporterDropping     = "LookoutExporterDroppingData"
	AlertExporterQueueFull    = "LookoutExporterQueueNearlyFull"
	AlertMemoryLimiterRefuses = "LookoutMemoryLimiterRefusingData"
	AlertLogTailingLag        = "LookoutLogTailingLag"
	AlertNodeFilesystem       = "NodeFilesystemAlmostFull"
	AlertNodeMemory           = "NodeMemoryPressure"
	AlertNodeCPU              = "NodeCPUSaturated"
)

// Values of the `service` label of alerts that are not about a catalog service.
const (
	ServiceAgent = "lookout-agent"
	ServiceNode  = "node"
)

// alertSpec is an alerting rule with the scenarios its promtool tests run.
type alertSpec struct {
	rule Rule
	// fire makes the expression hold from activeAt on; silent never makes it hold.
	fire, silent scenario
	// burn is set for burn-rate alerts.
	burn *burnInfo
}

// scenario is input for one promtool test case.
type scenario struct {
	series []InputSeries
	// activeAt is the first evaluation at which the expression holds (fire only).
	activeAt time.Duration
	// labels are the labels the expression's result carries (fire only).
	labels map[string]string
	// annotations are the annotations as Prometheus must render them (fire only).
	annotations map[string]string
	// alsoHolds are severities of other rules with the same alert name whose expression also
	// holds on this input; they must wait longer (`for`) than this rule.
	alsoHolds []string
}

// Build generates the rules of a catalog.
func Build(c *catalog.Catalog) (*RuleSet, error) {
	b, err := newBuilder(c)
	if err != nil {
		return nil, err
	}
	rs := &RuleSet{}
	var errs []error
	for _, s := range c.Services {
		f, err := b.sloFile(s)
		errs = append(errs, err)
		if f != nil {
			rs.Files = append(rs.Files, f)
		}
	}
	for _, fn := range []func() (*RuleFile, error){b.collectorFile, b.nodeFile} {
		f, err := fn()
		errs = append(errs, err)
		if f != nil {
			rs.Files = append(rs.Files, f)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	rs.Alerts = b.alertList(rs)
	if err := rs.check(c); err != nil {
		return nil, err
	}
	return rs, nil
}

func (b *builder) alertList(rs *RuleSet) []*Alert {
	byName := map[string]*Alert{}
	var out []*Alert
	for _, f := range rs.Files {
		for _, sp := range f.specs {
			a := byName[sp.rule.Alert]
			if a == nil {
				a = &Alert{Name: sp.rule.Alert, Summary: b.summaries[sp.rule.Alert], Kind: b.kinds[sp.rule.Alert]}
				byName[a.Name] = a
				out = append(out, a)
			}
			if !contains(a.Severities, sp.rule.Labels["severity"]) {
				a.Severities = append(a.Severities, sp.rule.Labels["severity"])
			}
			if !contains(a.Teams, sp.rule.Labels["team"]) {
				a.Teams = append(a.Teams, sp.rule.Labels["team"])
			}
			if s := b.c.ServiceByID(sp.rule.Labels["service"]); s != nil && (len(a.Services) == 0 || a.Services[len(a.Services)-1] != s) {
				a.Services = append(a.Services, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for _, a := range out {
		sort.Strings(a.Severities)
		sort.Strings(a.Teams)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Records returns the names of all recording rules.
func (rs *RuleSet) Records() map[string]bool {
	out := map[string]bool{}
	for _, f := range rs.Files {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					out[r.Record] = true
				}
			}
		}
	}
	return out
}

// Exprs returns every rule expression, keyed by "file/group/record-or-alert#n".
func (rs *RuleSet) Exprs() map[string]string {
	out := map[string]string{}
	for _, f := range rs.Files {
		for _, g := range f.Groups {
			for i, r := range g.Rules {
				out[fmt.Sprintf("%s/%s/%s#%d", f.Name, g.Name, r.Record+r.Alert, i)] = r.Expr
			}
		}
	}
	return out
}

// check parses every expression and checks its metric names: emitted by the agent, or recorded
// by an earlier rule of the same group.
func (rs *RuleSet) check(c *catalog.Catalog) error {
	var errs []error
	for _, f := range rs.Files {
		for _, g := range f.Groups {
			recorded := map[string]bool{}
			for _, r := range g.Rules {
				err := querycheck.Check(r.Expr, func(name string) error {
					if recorded[name] {
						return nil
					}
					return c.KnownMetric(nil, name)
				})
				if err != nil {
					errs = append(errs, fmt.Errorf("rules/%s: group %s: %s%s: %w", f.Name, g.Name, r.Record, r.Alert, err))
				}
				if r.Record != "" {
					recorded[r.Record] = true
				}
			}
		}
	}
	return errors.Join(errs...)
}

// builder holds what every rule needs.
type builder struct {
	c         *catalog.Catalog
	node      string // node label
	job       string // selector of the agent's own metrics
	summaries map[string]string
	kinds     map[string]string
}

func newBuilder(c *catalog.Catalog) (*builder, error) {
	return &builder{
		c:         c,
		node:      c.Settings.Labels.Node,
		job:       `job=` + quote(c.Settings.Collector.Job),
		summaries: map[string]string{},
		kinds:     map[string]string{},
	}, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// metric returns the Prometheus name of an agent metric from its name before translation.
func (b *builder) metric(from string) (string, error) {
	return b.c.Metrics.Named(from)
}

// dur prints a Go duration as a Prometheus duration.
func dur(d time.Duration) string { return model.Duration(d).String() }

// labels merges label maps (later wins).
func labels(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// indent indents every line but the first by n spaces.
func indent(s string, n int) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}
