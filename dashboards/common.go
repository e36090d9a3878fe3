package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/loki"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/tempo"
	"github.com/grafana/grafana-foundation-sdk/go/text"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Datasource template variables: every dashboard lets its user pick the data sources, so that the
// JSON imports as it is into any Grafana.
const (
	VarPrometheus = "prometheus"
	VarLoki       = "loki"
	VarTempo      = "tempo"
)

// Datasource plugin types.
const (
	TypePrometheus = "prometheus"
	TypeLoki       = "loki"
	TypeTempo      = "tempo"
)

func ptr[T any](v T) *T { return &v }

// ds refers to the data source chosen in a datasource variable.
func ds(pluginType, variable string) common.DataSourceRef {
	return common.DataSourceRef{Type: ptr(pluginType), Uid: ptr("${" + variable + "}")}
}

// datasourceVar is a datasource template variable.
func datasourceVar(name, pluginType, label string) *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder(name).Label(label).Type(pluginType)
}

// prom is a Prometheus range query.
func prom(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().Datasource(ds(TypePrometheus, VarPrometheus)).Expr(expr).Range()
	if legend != "" {
		q = q.LegendFormat(legend)
	}
	return q
}

// promInstant is a Prometheus instant query (for stats).
func promInstant(expr, legend string) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().Datasource(ds(TypePrometheus, VarPrometheus)).Expr(expr).Instant()
	if legend != "" {
		q = q.LegendFormat(legend)
	}
	return q
}

// lokiQuery is a LogQL query.
func lokiQuery(expr string) *loki.DataqueryBuilder {
	return loki.NewDataqueryBuilder().Datasource(ds(TypeLoki, VarLoki)).Expr(expr).QueryType("range")
}

// tempoQuery is a TraceQL query.
func tempoQuery(query string) *tempo.DataqueryBuilder {
	return tempo.NewDataqueryBuilder().Datasource(ds(TypeTempo, VarTempo)).QueryType("traceql").Query(query)
}

// series is the shared default of time-series panels: one function per panel starts from it.
func series(title, unit string, queries ...cog.Builder[variants.Dataquery]) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Unit(unit).
		Datasource(ds(TypePrometheus, VarPrometheus)).
		Height(8).Span(8).FillOpacity(10).LineWidth(1).
		Legend(common.NewVizLegendOptionsBuilder().DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).ShowLegend(true))
	for _, q := range queries {
		p = p.WithTarget(q)
	}
	return p
}

// single is the shared default of single-value panels.
func single(title, unit string, q cog.Builder[variants.Dataquery]) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Unit(unit).
		Datasource(ds(TypePrometheus, VarPrometheus)).
		Height(4).Span(4).
		GraphMode(common.BigValueGraphModeNone).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		WithTarget(q)
}

// thresholds builds absolute thresholds: base color, then value→color steps.
func thresholds(base string, steps ...any) *dashboard.ThresholdsConfigBuilder {
	ts := []dashboard.Threshold{{Color: base}}
	for i := 0; i+1 < len(steps); i += 2 {
		v := steps[i].(float64)
		ts = append(ts, dashboard.Threshold{Value: &v, Color: steps[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

// dataLink is a link shown on a value of a panel.
func dataLink(title, url string) cog.Builder[dashboard.DashboardLink] {
	return dashboard.NewDashboardLinkBuilder(title).Url(url)
}

// linkOverride sets the data links of one field.
func linkOverride(title, url string) []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{{Id: "links", Value: []map[string]any{{"title": title, "url": url}}}}
}

// dashboardLink links another dashboard, keeping time and variables.
func dashboardLink(title, url string) cog.Builder[dashboard.DashboardLink] {
	return dashboard.NewDashboardLinkBuilder(title).Type(dashboard.DashboardLinkTypeLink).Url(url).
		KeepTime(true).IncludeVars(false).Icon("dashboard")
}

// newDashboard starts a dashboard with the settings every generated dashboard shares.
func newDashboard(uid, title, description string, tags ...string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags(append([]string{"lookout", "generated"}, tags...)).
		Editable().
		Refresh("1m").
		Time("now-3h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(datasourceVar(VarPrometheus, TypePrometheus, "Prometheus"))
}

// pct renders a percent objective for titles.
func pct(p float64) string { return fmt.Sprintf("%g%%", p) }

type (
	cogPanel = cog.Builder[dashboard.Panel]
	cogLink  = cog.Builder[dashboard.DashboardLink]
)

// textPanel is a markdown note.
func textPanel(title, content string, span, height uint32) cogPanel {
	return text.NewPanelBuilder().Title(title).Mode(text.TextModeMarkdown).Content(content).Span(span).Height(height)
}

type (
	timeseriesPanel = timeseries.PanelBuilder
	cogQuery        = cog.Builder[variants.Dataquery]
)
