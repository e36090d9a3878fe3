package alerts

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/sli"
)

// SLO kinds, the value of the `slo` label.
const (
	SLOAvailability = catalog.SLOAvailabilityKind
	SLOLatency      = catalog.SLOLatencyKind
)

// requestsPerMinute is the request count per minute of the promtool inputs: large enough that
// any ratio the tests need is a whole number of requests.
const requestsPerMinute = 100000

// sloFile builds a service's SLI recording rules and burn-rate alerts.
func (b *builder) sloFile(s *catalog.Service) (*RuleFile, error) {
	if s.SLOs.Availability == nil && s.SLOs.Latency == nil {
		return nil, nil
	}
	q, err := sli.New(b.c)
	if err != nil {
		return nil, err
	}
	g := Group{Name: "slo-" + s.ID}
	windows := sli.Windows(b.c)
	f := &RuleFile{Name: "slo-" + s.ID + ".yaml"}
	type sloDef struct {
		kind, alert, record string
		objective           float64
	}
	var defs []sloDef
	if a := s.SLOs.Availability; a != nil {
		for _, w := range windows {
			g.Rules = append(g.Rules, Rule{Record: sli.Record(sli.RecordErrorRatio, w), Expr: q.ErrorRatio(s.ID, w.String())})
		}
		defs = append(defs, sloDef{SLOAvailability, AlertErrorBudgetBurn, sli.RecordErrorRatio, a.Objective})
	}
	if l := s.SLOs.Latency; l != nil {
		for _, w := range windows {
			g.Rules = append(g.Rules, Rule{Record: sli.Record(sli.RecordSlowRatio, w), Expr: q.SlowRatio(s.ID, l.Le, w.String())})
		}
		defs = append(defs, sloDef{SLOLatency, AlertLatencyBudgetBurn, sli.RecordSlowRatio, l.Objective})
	}
	var sevs []catalog.BurnAlert
	for _, a := range b.c.Settings.SLO.Alerts {
		if a.Severity == catalog.SeverityCritical && !s.Pages() {
			continue // tier 3: no page, only the slow-burn ticket
		}
		sevs = append(sevs, a)
	}
	for _, d := range defs {
		b.kinds[d.alert] = "slo"
		b.summaries[d.alert] = fmt.Sprintf("A service burns its %s error budget too fast.", d.kind)
		var specs []alertSpec
		for _, a := range sevs {
			sp, err := b.burnSpec(q, s, d.kind, d.alert, d.record, d.objective, a, sevs)
			if err != nil {
				return nil, err
			}
			g.Rules = append(g.Rules, sp.rule)
			specs = append(specs, sp)
		}
		f.specs = append(f.specs, specs...)
		f.extra = append(f.extra, fastWindowCases(specs)...)
		f.extra = append(f.extra, recoveryCases(specs)...)
	}
	f.Groups = []Group{g}
	return f, nil
}

// sloText says what the SLO promises, e.g. "99.5% of requests succeed over 30d".
func sloText(s *catalog.Service, kind string) string {
	switch kind {
	case SLOLatency:
		l := s.SLOs.Latency
		return fmt.Sprintf("%s%% of requests finish within %s over %s", catalog.FormatPercent(l.Objective), l.Threshold, s.SLOs.Window)
	default:
		return fmt.Sprintf("%s%% of requests succeed over %s", catalog.FormatPercent(s.SLOs.Availability.Objective), s.SLOs.Window)
	}
}

// thresholdText describes when a burn alert fires, e.g. "14.4× over 1h and 5m, or 6× over 6h and 30m".
func thresholdText(a catalog.BurnAlert) string {
	var parts []string
	for _, w := range a.Windows {
		parts = append(parts, fmt.Sprintf("%s× over %s and %s", sli.FormatFloat(w.Factor), w.Long, w.Short))
	}
	return strings.Join(parts, ", or ")
}

func minFactor(a catalog.BurnAlert) float64 {
	m := math.Inf(1)
	for _, w := range a.Windows {
		m = math.Min(m, w.Factor)
	}
	return m
}

func maxFactor(a catalog.BurnAlert) float64 {
	m := 0.0
	for _, w := range a.Windows {
		m = math.Max(m, w.Factor)
	}
	return m
}

var severityRank = map[string]int{catalog.SeverityCritical: 2, catalog.SeverityWarning: 1, catalog.SeverityInfo: 0}

// burnSpec builds one multi-window burn-rate alert and its test scenarios.
func (b *builder) burnSpec(q *sli.Builder, s *catalog.Service, kind, alert, record string, objective float64, a catalog.BurnAlert, all []catalog.BurnAlert) (alertSpec, error) {
	budget := catalog.ErrorBudget(objective)
	svc := sli.Matcher(q.ServiceLabel(), s.ID)
	var branches []string
	for _, w := range a.Windows {
		branches = append(branches, fmt.Sprintf("(\n  %s{%s} / %s > %s\nand\n  %s{%s} / %s > %s\n)",
			sli.Record(record, w.Long), svc, sli.FormatFloat(budget), sli.FormatFloat(w.Factor),
			sli.Record(record, w.Short), svc, sli.FormatFloat(budget), sli.FormatFloat(w.Factor)))
	}
	slo := sloText(s, kind)
	describe := func(burn string) string {
		return fmt.Sprintf("%s spends its %s error budget %s× as fast as its SLO allows (%s). This %s alert fires at %s, for %s.",
			s.ID, kind, burn, slo, a.Severity, thresholdText(a), a.For)
	}
	const burnTmpl = `{{ printf "%.1f" $value }}`
	rule := Rule{
		Alert: alert,
		Expr:  strings.Join(branches, "\nor\n"),
		For:   a.For.String(),
		Labels: map[string]string{
			"severity": a.Severity, "team": s.Team, "service": s.ID, "slo": kind,
		},
		Annotations: map[string]string{
			"summary":       fmt.Sprintf("%s is burning its %s error budget too fast.", s.ID, kind),
			"description":   describe(burnTmpl),
			"slo":           slo,
			"burn_rate":     burnTmpl,
			"runbook_url":   b.c.RunbookURL(alert),
			"dashboard_url": b.c.DashboardURL(catalog.ServiceDashboardUID(s.ID)),
		},
	}
	if time.Duration(a.For) < time.Minute {
		return alertSpec{}, fmt.Errorf("settings.slo.alerts: %s: `for` must be at least 1m so that its promtool test can watch it wait", a.Severity)
	}

	// Firing input: a constant bad ratio whose burn rate exceeds every factor of this alert and,
	// when possible, none of a more severe one.
	lo := maxFactor(a)
	hi := math.Inf(1)
	for _, o := range all {
		if severityRank[o.Severity] > severityRank[a.Severity] {
			hi = math.Min(hi, minFactor(o))
		}
	}
	burn := lo * 2
	if !math.IsInf(hi, 1) && hi > lo {
		burn = (lo + hi) / 2
	}
	burn = math.Min(burn, (lo+1/budget)/2) // a ratio below 1
	bad := int(math.Round(burn * budget * requestsPerMinute))
	for float64(bad)/requestsPerMinute/budget <= lo {
		bad++
	}
	actual := float64(bad) / requestsPerMinute / budget
	fire := scenario{
		series:   b.sloSeries(q, s, kind, bad),
		activeAt: time.Minute, // rates need two samples
		labels:   map[string]string{q.ServiceLabel(): s.ID},
		annotations: labels(rule.Annotations, map[string]string{
			"description": describe(fmt.Sprintf("%.1f", actual)),
			"burn_rate":   fmt.Sprintf("%.1f", actual),
		}),
	}
	for _, o := range all {
		if o.Severity != a.Severity && actual > minFactor(o) {
			if o.For <= a.For {
				return alertSpec{}, fmt.Errorf("%s %s: the %s alert's `for` (%s) must be longer than the %s alert's (%s) for the tests to tell them apart", s.ID, kind, o.Severity, o.For, a.Severity, a.For)
			}
			fire.alsoHolds = append(fire.alsoHolds, o.Severity)
		}
	}
	sort.Strings(fire.alsoHolds)
	info := &burnInfo{
		alert: a, budget: budget,
		series: func(isBad func(int) bool, bad, minutes int) []InputSeries {
			return b.sloSeriesPhased(q, s, kind, isBad, bad, minutes)
		},
		expect: func(value float64) ExpAlert {
			v := fmt.Sprintf("%.1f", value)
			return ExpAlert{
				ExpLabels:      labels(map[string]string{q.ServiceLabel(): s.ID}, rule.Labels),
				ExpAnnotations: labels(rule.Annotations, map[string]string{"description": describe(v), "burn_rate": v}),
			}
		},
	}

	// Silent input: half the lowest factor of any alert.
	low := math.Inf(1)
	for _, o := range all {
		low = math.Min(low, minFactor(o))
	}
	silentBad := int(math.Floor(low / 2 * budget * requestsPerMinute))
	silent := scenario{series: b.sloSeries(q, s, kind, silentBad)}
	return alertSpec{rule: rule, fire: fire, silent: silent, burn: info}, nil
}

// sloSeries is promtool input for a service whose share of bad requests is bad/requestsPerMinute.
func (b *builder) sloSeries(q *sli.Builder, s *catalog.Service, kind string, bad int) []InputSeries {
	return b.sloSeriesPhased(q, s, kind, func(int) bool { return true }, bad, testMinutes)
}

// sloSeriesPhased is input where, in the minutes isBad says, bad of every requestsPerMinute
// requests fail (or are slow), and none in the others; minutes in all.
func (b *builder) sloSeriesPhased(q *sli.Builder, s *catalog.Service, kind string, isBad func(int) bool, bad, minutes int) []InputSeries {
	sm := q.SpanMetrics()
	base := map[string]string{
		q.ServiceLabel():         s.ID,
		sm.Labels.SpanKind:       sm.Values.SpanKindServer,
		sm.Labels.SpanName:       "GET /" + s.ID,
		b.c.Settings.Labels.Node: "node-1",
	}
	good := requestsPerMinute - bad
	if kind == SLOLatency {
		return []InputSeries{
			{Series: seriesName(sm.Duration+"_bucket", labels(base, map[string]string{"le": s.SLOs.Latency.Le})), Values: counterSeries(requestsPerMinute, good, isBad, minutes)},
			{Series: seriesName(sm.Duration+"_count", base), Values: counterSeries(requestsPerMinute, requestsPerMinute, isBad, minutes)},
		}
	}
	// Successful spans are UNSET or OK; only ERROR counts as failed.
	return []InputSeries{
		{Series: seriesName(sm.Calls, labels(base, map[string]string{sm.Labels.StatusCode: "STATUS_CODE_UNSET"})), Values: counterSeries(requestsPerMinute, good, isBad, minutes)},
		{Series: seriesName(sm.Calls, labels(base, map[string]string{sm.Labels.StatusCode: sm.Values.StatusCodeError})), Values: counterSeries(0, bad, isBad, minutes)},
	}
}
