package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/alerts"
	"github.com/lookoutdev/lookout/dashboards"
	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/emitted/derive"
	"github.com/lookoutdev/lookout/internal/catalog/generate"
	"github.com/lookoutdev/lookout/internal/catalog/querycheck"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// The service catalog on the demo stack (issue 6, "How it is checked", last bullet): the
// committed dashboards' queries return data from the real Prometheus fed by the agent; a fault
// in a demo service fires its SLO alerts, which Alertmanager routes and the webhook sink receives
// as the Slack message and the PagerDuty event the team would get; the service dashboard's log
// queries fit what the agent sends to Loki.
//
// Burn-rate alerts. The demo catalog's alerts use the SRE workbook's windows (hours and days)
// and wait 2m (page) and 15m (ticket) before firing; the ticket could not fire within a test.
// So the test generates the rules and the Alertmanager config, with the catalog generator's Go
// API, from a copy of demo/catalog.yaml whose settings.slo.alerts keep the workbook's factors
// (14.4×/6× page, 3×/1× ticket) and the shape of the windows (long and short pairs, the ticket's
// longer than the page's) but in minutes, with the shortest `for` the catalog allows, and a 10 s
// group_wait; deploy/local/stack.sh loads them through LOOKOUT_ALERTS_DIR. Everything else is
// the demo catalog's: teams, routes, receivers, inhibitions, templates.
//
// Two faults, one after the other, because a page silences the matching ticket (inhibition):
//   - a slow burn: 1.2% of the storefront's requests fail (2.4× its 99.5% budget), enough for
//     the ticket's 1× windows and far from the page's 6×: the ticket reaches the web team's
//     Slack channel and no page is sent;
//   - a fast burn: every payments request fails: the page reaches the checkout team's PagerDuty
//     service (its routing key); the storefront, whose checkouts now fail with 502s, pages the
//     web team, which tells the two teams' routes apart.

// testBurnAlerts are settings.slo.alerts of the test catalog (see above).
const testBurnAlerts = `
- severity: critical
  for: 1m
  windows:
    - {long: 4m, short: 1m, factor: 14.4}
    - {long: 8m, short: 2m, factor: 6}
- severity: warning
  for: 90s
  windows:
    - {long: 6m, short: 2m, factor: 3}
    - {long: 12m, short: 3m, factor: 1}
`

const (
	slowBurnService = "storefront"
	slowBurnRatio   = 0.012
	fastBurnService = "payments"
	sloAlert        = "ServiceErrorBudgetBurn"
)

// testCatalog writes the test catalog and what the generator makes of it under a temporary
// directory, and returns the catalog and the generated alerts directory.
func testCatalog(t *testing.T) (*catalog.Catalog, string) {
	t.Helper()
	root := t.TempDir()
	src, err := os.ReadFile(filepath.Join(lookouttest.RepoRoot(), generate.DefaultCatalog))
	require.NoError(t, err)
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(src, &doc))
	settings := mappingValue(t, doc.Content[0], "settings")
	var burn yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(testBurnAlerts), &burn))
	setMapping(settings, "slo", &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "alerts"}, burn.Content[0],
	}})
	setMapping(mappingValue(t, settings, "alertmanager"), "group_wait", &yaml.Node{Kind: yaml.ScalarNode, Value: "10s"})
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	path := filepath.Join(root, "catalog.yaml")
	require.NoError(t, os.WriteFile(path, out, 0o644))

	c, err := generate.Load(path, "catalog.yaml (test/e2e: demo/catalog.yaml with minute-long burn-rate windows)")
	require.NoError(t, err)
	files, err := generate.Files(c)
	require.NoError(t, err)
	_, err = generate.Write(root, files)
	require.NoError(t, err)
	return c, filepath.Join(root, filepath.FromSlash(alerts.GeneratedDir))
}

func mappingValue(t *testing.T, m *yaml.Node, key string) *yaml.Node {
	t.Helper()
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	t.Fatalf("demo catalog: no %q key", key)
	return nil
}

func setMapping(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

func TestCatalogOnDemoStack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts the whole local stack")
	}
	ctx := context.Background()
	c, alertsDir := testCatalog(t)
	runDir := t.TempDir()
	s := newStack(t, runDir)
	s.env["LOOKOUT_ALERTS_DIR"] = alertsDir
	var rec *lokiRecorder
	if _, broken := s.env["LOKI_URL"]; !broken { // LOOKOUT_E2E_BREAK=logs keeps its closed port
		rec = startLokiRecorder(t, "http://"+s.env["VICTORIALOGS_ADDR"])
		s.env["LOKI_URL"] = "http://" + rec.addr + "/insert/loki/api/v1/push?_msg_field=msg,message"
	}
	start := time.Now()
	s.start(t, 10*time.Minute)
	t.Logf("run.sh ready in %s", time.Since(start).Round(time.Second))
	prom, am := s.env["PROMETHEUS_ADDR"], s.env["ALERTMANAGER_ADDR"]
	demoAddr := map[string]string{
		"storefront": s.env["DEMO_STOREFRONT_ADDR"], "orders": s.env["DEMO_ORDERS_ADDR"], "payments": s.env["DEMO_PAYMENTS_ADDR"],
	}
	// The slow burn starts now: it takes the longest, and the dashboards are checked meanwhile.
	slowStart := time.Now()
	setFault(t, "http://"+demoAddr[slowBurnService]+"/fault", fmt.Sprintf(`{"error_ratio":%g}`, slowBurnRatio))
	deadline := time.Now().Add(signalTimeout)

	t.Run("every dashboard query returns data from Prometheus", func(t *testing.T) {
		checkDashboards(ctx, t, c, prom, deadline)
	})

	t.Run("the service dashboard's log and trace queries fit what the agent sends", func(t *testing.T) {
		if rec == nil {
			t.Skip("LOOKOUT_E2E_BREAK=logs: no logs")
		}
		checkLogQueries(ctx, t, rec, s, fastBurnService, deadline)
	})

	routes := localRoutes(t, runDir)
	t.Run("a slow burn: the ticket reaches the team's Slack channel, and the service does not page", func(t *testing.T) {
		svc := c.ServiceByID(slowBurnService)
		team := c.TeamByID(svc.Team)
		receiver := alerts.ExpectedReceiver(c, team.ID, catalog.SeverityWarning)
		channel := routes.slackChannel(t, receiver)
		require.Equal(t, team.Slack.Channel, channel, "receiver %s", receiver)
		want := map[string]string{"alertname": sloAlert, "service": svc.ID, "severity": catalog.SeverityWarning, "team": team.ID, "slo": "availability"}
		var slack slackMessage
		w := &alertWatch{want: want, receiver: receiver, delivered: func(r sinkRecord) bool {
			if r.Kind != "slack" {
				return false
			}
			var m slackMessage
			if json.Unmarshal(r.Body, &m) != nil || !m.firing(sloAlert, svc.ID, catalog.SeverityWarning) {
				return false
			}
			slack = m
			return true
		}}
		followAlerts(ctx, t, prom, am, s.env["SINK_ADDR"], slowStart, 8*time.Minute, w)
		t.Logf("%s %s (%g%% errors, from the fault): %s; Slack %s; %s", svc.ID, catalog.SeverityWarning, slowBurnRatio*100, w.steps, channel, burnLine(slack.text()))
		t.Logf("the Slack message:\n%s", slack.text())
		require.Equal(t, channel, slack.Channel)
		text := slack.text()
		for _, s := range []string{"team " + team.ID, "• SLO: " + catalog.FormatPercent(svc.SLOs.Availability.Objective) + "% of requests succeed", "Budget burn:", c.RunbookURL(sloAlert), c.DashboardURL(catalog.ServiceDashboardUID(svc.ID))} {
			require.Contains(t, text, s)
		}
		// No page for the storefront: the burn is far below the page's 6×, and a page would
		// have silenced this very ticket.
		got, err := promAlerts(ctx, prom)
		require.NoError(t, err)
		for _, a := range got {
			require.False(t, a.Labels["alertname"] == sloAlert && a.Labels["service"] == svc.ID && a.Labels["severity"] == catalog.SeverityCritical && a.State == "firing",
				"a %.1f%% error ratio must not page: %v", slowBurnRatio*100, a.Labels)
			// Nothing else is wrong on the stack: the other services' SLO alerts and the agent's
			// own alerts stay quiet (node alerts depend on the machine the test runs on).
			if a.Labels["service"] == svc.ID || a.Labels["service"] == alerts.ServiceNode {
				continue
			}
			require.Fail(t, "an alert on a healthy stack", "%s %v %v", a.State, a.Labels, a.Annotations["description"])
		}
		recs, err := sinkReceived(ctx, s.env["SINK_ADDR"])
		require.NoError(t, err)
		for _, r := range recs {
			var e pagerDutyEvent
			if r.Kind == "pagerduty" && json.Unmarshal(r.Body, &e) == nil {
				require.False(t, e.Payload.Class == sloAlert && e.Payload.Component == svc.ID, "%s must not be paged: %s", svc.ID, r.Body)
			}
		}
	})

	t.Run("a fast burn: the page reaches the team's PagerDuty service and silences the ticket", func(t *testing.T) {
		setFault(t, "http://"+demoAddr[slowBurnService]+"/fault", "")
		fastStart := time.Now()
		setFault(t, "http://"+demoAddr[fastBurnService]+"/fault", `{"error_ratio":1}`)
		defer setFault(t, "http://"+demoAddr[fastBurnService]+"/fault", "")
		keys := map[string]string{} // team -> routing key of its PagerDuty receiver
		for _, tm := range c.Teams {
			keys[tm.ID] = routes.pagerDutyKey(t, alerts.ExpectedReceiver(c, tm.ID, catalog.SeverityCritical))
		}
		require.Len(t, uniq(keys), len(keys), "every team needs a routing key of its own for this test to tell them apart: %v", keys)

		// The faulty service pages its team; the storefront, whose checkouts now fail, pages its
		// own team: both events must carry their own team's routing key.
		ids := []string{fastBurnService, slowBurnService}
		events := make([]pagerDutyEvent, len(ids))
		var ws []*alertWatch
		for i, id := range ids {
			svc := c.ServiceByID(id)
			ws = append(ws, &alertWatch{
				want:     map[string]string{"alertname": sloAlert, "service": svc.ID, "severity": catalog.SeverityCritical, "team": svc.Team, "slo": "availability"},
				receiver: alerts.ExpectedReceiver(c, svc.Team, catalog.SeverityCritical),
				delivered: func(r sinkRecord) bool {
					if r.Kind != "pagerduty" {
						return false
					}
					var e pagerDutyEvent
					if json.Unmarshal(r.Body, &e) != nil || e.EventAction != "trigger" || e.Payload.Class != sloAlert || e.Payload.Component != svc.ID {
						return false
					}
					events[i] = e
					return true
				},
			})
		}
		followAlerts(ctx, t, prom, am, s.env["SINK_ADDR"], fastStart, 5*time.Minute, ws...)
		for i, id := range ids {
			svc := c.ServiceByID(id)
			team, ev := svc.Team, events[i]
			t.Logf("%s %s (from the fault in %s): %s; PagerDuty routing key %s (team %s)", svc.ID, catalog.SeverityCritical, fastBurnService, ws[i].steps, ev.RoutingKey, team)
			t.Logf("the PagerDuty event: %s; details %v", ev.Payload.Summary, ev.Payload.CustomDetails)
			require.Equal(t, keys[team], ev.RoutingKey, "%s's page must use team %s's routing key", svc.ID, team)
			require.Equal(t, "critical", ev.Payload.Severity)
			require.Equal(t, team, ev.Payload.Group)
			require.Equal(t, team, ev.Payload.CustomDetails["team"])
			require.Equal(t, svc.ID, ev.Payload.CustomDetails["service"])
			require.Equal(t, catalog.FormatPercent(svc.SLOs.Availability.Objective)+"% of requests succeed over "+catalog.FormatDuration(svc.SLOs.Window), ev.Payload.CustomDetails["slo"])
			require.Equal(t, c.RunbookURL(sloAlert), ev.Payload.CustomDetails["runbook"])
			require.Contains(t, ev.Payload.CustomDetails["dashboard"], c.DashboardURL(catalog.ServiceDashboardUID(svc.ID)))
			require.Contains(t, ev.Payload.Summary, sloAlert+": "+svc.ID+" burns its error budget")
		}

		// The storefront's ticket, still firing, is now silenced by its page (inhibition).
		ticket := map[string]string{"alertname": sloAlert, "service": slowBurnService, "severity": catalog.SeverityWarning}
		eventually(t, time.Minute, func() error {
			aa, err := amAlerts(ctx, am)
			if err != nil {
				return err
			}
			for _, a := range aa {
				if hasLabels(a.Labels, ticket) {
					if a.Status.State != "suppressed" || len(a.Status.InhibitedBy) == 0 {
						return fmt.Errorf("alertmanager: the %s ticket is %s (inhibited by %v), want suppressed by its page", slowBurnService, a.Status.State, a.Status.InhibitedBy)
					}
					return nil
				}
			}
			return fmt.Errorf("alertmanager: no %v alert", ticket)
		})
	})
}

// checkDashboards runs every Prometheus query of the overview, the service and the collector
// dashboards (as committed, what users import) and wants a finite value from each; range
// queries as Grafana runs them (last 5 minutes, 15 s step), instant ones at now; a time series
// panel's values within its declared min and max (a negative rate or a share above 1 is a wrong
// query; a plausibility check only: the node CPU panel's old query went below 0 on an idle
// machine, and stays within bounds on a busy one). The node
// dashboard too: its host panels must return data, and its kubelet panels must return nothing,
// since the local config has no kubelet to read (which panel is which comes from the metric list
// derived from the local config, not from a list here).
func checkDashboards(ctx context.Context, t *testing.T, c *catalog.Catalog, prom string, deadline time.Time) {
	root := lookouttest.RepoRoot()
	names := []string{"overview.json", "collector.json", "nodes.json"}
	for _, s := range c.Services {
		names = append(names, "service-"+s.ID+".json")
	}
	local, err := derive.Derive(ctx, derive.Options{RepoRoot: root, Config: "collector/config/local.yaml"})
	require.NoError(t, err)
	// The catalog with what the local config emits: the agent's metrics, and each service's own.
	lc := *c
	lc.Metrics = local
	total, empty := 0, 0
	used := map[string]bool{} // metric names of the queries that must return data
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dashboards.GeneratedDir), name))
		require.NoError(t, err)
		qs, err := dashboards.Queries(b)
		require.NoError(t, err)
		for _, q := range qs {
			if q.Datasource != dashboards.TypePrometheus {
				continue
			}
			expr, err := q.PromQL(nil)
			require.NoError(t, err)
			metrics, err := querycheck.MetricNames(expr)
			require.NoError(t, err)
			var svc *catalog.Service
			if id, ok := strings.CutPrefix(q.Dashboard, "svc-"); ok {
				svc = c.ServiceByID(id)
			}
			var notLocal []string
			for _, m := range metrics {
				if lc.KnownMetric(svc, m) != nil {
					notLocal = append(notLocal, m)
				}
			}
			total++
			if len(notLocal) > 0 {
				// Only the node dashboard may use what the local config does not emit.
				require.Equal(t, catalog.NodesUID, q.Dashboard, "%s %q uses %v, which the local config does not emit", name, q.Panel, notLocal)
				// The host panels before it in the same dashboard have data by now: want none here.
				got, err := promFinite(ctx, prom, expr, q.Instant)
				require.NoError(t, err)
				require.Zero(t, got.n, "%s %q: data from %v on a stack without a kubelet?", name, q.Panel, notLocal)
				empty++
				continue
			}
			for _, m := range metrics {
				used[m] = true
			}
			eventually(t, until(deadline), func() error {
				got, err := promFinite(ctx, prom, expr, q.Instant)
				if err != nil {
					return err
				}
				if got.n == 0 {
					return fmt.Errorf("%s %q: no finite value yet for\n%s", name, q.Panel, expr)
				}
				// A time series panel's declared bounds bound its values (rates, bytes and
				// shares); a stat's do not (an error budget can be overspent).
				const slack = 1e-9
				if q.PanelType == "timeseries" && q.Min != nil && got.min < *q.Min-slack {
					return fmt.Errorf("%s %q: value %g below the panel's min %g:\n%s", name, q.Panel, got.min, *q.Min, expr)
				}
				if q.PanelType == "timeseries" && q.Max != nil && got.max > *q.Max+slack {
					return fmt.Errorf("%s %q: value %g above the panel's max %g:\n%s", name, q.Panel, got.max, *q.Max, expr)
				}
				return nil
			})
		}
	}
	t.Logf("%d dashboard queries: %d return data, %d kubelet queries of the node dashboard return none (no kubelet locally)", total, total-empty, empty)
	// Counters of refusals, failures and drops exist only once something was refused, failed or
	// dropped: their panels return data through an "or <traffic> * 0" fallback. Say which.
	var usedNames []string
	for m := range used {
		usedNames = append(usedNames, m)
	}
	slices.Sort(usedNames)
	got, err := promQuery(ctx, prom, fmt.Sprintf(`count by (__name__) ({__name__=~%q})`, strings.Join(usedNames, "|")))
	require.NoError(t, err)
	for _, g := range got {
		delete(used, g.Metric["__name__"])
	}
	var absent []string
	for _, m := range usedNames {
		if used[m] {
			absent = append(absent, m)
		}
	}
	t.Logf("%d metrics used, %d without a series on this run (their panels show the fallback zero): %v", len(usedNames), len(absent), absent)
}

// finiteValues are the finite values of a query's answer: how many, the least and the greatest.
type finiteValues struct {
	n        int
	min, max float64
}

// promFinite runs a query as Grafana would (a range over the last 5 minutes, or an instant
// query) and sums up the finite values in the answer.
func promFinite(ctx context.Context, addr, query string, instant bool) (finiteValues, error) {
	form := url.Values{"query": {query}}
	path := "/api/v1/query"
	if !instant {
		now := time.Now()
		path = "/api/v1/query_range"
		form.Set("start", strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10))
		form.Set("end", strconv.FormatInt(now.Unix(), 10))
		form.Set("step", "15")
	}
	b, err := postForm(ctx, "http://"+addr+path, form)
	if err != nil {
		return finiteValues{}, err
	}
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value  []any   `json:"value"`
				Values [][]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return finiteValues{}, fmt.Errorf("prometheus answer to %q: %w", query, err)
	}
	if resp.Status != "success" {
		return finiteValues{}, fmt.Errorf("prometheus query %q: %s", query, resp.Error)
	}
	out := finiteValues{min: math.Inf(1), max: math.Inf(-1)}
	for _, r := range resp.Data.Result {
		vs := r.Values
		if r.Value != nil {
			vs = append(vs, r.Value)
		}
		for _, v := range vs {
			if len(v) != 2 {
				continue
			}
			s, _ := v[1].(string)
			if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				out.n++
				out.min, out.max = min(out.min, f), max(out.max, f)
			}
		}
	}
	return out, nil
}

// checkLogQueries checks the Loki queries of a service's dashboard against the pushes the
// recorder saw, then what can be checked of them in VictoriaLogs and of the Tempo queries in
// Jaeger. What cannot be checked here: LogQL's own evaluation (line_format's output, regex
// semantics on structured metadata in a real Loki 3), TraceQL (Jaeger has none: the Tempo
// search is checked as a Jaeger search by service), and Grafana's data links between them.
func checkLogQueries(ctx context.Context, t *testing.T, rec *lokiRecorder, s *stack, service string, deadline time.Time) {
	b, err := os.ReadFile(filepath.Join(lookouttest.RepoRoot(), filepath.FromSlash(dashboards.GeneratedDir), "service-"+service+".json"))
	require.NoError(t, err)
	qs, err := dashboards.Queries(b)
	require.NoError(t, err)
	var logQs, traceQs []dashboards.Query
	for _, q := range qs {
		switch q.Datasource {
		case dashboards.TypeLoki:
			logQs = append(logQs, q)
		case dashboards.TypeTempo:
			traceQs = append(traceQs, q)
		}
	}
	require.NotEmpty(t, logQs, "the %s dashboard has no log panel", service)
	require.NotEmpty(t, traceQs, "the %s dashboard has no trace panel", service)

	// Wait until the service's lines with a trace ID have been pushed.
	var streams []recordedStream
	eventually(t, until(deadline), func() error {
		var pushes int
		var bad []string
		streams, pushes, bad = rec.snapshot()
		if len(bad) > 0 {
			return fmt.Errorf("the recorder could not decode %d of %d pushes: %v", len(bad), pushes, bad[0])
		}
		for _, st := range streams {
			if st.labels["service_name"] != service {
				continue
			}
			for _, e := range st.entries {
				if e.metadata["trace_id"] != "" {
					return nil
				}
			}
		}
		return fmt.Errorf("%d pushes, no %s line with a trace ID yet", pushes, service)
	})
	// A trace ID the user would click on: one from a line of the service.
	var traceID string
	for _, st := range streams {
		for _, e := range st.entries {
			if st.labels["service_name"] == service && e.metadata["trace_id"] != "" {
				traceID = e.metadata["trace_id"]
			}
		}
	}
	require.Regexp(t, `^[0-9a-f]{32}$`, traceID, "trace IDs must be lower-case hex, as Tempo's and Grafana's links write them")
	require.NoError(t, metadataOnly(streams, "trace_id"), "trace_id must be structured metadata (a label would make a stream per trace)")

	for _, q := range logQs {
		for _, tid := range []string{"", traceID} {
			expr, err := q.PromQL(map[string]string{dashboards.VarTraceID: tid})
			require.NoError(t, err)
			lq, err := parseLogQuery(expr)
			require.NoError(t, err, "panel %q", q.Panel)
			rep, err := evalLogQuery(lq, streams)
			require.NoError(t, err)
			require.Empty(t, rep.notLabels, "panel %q: %s selects streams on what the agent does not send as stream labels", q.Panel, expr)
			require.Positive(t, rep.streams, "panel %q: %s selects no stream the agent sent", q.Panel, expr)
			require.Empty(t, rep.missing, "panel %q: %s filters or formats on fields that no selected line has as a stream label or structured metadata (without a parser stage, LogQL sees nothing else)", q.Panel, expr)
			require.Positive(t, rep.selected, "panel %q: %s selects none of the %d recorded lines", q.Panel, expr, rep.entries)
			t.Logf("panel %q, $trace_id=%q: %s selects %d of the last %d recorded lines of %d streams", q.Panel, tid, expr, rep.selected, rep.entries, rep.streams)

			// The same selection in VictoriaLogs: LogsQL's stream filter has LogQL's syntax, and
			// the store keeps the stream labels as stream fields and metadata as fields.
			if tid == "" {
				continue
			}
			lsql := fmt.Sprintf("_time:15m %s trace_id:=%q", logsQLSelector(lq.selector), tid)
			eventually(t, until(deadline), func() error {
				recs, err := logsQuery(ctx, s.env["VICTORIALOGS_ADDR"], lsql, 50)
				if err != nil {
					return err
				}
				if len(recs) == 0 {
					return fmt.Errorf("victorialogs: nothing for %s", lsql)
				}
				for _, r := range recs {
					if r["trace_id"] != tid || r["service_name"] != service {
						return fmt.Errorf("victorialogs: %s returned a line of trace %q, service %q", lsql, r["trace_id"], r["service_name"])
					}
				}
				return nil
			})
		}
	}

	// Tempo queries, as far as Jaeger can answer them: the search by service, and the trace a
	// log line's trace ID links to.
	searchRE := regexp.MustCompile(`^\{\s*resource\.service\.name\s*=\s*"([^"]+)"\s*\}$`)
	for _, q := range traceQs {
		expr, err := q.PromQL(map[string]string{dashboards.VarTraceID: traceID})
		require.NoError(t, err)
		expr = strings.TrimSpace(expr)
		switch m := searchRE.FindStringSubmatch(expr); {
		case m != nil:
			require.Equal(t, service, m[1])
			eventually(t, until(deadline), func() error {
				b, err := get(ctx, "http://"+s.env["JAEGER_QUERY_ADDR"]+"/api/traces?limit=5&lookback=15m&service="+url.QueryEscape(m[1]))
				if err != nil {
					return err
				}
				var resp struct{ Data []jaegerTrace }
				if err := json.Unmarshal(b, &resp); err != nil {
					return err
				}
				if len(resp.Data) == 0 {
					return fmt.Errorf("jaeger: no trace of service %s", m[1])
				}
				return nil
			})
		case expr == traceID:
			eventually(t, until(deadline), func() error {
				tr, err := jaegerGetTrace(ctx, s.env["JAEGER_QUERY_ADDR"], traceID)
				if err != nil {
					return err
				}
				if !slices.Contains(tr.services(), service) {
					return fmt.Errorf("trace %s has spans of %v, not of %s", traceID, tr.services(), service)
				}
				return nil
			})
		default:
			t.Fatalf("panel %q: Tempo query %q: the test knows a search by resource.service.name and a trace ID only", q.Panel, expr)
		}
	}
}

// localRoutes is the Alertmanager config stack.sh wrote for the local run (the generated one,
// localized for the sink).
type amRoutes struct {
	dir       string
	Receivers []struct {
		Name         string `yaml:"name"`
		SlackConfigs []struct {
			Channel string `yaml:"channel"`
		} `yaml:"slack_configs"`
		PagerDutyConfigs []struct {
			RoutingKey     string `yaml:"routing_key"`
			RoutingKeyFile string `yaml:"routing_key_file"`
		} `yaml:"pagerduty_configs"`
	} `yaml:"receivers"`
}

func localRoutes(t *testing.T, runDir string) *amRoutes {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "alertmanager", "alertmanager.yml"))
	require.NoError(t, err)
	r := &amRoutes{dir: runDir}
	require.NoError(t, yaml.Unmarshal(b, r))
	return r
}

func (r *amRoutes) slackChannel(t *testing.T, receiver string) string {
	t.Helper()
	for _, rc := range r.Receivers {
		if rc.Name == receiver && len(rc.SlackConfigs) == 1 {
			return rc.SlackConfigs[0].Channel
		}
	}
	t.Fatalf("the Alertmanager config has no receiver %s with one Slack config", receiver)
	return ""
}

// pagerDutyKey returns the routing key a receiver sends with (read from its key file).
func (r *amRoutes) pagerDutyKey(t *testing.T, receiver string) string {
	t.Helper()
	for _, rc := range r.Receivers {
		if rc.Name != receiver || len(rc.PagerDutyConfigs) != 1 {
			continue
		}
		pd := rc.PagerDutyConfigs[0]
		if pd.RoutingKeyFile == "" {
			return pd.RoutingKey
		}
		b, err := os.ReadFile(pd.RoutingKeyFile)
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	t.Fatalf("the Alertmanager config has no receiver %s with one PagerDuty config", receiver)
	return ""
}

// burnLine returns the "Budget burn" line of a notification.
func burnLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "Budget burn:") {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "•"))
		}
	}
	return "no budget burn line"
}

func uniq(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

// alertSteps are the moments an alert reached each stage, from the fault.
type alertSteps struct {
	pending, firing, alertmanager, sink time.Duration
}

func (s alertSteps) String() string {
	r := func(d time.Duration) string { return d.Round(time.Second).String() }
	return fmt.Sprintf("pending in Prometheus after %s, firing after %s, in Alertmanager after %s, at the sink after %s",
		r(s.pending), r(s.firing), r(s.alertmanager), r(s.sink))
}

// alertWatch is one alert followed from rule to notification.
type alertWatch struct {
	// want are labels the alert must have; receiver is where Alertmanager must route it.
	want     map[string]string
	receiver string
	// delivered recognizes its notification among the sink's records.
	delivered func(sinkRecord) bool
	steps     alertSteps
	last      []string
}

func (w *alertWatch) done() bool {
	return w.steps.firing != 0 && w.steps.alertmanager != 0 && w.steps.sink != 0
}

// followAlerts polls Prometheus, Alertmanager and the sink once a second until every watched
// alert has fired, is active in Alertmanager routed to its receiver, and its notification is at
// the sink; it records when each happened, counted from since.
func followAlerts(ctx context.Context, t *testing.T, prom, am, sink string, since time.Time, timeout time.Duration, ws ...*alertWatch) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		all := true
		for _, w := range ws {
			all = all && w.done()
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			var msgs []string
			for _, w := range ws {
				msgs = append(msgs, fmt.Sprintf("alert %v: %s\nlast seen:\n%s", w.want, w.steps, strings.Join(w.last, "\n")))
			}
			t.Fatalf("after %s:\n%s", timeout, strings.Join(msgs, "\n"))
		}
		pa, perr := promAlerts(ctx, prom)
		aa, aerr := amAlerts(ctx, am)
		recs, serr := sinkReceived(ctx, sink)
		now := time.Since(since)
		for _, w := range ws {
			w.last = w.last[:0]
			for _, err := range []error{perr, aerr, serr} {
				if err != nil {
					w.last = append(w.last, err.Error())
				}
			}
			for _, a := range pa {
				if !hasLabels(a.Labels, w.want) {
					continue
				}
				w.last = append(w.last, fmt.Sprintf("prometheus: %s %v", a.State, a.Labels))
				if w.steps.pending == 0 {
					w.steps.pending = now
				}
				if a.State == "firing" && w.steps.firing == 0 {
					w.steps.firing = now
				}
			}
			for _, a := range aa {
				if !hasLabels(a.Labels, w.want) {
					continue
				}
				var rs []string
				for _, r := range a.Receivers {
					rs = append(rs, r.Name)
				}
				w.last = append(w.last, fmt.Sprintf("alertmanager: %s, receivers %v, inhibited by %v", a.Status.State, rs, a.Status.InhibitedBy))
				if a.Status.State == "active" && slices.Contains(rs, w.receiver) && w.steps.alertmanager == 0 {
					w.steps.alertmanager = now
				}
			}
			w.last = append(w.last, fmt.Sprintf("sink: %d records", len(recs)))
			for _, r := range recs {
				if w.steps.sink == 0 && w.delivered(r) {
					w.steps.sink = now
				}
			}
		}
		time.Sleep(time.Second)
	}
}

func hasLabels(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// promAlerts lists the pending and firing alerts of Prometheus' rules (/api/v1/alerts).
func promAlerts(ctx context.Context, addr string) ([]promAlert, error) {
	b, err := get(ctx, "http://"+addr+"/api/v1/alerts")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("prometheus /api/v1/alerts: %w", err)
	}
	return resp.Data.Alerts, nil
}

type amAlert struct {
	Labels    map[string]string `json:"labels"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
	Status struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// amAlerts lists Alertmanager's alerts with their receivers and state (/api/v2/alerts).
func amAlerts(ctx context.Context, addr string) ([]amAlert, error) {
	b, err := get(ctx, "http://"+addr+"/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	var out []amAlert
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("alertmanager /api/v2/alerts: %w", err)
	}
	return out, nil
}

// slackMessage is the part of Alertmanager's Slack payload the test reads.
type slackMessage struct {
	Channel     string `json:"channel"`
	Text        string `json:"text"`
	Attachments []struct {
		Title     string `json:"title"`
		TitleLink string `json:"title_link"`
		Text      string `json:"text"`
	} `json:"attachments"`
}

func (m slackMessage) firing(alert, service, severity string) bool {
	for _, a := range m.Attachments {
		if strings.HasPrefix(a.Title, "[FIRING:") && strings.HasSuffix(a.Title, "] "+alert+" "+service+" ("+severity+")") {
			return true
		}
	}
	return false
}

func (m slackMessage) text() string {
	parts := []string{m.Text}
	for _, a := range m.Attachments {
		parts = append(parts, a.Title, a.TitleLink, a.Text)
	}
	return strings.Join(parts, "\n")
}

// pagerDutyEvent is the part of a PagerDuty Events API v2 event the test reads.
type pagerDutyEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	Payload     struct {
		Summary       string            `json:"summary"`
		Severity      string            `json:"severity"`
		Class         string            `json:"class"`
		Component     string            `json:"component"`
		Group         string            `json:"group"`
		CustomDetails map[string]string `json:"custom_details"`
	} `json:"payload"`
}
