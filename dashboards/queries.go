package dashboards

import (
	"encoding/json"
	"fmt"

	"github.com/lookoutdev/lookout/internal/catalog/querycheck"
)

// Query is one query of a dashboard: a panel target or a template variable's query. It is the
// seam of the end-to-end test, which runs every Prometheus query against a real Prometheus.
type Query struct {
	// Dashboard is the dashboard's UID; Panel the panel's title ("variable <name>" for variables).
	Dashboard, Panel string
	// Datasource is the plugin type: prometheus, loki or tempo.
	Datasource string
	// Expr is the query as Grafana sends it, before template variables are replaced.
	Expr string
	// Instant is set for instant (single value) Prometheus queries.
	Instant bool
	// Vars are the values of the dashboard's constant variables (e.g. service).
	Vars map[string]string
	// PanelType is the panel's plugin (timeseries, stat, logs, table...); empty for variables.
	PanelType string
	// Min and Max are the panel's declared value bounds (fieldConfig.defaults), when set. On a
	// timeseries panel they bound what the query may return: a rate, a byte count or a share.
	Min, Max *float64
}

// PromQL returns the query with Grafana's variables replaced: the dashboard's constants, then
// vars, then querycheck.GrafanaVars; multi-value variables such as node default to ".+" and
// text boxes such as trace_id to "".
func (q Query) PromQL(vars map[string]string) (string, error) {
	all := map[string]string{VarNode: ".+", VarTraceID: ""}
	for k, v := range q.Vars {
		all[k] = v
	}
	for k, v := range vars {
		all[k] = v
	}
	return querycheck.Expand(q.Expr, all)
}

type jsonDashboard struct {
	UID        string      `json:"uid"`
	Panels     []jsonPanel `json:"panels"`
	Templating struct {
		List []struct {
			Type       string          `json:"type"`
			Name       string          `json:"name"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *struct {
				Type string `json:"type"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type jsonPanel struct {
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Panels      []jsonPanel `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Min *float64 `json:"min"`
			Max *float64 `json:"max"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Datasource *struct {
		Type string `json:"type"`
	} `json:"datasource"`
	Targets []struct {
		Datasource *struct {
			Type string `json:"type"`
		} `json:"datasource"`
		Expr    string `json:"expr"`
		Query   string `json:"query"`
		Instant bool   `json:"instant"`
	} `json:"targets"`
}

// Queries lists every query of a dashboard's JSON, in panel order, variables last.
func Queries(dashboardJSON []byte) ([]Query, error) {
	var d jsonDashboard
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, fmt.Errorf("decode dashboard: %w", err)
	}
	consts := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type == "constant" {
			var s string
			if err := json.Unmarshal(v.Query, &s); err != nil {
				return nil, fmt.Errorf("dashboard %s: constant %s: %w", d.UID, v.Name, err)
			}
			consts[v.Name] = s
		}
	}
	var out []Query
	var walk func(ps []jsonPanel)
	walk = func(ps []jsonPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, t := range p.Targets {
				dsType := ""
				if t.Datasource != nil {
					dsType = t.Datasource.Type
				} else if p.Datasource != nil {
					dsType = p.Datasource.Type
				}
				expr := t.Expr
				if dsType == TypeTempo {
					expr = t.Query
				}
				out = append(out, Query{
					Dashboard: d.UID, Panel: p.Title, Datasource: dsType, Expr: expr, Instant: t.Instant, Vars: consts,
					PanelType: p.Type, Min: p.FieldConfig.Defaults.Min, Max: p.FieldConfig.Defaults.Max,
				})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		sel, ok := variableQuery(v.Definition)
		if !ok {
			return nil, fmt.Errorf("dashboard %s: variable %s: cannot read %q", d.UID, v.Name, v.Definition)
		}
		dsType := ""
		if v.Datasource != nil {
			dsType = v.Datasource.Type
		}
		// The selector inside label_values(...) is a PromQL instant query of its own.
		out = append(out, Query{Dashboard: d.UID, Panel: "variable " + v.Name, Datasource: dsType, Expr: sel, Instant: true, Vars: consts})
	}
	return out, nil
}
