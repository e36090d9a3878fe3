package catalog_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/emitted"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

func metrics(t *testing.T) *emitted.List {
	t.Helper()
	l, err := emitted.Default()
	require.NoError(t, err)
	require.NotNil(t, l.SpanMetrics, "the agent's pipeline has no span metrics")
	return l
}

func TestDemoCatalog(t *testing.T) {
	path := filepath.Join(lookouttest.RepoRoot(), "demo", "catalog.yaml")
	c, err := catalog.Load(path)
	require.NoError(t, err)
	require.Len(t, c.Teams, 3)
	require.Len(t, c.Services, 3)

	orders := c.ServiceByID("orders")
	require.NotNil(t, orders)
	require.Equal(t, "checkout", orders.Team)
	require.Equal(t, 1, orders.Tier)
	require.Equal(t, 99.5, orders.SLOs.Availability.Objective)
	require.Equal(t, "30d", orders.SLOs.Window.String())
	require.Equal(t, "100ms", orders.SLOs.Latency.Threshold.String())
	// The threshold is a bucket bound of the agent's span-metrics histogram.
	require.Contains(t, c.Metrics.SpanMetrics.Buckets, orders.SLOs.Latency.Le)
	// Anchors and aliases are followed: payments shares storefront's metric declarations.
	require.Equal(t, c.ServiceByID("storefront").Metrics, c.ServiceByID("payments").Metrics)
	require.Equal(t, "go", orders.Runtime)

	checkout := c.TeamByID("checkout")
	require.Equal(t, "#checkout-alerts", checkout.Slack.Channel)
	require.Equal(t, "CHECKOUT_PAGERDUTY_ROUTING_KEY", checkout.PagerDuty.RoutingKeyEnv)
	require.Equal(t, "/etc/alertmanager/secrets/pagerduty-checkout.key", checkout.KeyFile(c.Settings))
	require.Equal(t, "/etc/alertmanager/secrets/pagerduty-web.key", c.TeamByID("web").KeyFile(c.Settings))

	// Defaults.
	require.Equal(t, "platform", c.Settings.Alertmanager.DefaultTeam)
	require.Equal(t, "platform", c.Settings.Node.Team)
	require.Equal(t, c.Metrics.SelfScrapeJob, c.Settings.Collector.Job)
	require.Equal(t, catalog.DefaultBurnAlerts(), c.Settings.SLO.Alerts)
	require.Equal(t, "service_name", c.Settings.Labels.Service)
}

const validHead = `version: 1
settings:
  collector:
    team: ops
teams:
  ops:
    slack: {channel: "#ops"}
    pagerduty: {routing_key_file: /secrets/ops}
services:
  api:
    team: ops
    slos:
      availability: 99.9
`

func TestParseErrors(t *testing.T) {
	l := metrics(t)
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // every string must appear in the error
	}{
		{name: "valid", yaml: validHead},
		{name: "empty file", yaml: "", wantErr: []string{"c.yaml:1:1: catalog: the file is empty"}},
		{name: "not yaml", yaml: "teams: [", wantErr: []string{"c.yaml:1:8: invalid YAML: sequence end token ']' not found"}},
		{name: "unknown top-level field", yaml: validHead + "extra: 1\n",
			wantErr: []string{"c.yaml:14:1: extra: unknown field (want one of: version, settings, teams, services)"}},
		{name: "unsupported version", yaml: strings.Replace(validHead, "version: 1", "version: 2", 1),
			wantErr: []string{"c.yaml:1:10: version: unsupported version 2"}},
		{name: "missing version", yaml: strings.Replace(validHead, "version: 1\n", "", 1),
			wantErr: []string{"version: is required"}},
		{name: "availability of 100", yaml: strings.Replace(validHead, "availability: 99.9", "availability: 100", 1),
			wantErr: []string{"c.yaml:13:21: services.api.slos.availability: must be above 0 and below 100, got 100"}},
		{name: "availability not a number", yaml: strings.Replace(validHead, "availability: 99.9", "availability: high", 1),
			wantErr: []string{"c.yaml:13:21: services.api.slos.availability: must be a percentage such as 99.9"}},
		{name: "objective too low for the page to ever fire", yaml: strings.Replace(validHead, "availability: 99.9", "availability: 90", 1),
			wantErr: []string{"services.api.slos.availability: objective 90% leaves a 0.1 error budget; burning it 14.4×", "could never fire"}},
		{name: "latency threshold not a bucket bound", yaml: validHead + "      latency: {threshold: 123ms, objective: 99}\n",
			wantErr: []string{"c.yaml:14:28: services.api.slos.latency.threshold: 123ms is not a bucket bound of the agent's span-metrics histogram"}},
		{name: "latency without objective", yaml: validHead + "      latency: {threshold: 100ms}\n",
			wantErr: []string{"c.yaml:14:16: services.api.slos.latency.objective: is required"}},
		{name: "window shorter than the longest burn window", yaml: validHead + "      window: 1d\n",
			wantErr: []string{"c.yaml:14:15: services.api.slos.window: must be at least the longest burn-rate window (3d), got 1d"}},
		{name: "bad duration", yaml: validHead + "      window: soon\n",
			wantErr: []string{"services.api.slos.window: must be a positive duration such as 5m, 1h or 30d, got \"soon\""}},
		{name: "unknown team", yaml: strings.Replace(validHead, "    team: ops\n    slos", "    team: nobody\n    slos", 1),
			wantErr: []string{"c.yaml:11:11: services.api.team: unknown team \"nobody\" (teams: ops)"}},
		{name: "unknown collector team", yaml: strings.Replace(validHead, "    team: ops\nteams", "    team: infra\nteams", 1),
			wantErr: []string{"c.yaml:4:11: settings.collector.team: unknown team \"infra\""}},
		{name: "duplicate service", yaml: validHead + "  api:\n    team: ops\n",
			wantErr: []string{"c.yaml:14:3: services.api: defined twice (first on line 10)"}},
		{name: "tier out of range", yaml: strings.Replace(validHead, "    team: ops\n    slos", "    team: ops\n    tier: 4\n    slos", 1),
			wantErr: []string{"c.yaml:12:11: services.api.tier: must be 1 (critical), 2 (standard) or 3 (best effort), got 4"}},
		{name: "bad service id", yaml: strings.Replace(validHead, "  api:", "  API_v1:", 1),
			wantErr: []string{"c.yaml:10:3: services.API_v1: service IDs are lower-case letters"}},
		{name: "slack channel without #", yaml: strings.Replace(validHead, `"#ops"`, `"ops"`, 1),
			wantErr: []string{"c.yaml:7:22: teams.ops.slack.channel: must be a channel name such as #checkout-alerts, got \"ops\""}},
		{name: "no pagerduty key", yaml: strings.Replace(validHead, "{routing_key_file: /secrets/ops}", "{}", 1),
			wantErr: []string{"c.yaml:8:16: teams.ops.pagerduty: needs routing_key_file or routing_key_env"}},
		{name: "both pagerduty keys", yaml: strings.Replace(validHead, "{routing_key_file: /secrets/ops}", "{routing_key_file: /secrets/ops, routing_key_env: OPS_KEY}", 1),
			wantErr: []string{"teams.ops.pagerduty.routing_key_env: set routing_key_file or routing_key_env, not both"}},
		{name: "relative key file", yaml: strings.Replace(validHead, "/secrets/ops", "secrets/ops", 1),
			wantErr: []string{"teams.ops.pagerduty.routing_key_file: must be an absolute path, got \"secrets/ops\""}},
		{name: "bad env var name", yaml: strings.Replace(validHead, "{routing_key_file: /secrets/ops}", "{routing_key_env: OPS-KEY}", 1),
			wantErr: []string{"teams.ops.pagerduty.routing_key_env: must be an environment variable name, got \"OPS-KEY\""}},
		{name: "team without slack", yaml: strings.Replace(validHead, "    slack: {channel: \"#ops\"}\n", "", 1),
			wantErr: []string{"c.yaml:7:5: teams.ops.slack: is required"}},
		{name: "panel with an unknown metric", yaml: validHead + "    panels:\n      - {title: x, query: 'rate(nope_total[5m])'}\n",
			wantErr: []string{"c.yaml:15:27: services.api.panels[0].query: in \"rate(nope_total[5m])\": nope_total is not a metric the agent emits, nor one services.api.metrics declares"}},
		{name: "panel with a declared metric", yaml: validHead + "    metrics: {orders_total: counter}\n    panels:\n      - {title: x, query: 'sum(rate(orders_total{service_name=\"$service\"}[$__rate_interval]))'}\n"},
		{name: "panel with bad PromQL", yaml: validHead + "    panels:\n      - {title: x, query: 'sum(rate(up[5m])'}\n",
			wantErr: []string{"services.api.panels[0].query: parse \"sum(rate(up[5m])\""}},
		{name: "panel with a conditional metric", yaml: validHead + "    panels:\n      - {title: x, query: 'scrape_timeout_seconds'}\n",
			wantErr: []string{"scrape_timeout_seconds is only emitted when the scrape config enables extra scrape metrics"}},
		{name: "metric of unknown type", yaml: validHead + "    metrics: {orders_total: tally}\n",
			wantErr: []string{"c.yaml:14:29: services.api.metrics.orders_total: must be counter, gauge, histogram or summary, got \"tally\""}},
		{name: "burn alert with short >= long", yaml: strings.Replace(validHead, "    team: ops\nteams", "    team: ops\n  slo:\n    alerts:\n      - severity: critical\n        for: 2m\n        windows: [{long: 5m, short: 1h, factor: 14.4}]\nteams", 1),
			wantErr: []string{"settings.slo.alerts[0].windows[0].long: must be longer than short (1h), got 5m"}},
		{name: "several errors at once, in file order", yaml: strings.Replace(strings.Replace(validHead, "availability: 99.9", "availability: 100", 1), `"#ops"`, `"ops"`, 1),
			wantErr: []string{"c.yaml:7:22: teams.ops.slack.channel", "\nc.yaml:13:21: services.api.slos.availability"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := catalog.Parse("c.yaml", []byte(tt.yaml), l)
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := catalog.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestErrorBudget(t *testing.T) {
	for _, tt := range []struct {
		objective, budget float64
	}{{99.9, 0.001}, {99.5, 0.005}, {99, 0.01}, {99.95, 0.0005}, {95, 0.05}} {
		require.Equal(t, tt.budget, catalog.ErrorBudget(tt.objective), "objective %v", tt.objective)
	}
}

func TestLogLagSetting(t *testing.T) {
	l := metrics(t)
	withLag := func(metric string) string {
		return strings.Replace(validHead, "    team: ops\nteams", "    team: ops\n    log_lag: {metric: "+metric+", bytes: 1048576}\nteams", 1)
	}
	// By the instrument's name before translation, or by the Prometheus name.
	c, err := catalog.Parse("c.yaml", []byte(withLag("otelcol_podlogs_file_lag")), l)
	require.NoError(t, err)
	require.Equal(t, "otelcol_podlogs_file_lag_bytes", c.Settings.Collector.LogLag.Metric)
	require.Equal(t, "10m", c.Settings.Collector.LogLag.For.String())
	uptime, err := l.Named("otelcol_process_uptime")
	require.NoError(t, err)
	c, err = catalog.Parse("c.yaml", []byte(withLag(uptime)), l)
	require.NoError(t, err)
	require.Equal(t, uptime, c.Settings.Collector.LogLag.Metric)
	_, err = catalog.Parse("c.yaml", []byte(withLag("otelcol_podlogs_nope")), l)
	require.ErrorContains(t, err, "c.yaml:5:23: settings.collector.log_lag.metric: otelcol_podlogs_nope is not a metric the agent emits")
}
