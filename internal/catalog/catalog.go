// Package catalog reads and validates the service catalog (catalog.yaml): the teams, how to reach
// them, and the services they own with their SLOs. The dashboards and alerts packages generate
// Grafana dashboards, Prometheus rules and the Alertmanager config from it.
//
// Errors name the file, the line and column, and the field path of the problem, e.g.
//
//	demo/catalog.yaml:31:21: services.orders.slos.availability: must be above 0 and below 100, got 100
//
// The schema is documented in docs/catalog.md.
package catalog

import (
	"fmt"
	"math/big"
	"path"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

// Version is the catalog schema version this package reads.
const Version = 1

// Tiers: how much a service matters, which decides who gets woken up.
const (
	// TierCritical services page their team on fast budget burn.
	TierCritical = 1
	// TierStandard services page too (same alerts as tier 1; kept apart for reports and routing).
	TierStandard = 2
	// TierBestEffort services never page: every SLO alert is a warning to Slack.
	TierBestEffort = 3
)

// Severities of generated alerts.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Catalog is a validated catalog.
type Catalog struct {
	// File is the path the catalog was read from, as given.
	File     string
	Settings Settings
	// Teams and Services are sorted by ID.
	Teams    []*Team
	Services []*Service
	// Metrics is the list of metrics the agent emits, which queries were checked against.
	Metrics *emitted.List
}

// Settings are catalog-wide settings; every field has a default.
type Settings struct {
	// GrafanaURL is the base URL alerts link dashboards under.
	GrafanaURL string
	// RunbookURL is the base URL of docs/runbooks; runbook_url is RunbookURL/<alertname>.md.
	RunbookURL string
	// Labels are the Prometheus label names the agent's metrics carry.
	Labels Labels
	// Collector is about the agent's own alerts.
	Collector Collector
	// Node is about host alerts.
	Node Node
	// SLO holds the defaults of service SLOs.
	SLO SLODefaults
	// Alertmanager holds the notification settings.
	Alertmanager Alertmanager
}

// Labels names the labels the queries select and group by.
type Labels struct {
	// Service is the label holding service.name (span metrics and scraped metrics).
	Service string
	// Node is the label holding the Kubernetes node name.
	Node string
	// LogService is the Loki stream label holding the service name.
	LogService string
	// LogTraceID is the Loki label (or structured metadata key) holding a line's trace ID.
	LogTraceID string
}

// Collector settings: who owns the agent's alerts and how to find its metrics.
type Collector struct {
	// Team receives the agent's alerts.
	Team string
	// Job is the scrape job of the agent's self-scrape.
	Job string
	// QueueFullRatio is the queue fill ratio above which LookoutExporterQueueNearlyFull fires.
	QueueFullRatio float64
	// LogLag, when set, enables LookoutLogTailingLag.
	LogLag *LogLag
}

// LogLag configures the log-tailing lag alert.
type LogLag struct {
	// Metric is a gauge of unread bytes per file the agent emits.
	Metric string
	// Bytes is the lag above which the alert fires.
	Bytes float64
	// For is how long the lag must last.
	For model.Duration
}

// Node settings: host alert thresholds.
type Node struct {
	// Team receives node alerts.
	Team string
	// FilesystemWarning and FilesystemCritical are usage ratios (0-1) of a filesystem.
	FilesystemWarning, FilesystemCritical float64
	// MemoryWarning is the used-memory ratio (0-1).
	MemoryWarning float64
	// CPUWarning is the busy-CPU ratio (0-1).
	CPUWarning float64
}

// SLODefaults are the defaults of every service's SLOs.
type SLODefaults struct {
	// Window is the SLO window (default 30d).
	Window model.Duration
	// Alerts are the multi-window multi-burn-rate alerts, one per severity.
	Alerts []BurnAlert
}

// BurnAlert is one multi-window burn-rate alert: it fires when any of its windows burns.
type BurnAlert struct {
	Severity string
	// For is how long the condition must hold.
	For model.Duration
	// Windows are or-ed.
	Windows []BurnWindow
}

// BurnWindow fires when both the long and the short window burn faster than Factor.
type BurnWindow struct {
	Long, Short model.Duration
	Factor      float64
}

// Alertmanager settings.
type Alertmanager struct {
	// DefaultTeam receives alerts without a known team.
	DefaultTeam string
	// SecretsDir holds the secret files Alertmanager reads (routing keys written from
	// environment variables by `lookout catalog secrets`).
	SecretsDir string
	// SlackWebhookURLFile is the file holding the Slack incoming-webhook URL, for teams
	// without their own.
	SlackWebhookURLFile string
	// PagerDutyURL is the PagerDuty Events API v2 URL (empty: Alertmanager's default).
	PagerDutyURL string
	// GroupWait, GroupInterval, RepeatInterval are the route timings.
	GroupWait, GroupInterval, RepeatInterval model.Duration
}

// Team is a team with its notification channels.
type Team struct {
	ID   string
	Name string
	// Slack is where warnings go.
	Slack Slack
	// PagerDuty is where pages go.
	PagerDuty PagerDuty
}

// Slack is a team's Slack destination.
type Slack struct {
	// Channel, e.g. "#checkout-alerts".
	Channel string
	// WebhookURLFile overrides settings.alertmanager.slack_webhook_url_file.
	WebhookURLFile string
}

// PagerDuty is a team's PagerDuty service, by its Events API v2 routing key.
type PagerDuty struct {
	// RoutingKeyFile is a file holding the key.
	RoutingKeyFile string
	// RoutingKeyEnv names an environment variable holding the key; `lookout catalog secrets`
	// writes it to SecretsDir, since Alertmanager does not read the environment.
	RoutingKeyEnv string
}

// KeyFile returns the file Alertmanager reads the routing key from.
func (t *Team) KeyFile(s Settings) string {
	if t.PagerDuty.RoutingKeyFile != "" {
		return t.PagerDuty.RoutingKeyFile
	}
	return path.Join(s.Alertmanager.SecretsDir, "pagerduty-"+t.ID+".key")
}

// SlackURLFile returns the file Alertmanager reads the team's Slack webhook URL from.
func (t *Team) SlackURLFile(s Settings) string {
	if t.Slack.WebhookURLFile != "" {
		return t.Slack.WebhookURLFile
	}
	return s.Alertmanager.SlackWebhookURLFile
}

// Service is one service of the catalog.
type Service struct {
	ID          string
	Team        string
	Tier        int
	Description string
	// Runtime is "go" when the service exposes client_golang's Go and process collectors.
	Runtime string
	SLOs    SLOs
	// Metrics are the families the service exposes on /metrics (name -> type), beyond runtime ones.
	Metrics map[string]string
	// Panels are extra dashboard panels over the service's own metrics.
	Panels []Panel
}

// SLOs of a service; either may be nil.
type SLOs struct {
	Window       model.Duration
	Availability *Availability
	Latency      *Latency
}

// Availability: Objective percent of server requests succeed over the window.
type Availability struct {
	Objective float64
}

// Latency: Objective percent of server requests finish within Threshold over the window.
type Latency struct {
	Threshold model.Duration
	// Le is the histogram bucket bound (the `le` label value) equal to Threshold.
	Le        string
	Objective float64
}

// Panel is an extra dashboard panel.
type Panel struct {
	Title string
	// Unit is a Grafana unit ("reqps", "s", "bytes", "short"...).
	Unit string
	// Query is PromQL; it may use $service, $__rate_interval and $__interval.
	Query string
}

// ErrorBudget returns 1 - objective/100, the allowed bad fraction, computed in decimal so that
// 99.9 gives 0.001 and not 0.0010000000000000009.
func ErrorBudget(objectivePercent float64) float64 {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(objectivePercent, 'f', -1, 64))
	if !ok {
		return 1 - objectivePercent/100
	}
	r.Sub(big.NewRat(100, 1), r).Quo(r, big.NewRat(100, 1))
	f, _ := r.Float64()
	return f
}

// FormatPercent prints a percentage without trailing zeros (99.9, 99.95, 99).
func FormatPercent(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

// FormatDuration prints a duration as Prometheus does (5m, 1h, 30d).
func FormatDuration(d model.Duration) string { return d.String() }

// Duration converts a model.Duration.
func Duration(d model.Duration) time.Duration { return time.Duration(d) }

// TeamByID returns the team with that ID.
func (c *Catalog) TeamByID(id string) *Team {
	for _, t := range c.Teams {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// ServiceByID returns the service with that ID.
func (c *Catalog) ServiceByID(id string) *Service {
	for _, s := range c.Services {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Pages reports whether the service's fast-burn alerts page.
func (s *Service) Pages() bool { return s.Tier != TierBestEffort }

// KnownMetric reports whether a query of this service may use the series name: one the agent
// emits unconditionally, or one the service declares.
func (c *Catalog) KnownMetric(s *Service, series string) error {
	if s != nil {
		for fam, typ := range s.Metrics {
			for _, n := range (emitted.Metric{Name: fam, Type: typ}).Series() {
				if n == series {
					return nil
				}
			}
		}
	}
	if err := c.Metrics.Unconditional(series); err != nil {
		if s != nil {
			return fmt.Errorf("%w, nor one services.%s.metrics declares", err, s.ID)
		}
		return err
	}
	return nil
}

// Dashboard UIDs: stable, derived from catalog IDs (Grafana allows 40 characters).
const (
	OverviewUID  = "lookout-overview"
	NodesUID     = "lookout-nodes"
	CollectorUID = "lookout-collector"
)

// ServiceDashboardUID is the UID of a service's RED dashboard.
func ServiceDashboardUID(serviceID string) string { return "svc-" + serviceID }

// DashboardURL links a dashboard; vars are name=value pairs appended as var-name=value (values
// may be alert templates such as {{ $labels.k8s_node_name }}).
func (c *Catalog) DashboardURL(uid string, vars ...string) string {
	u := c.Settings.GrafanaURL + "/d/" + uid
	for i, v := range vars {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "var-" + v
	}
	return u
}

// RunbookURL links an alert's runbook, docs/runbooks/<alert>.md.
func (c *Catalog) RunbookURL(alert string) string {
	return c.Settings.RunbookURL + "/" + alert + ".md"
}

// SLO kinds: the value of the `slo` label of SLO alerts.
const (
	SLOAvailabilityKind = "availability"
	SLOLatencyKind      = "latency"
)
