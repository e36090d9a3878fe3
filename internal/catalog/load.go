package catalog

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/internal/catalog/emitted"
	"github.com/lookoutdev/lookout/internal/catalog/querycheck"
	"github.com/lookoutdev/lookout/internal/configlocate"
)

// Defaults.
const (
	DefaultGrafanaURL          = "http://localhost:3000"
	DefaultRunbookURL          = "https://github.com/lookoutdev/lookout/blob/main/docs/runbooks"
	DefaultNodeLabel           = "k8s_node_name"
	DefaultSecretsDir          = "/etc/alertmanager/secrets"
	DefaultSlackWebhookURLFile = DefaultSecretsDir + "/slack-webhook-url"
)

var (
	idPattern     = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	labelPattern  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	metricPattern = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	envPattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// DefaultBurnAlerts are the SRE workbook's multi-window multi-burn-rate alerts for a 30-day window:
// a page when 2% of the budget goes in 1h or 5% in 6h, a ticket when 10% goes in 1d or in 3d.
func DefaultBurnAlerts() []BurnAlert {
	d := func(s string) model.Duration { v, _ := model.ParseDuration(s); return v }
	return []BurnAlert{
		{Severity: SeverityCritical, For: d("2m"), Windows: []BurnWindow{
			{Long: d("1h"), Short: d("5m"), Factor: 14.4},
			{Long: d("6h"), Short: d("30m"), Factor: 6},
		}},
		{Severity: SeverityWarning, For: d("15m"), Windows: []BurnWindow{
			{Long: d("1d"), Short: d("2h"), Factor: 3},
			{Long: d("3d"), Short: d("6h"), Factor: 1},
		}},
	}
}

// Load reads the catalog at file and validates it against the metric list the agent emits
// (package emitted's committed list).
func Load(file string) (*Catalog, error) {
	metrics, err := emitted.Default()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return Parse(file, b, metrics)
}

// Parse validates a catalog; file names it in errors.
func Parse(file string, data []byte, metrics *emitted.List) (*Catalog, error) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		// CheckYAML names the line and column, also where yaml.v3 names none (invalid UTF-8,
		// control characters) or counts lines as editors do not.
		return nil, configlocate.CheckYAML([]configlocate.Source{{Name: file, Data: data}})
	}
	d := &decoder{file: file, root: &yaml.Node{Line: 1, Column: 1}, lines: configlocate.NewLineMap(data)}
	if len(doc.Content) == 0 {
		d.fail(d.root, "catalog", "the file is empty")
		return nil, d.err()
	}
	d.root = doc.Content[0]
	c := &Catalog{File: file, Metrics: metrics}
	top := d.fields(doc.Content[0], "", "version", "settings", "teams", "services")
	if v, e, ok := top.number("version", true, 0); ok && v != Version {
		d.fail(e.value, "version", "unsupported version %s (this lookout reads version %d)", e.value.Value, Version)
	}
	d.settings(c, top)
	if e, ok := top.get("teams"); ok {
		for _, te := range d.entries(e.value, "teams") {
			if t := d.team(c, te); t != nil {
				c.Teams = append(c.Teams, t)
			}
		}
	}
	if len(c.Teams) == 0 {
		top.missing("teams")
	}
	if e, ok := top.get("services"); ok {
		for _, se := range d.entries(e.value, "services") {
			if s := d.service(c, se); s != nil {
				c.Services = append(c.Services, s)
			}
		}
	}
	d.crossCheck(c)
	sort.Slice(c.Teams, func(i, j int) bool { return c.Teams[i].ID < c.Teams[j].ID })
	sort.Slice(c.Services, func(i, j int) bool { return c.Services[i].ID < c.Services[j].ID })
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// teamRefs records where teams are referred to, for the cross check.
type teamRef struct {
	team string
	e    entry
}

func (d *decoder) refTeam(team string, e entry) {
	d.refs = append(d.refs, teamRef{team, e})
}

// crossCheck reports references to teams that the catalog does not define.
func (d *decoder) crossCheck(c *Catalog) {
	for _, r := range d.refs {
		if c.TeamByID(r.team) == nil && len(c.Teams) > 0 {
			var ids []string
			for _, t := range c.Teams {
				ids = append(ids, t.ID)
			}
			sort.Strings(ids)
			d.fail(r.e.value, r.e.fullPath, "unknown team %q (teams: %s)", r.team, strings.Join(ids, ", "))
		}
	}
}

func (d *decoder) settings(c *Catalog, top *fields) {
	s := &c.Settings
	var sf *fields
	if e, ok := top.get("settings"); ok {
		sf = d.fields(e.value, "settings", "grafana_url", "runbook_url", "labels", "collector", "node", "slo", "alertmanager")
	} else {
		sf = d.fields(nil, "settings")
	}
	var e entry
	s.GrafanaURL, e = sf.str("grafana_url", false, DefaultGrafanaURL)
	d.checkURL(e, s.GrafanaURL)
	s.RunbookURL, e = sf.str("runbook_url", false, DefaultRunbookURL)
	d.checkURL(e, s.RunbookURL)
	s.GrafanaURL, s.RunbookURL = strings.TrimRight(s.GrafanaURL, "/"), strings.TrimRight(s.RunbookURL, "/")

	// labels
	lf := d.sub(sf, "labels", "service", "node", "log_service", "log_trace_id")
	defService := ""
	if c.Metrics != nil && c.Metrics.SpanMetrics != nil {
		defService = c.Metrics.SpanMetrics.Labels.Service
	}
	s.Labels.Service, e = lf.str("service", defService == "", defService)
	d.checkLabel(e, s.Labels.Service)
	s.Labels.Node, e = lf.str("node", false, DefaultNodeLabel)
	d.checkLabel(e, s.Labels.Node)
	s.Labels.LogService, e = lf.str("log_service", false, "service_name")
	d.checkLabel(e, s.Labels.LogService)
	s.Labels.LogTraceID, e = lf.str("log_trace_id", false, "trace_id")
	d.checkLabel(e, s.Labels.LogTraceID)

	// collector
	cf := d.sub(sf, "collector", "team", "job", "queue_full_ratio", "log_lag")
	s.Collector.Team, e = cf.str("team", true, "")
	if s.Collector.Team != "" {
		d.refTeam(s.Collector.Team, e)
	}
	defJob := ""
	if c.Metrics != nil {
		defJob = c.Metrics.SelfScrapeJob
	}
	s.Collector.Job, e = cf.str("job", false, defJob)
	if s.Collector.Job == "" {
		d.fail(cf.node, "settings.collector.job", "is required: the agent's pipeline (%s) has no self-scrape of its telemetry to default to", pipelineName(c.Metrics))
	}
	s.Collector.QueueFullRatio = cf.ratio("queue_full_ratio", 0.8)
	if le, ok := cf.get("log_lag"); ok {
		lf := d.fields(le.value, le.fullPath, "metric", "bytes", "for")
		ll := &LogLag{}
		var me entry
		ll.Metric, me = lf.str("metric", true, "")
		if ll.Metric != "" && c.Metrics != nil {
			// The Prometheus name, or the instrument's name before translation.
			if n, err := c.Metrics.Named(ll.Metric); err == nil {
				ll.Metric = n
			} else if err := c.Metrics.Unconditional(ll.Metric); err != nil {
				d.fail(me.value, me.fullPath, "%v", err)
			}
		}
		var be entry
		var ok bool
		ll.Bytes, be, ok = lf.number("bytes", true, 0)
		if ok && ll.Bytes <= 0 {
			d.fail(be.value, be.fullPath, "must be positive, got %s", be.value.Value)
		}
		ll.For, _, _ = lf.duration("for", false, model.Duration(10*time.Minute))
		s.Collector.LogLag = ll
	}

	// node
	nf := d.sub(sf, "node", "team", "filesystem_warning", "filesystem_critical", "memory_warning", "cpu_warning")
	s.Node.Team, e = nf.str("team", false, s.Collector.Team)
	if e.value != nil {
		d.refTeam(s.Node.Team, e)
	}
	s.Node.FilesystemWarning = nf.ratio("filesystem_warning", 0.85)
	s.Node.FilesystemCritical = nf.ratio("filesystem_critical", 0.95)
	if s.Node.FilesystemCritical <= s.Node.FilesystemWarning {
		d.fail(nf.node, "settings.node.filesystem_critical", "must be above filesystem_warning (%g), got %g", s.Node.FilesystemWarning, s.Node.FilesystemCritical)
	}
	s.Node.MemoryWarning = nf.ratio("memory_warning", 0.9)
	s.Node.CPUWarning = nf.ratio("cpu_warning", 0.9)

	// slo
	slf := d.sub(sf, "slo", "window", "alerts")
	s.SLO.Window, _, _ = slf.duration("window", false, model.Duration(30*24*time.Hour))
	s.SLO.Alerts = DefaultBurnAlerts()
	if ae, ok := slf.get("alerts"); ok {
		s.SLO.Alerts = d.burnAlerts(ae)
	}

	// alertmanager
	af := d.sub(sf, "alertmanager", "default_team", "secrets_dir", "slack_webhook_url_file", "pagerduty_url",
		"group_wait", "group_interval", "repeat_interval")
	s.Alertmanager.DefaultTeam, e = af.str("default_team", false, s.Collector.Team)
	if e.value != nil {
		d.refTeam(s.Alertmanager.DefaultTeam, e)
	}
	s.Alertmanager.SecretsDir, e = af.str("secrets_dir", false, DefaultSecretsDir)
	d.checkAbs(e, s.Alertmanager.SecretsDir)
	s.Alertmanager.SlackWebhookURLFile, e = af.str("slack_webhook_url_file", false, DefaultSlackWebhookURLFile)
	d.checkAbs(e, s.Alertmanager.SlackWebhookURLFile)
	s.Alertmanager.PagerDutyURL, e = af.str("pagerduty_url", false, "")
	if s.Alertmanager.PagerDutyURL != "" {
		d.checkURL(e, s.Alertmanager.PagerDutyURL)
	}
	s.Alertmanager.GroupWait, _, _ = af.duration("group_wait", false, model.Duration(30*time.Second))
	s.Alertmanager.GroupInterval, _, _ = af.duration("group_interval", false, model.Duration(5*time.Minute))
	s.Alertmanager.RepeatInterval, _, _ = af.duration("repeat_interval", false, model.Duration(4*time.Hour))
}

func pipelineName(l *emitted.List) string {
	if l == nil {
		return "unknown"
	}
	return l.Pipeline
}

// sub reads an optional sub-mapping of settings.
func (d *decoder) sub(parent *fields, key string, known ...string) *fields {
	if e, ok := parent.get(key); ok {
		return d.fields(e.value, e.fullPath, known...)
	}
	f := d.fields(nil, join(parent.path, key))
	f.node = parent.node
	return f
}

func (d *decoder) checkURL(e entry, v string) {
	if e.value == nil {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.fail(e.value, e.fullPath, "must be an absolute http(s) URL, got %q", v)
	}
}

func (d *decoder) checkAbs(e entry, v string) {
	if e.value != nil && !path.IsAbs(v) {
		d.fail(e.value, e.fullPath, "must be an absolute path, got %q", v)
	}
}

func (d *decoder) checkLabel(e entry, v string) {
	if e.value != nil && !labelPattern.MatchString(v) {
		d.fail(e.value, e.fullPath, "must be a Prometheus label name, got %q", v)
	}
}

func (d *decoder) checkID(e entry, what string) bool {
	if !idPattern.MatchString(e.key) {
		d.fail(e.keyNode, e.fullPath, "%s IDs are lower-case letters, digits and dashes, starting with a letter, at most 32 long; got %q", what, e.key)
		return false
	}
	return true
}

func (d *decoder) burnAlerts(e entry) []BurnAlert {
	if e.value.Kind != yaml.SequenceNode || len(e.value.Content) == 0 {
		d.fail(e.value, e.fullPath, "must be a non-empty list of alerts")
		return nil
	}
	var out []BurnAlert
	seen := map[string]bool{}
	for i, n := range e.value.Content {
		n = resolve(n)
		p := fmt.Sprintf("%s[%d]", e.fullPath, i)
		f := d.fields(n, p, "severity", "for", "windows")
		var a BurnAlert
		var se entry
		a.Severity, se = f.str("severity", true, "")
		if se.value != nil {
			if a.Severity != SeverityCritical && a.Severity != SeverityWarning {
				d.fail(se.value, se.fullPath, "must be critical or warning, got %q", a.Severity)
			} else if seen[a.Severity] {
				d.fail(se.value, se.fullPath, "a %s alert is already defined", a.Severity)
			}
			seen[a.Severity] = true
		}
		a.For, _, _ = f.duration("for", true, 0)
		we, ok := f.get("windows")
		if !ok {
			f.missing("windows")
		} else if we.value.Kind != yaml.SequenceNode || len(we.value.Content) == 0 {
			d.fail(we.value, we.fullPath, "must be a non-empty list of {long, short, factor}")
		} else {
			for j, wn := range we.value.Content {
				wn = resolve(wn)
				wf := d.fields(wn, fmt.Sprintf("%s[%d]", we.fullPath, j), "long", "short", "factor")
				var w BurnWindow
				var le, fe entry
				var okL, okS, okF bool
				w.Long, le, okL = wf.duration("long", true, 0)
				w.Short, _, okS = wf.duration("short", true, 0)
				w.Factor, fe, okF = wf.number("factor", true, 0)
				if okL && okS && w.Short >= w.Long {
					d.fail(le.value, le.fullPath, "must be longer than short (%s), got %s", w.Short, w.Long)
				}
				if okF && w.Factor <= 0 {
					d.fail(fe.value, fe.fullPath, "must be positive, got %s", fe.value.Value)
				}
				a.Windows = append(a.Windows, w)
			}
		}
		out = append(out, a)
	}
	return out
}

func (d *decoder) team(c *Catalog, e entry) *Team {
	if !d.checkID(e, "team") {
		return nil
	}
	t := &Team{ID: e.key}
	f := d.fields(e.value, e.fullPath, "name", "slack", "pagerduty")
	t.Name, _ = f.str("name", false, e.key)

	if se, ok := f.get("slack"); ok {
		sf := d.fields(se.value, se.fullPath, "channel", "webhook_url_file")
		var ce entry
		t.Slack.Channel, ce = sf.str("channel", true, "")
		if ce.value != nil && (!strings.HasPrefix(t.Slack.Channel, "#") || len(t.Slack.Channel) < 2 || strings.ContainsAny(t.Slack.Channel, " \t")) {
			d.fail(ce.value, ce.fullPath, "must be a channel name such as #checkout-alerts, got %q", t.Slack.Channel)
		}
		var we entry
		t.Slack.WebhookURLFile, we = sf.str("webhook_url_file", false, "")
		d.checkAbs(we, t.Slack.WebhookURLFile)
	} else {
		f.missing("slack")
	}

	if pe, ok := f.get("pagerduty"); ok {
		pf := d.fields(pe.value, pe.fullPath, "routing_key_file", "routing_key_env")
		var fe, ee entry
		t.PagerDuty.RoutingKeyFile, fe = pf.str("routing_key_file", false, "")
		t.PagerDuty.RoutingKeyEnv, ee = pf.str("routing_key_env", false, "")
		switch {
		case fe.value != nil && ee.value != nil:
			d.fail(ee.keyNode, ee.fullPath, "set routing_key_file or routing_key_env, not both")
		case fe.value == nil && ee.value == nil:
			d.fail(pe.value, pe.fullPath, "needs routing_key_file or routing_key_env")
		case fe.value != nil:
			d.checkAbs(fe, t.PagerDuty.RoutingKeyFile)
		case !envPattern.MatchString(t.PagerDuty.RoutingKeyEnv):
			d.fail(ee.value, ee.fullPath, "must be an environment variable name, got %q", t.PagerDuty.RoutingKeyEnv)
		}
	} else {
		f.missing("pagerduty")
	}
	return t
}

func (d *decoder) service(c *Catalog, e entry) *Service {
	if !d.checkID(e, "service") {
		return nil
	}
	s := &Service{ID: e.key, Metrics: map[string]string{}}
	f := d.fields(e.value, e.fullPath, "team", "tier", "description", "runtime", "slos", "metrics", "panels")
	var te entry
	s.Team, te = f.str("team", true, "")
	if te.value != nil {
		d.refTeam(s.Team, te)
	}
	tier, tierE, ok := f.number("tier", false, TierStandard)
	if ok && (tier != math.Trunc(tier) || tier < TierCritical || tier > TierBestEffort) {
		d.fail(tierE.value, tierE.fullPath, "must be 1 (critical), 2 (standard) or 3 (best effort), got %s", tierE.value.Value)
	}
	s.Tier = int(tier)
	s.Description, _ = f.str("description", false, "")
	var re entry
	s.Runtime, re = f.str("runtime", false, "")
	if re.value != nil && s.Runtime != "go" {
		d.fail(re.value, re.fullPath, `the only runtime with known metrics is "go", got %q`, s.Runtime)
	}

	if me, ok := f.get("metrics"); ok {
		for _, m := range d.entries(me.value, me.fullPath) {
			if !metricPattern.MatchString(m.key) {
				d.fail(m.keyNode, m.fullPath, "must be a Prometheus metric name")
				continue
			}
			if m.value.Kind != yaml.ScalarNode {
				d.fail(m.value, m.fullPath, "must be the metric's type, got %s", kindName(m.value))
				continue
			}
			switch m.value.Value {
			case emitted.TypeCounter, emitted.TypeGauge, emitted.TypeHistogram, emitted.TypeSummary:
				s.Metrics[m.key] = m.value.Value
			default:
				d.fail(m.value, m.fullPath, "must be counter, gauge, histogram or summary, got %q", m.value.Value)
			}
		}
	}

	if se, ok := f.get("slos"); ok {
		d.slos(c, s, se)
	} else {
		s.SLOs.Window = c.Settings.SLO.Window
	}

	if pe, ok := f.get("panels"); ok {
		if pe.value.Kind != yaml.SequenceNode {
			d.fail(pe.value, pe.fullPath, "must be a list of {title, query, unit}")
		} else {
			for i, n := range pe.value.Content {
				n = resolve(n)
				pf := d.fields(n, fmt.Sprintf("%s[%d]", pe.fullPath, i), "title", "query", "unit")
				var p Panel
				p.Title, _ = pf.str("title", true, "")
				p.Unit, _ = pf.str("unit", false, "short")
				var qe entry
				p.Query, qe = pf.str("query", true, "")
				if qe.value != nil {
					d.checkQuery(c, s, qe, p.Query)
				}
				s.Panels = append(s.Panels, p)
			}
		}
	}
	return s
}

// checkQuery parses a panel query (Grafana variables expanded) and checks its metric names.
func (d *decoder) checkQuery(c *Catalog, s *Service, e entry, q string) {
	expanded, err := querycheck.Expand(q, map[string]string{"service": s.ID})
	if err == nil {
		err = querycheck.Check(expanded, func(name string) error { return c.KnownMetric(s, name) })
	}
	if err != nil {
		d.fail(e.value, e.fullPath, "%v", err)
	}
}

func (d *decoder) slos(c *Catalog, s *Service, e entry) {
	f := d.fields(e.value, e.fullPath, "window", "availability", "latency")
	window, we, _ := f.duration("window", false, c.Settings.SLO.Window)
	s.SLOs.Window = window
	longest := model.Duration(0)
	for _, a := range c.Settings.SLO.Alerts {
		for _, w := range a.Windows {
			longest = max(longest, w.Long)
		}
	}
	if window < longest {
		n := we.value
		if n == nil {
			n = e.value
		}
		d.fail(n, join(e.fullPath, "window"), "must be at least the longest burn-rate window (%s), got %s", longest, window)
	}
	if ae, ok := f.get("availability"); ok {
		if obj, ok := d.objective(c, ae); ok {
			s.SLOs.Availability = &Availability{Objective: obj}
		}
	}
	if le, ok := f.get("latency"); ok {
		lf := d.fields(le.value, le.fullPath, "threshold", "objective")
		th, te, okT := lf.duration("threshold", true, 0)
		oe, okO := lf.get("objective")
		if !okO {
			lf.missing("objective")
		}
		var obj float64
		if okO {
			obj, okO = d.objective(c, oe)
		}
		if okT {
			le, err := bucketFor(c.Metrics, th)
			if err != nil {
				d.fail(te.value, te.fullPath, "%v", err)
				okT = false
			}
			if okT && okO {
				s.SLOs.Latency = &Latency{Threshold: th, Le: le, Objective: obj}
			}
		}
	}
	if s.SLOs.Availability == nil && s.SLOs.Latency == nil && len(d.errs) == 0 {
		d.fail(e.value, e.fullPath, "needs availability, latency or both")
	}
}

// objective reads a percentage SLO objective and checks that every burn-rate alert can fire.
func (d *decoder) objective(c *Catalog, e entry) (float64, bool) {
	if e.value.Kind != yaml.ScalarNode {
		d.fail(e.value, e.fullPath, "must be a percentage such as 99.9, got %s", kindName(e.value))
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(e.value.Value, "%"), 64)
	if err != nil {
		d.fail(e.value, e.fullPath, "must be a percentage such as 99.9, got %q", e.value.Value)
		return 0, false
	}
	if v <= 0 || v >= 100 {
		d.fail(e.value, e.fullPath, "must be above 0 and below 100, got %s", e.value.Value)
		return 0, false
	}
	budget := ErrorBudget(v)
	for _, a := range c.Settings.SLO.Alerts {
		for _, w := range a.Windows {
			if w.Factor*budget >= 1 {
				d.fail(e.value, e.fullPath, "objective %s%% leaves a %.4g error budget; burning it %g× (the %s alert over %s) needs more than 100%% errors, so that alert could never fire: raise the objective", e.value.Value, budget, w.Factor, a.Severity, w.Long)
				return 0, false
			}
		}
	}
	return v, true
}

// bucketFor returns the span-metrics histogram bound equal to a latency threshold.
func bucketFor(l *emitted.List, th model.Duration) (string, error) {
	if l == nil || l.SpanMetrics == nil {
		return "", errors.New("the agent's pipeline has no span_metrics connector, so latency SLOs cannot be measured")
	}
	sm := l.SpanMetrics
	var want float64
	switch sm.DurationUnit {
	case "s":
		want = time.Duration(th).Seconds()
	case "ms":
		want = float64(time.Duration(th)) / float64(time.Millisecond)
	default:
		return "", fmt.Errorf("span metrics duration unit %q is not supported", sm.DurationUnit)
	}
	var have []string
	for _, b := range sm.Buckets {
		v, err := strconv.ParseFloat(b, 64)
		if err != nil {
			return "", fmt.Errorf("bucket %q: %w", b, err)
		}
		if math.Abs(v-want) < 1e-9*math.Max(1, want) {
			return b, nil
		}
		have = append(have, b+sm.DurationUnit)
	}
	return "", fmt.Errorf("%s is not a bucket bound of the agent's span-metrics histogram, so the share of requests under it cannot be counted; use one of %s", th, strings.Join(have, ", "))
}
