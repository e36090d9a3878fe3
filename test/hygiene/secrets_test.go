package hygiene

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/deploy/helm"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// scanned are the directories whose every file is checked: what ships (the chart, its rendered
// manifests, the built-in collector configs, the alerting files) and what a newcomer runs (the
// demo, the local scripts).
var scanned = []string{"demo", "deploy", "collector/config", "alerts"}

// allowlist holds deliberate fakes: each entry must still match a finding (a stale entry fails the
// test) and says why the value is not a secret.
var allowlist = []struct {
	file, rule, contains, why string
}{
	{
		file: "demo/sink/sink_test.go", rule: "PagerDuty routing key", contains: `"routing_key":"0123456789abcdef0123456789abcdef"`,
		why: "the webhook sink's test payloads: a made-up key of the right length, 0-9a-f twice",
	},
}

// fake joins parts, so that the planted secrets below never appear whole in this file.
func fake(parts ...string) string { return strings.Join(parts, "") }

func TestScanRules(t *testing.T) {
	tests := []struct {
		name, file, text string
		want             string // the rule that must fire; "" when none may
	}{
		{"private key", "deploy/x.yaml", fake("-----BEGIN RSA ", "PRIVATE KEY-----"), "private key"},
		{"openssh private key", "demo/id", fake("-----BEGIN OPENSSH ", "PRIVATE KEY-----"), "private key"},
		{"public key is fine", "demo/id.pub", "-----BEGIN PUBLIC KEY-----", ""},
		{"AWS access key", "deploy/env.sh", "export AWS_ACCESS_KEY_ID=" + fake("AKIA", "Z3XQ7RBN2KW5LMPD"), "AWS access key ID"},
		{"AWS secret", "deploy/creds", "aws_secret_access_key = " + fake("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYzQ2W8KEY1a"), "AWS secret access key"},
		{"Slack webhook", "alerts/am.yaml", "api_url: https://" + fake("hooks.slack.com/services/", "T0A1B2C3D/B4E5F6G7H/", "q8Rz2LmN5vX9cT3wK6yP1sJd"), "Slack webhook URL"},
		{"Slack webhook fake is fine", "demo/sink/x_test.go", `api_url: https://hooks.slack.com/services/T/B/X`, ""},
		{"Slack bot token", "deploy/values.yaml", "token: " + fake("xoxb-", "1234567890-0987654321-abcdefGHIJKL"), "Slack token"},
		{"PagerDuty routing key", "alerts/am.yaml", "routing_key: " + fake("R0a1b2c3d4e5f6a7", "b8c9d0e1f2a3b4c5"), "PagerDuty routing key"},
		{"PagerDuty key in JSON", "demo/x.json", `{"routing_key":"` + fake("e93facc04764012d", "7bfb002500d5d1a6") + `"}`, "PagerDuty routing key"},
		{"PagerDuty key file is fine", "alerts/am.yaml", "routing_key_file: /etc/alertmanager/secrets/pagerduty-web.key", ""},
		{"load balancing routing key is fine", "collector/config/to-gateway.yaml", "    routing_key: traceID", ""},
		{"password in URL", "deploy/local/run.sh", "curl https://" + fake("admin:", "s3cr3tPassw0rd") + "@prometheus.internal/api", "password in URL"},
		{"URL with env password is fine", "deploy/local/run.sh", "curl https://admin:${PROM_PASSWORD}@prometheus.internal/api", ""},
		{"URL without password is fine", "deploy/values.yaml", "url: https://user@loki.example.com/", ""},
		{"literal password", "deploy/helm/lookout/values.yaml", "  password: " + fake("Tr0ub4dor", "&3"), "literal secret value"},
		{"literal token in JSON", "demo/config.json", `"api_token": "` + fake("ghp_9fK2", "mZq81LxV") + `"`, "literal secret value"},
		{"password from env is fine", "collector/config/agent.yaml", "  password: ${env:LOKI_PASSWORD}", ""},
		{"password file is fine", "deploy/helm/lookout/templates/_helpers.tpl", "password_file: {{ .path }}", ""},
		{"secret key name is fine", "deploy/helm/lookout/values.yaml", "      passwordKey: pass", ""},
		{"helm template is fine", "deploy/helm/lookout/templates/x.yaml", `  token: {{ .Values.token | quote }}`, ""},
		{"placeholder is fine", "demo/README.md", "password: <your password>", ""},
		{"masked is fine", "collector/config/agent.yaml", `# "password=****"`, ""},
		{"prose is fine", "demo/README.md", "the token: a routing key the catalog names", ""},
		{"a Go field from a variable is fine", "demo/sink/sink.go", `Password: cfg.Password,`, ""},
		{"a literal password in Go is caught only in a URL", "demo/x.go", `u := "postgres://app:` + fake("hunter2hunter", "2") + `@db/app"`, "password in URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Scan(tt.file, []byte(tt.text))
			if tt.want == "" {
				require.Empty(t, got)
				return
			}
			require.NotEmpty(t, got, "%q was not caught", tt.text)
			var rules []string
			for _, f := range got {
				rules = append(rules, f.Rule)
				require.Equal(t, 1, f.Line)
				require.LessOrEqual(t, len([]rune(f.Match)), 25, "the report shortens what it found")
			}
			require.Contains(t, rules, tt.want)
		})
	}
}

// TestNoSecretsInRepository scans every file under the scanned directories.
func TestNoSecretsInRepository(t *testing.T) {
	root := lookouttest.RepoRoot()
	used := make([]bool, len(allowlist))
	var findings []string
	files := 0
	for _, dir := range scanned {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			info, err := d.Info()
			if err != nil || !info.Mode().IsRegular() || info.Size() > 8<<20 {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.IndexByte(b, 0) >= 0 {
				return nil // binary
			}
			files++
			rel, _ := filepath.Rel(root, p)
			for _, f := range Scan(filepath.ToSlash(rel), b) {
				if i := allowIndex(f); i >= 0 {
					used[i] = true
					continue
				}
				findings = append(findings, f.String())
			}
			return nil
		})
		require.NoError(t, err)
	}
	require.Greater(t, files, 50, "the scan found too few files: wrong root?")
	require.Empty(t, findings, "secrets in the repository: move them to ${env:...}/${file:...} references, or, for a deliberate fake, add it to allowlist with the reason")
	for i, a := range allowlist {
		require.True(t, used[i], "allowlist entry for %s (%s) matches nothing any more: remove it", a.file, a.contains)
	}
}

func allowIndex(f Finding) int {
	for i, a := range allowlist {
		if a.file == f.File && (a.rule == "" || a.rule == f.Rule) && strings.Contains(f.text, a.contains) {
			return i
		}
	}
	return -1
}

// rendered returns the chart rendered with its default values and with every ci/*-values.yaml.
func rendered(t *testing.T) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := helm.FindHelm(ctx)
	require.NoError(t, err)
	out := map[string][]byte{}
	b, err := helm.Template(ctx, bin, helm.Options{})
	require.NoError(t, err)
	out["default values"] = b
	ci, err := filepath.Glob(filepath.Join(helm.ChartDir(), "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, ci)
	for _, f := range ci {
		b, err := helm.Template(ctx, bin, helm.Options{ValuesFiles: []string{f}})
		require.NoError(t, err)
		out["ci/"+filepath.Base(f)] = b
	}
	return out
}

// TestNoSecretsInRenderedChart scans what `helm template` produces, for the default values and
// every ci values file (credentials must come from existing Secrets, never be rendered inline).
func TestNoSecretsInRenderedChart(t *testing.T) {
	for name, b := range rendered(t) {
		var findings []string
		for _, f := range Scan(name+".yaml", b) {
			findings = append(findings, f.String())
		}
		require.Empty(t, findings, "secrets in the chart rendered with %s", name)
	}
}
