package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// TestCatalogObjects checks what the chart renders from the catalog with the real tools: the
// PrometheusRule's groups with `promtool check rules`, and the Alertmanager Secret, laid out as
// the README says to mount it (alertmanager.yml, templates/lookout.tmpl), with
// `amtool check-config`, which also loads the templates.
func TestCatalogObjects(t *testing.T) {
	o := render(t, chartCase{name: "ci/catalog-values.yaml", opts: Options{ValuesFiles: []string{filepath.Join(ChartDir(), "ci", "catalog-values.yaml")}}})
	dir := t.TempDir()

	require.Len(t, o.PrometheusRules, 1)
	groups, err := sigsyaml.Marshal(map[string]any{"groups": o.PrometheusRules[0].Spec.Groups})
	require.NoError(t, err)
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, groups, 0o644))
	promtool := lookouttest.Tool(t, "prometheus", "promtool")
	out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput()
	// (Exit status 0; its lint notes the per-service recording rules that share a name, which is
	// by design: their series differ by the service label.)
	require.NoError(t, err, "promtool check rules:\n%s", out)
	require.Contains(t, string(groups), "MyServiceDown", "prometheusRule.extraGroups")
	require.Contains(t, string(groups), "ServiceErrorBudgetBurn", "the shipped groups")

	require.Len(t, o.Secrets, 1)
	secret := o.Secrets[0]
	for key, path := range map[string]string{"alertmanager.yaml": "alertmanager.yml", "lookout.tmpl": "templates/lookout.tmpl"} {
		text, ok := secret.StringData[key]
		require.True(t, ok, "Secret %s has no %s", secret.Name, key)
		p := filepath.Join(dir, "am", path)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	}
	amtool := lookouttest.Tool(t, "alertmanager", "amtool")
	out, err = exec.Command(amtool, "check-config", filepath.Join(dir, "am", "alertmanager.yml")).CombinedOutput()
	require.NoError(t, err, "amtool check-config:\n%s", out)
	require.Contains(t, string(out), "SUCCESS")
	// amtool skips a template path that matches no file: break the template to prove it is
	// loaded from where the README mounts it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "am", "templates", "lookout.tmpl"), []byte(`{{ define "x" }}{{ .Oops`), 0o644))
	out, err = exec.Command(amtool, "check-config", filepath.Join(dir, "am", "alertmanager.yml")).CombinedOutput()
	require.Error(t, err, "amtool did not load templates/lookout.tmpl:\n%s", out)
	require.Contains(t, string(out), "lookout.tmpl")

	// The dashboards: one ConfigMap each, labelled for Grafana's sidecar, in the namespace asked.
	names := map[string]bool{}
	for _, cm := range o.ConfigMaps {
		if cm.Labels["grafana_dashboard"] != "1" {
			continue
		}
		require.Equal(t, "grafana", cm.Namespace)
		require.Equal(t, "Lookout", cm.Annotations["grafana_folder"])
		require.Len(t, cm.Data, 1)
		for key, json := range cm.Data {
			names[strings.TrimSuffix(key, ".json")] = true
			require.True(t, strings.HasPrefix(strings.TrimSpace(json), "{"), "%s holds JSON", key)
		}
	}
	for _, want := range []string{"overview", "nodes", "collector", "my-service"} {
		require.True(t, names[want], "dashboard %s (have %v)", want, names)
	}
}
