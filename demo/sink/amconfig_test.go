package sink

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// A config shaped like the catalog generator's: secrets in files under /etc, a relative
// template, PagerDuty's default URL.
const generatedAM = `# Code generated; DO NOT EDIT.
global:
  resolve_timeout: 5m
  slack_api_url_file: /etc/alertmanager/secrets/slack-webhook-url
templates:
  - templates/lookout.tmpl
route:
  receiver: platform-slack
  group_by: [alertname, service]
  routes:
    - receiver: checkout-pagerduty
      matchers: ['team="checkout"', 'severity="critical"']
    - receiver: hooks
      matchers: ['severity="info"']
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, service]
receivers:
  - name: platform-slack
    slack_configs:
      - channel: '#platform'
        send_resolved: true
        title: '{{ template "lookout.title" . }}'
  - name: checkout-pagerduty
    pagerduty_configs:
      - routing_key_file: /etc/alertmanager/secrets/pagerduty-checkout.key
        send_resolved: true
      - routing_key: inline
        url: https://events.pagerduty.com/v2/enqueue
  - name: hooks
    webhook_configs:
      - url: https://example.com/hook
    slack_configs:
      - api_url: https://hooks.slack.com/services/T/B/X
        channel: '#x'
`

func TestLocalizeAlertmanagerConfig(t *testing.T) {
	secrets := filepath.Join(t.TempDir(), "secrets")
	out, err := LocalizeAlertmanagerConfig([]byte(generatedAM), LocalizeOptions{
		SinkURL: "http://127.0.0.1:9097", SecretsDir: secrets, ConfigDir: "/repo/alerts/generated",
	})
	require.NoError(t, err)

	var got struct {
		Global    map[string]any `yaml:"global"`
		Templates []string       `yaml:"templates"`
		Route     map[string]any `yaml:"route"`
		Inhibit   []any          `yaml:"inhibit_rules"`
		Receivers []struct {
			Name      string           `yaml:"name"`
			Slack     []map[string]any `yaml:"slack_configs"`
			PagerDuty []map[string]any `yaml:"pagerduty_configs"`
			Webhook   []map[string]any `yaml:"webhook_configs"`
		} `yaml:"receivers"`
	}
	require.NoError(t, yaml.Unmarshal(out.Config, &got))
	require.Equal(t, "http://127.0.0.1:9097/pagerduty/v2/enqueue", got.Global["pagerduty_url"])
	require.Equal(t, filepath.Join(secrets, "slack-webhook-url"), got.Global["slack_api_url_file"])
	require.Equal(t, "5m", got.Global["resolve_timeout"])
	require.Equal(t, []string{"/repo/alerts/generated/templates/lookout.tmpl"}, got.Templates)
	require.Equal(t, "platform-slack", got.Route["receiver"], "routes are kept")
	require.Len(t, got.Inhibit, 1, "inhibition is kept")

	require.Equal(t, "#platform", got.Receivers[0].Slack[0]["channel"])
	require.NotContains(t, got.Receivers[0].Slack[0], "api_url", "the global URL file serves it")
	require.Equal(t, filepath.Join(secrets, "pagerduty-checkout.key"), got.Receivers[1].PagerDuty[0]["routing_key_file"])
	require.Equal(t, "http://127.0.0.1:9097/pagerduty/v2/enqueue", got.Receivers[1].PagerDuty[1]["url"])
	require.Equal(t, "http://127.0.0.1:9097/webhook/hooks", got.Receivers[2].Webhook[0]["url"])
	require.Equal(t, "http://127.0.0.1:9097/slack/hooks", got.Receivers[2].Slack[0]["api_url"])
	require.NotContains(t, string(out.Config), "example.com")
	require.NotContains(t, string(out.Config), "slack.com")
	require.NotContains(t, string(out.Config), "pagerduty.com")

	require.Equal(t, map[string]string{
		filepath.Join(secrets, "slack-webhook-url"):      "http://127.0.0.1:9097/slack/slack-webhook-url",
		filepath.Join(secrets, "pagerduty-checkout.key"): "local-pagerduty-checkout",
	}, out.Secrets)
}

func TestLocalizedConfigPassesAmtool(t *testing.T) {
	amtool := lookouttest.Tool(t, "alertmanager", "amtool")
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "templates"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "lookout.tmpl"), []byte(`{{ define "lookout.title" }}t{{ end }}`), 0o644))
	out, err := LocalizeAlertmanagerConfig([]byte(generatedAM), LocalizeOptions{
		SinkURL: "http://127.0.0.1:9097", SecretsDir: filepath.Join(dir, "secrets"), ConfigDir: dir,
	})
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "secrets"), 0o755))
	for p, c := range out.Secrets {
		require.NoError(t, os.WriteFile(p, []byte(c), 0o600))
	}
	cfg := filepath.Join(t.TempDir(), "alertmanager.yml")
	require.NoError(t, os.WriteFile(cfg, out.Config, 0o644))
	b, err := exec.Command(amtool, "check-config", cfg).CombinedOutput()
	require.NoError(t, err, "%s", b)
	require.Contains(t, string(b), "SUCCESS")
}

func TestLocalizeErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opts     LocalizeOptions
		wantErr  string
	}{
		{"no sink", "route: {}", LocalizeOptions{SecretsDir: "s"}, `sink url "": want http://host:port`},
		{"no secrets dir", "route: {}", LocalizeOptions{SinkURL: "http://x:1"}, "secrets dir: required"},
		{"not yaml", "route: [", LocalizeOptions{SinkURL: "http://x:1", SecretsDir: "s"}, "yaml:"},
		{"not a mapping", "- a", LocalizeOptions{SinkURL: "http://x:1", SecretsDir: "s"}, "not a YAML mapping"},
		{"clashing secret names", `
receivers:
  - name: a
    pagerduty_configs: [{routing_key_file: /a/k.key}]
  - name: b
    slack_configs: [{api_url_file: /b/k.key}]
`, LocalizeOptions{SinkURL: "http://x:1", SecretsDir: "s"}, "two secret files named k.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LocalizeAlertmanagerConfig([]byte(tt.in), tt.opts)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
