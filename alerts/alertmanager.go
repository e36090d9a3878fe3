package alerts

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/lookoutdev/lookout/internal/catalog"
)

// TemplatesFile is the Alertmanager notification templates file, relative to the config.
const TemplatesFile = "templates/lookout.tmpl"

// BlackholeReceiver receives `info` alerts: they are for dashboards, not for people.
const BlackholeReceiver = "blackhole"

// AMConfig is the part of an Alertmanager configuration the catalog generates.
type AMConfig struct {
	Global       AMGlobal        `yaml:"global"`
	Templates    []string        `yaml:"templates"`
	Route        AMRoute         `yaml:"route"`
	InhibitRules []AMInhibitRule `yaml:"inhibit_rules"`
	Receivers    []AMReceiver    `yaml:"receivers"`
}

// AMGlobal holds defaults of every receiver.
type AMGlobal struct {
	ResolveTimeout  string `yaml:"resolve_timeout"`
	SlackAPIURLFile string `yaml:"slack_api_url_file"`
	PagerDutyURL    string `yaml:"pagerduty_url,omitempty"`
}

// AMRoute is a routing tree node.
type AMRoute struct {
	Receiver       string    `yaml:"receiver,omitempty"`
	Matchers       []string  `yaml:"matchers,omitempty"`
	GroupBy        []string  `yaml:"group_by,omitempty"`
	GroupWait      string    `yaml:"group_wait,omitempty"`
	GroupInterval  string    `yaml:"group_interval,omitempty"`
	RepeatInterval string    `yaml:"repeat_interval,omitempty"`
	Routes         []AMRoute `yaml:"routes,omitempty"`
}

// AMInhibitRule mutes target alerts while a source alert fires.
type AMInhibitRule struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

// AMReceiver is a named set of notifiers.
type AMReceiver struct {
	Name             string        `yaml:"name"`
	SlackConfigs     []AMSlack     `yaml:"slack_configs,omitempty"`
	PagerDutyConfigs []AMPagerDuty `yaml:"pagerduty_configs,omitempty"`
}

// AMSlack is a Slack notifier.
type AMSlack struct {
	SendResolved bool   `yaml:"send_resolved"`
	APIURLFile   string `yaml:"api_url_file,omitempty"`
	Channel      string `yaml:"channel"`
	Color        string `yaml:"color"`
	Title        string `yaml:"title"`
	TitleLink    string `yaml:"title_link"`
	Text         string `yaml:"text"`
}

// AMPagerDuty is a PagerDuty Events API v2 notifier.
type AMPagerDuty struct {
	SendResolved   bool              `yaml:"send_resolved"`
	RoutingKeyFile string            `yaml:"routing_key_file"`
	Description    string            `yaml:"description"`
	Severity       string            `yaml:"severity"`
	Class          string            `yaml:"class"`
	Component      string            `yaml:"component"`
	Group          string            `yaml:"group"`
	Details        map[string]string `yaml:"details"`
	Links          []AMLink          `yaml:"links"`
}

// AMLink is a PagerDuty event link.
type AMLink struct {
	Href string `yaml:"href"`
	Text string `yaml:"text"`
}

// SlackReceiver and PagerDutyReceiver name a team's receivers.
func SlackReceiver(team string) string     { return team + "-slack" }
func PagerDutyReceiver(team string) string { return team + "-pagerduty" }

// ExpectedReceiver is where an alert of a team (possibly unknown) and severity must go.
func ExpectedReceiver(c *catalog.Catalog, team, severity string) string {
	if c.TeamByID(team) == nil {
		team = c.Settings.Alertmanager.DefaultTeam
	}
	switch severity {
	case catalog.SeverityCritical:
		return PagerDutyReceiver(team)
	case catalog.SeverityInfo:
		return BlackholeReceiver
	}
	return SlackReceiver(team)
}

func matcher(label, value string) string { return label + "=" + strconv.Quote(value) }

// AlertmanagerConfig builds the Alertmanager config: a route per team (critical to its
// PagerDuty service, warning to its Slack channel, info nowhere), grouping by alert and service,
// and inhibitions (a page mutes the matching warning; a down agent mutes its node's alerts).
func AlertmanagerConfig(c *catalog.Catalog, rs *RuleSet) (*AMConfig, error) {
	am := c.Settings.Alertmanager
	def := c.TeamByID(am.DefaultTeam)
	if def == nil {
		return nil, fmt.Errorf("settings.alertmanager.default_team: no team %q", am.DefaultTeam)
	}
	cfg := &AMConfig{
		Global:    AMGlobal{ResolveTimeout: "5m", SlackAPIURLFile: am.SlackWebhookURLFile, PagerDutyURL: am.PagerDutyURL},
		Templates: []string{TemplatesFile},
		Route: AMRoute{
			Receiver:       SlackReceiver(def.ID),
			GroupBy:        []string{"alertname", "service"},
			GroupWait:      am.GroupWait.String(),
			GroupInterval:  am.GroupInterval.String(),
			RepeatInterval: am.RepeatInterval.String(),
		},
	}
	severityRoutes := func(team string) []AMRoute {
		return []AMRoute{
			{Matchers: []string{matcher("severity", catalog.SeverityCritical)}, Receiver: PagerDutyReceiver(team)},
			{Matchers: []string{matcher("severity", catalog.SeverityWarning)}, Receiver: SlackReceiver(team)},
			{Matchers: []string{matcher("severity", catalog.SeverityInfo)}, Receiver: BlackholeReceiver},
		}
	}
	for _, t := range c.Teams {
		cfg.Route.Routes = append(cfg.Route.Routes, AMRoute{
			Matchers: []string{matcher("team", t.ID)},
			Receiver: SlackReceiver(t.ID),
			Routes:   severityRoutes(t.ID),
		})
	}
	// Alerts of no known team go to the default team.
	cfg.Route.Routes = append(cfg.Route.Routes, severityRoutes(def.ID)...)

	cfg.InhibitRules = []AMInhibitRule{
		{
			SourceMatchers: []string{matcher("severity", catalog.SeverityCritical)},
			TargetMatchers: []string{matcher("severity", catalog.SeverityWarning)},
			Equal:          identifyingLabels(c, rs),
		},
		{
			SourceMatchers: []string{matcher("alertname", AlertAgentDown)},
			TargetMatchers: []string{`alertname!=` + strconv.Quote(AlertAgentDown), c.Settings.Labels.Node + `=~".+"`},
			Equal:          []string{c.Settings.Labels.Node},
		},
	}

	for _, t := range c.Teams {
		cfg.Receivers = append(cfg.Receivers,
			AMReceiver{Name: PagerDutyReceiver(t.ID), PagerDutyConfigs: []AMPagerDuty{pagerDuty(c, t)}},
			AMReceiver{Name: SlackReceiver(t.ID), SlackConfigs: []AMSlack{slack(t)}},
		)
	}
	cfg.Receivers = append(cfg.Receivers, AMReceiver{Name: BlackholeReceiver})
	return cfg, nil
}

// identifyingLabels are the labels that tell two alerts of one name apart: the alert name,
// service and SLO, and every label the alert expressions group by. A critical alert mutes the
// warning with the same values of all of them (a label missing on both counts as equal).
func identifyingLabels(c *catalog.Catalog, rs *RuleSet) []string {
	seen := map[string]bool{"alertname": true, "service": true, "slo": true}
	for _, f := range rs.Files {
		for _, sp := range f.specs {
			for l := range sp.fire.labels {
				seen[l] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

func pagerDuty(c *catalog.Catalog, t *catalog.Team) AMPagerDuty {
	first := func(annotation string) string {
		return fmt.Sprintf(`{{ (index .Alerts 0).Annotations.%s }}`, annotation)
	}
	return AMPagerDuty{
		SendResolved:   true,
		RoutingKeyFile: t.KeyFile(c.Settings),
		Description:    `{{ template "lookout.pagerduty.description" . }}`,
		Severity:       `{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}`,
		Class:          `{{ .CommonLabels.alertname }}`,
		Component:      `{{ .CommonLabels.service }}`,
		Group:          t.ID,
		Details: map[string]string{
			"team":      t.ID,
			"service":   `{{ .CommonLabels.service }}`,
			"slo":       first("slo"),
			"burn_rate": first("burn_rate"),
			"summary":   first("summary"),
			"firing":    `{{ template "lookout.pagerduty.firing" . }}`,
			"runbook":   first("runbook_url"),
			"dashboard": first("dashboard_url"),
		},
		Links: []AMLink{
			{Href: first("runbook_url"), Text: "Runbook"},
			{Href: first("dashboard_url"), Text: "Dashboard"},
		},
	}
}

func slack(t *catalog.Team) AMSlack {
	return AMSlack{
		SendResolved: true,
		APIURLFile:   t.Slack.WebhookURLFile,
		Channel:      t.Slack.Channel,
		Color:        `{{ template "lookout.slack.color" . }}`,
		Title:        `{{ template "lookout.title" . }}`,
		TitleLink:    `{{ (index .Alerts 0).Annotations.dashboard_url }}`,
		Text:         `{{ template "lookout.slack.text" . }}`,
	}
}

// Templates returns the notification templates (Go text/template, as Alertmanager reads them).
func Templates(c *catalog.Catalog) string {
	return `{{/* ` + GeneratedNotice(c.File) + ` */}}

{{/* Title of every notification: [FIRING:2] ServiceErrorBudgetBurn orders (critical) */}}
{{ define "lookout.title" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.service }}{{ with .CommonLabels.severity }} ({{ . }}){{ end }}
{{- end }}

{{ define "lookout.slack.color" -}}
{{ if eq .Status "resolved" }}good{{ else if eq .CommonLabels.severity "critical" }}danger{{ else }}warning{{ end }}
{{- end }}

{{/* One block per alert: what, which service and SLO, how fast the budget burns, where to look. */}}
{{ define "lookout.alert" -}}
*{{ .Annotations.summary }}*
{{ .Annotations.description }}
• Service: {{ .Labels.service }} · team {{ .Labels.team }} · severity {{ .Labels.severity }}
{{- if .Annotations.slo }}
• SLO: {{ .Annotations.slo }}
• Budget burn: {{ .Annotations.burn_rate }}× the rate that spends the budget exactly over the SLO window
{{- end }}
• Runbook: {{ .Annotations.runbook_url }}
• Dashboard: {{ .Annotations.dashboard_url }}
{{- end }}

{{ define "lookout.slack.text" -}}
{{ range .Alerts }}{{ template "lookout.alert" . }}
{{ end }}
{{- end }}

{{ define "lookout.pagerduty.description" -}}
{{ .CommonLabels.alertname }}: {{ .CommonLabels.service }}{{ with (index .Alerts 0).Annotations.burn_rate }} burns its error budget {{ . }}×{{ end }} - {{ (index .Alerts 0).Annotations.summary }}
{{- end }}

{{ define "lookout.pagerduty.firing" -}}
{{ range .Alerts.Firing }}{{ .Annotations.description }}
{{ end }}
{{- end }}
`
}
