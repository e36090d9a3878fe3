package dashboards

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/querycheck"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

func demo(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(filepath.Join(lookouttest.RepoRoot(), "demo", "catalog.yaml"))
	require.NoError(t, err)
	return c
}

func rendered(t *testing.T) (*catalog.Catalog, map[string][]byte) {
	t.Helper()
	c := demo(t)
	files, err := Render(c)
	require.NoError(t, err)
	// overview, nodes, collector and one per service.
	require.Len(t, files, 3+len(c.Services))
	return c, files
}

// serviceOf returns the catalog service a dashboard is about (nil for the others).
func serviceOf(c *catalog.Catalog, uid string) *catalog.Service {
	for _, s := range c.Services {
		if catalog.ServiceDashboardUID(s.ID) == uid {
			return s
		}
	}
	return nil
}

// TestPromQL parses every Prometheus query of every dashboard (Grafana variables replaced) and
// checks that each metric it uses is one the agent emits, or one the service declares.
func TestPromQL(t *testing.T) {
	c, files := rendered(t)
	total := 0
	for name, b := range files {
		qs, err := Queries(b)
		require.NoError(t, err, name)
		n := 0
		for _, q := range qs {
			if q.Datasource != TypePrometheus {
				continue
			}
			n++
			expr, err := q.PromQL(nil)
			require.NoError(t, err, "%s %q", name, q.Panel)
			s := serviceOf(c, q.Dashboard)
			err = querycheck.Check(expr, func(m string) error { return c.KnownMetric(s, m) })
			require.NoError(t, err, "%s %q", name, q.Panel)
		}
		require.Positive(t, n, "%s has no Prometheus query", name)
		total += n
	}
	t.Logf("%d Prometheus queries checked", total)
}

// TestDatasources checks that every query uses a datasource variable the dashboard defines, so
// that the JSON imports into any Grafana.
func TestDatasources(t *testing.T) {
	_, files := rendered(t)
	for name, b := range files {
		var d struct {
			UID        string `json:"uid"`
			Templating struct {
				List []struct {
					Type  string `json:"type"`
					Name  string `json:"name"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
			Panels []map[string]any `json:"panels"`
		}
		require.NoError(t, json.Unmarshal(b, &d), name)
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			if v.Type == "datasource" {
				vars[v.Name] = v.Query.(string)
			}
		}
		require.Equal(t, TypePrometheus, vars[VarPrometheus], name)
		for _, p := range d.Panels {
			targets, _ := p["targets"].([]any)
			for _, tg := range targets {
				ds := tg.(map[string]any)["datasource"].(map[string]any)
				uid, typ := ds["uid"].(string), ds["type"].(string)
				v := strings.TrimSuffix(strings.TrimPrefix(uid, "${"), "}")
				require.Equal(t, typ, vars[v], "%s panel %q: datasource %s", name, p["title"], uid)
			}
		}
		require.LessOrEqual(t, len(d.UID), 40, name)
	}
}

// TestTraceLinks checks the links between a service's logs and its traces.
func TestTraceLinks(t *testing.T) {
	c, files := rendered(t)
	b := files[path.Join(GeneratedDir, "service-orders.json")]
	var d struct {
		Panels []struct {
			Type        string `json:"type"`
			Title       string `json:"title"`
			FieldConfig struct {
				Overrides []struct {
					Matcher struct {
						ID      string `json:"id"`
						Options string `json:"options"`
					} `json:"matcher"`
					Properties []struct {
						ID    string `json:"id"`
						Value any    `json:"value"`
					} `json:"properties"`
				} `json:"overrides"`
			} `json:"fieldConfig"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	links := map[string]string{} // panel type/field -> url
	for _, p := range d.Panels {
		for _, o := range p.FieldConfig.Overrides {
			for _, prop := range o.Properties {
				if prop.ID == "links" {
					l := prop.Value.([]any)[0].(map[string]any)
					links[p.Type+"/"+o.Matcher.Options] = l["url"].(string)
				}
			}
		}
	}
	want := "/d/svc-orders?${prometheus:queryparam}&${loki:queryparam}&${tempo:queryparam}&var-trace_id=${__value.raw}&${__url_time_range}"
	require.Equal(t, map[string]string{
		"logs/" + c.Settings.Labels.LogTraceID: want, // a log line's trace ID shows its trace
		"table/Line":                           want, // the trace IDs found in the logs
		"table/traceID":                        want, // a trace found in Tempo shows its log lines
	}, links)

	qs, err := Queries(b)
	require.NoError(t, err)
	var logsQuery, traceQuery string
	for _, q := range qs {
		switch {
		case q.Datasource == TypeLoki && strings.HasPrefix(q.Panel, "Log lines"):
			logsQuery = q.Expr
		case q.Datasource == TypeTempo && strings.HasPrefix(q.Panel, "Trace "):
			traceQuery = q.Expr
		}
	}
	require.Equal(t, `{service_name="$service"} | trace_id=~"$trace_id.*"`, logsQuery)
	require.Equal(t, "$trace_id", traceQuery)
}

// TestSchema decodes every dashboard with the SDK's own types (Grafana's schema, version 42).
func TestSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	c, files := rendered(t)
	uids := map[string]bool{}
	for name, b := range files {
		var d dashboard.Dashboard
		require.NoError(t, json.Unmarshal(b, &d), name)
		require.EqualValues(t, 42, d.SchemaVersion)
		require.NotNil(t, d.Uid)
		uids[*d.Uid] = true
	}
	want := map[string]bool{catalog.OverviewUID: true, catalog.NodesUID: true, catalog.CollectorUID: true}
	for _, s := range c.Services {
		want[catalog.ServiceDashboardUID(s.ID)] = true
	}
	require.Equal(t, want, uids)
}

func TestQueriesPanelBounds(t *testing.T) {
	_, files := rendered(t)
	qs, err := Queries(files[GeneratedDir+"/nodes.json"])
	require.NoError(t, err)
	bounds := map[string]string{}
	for _, q := range qs {
		b := q.PanelType
		if q.Min != nil {
			b += fmt.Sprintf(" min %g", *q.Min)
		}
		if q.Max != nil {
			b += fmt.Sprintf(" max %g", *q.Max)
		}
		bounds[q.Panel] = b
	}
	require.Equal(t, "timeseries min 0 max 1", bounds["CPU busy"])
	require.Equal(t, "timeseries min 0", bounds["Load average (1m)"])
	require.Equal(t, "timeseries", bounds["Network"])
	require.Equal(t, "", bounds["variable node"])
}

func TestQueriesPromQLVars(t *testing.T) {
	q := Query{Expr: `sum(rate(x{s="$service", n=~"$node"}[$__rate_interval]))`, Vars: map[string]string{"service": "orders"}}
	got, err := q.PromQL(nil)
	require.NoError(t, err)
	require.Equal(t, `sum(rate(x{s="orders", n=~".+"}[5m]))`, got)
	got, err = q.PromQL(map[string]string{"node": "node-1", "__rate_interval": "1m"})
	require.NoError(t, err)
	require.Equal(t, `sum(rate(x{s="orders", n=~"node-1"}[1m]))`, got)
	_, err = Queries([]byte("{"))
	require.Error(t, err)
}
