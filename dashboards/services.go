package dashboards

import (
	"fmt"
	"strconv"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/logs"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/tempo"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/sli"
)

// Variables of a service dashboard.
const (
	VarService = "service"
	VarTraceID = "trace_id"
	VarNode    = "node"
)

// rateWindow is the range of rate() in panels: Grafana's $__rate_interval.
const rateWindow = "$__rate_interval"

// durationUnit is the Grafana unit of the span-metrics duration histogram.
func durationUnit(q *sli.Builder) string {
	if q.SpanMetrics().DurationUnit == "ms" {
		return "ms"
	}
	return "s"
}

// --- overview ----------------------------------------------------------------------------------

func overview(c *catalog.Catalog, q *sli.Builder) *dashboard.DashboardBuilder {
	d := newDashboard(catalog.OverviewUID, "Lookout / Services overview",
		"Every service of the catalog: request rate, error ratio, latency percentiles and the SLO error budget left (from span metrics).", "overview").
		Link(dashboardLink("Collector health", c.DashboardURL(catalog.CollectorUID))).
		Link(dashboardLink("Nodes", c.DashboardURL(catalog.NodesUID)))
	for _, s := range c.Services {
		d = d.WithRow(dashboard.NewRowBuilder(fmt.Sprintf("%s (team %s, tier %d)", s.ID, s.Team, s.Tier)))
		link := []cogLink{dashboardLink(s.ID+" dashboard", c.DashboardURL(catalog.ServiceDashboardUID(s.ID)))}
		d = d.
			WithPanel(overviewRate(q, s).Links(link)).
			WithPanel(overviewErrors(q, s).Links(link)).
			WithPanel(overviewLatency(q, s).Links(link))
		d = d.WithPanel(budgetPanel(q, s, catalog.SLOAvailabilityKind, 3, 8))
		d = d.WithPanel(budgetPanel(q, s, catalog.SLOLatencyKind, 3, 8))
	}
	return d
}

func overviewRate(q *sli.Builder, s *catalog.Service) *timeseries.PanelBuilder {
	return series(s.ID+": requests", "reqps", prom(q.RequestRate(s.ID, rateWindow), "{{"+q.ServiceLabel()+"}}")).Span(6)
}

func overviewErrors(q *sli.Builder, s *catalog.Service) *timeseries.PanelBuilder {
	p := series(s.ID+": error ratio", "percentunit", prom(q.ErrorRatio(s.ID, rateWindow), "error ratio")).Span(6).Min(0)
	if a := s.SLOs.Availability; a != nil {
		p = p.Thresholds(thresholds("green", catalog.ErrorBudget(a.Objective), "red")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
	}
	return p
}

func overviewLatency(q *sli.Builder, s *catalog.Service) *timeseries.PanelBuilder {
	return latencyPanel(q, s, s.ID+": latency").Span(6)
}

func latencyPanel(q *sli.Builder, s *catalog.Service, title string) *timeseries.PanelBuilder {
	p := series(title, durationUnit(q),
		prom(q.Quantile(0.5, s.ID, rateWindow), "p50"),
		prom(q.Quantile(0.95, s.ID, rateWindow), "p95"),
		prom(q.Quantile(0.99, s.ID, rateWindow), "p99"),
	).Min(0)
	if l := s.SLOs.Latency; l != nil {
		th, _ := strconv.ParseFloat(l.Le, 64)
		p = p.Thresholds(thresholds("green", th, "red")).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
	}
	return p
}

// budgetPanel shows the share of an SLO's error budget left over its window, or says that the
// service has no such SLO.
func budgetPanel(q *sli.Builder, s *catalog.Service, kind string, span, height uint32) cogPanel {
	var objective float64
	var bad, title string
	switch kind {
	case catalog.SLOAvailabilityKind:
		if s.SLOs.Availability == nil {
			return textPanel(s.ID+": availability budget", "No availability SLO in the catalog.", span, height)
		}
		objective = s.SLOs.Availability.Objective
		bad = q.ErrorRatio(s.ID, s.SLOs.Window.String())
		title = fmt.Sprintf("%s: availability budget left (%s over %s)", s.ID, pct(objective), s.SLOs.Window)
	default:
		l := s.SLOs.Latency
		if l == nil {
			return textPanel(s.ID+": latency budget", "No latency SLO in the catalog.", span, height)
		}
		objective = l.Objective
		bad = q.SlowRatio(s.ID, l.Le, s.SLOs.Window.String())
		title = fmt.Sprintf("%s: latency budget left (%s within %s over %s)", s.ID, pct(objective), l.Threshold, s.SLOs.Window)
	}
	return single(title, "percentunit", promInstant(q.BudgetRemaining(s.ID, bad, objective), "budget left")).
		Span(span).Height(height).Min(0).Max(1).
		Thresholds(thresholds("red", 0.0, "orange", 0.25, "green"))
}

// --- one service ---------------------------------------------------------------------------------

func serviceDashboard(c *catalog.Catalog, q *sli.Builder, s *catalog.Service) (*dashboard.DashboardBuilder, error) {
	desc := s.Description
	if desc == "" {
		desc = s.ID
	}
	d := newDashboard(catalog.ServiceDashboardUID(s.ID), "Lookout / Service / "+s.ID,
		fmt.Sprintf("%s Team %s, tier %d. RED metrics from span metrics, the service's own metrics, its logs and traces.", desc, s.Team, s.Tier),
		"service", "team-"+s.Team).
		WithVariable(datasourceVar(VarLoki, TypeLoki, "Loki")).
		WithVariable(datasourceVar(VarTempo, TypeTempo, "Tempo")).
		WithVariable(dashboard.NewConstantVariableBuilder(VarService).Value(dashboard.StringOrMap{String: ptr(s.ID)})).
		WithVariable(dashboard.NewTextBoxVariableBuilder(VarTraceID).Label("Trace ID").
			Description("Shows this trace and only its log lines; set it by clicking a trace ID below.")).
		Link(dashboardLink("Services overview", c.DashboardURL(catalog.OverviewUID))).
		Link(dashboardLink("Collector health", c.DashboardURL(catalog.CollectorUID)))

	svc := "$" + VarService
	// Requests, errors, duration.
	d = d.WithRow(dashboard.NewRowBuilder("Requests, errors and duration (span metrics of server spans)")).
		WithPanel(series("Requests by operation", "reqps", prom(q.RateBy(svc, rateWindow, false, q.SpanMetrics().Labels.SpanName), "{{"+q.SpanMetrics().Labels.SpanName+"}}"))).
		WithPanel(series("Errors by operation", "reqps", prom(q.RateBy(svc, rateWindow, true, q.SpanMetrics().Labels.SpanName), "{{"+q.SpanMetrics().Labels.SpanName+"}}"))).
		WithPanel(latencyPanel(q, s, "Duration"))

	// SLOs.
	d = d.WithRow(dashboard.NewRowBuilder("SLOs"))
	for _, kind := range []string{catalog.SLOAvailabilityKind, catalog.SLOLatencyKind} {
		d = d.WithPanel(budgetPanel(q, s, kind, 6, 6))
	}
	if a := s.SLOs.Availability; a != nil {
		d = d.WithPanel(series(fmt.Sprintf("Availability burn rate (objective %s)", pct(a.Objective)), "x",
			prom(fmt.Sprintf("(\n%s\n) / %s", q.ErrorRatio(svc, "1h"), sli.FormatFloat(catalog.ErrorBudget(a.Objective))), "1h"),
			prom(fmt.Sprintf("(\n%s\n) / %s", q.ErrorRatio(svc, "6h"), sli.FormatFloat(catalog.ErrorBudget(a.Objective))), "6h"),
		).Span(6).Height(6).Min(0))
	}
	if l := s.SLOs.Latency; l != nil {
		d = d.WithPanel(series(fmt.Sprintf("Latency burn rate (%s within %s)", pct(l.Objective), l.Threshold), "x",
			prom(fmt.Sprintf("(\n%s\n) / %s", q.SlowRatio(svc, l.Le, "1h"), sli.FormatFloat(catalog.ErrorBudget(l.Objective))), "1h"),
			prom(fmt.Sprintf("(\n%s\n) / %s", q.SlowRatio(svc, l.Le, "6h"), sli.FormatFloat(catalog.ErrorBudget(l.Objective))), "6h"),
		).Span(6).Height(6).Min(0))
	}

	// The service's own metrics.
	svcSel := sli.Matcher(c.Settings.Labels.Service, svc)
	d = d.WithRow(dashboard.NewRowBuilder("Own metrics (scraped from the service's /metrics)")).
		WithPanel(series("Scrape targets up", "short", prom(fmt.Sprintf("sum by (instance) (up{%s})", svcSel), "{{instance}}")).Min(0))
	for _, p := range s.Panels {
		d = d.WithPanel(series(p.Title, p.Unit, prom(p.Query, "")))
	}
	if s.Runtime == "go" {
		d = d.
			WithPanel(series("CPU", "short", prom(fmt.Sprintf("sum by (instance) (rate(process_cpu_seconds_total{%s}[%s]))", svcSel, rateWindow), "{{instance}}"))).
			WithPanel(series("Resident memory", "bytes", prom(fmt.Sprintf("sum by (instance) (process_resident_memory_bytes{%s})", svcSel), "{{instance}}"))).
			WithPanel(series("Goroutines", "short", prom(fmt.Sprintf("sum by (instance) (go_goroutines{%s})", svcSel), "{{instance}}")))
	}

	// Logs and traces, linked by trace ID.
	d = d.WithRow(dashboard.NewRowBuilder("Logs and traces (click a trace ID to see the trace and its lines)"))
	for _, p := range logsAndTraces(c, s) {
		d = d.WithPanel(p)
	}
	return d, nil
}

// traceLink is the URL that shows one trace on this dashboard: the same data sources and time,
// and trace_id set.
func traceLink(c *catalog.Catalog, s *catalog.Service) string {
	return fmt.Sprintf("/d/%s?${%s:queryparam}&${%s:queryparam}&${%s:queryparam}&var-%s=${__value.raw}&${__url_time_range}",
		catalog.ServiceDashboardUID(s.ID), VarPrometheus, VarLoki, VarTempo, VarTraceID)
}

func logsAndTraces(c *catalog.Catalog, s *catalog.Service) []cogPanel {
	lbl := c.Settings.Labels
	stream := fmt.Sprintf(`{%s="$%s"}`, lbl.LogService, VarService)
	link := traceLink(c, s)
	logsPanel := logs.NewPanelBuilder().Title("Log lines (of the selected trace, when one is set)").
		Datasource(ds(TypeLoki, VarLoki)).Span(24).Height(10).
		ShowTime(true).WrapLogMessage(true).EnableLogDetails(true).SortOrder(common.LogsSortOrderDescending).
		WithTarget(lokiQuery(fmt.Sprintf(`%s | %s=~"$%s.*"`, stream, lbl.LogTraceID, VarTraceID))).
		OverrideByName(lbl.LogTraceID, linkOverride("Show this trace", link))
	traceIDs := table.NewPanelBuilder().Title("Trace IDs in the logs").
		Description("Distinct trace IDs of recent log lines; click one to see its trace and lines.").
		Datasource(ds(TypeLoki, VarLoki)).Span(8).Height(10).
		WithTarget(lokiQuery(fmt.Sprintf(`%s | %s!="" | line_format "{{.%s}}"`, stream, lbl.LogTraceID, lbl.LogTraceID)).MaxLines(200)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "groupBy", Options: map[string]any{
			"fields": map[string]any{"Line": map[string]any{"aggregations": []string{}, "operation": "groupby"}},
		}}).
		OverrideByName("Line", append(linkOverride("Show this trace", link),
			dashboard.DynamicConfigValue{Id: "displayName", Value: "Trace ID"}))
	search := table.NewPanelBuilder().Title("Recent traces").
		Datasource(ds(TypeTempo, VarTempo)).Span(16).Height(10).
		WithTarget(tempoQuery(fmt.Sprintf(`{ resource.service.name = "$%s" }`, VarService)).
			TableType(tempo.SearchTableTypeTraces).Limit(20)).
		OverrideByName("traceID", linkOverride("Show this trace and its log lines", link))
	trace := dashboard.NewPanelBuilder().Type("traces").Title("Trace $" + VarTraceID).
		Datasource(ds(TypeTempo, VarTempo)).Span(24).Height(14).
		WithTarget(tempoQuery("$" + VarTraceID))
	return []cogPanel{traceIDs, search, trace, logsPanel}
}
