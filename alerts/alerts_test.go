package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/emitted"
	"github.com/lookoutdev/lookout/internal/catalog/querycheck"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

func demo(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(filepath.Join(lookouttest.RepoRoot(), "demo", "catalog.yaml"))
	require.NoError(t, err)
	c.File = "demo/catalog.yaml"
	return c
}

// render writes the generated alert files of c under a temporary directory and returns the
// directory that holds rules/, tests/ and alertmanager.yaml.
func render(t testing.TB, c *catalog.Catalog) (string, *RuleSet) {
	t.Helper()
	rs, err := Build(c)
	require.NoError(t, err)
	files, err := Render(c, rs)
	require.NoError(t, err)
	root := t.TempDir()
	for p, b := range files {
		path := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	return filepath.Join(root, filepath.FromSlash(GeneratedDir)), rs
}

func run(t testing.TB, dir, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func glob(t testing.TB, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	require.NotEmpty(t, m, "no %s in %s", pattern, dir)
	sort.Strings(m)
	return m
}

// TestPromtool checks the rules and runs their unit tests with the real promtool.
func TestPromtool(t *testing.T) {
	promtool := lookouttest.Tool(t, "prometheus", "promtool")
	dir, rs := render(t, demo(t))

	out, err := run(t, dir, promtool, append([]string{"check", "rules"}, glob(t, dir, "rules/*.yaml")...)...)
	require.NoError(t, err, out)

	// The PrometheusRule manifest holds the same groups: promtool checks them as a rule file.
	var pr PrometheusRule
	b, err := os.ReadFile(filepath.Join(dir, "prometheusrule.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &pr))
	require.Equal(t, "PrometheusRule", pr.Kind)
	require.Equal(t, rs.Manifest().Spec.Groups, pr.Spec.Groups)
	spec, err := yaml.Marshal(pr.Spec)
	require.NoError(t, err)
	specFile := filepath.Join(t.TempDir(), "spec.yaml")
	require.NoError(t, os.WriteFile(specFile, spec, 0o644))
	out, err = run(t, dir, promtool, "check", "rules", specFile)
	require.NoError(t, err, out)

	tests := glob(t, dir, "tests/*_test.yaml")
	require.Len(t, tests, len(rs.Files))
	out, err = run(t, dir, promtool, append([]string{"test", "rules"}, tests...)...)
	require.NoError(t, err, out)
	require.Equal(t, len(tests), strings.Count(out, "SUCCESS"), out)
}

// TestEveryAlertIsTested checks that each alerting rule has a case that fires it (silent one
// evaluation before `for` elapses, firing right after with exact labels and annotations) and a
// case that keeps it silent.
func TestEveryAlertIsTested(t *testing.T) {
	_, rs := render(t, demo(t))
	alerts := 0
	for _, f := range rs.Files {
		tf, err := f.TestFile()
		require.NoError(t, err)
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				alerts++
				forDur, err := parseDur(r.For)
				require.NoError(t, err)
				who := r.Labels["severity"]
				if r.Labels["slo"] != "" {
					who = r.Labels["service"] + " " + r.Labels["slo"] + " " + who
				}
				fires, silent := 0, 0
				for _, tc := range tf.Tests {
					switch tc.Name {
					case r.Alert + " (" + who + ") waits " + r.For + ", then fires":
						require.Len(t, tc.AlertRuleTest, 2)
						before, at := tc.AlertRuleTest[0], tc.AlertRuleTest[1]
						require.Empty(t, before.ExpAlerts)
						require.Len(t, at.ExpAlerts, 1)
						exp := at.ExpAlerts[0]
						require.True(t, sameLabels(exp.ExpLabels, r.Labels), "%s: labels %v", tc.Name, exp.ExpLabels)
						require.Len(t, exp.ExpAnnotations, len(r.Annotations))
						for _, a := range []string{"summary", "description", "runbook_url", "dashboard_url"} {
							require.NotEmpty(t, exp.ExpAnnotations[a], "%s: annotation %s", tc.Name, a)
							require.NotContains(t, exp.ExpAnnotations[a], "{{", "%s: annotation %s is not rendered", tc.Name, a)
						}
						tb, err := parseDur(before.EvalTime)
						require.NoError(t, err)
						ta, err := parseDur(at.EvalTime)
						require.NoError(t, err)
						require.Equal(t, evalInterval, ta-tb)
						require.GreaterOrEqual(t, ta, forDur)
						fires++
					case r.Alert + " (" + who + ") stays silent":
						require.Len(t, tc.AlertRuleTest, 1)
						require.Empty(t, tc.AlertRuleTest[0].ExpAlerts)
						silent++
					}
				}
				require.Equal(t, 1, fires, "%s %v: firing cases", r.Alert, r.Labels)
				require.Equal(t, 1, silent, "%s %v: silent cases", r.Alert, r.Labels)
			}
		}
	}
	// 3 services × 2 SLOs × 2 severities (payments is tier 2: it pages too), 7 agent (with the
	// log-tailing lag the demo catalog turns on), 4 node.
	require.Equal(t, 3*2*2+7+4, alerts)
	// Each page has a case where only its fast window pair can catch the burn, and one where it
	// resolves after the service recovers.
	fast, recovery := 0, 0
	for _, f := range rs.Files {
		for _, tc := range f.extra {
			switch {
			case strings.HasSuffix(tc.Name, "critical) catches a new burn with its fastest windows alone"):
				fast++
			case strings.HasSuffix(tc.Name, "critical) resolves once its short windows are clean"):
				recovery++
			default:
				t.Errorf("unexpected case %q", tc.Name)
			}
		}
	}
	require.Equal(t, 3*2, fast)
	require.Equal(t, 3*2, recovery)
}

func sameLabels(exp, rule map[string]string) bool {
	for k, v := range rule {
		if exp[k] != v {
			return false
		}
	}
	return true
}

// TestPromtoolTestsCatchBrokenRules breaks rules in ways a reviewer might miss and checks that the
// generated promtool tests then fail: the tests are not vacuous.
func TestPromtoolTestsCatchBrokenRules(t *testing.T) {
	promtool := lookouttest.Tool(t, "prometheus", "promtool")
	dir, _ := render(t, demo(t))
	// Every occurrence is replaced.
	mutations := []struct {
		file, old, new string
	}{
		{"slo-orders.yaml", "> 14.4", "> 144"},                            // the fast page window pair's threshold
		{"slo-storefront.yaml", "ratio_rate5m{", "ratio_rate30m{"},        // the fast pair's short window slower
		{"slo-payments.yaml", "ratio_rate30m{", "ratio_rate1h{"},          // the slow pair's short window slower
		{"slo-orders.yaml", "for: 2m", "for: 4m"},                         // the page waits too long
		{"slo-orders.yaml", "STATUS_CODE_ERROR", "STATUS_CODE_UNSET"},     // successes counted as errors
		{"slo-storefront.yaml", `le="0.1"`, `le="0.25"`},                  // latency SLI on the wrong bucket
		{"slo-payments.yaml", "/ 0.001 >", "/ 0.01 >"},                    // the budget of another objective
		{"lookout-agent.yaml", "[5m]))\n", "[15m]))\n"},                   // agent-down window too long
		{"lookout-agent.yaml", "> 0.8", "> 0.95"},                         // queue alert too late
		{"node.yaml", "team: platform", "team: web"},                      // wrong owner
		{"lookout-agent.yaml", "severity: critical", "severity: warning"}, // a page demoted
	}
	for _, m := range mutations {
		t.Run(m.file+" "+m.old, func(t *testing.T) {
			t.Parallel()
			// A copy of the rules and tests, so that the cases run side by side.
			own := t.TempDir()
			for _, sub := range []string{"rules", "tests"} {
				require.NoError(t, os.MkdirAll(filepath.Join(own, sub), 0o755))
			}
			name := strings.TrimSuffix(m.file, ".yaml")
			orig, err := os.ReadFile(filepath.Join(dir, "rules", m.file))
			require.NoError(t, err)
			require.Contains(t, string(orig), m.old)
			require.NoError(t, os.WriteFile(filepath.Join(own, "rules", m.file), []byte(strings.ReplaceAll(string(orig), m.old, m.new)), 0o644))
			tests, err := os.ReadFile(filepath.Join(dir, "tests", name+"_test.yaml"))
			require.NoError(t, err)
			test := filepath.Join(own, "tests", name+"_test.yaml")
			require.NoError(t, os.WriteFile(test, tests, 0o644))
			out, err := run(t, own, promtool, "test", "rules", test)
			require.Error(t, err, "promtool passed with a broken rule:\n%s", out)
			require.Contains(t, out, "FAILED")
		})
	}
}

// TestExpressions parses every rule expression and checks its metric names (Build does this too;
// here the rules are read back from the rendered files).
func TestExpressions(t *testing.T) {
	c := demo(t)
	dir, rs := render(t, c)
	records := rs.Records()
	n := 0
	for _, path := range glob(t, dir, "rules/*.yaml") {
		var rf struct {
			Groups []Group `yaml:"groups"`
		}
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(b, &rf))
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				err := querycheck.Check(r.Expr, func(name string) error {
					if records[name] {
						return nil
					}
					return c.KnownMetric(nil, name)
				})
				require.NoError(t, err, "%s %s%s", filepath.Base(path), r.Record, r.Alert)
				n++
			}
		}
	}
	require.Equal(t, len(rs.Exprs()), n)
}

// TestUnknownMetric checks that a rule on a metric the agent does not emit fails the build.
func TestUnknownMetric(t *testing.T) {
	c := demo(t)
	var kept []emitted.Metric
	for _, m := range c.Metrics.Metrics {
		if m.Name != "otelcol_exporter_queue_capacity" {
			kept = append(kept, m)
		}
	}
	l, err := emitted.New(c.Metrics.Pipeline, c.Metrics.SelfScrapeJob, c.Metrics.SpanMetrics, kept)
	require.NoError(t, err)
	c.Metrics = l
	_, err = Build(c)
	require.ErrorContains(t, err, "the agent emits no metric otelcol_exporter_queue_capacity")
}

// TestLogLagAlert covers the optional log-tailing alert with a gauge the agent emits.
func TestLogLagAlert(t *testing.T) {
	promtool := lookouttest.Tool(t, "prometheus", "promtool")
	c := demo(t)
	gauge, err := c.Metrics.Named("otelcol_podlogs_file_lag")
	require.NoError(t, err)
	c.Settings.Collector.LogLag = &catalog.LogLag{Metric: gauge, Bytes: 10 << 20, For: catalog.DefaultBurnAlerts()[0].For}
	dir, rs := render(t, c)
	found := false
	for _, a := range rs.Alerts {
		found = found || a.Name == AlertLogTailingLag
	}
	require.True(t, found)
	out, err := run(t, dir, promtool, "test", "rules", filepath.Join(dir, "tests", "lookout-agent_test.yaml"))
	require.NoError(t, err, out)
}

func TestRunbooks(t *testing.T) {
	c := demo(t)
	rs, err := Build(c)
	require.NoError(t, err)
	books, err := Runbooks(c, rs)
	require.NoError(t, err)
	require.Len(t, books, len(rs.Alerts))
	for _, f := range rs.Files {
		for _, sp := range f.specs {
			u := sp.rule.Annotations["runbook_url"]
			require.Equal(t, c.Settings.RunbookURL+"/"+sp.rule.Alert+".md", u)
			md := string(books[RunbookDir+"/"+sp.rule.Alert+".md"])
			require.Contains(t, md, "# "+sp.rule.Alert+"\n")
			require.Contains(t, md, "## What to check\n\n1. ")
			require.Contains(t, md, "## What to do\n\n- ")
		}
	}
	// SLO runbooks list each service with its SLO and dashboard.
	md := string(books[RunbookDir+"/"+AlertErrorBudgetBurn+".md"])
	require.Contains(t, md, "| orders | checkout | 1 | 99.5% of requests succeed over 30d | [svc-orders](http://localhost:3000/d/svc-orders) |")
}

// TestAmtool checks the Alertmanager config with the real amtool, and that every team ×
// severity (and a team the catalog does not know) reaches the right receiver.
func TestAmtool(t *testing.T) {
	amtool := lookouttest.Tool(t, "alertmanager", "amtool")
	c := demo(t)
	dir, _ := render(t, c)
	out, err := run(t, dir, amtool, "check-config", "alertmanager.yaml")
	require.NoError(t, err, out)
	require.Contains(t, out, "1 templates")

	teams := []string{"nobody"}
	for _, tm := range c.Teams {
		teams = append(teams, tm.ID)
	}
	for _, team := range teams {
		for _, sev := range []string{catalog.SeverityCritical, catalog.SeverityWarning, catalog.SeverityInfo} {
			want := ExpectedReceiver(c, team, sev)
			out, err := run(t, dir, amtool, "config", "routes", "test", "--config.file=alertmanager.yaml",
				"--verify.receivers="+want, "team="+team, "severity="+sev, "alertname=X", "service=s")
			require.NoError(t, err, "team=%s severity=%s: %s", team, sev, out)
			require.Contains(t, out, want)
		}
	}
	// The expectations are not all the same receiver.
	require.Equal(t, "checkout-pagerduty", ExpectedReceiver(c, "checkout", catalog.SeverityCritical))
	require.Equal(t, "web-slack", ExpectedReceiver(c, "web", catalog.SeverityWarning))
	require.Equal(t, "platform-pagerduty", ExpectedReceiver(c, "nobody", catalog.SeverityCritical))
	require.Equal(t, BlackholeReceiver, ExpectedReceiver(c, "web", catalog.SeverityInfo))
	out, err = run(t, dir, amtool, "config", "routes", "test", "--config.file=alertmanager.yaml",
		"--verify.receivers=web-slack", "team=web", "severity=critical")
	require.Error(t, err, "a page must not go to Slack: %s", out)
}
