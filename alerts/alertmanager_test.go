package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// sink records what Alertmanager sends to Slack and PagerDuty.
type sink struct {
	mu        sync.Mutex
	slack     []slackMessage
	pagerduty []pagerDutyEvent
}

type slackMessage struct {
	Channel     string `json:"channel"`
	Attachments []struct {
		Title     string `json:"title"`
		TitleLink string `json:"title_link"`
		Text      string `json:"text"`
		Color     string `json:"color"`
	} `json:"attachments"`
}

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
	Links []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links"`
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.URL.Path {
	case "/slack":
		var m slackMessage
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.slack = append(s.slack, m)
	case "/pagerduty":
		var e pagerDutyEvent
		if err := json.Unmarshal(b, &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.pagerduty = append(s.pagerduty, e)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"success","message":"Event processed","dedup_key":"x"}`))
		return
	default:
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write([]byte("ok"))
}

func (s *sink) snapshot() ([]slackMessage, []pagerDutyEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slackMessage(nil), s.slack...), append([]pagerDutyEvent(nil), s.pagerduty...)
}

// TestAlertmanagerDelivers runs the real Alertmanager (0.25 from Debian) with the generated
// config and templates, pointed at a local sink: pages reach the owning team's PagerDuty service
// with the routing key read from its file, warnings reach its Slack channel, both showing service,
// SLO, budget burn, runbook and dashboard; a page mutes its warning and a down agent mutes its
// node's alerts.
func TestAlertmanagerDelivers(t *testing.T) {
	am := lookouttest.Tool(t, "alertmanager", "prometheus-alertmanager")
	recorder := &sink{}
	srv := httptest.NewServer(recorder)
	t.Cleanup(srv.Close)

	secrets := t.TempDir()
	c := demo(t)
	c.Settings.Alertmanager.SecretsDir = secrets
	c.Settings.Alertmanager.PagerDutyURL = srv.URL + "/pagerduty"
	c.Settings.Alertmanager.SlackWebhookURLFile = filepath.Join(secrets, "slack-url")
	c.Settings.Alertmanager.GroupWait = model.Duration(time.Second)
	c.Settings.Alertmanager.GroupInterval = model.Duration(time.Second)
	c.TeamByID("web").PagerDuty.RoutingKeyFile = filepath.Join(secrets, "web.key")
	keys := map[string]string{"web": "web-routing-key", "checkout": "checkout-routing-key", "platform": "platform-routing-key"}
	for _, team := range c.Teams {
		require.NoError(t, os.WriteFile(team.KeyFile(c.Settings), []byte(keys[team.ID]+"\n"), 0o600))
	}
	require.NoError(t, os.WriteFile(c.Settings.Alertmanager.SlackWebhookURLFile, []byte(srv.URL+"/slack"), 0o600))
	dir, rs := render(t, c)

	listen := lookouttest.FreeAddr(t)
	proc := lookouttest.Start(t, am, []string{
		"--config.file=" + filepath.Join(dir, "alertmanager.yaml"),
		"--storage.path=" + t.TempDir(),
		"--web.listen-address=" + listen,
		"--cluster.listen-address=",
	})
	proc.WaitHTTP(t, "http://"+listen+"/-/ready", 30*time.Second)

	// The alerts as Prometheus would send them: labels and annotations of the generated rules.
	rule := func(alert, severity, service string) Rule {
		for _, f := range rs.Files {
			for _, sp := range f.specs {
				r := sp.rule
				if r.Alert == alert && r.Labels["severity"] == severity && (service == "" || r.Labels["service"] == service) {
					return r
				}
			}
		}
		t.Fatalf("no rule %s %s %s", alert, severity, service)
		return Rule{}
	}
	type amAlert struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
	}
	fire := func(r Rule, extra map[string]string, values map[string]string) amAlert {
		ann := map[string]string{}
		for k, v := range r.Annotations {
			for tmpl, val := range values {
				v = strings.ReplaceAll(v, tmpl, val)
			}
			ann[k] = v
		}
		return amAlert{Labels: labels(r.Labels, extra, map[string]string{"alertname": r.Alert}), Annotations: ann, StartsAt: time.Now()}
	}
	burn := map[string]string{`{{ printf "%.1f" $value }}`: "28.8"}
	node := map[string]string{"{{ $labels.k8s_node_name }}": "node-1", "{{ $labels.mountpoint }}": "/", "{{ $labels.device }}": "/dev/vda1", "{{ $value | humanizePercentage }}": "90%"}
	alerts := []amAlert{
		// orders (team checkout): a page and its ticket; the ticket must be muted.
		fire(rule(AlertErrorBudgetBurn, catalog.SeverityCritical, "orders"), map[string]string{"service_name": "orders"}, burn),
		fire(rule(AlertErrorBudgetBurn, catalog.SeverityWarning, "orders"), map[string]string{"service_name": "orders"}, burn),
		// storefront (team web): a ticket alone goes to #web-alerts.
		fire(rule(AlertLatencyBudgetBurn, catalog.SeverityWarning, "storefront"), map[string]string{"service_name": "storefront"}, map[string]string{`{{ printf "%.1f" $value }}`: "4.5"}),
		// node-1's agent is down: its node alert is muted, another node's is not.
		fire(rule(AlertAgentDown, catalog.SeverityCritical, ""), map[string]string{"k8s_node_name": "node-1"}, node),
		fire(rule(AlertNodeFilesystem, catalog.SeverityWarning, ""), map[string]string{"k8s_node_name": "node-1", "device": "/dev/vda1", "mountpoint": "/"}, node),
		fire(rule(AlertNodeFilesystem, catalog.SeverityWarning, ""), map[string]string{"k8s_node_name": "node-2", "device": "/dev/vda1", "mountpoint": "/"},
			map[string]string{"{{ $labels.k8s_node_name }}": "node-2", "{{ $labels.mountpoint }}": "/", "{{ $labels.device }}": "/dev/vda1", "{{ $value | humanizePercentage }}": "90%"}),
	}
	body, err := json.Marshal(alerts)
	require.NoError(t, err)
	resp, err := http.Post("http://"+listen+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	lookouttest.Eventually(t, 30*time.Second, func() error {
		slack, pd := recorder.snapshot()
		if len(pd) < 2 || len(slack) < 2 {
			return fmt.Errorf("have %d PagerDuty events and %d Slack messages, want 2 and 2", len(pd), len(slack))
		}
		return nil
	})
	// Give muted alerts the time to show up if they were (wrongly) not muted.
	time.Sleep(3 * time.Second)
	slack, pd := recorder.snapshot()

	require.Len(t, pd, 2, "PagerDuty events: %+v", pd)
	byKey := map[string]pagerDutyEvent{}
	for _, e := range pd {
		byKey[e.RoutingKey] = e
	}
	page := byKey["checkout-routing-key"]
	require.Equal(t, "trigger", page.EventAction)
	require.Equal(t, "critical", page.Payload.Severity)
	require.Equal(t, AlertErrorBudgetBurn, page.Payload.Class)
	require.Equal(t, "orders", page.Payload.Component)
	require.Equal(t, "checkout", page.Payload.Group)
	require.Contains(t, page.Payload.Summary, "ServiceErrorBudgetBurn: orders burns its error budget 28.8×")
	require.Equal(t, "orders", page.Payload.CustomDetails["service"])
	require.Equal(t, "99.5% of requests succeed over 30d", page.Payload.CustomDetails["slo"])
	require.Equal(t, "28.8", page.Payload.CustomDetails["burn_rate"])
	require.Equal(t, c.RunbookURL(AlertErrorBudgetBurn), page.Payload.CustomDetails["runbook"])
	require.Equal(t, c.DashboardURL(catalog.ServiceDashboardUID("orders")), page.Payload.CustomDetails["dashboard"])
	require.Len(t, page.Links, 2)
	require.Equal(t, c.RunbookURL(AlertErrorBudgetBurn), page.Links[0].Href)
	agent := byKey["platform-routing-key"]
	require.Equal(t, AlertAgentDown, agent.Payload.Class)
	require.Equal(t, c.DashboardURL(catalog.CollectorUID, "node=node-1"), agent.Payload.CustomDetails["dashboard"])

	require.Len(t, slack, 2, "Slack messages: %+v", slack)
	byChannel := map[string]slackMessage{}
	for _, m := range slack {
		byChannel[m.Channel] = m
	}
	web := byChannel["#web-alerts"]
	require.Len(t, web.Attachments, 1)
	require.Equal(t, "[FIRING:1] ServiceLatencyBudgetBurn storefront (warning)", web.Attachments[0].Title)
	require.Equal(t, c.DashboardURL(catalog.ServiceDashboardUID("storefront")), web.Attachments[0].TitleLink)
	require.Equal(t, "warning", web.Attachments[0].Color)
	text := web.Attachments[0].Text
	for _, want := range []string{
		"*storefront is burning its latency error budget too fast.*",
		"• Service: storefront · team web · severity warning",
		"• SLO: 99% of requests finish within 100ms over 30d",
		"• Budget burn: 4.5×",
		"• Runbook: " + c.RunbookURL(AlertLatencyBudgetBurn),
		"• Dashboard: " + c.DashboardURL(catalog.ServiceDashboardUID("storefront")),
	} {
		require.Contains(t, text, want)
	}
	// The other node's file-system warning reaches the platform team; node-1's is muted.
	platform := byChannel["#platform-alerts"]
	require.Len(t, platform.Attachments, 1)
	require.Contains(t, platform.Attachments[0].Text, "on node node-2")
	require.NotContains(t, platform.Attachments[0].Text, "node-1")
	// The orders ticket was muted by its page: nothing reached #checkout-alerts.
	require.NotContains(t, byChannel, "#checkout-alerts")
}
