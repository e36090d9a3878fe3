package helm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/lookoutdev/lookout/collector/config"
)

// chartCase is one set of values the chart is rendered with.
type chartCase struct {
	name string
	opts Options
}

// ciCases returns the default values and every ci/*.yaml.
func ciCases(t *testing.T) []chartCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(ChartDir(), "ci", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "the chart has no ci/*.yaml")
	cases := []chartCase{{name: "default"}}
	for _, f := range files {
		cases = append(cases, chartCase{name: "ci/" + filepath.Base(f), opts: Options{ValuesFiles: []string{f}}})
	}
	return cases
}

// values returns the values a case renders with: values.yaml, then its files, then its --set
// entries (maps merge, everything else is replaced, as Helm does).
func (c chartCase) values(t *testing.T) map[string]any {
	t.Helper()
	read := func(path string) map[string]any {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		m := map[string]any{}
		require.NoError(t, yaml.Unmarshal(b, &m), path)
		return m
	}
	v := read(filepath.Join(ChartDir(), "values.yaml"))
	for _, f := range c.opts.ValuesFiles {
		mergeValues(v, read(f))
	}
	for _, s := range c.opts.Set {
		key, raw, ok := strings.Cut(s, "=")
		require.True(t, ok, s)
		var val any = raw
		if b, err := strconv.ParseBool(raw); err == nil {
			val = b
		}
		parts := strings.Split(key, ".")
		m := v
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = val
	}
	return v
}

func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func lookup(v map[string]any, path string) any {
	var cur any = v
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (c chartCase) presets(t *testing.T) presets {
	v := c.values(t)
	b := func(path string) bool {
		on, ok := lookup(v, "presets."+path).(bool)
		require.True(t, ok, "presets.%s is not a boolean", path)
		return on
	}
	return presets{
		logs: b("logs.enabled"), podLogs: b("logs.podLogs"),
		metrics: b("metrics.enabled"), hostMetrics: b("metrics.hostMetrics"), kubeletStats: b("metrics.kubeletStats"),
		traces: b("traces.enabled"), spanMetrics: b("spanMetrics.enabled"), gateway: b("gateway.enabled"),
	}
}

// userPipelines returns the pipeline lists the case's `config` value sets.
func (c chartCase) userPipelines(t *testing.T) map[string]map[string][]string {
	p, _ := lookup(c.values(t), "config.service.pipelines").(map[string]any)
	out := map[string]map[string][]string{}
	for name, fields := range p {
		out[name] = map[string][]string{}
		for field, list := range fields.(map[string]any) {
			for _, x := range list.([]any) {
				out[name][field] = append(out[name][field], fmt.Sprint(x))
			}
		}
	}
	return out
}

func (c chartCase) policy(t *testing.T) policy {
	user, _ := lookup(c.values(t), "agent.podSecurityContext.runAsUser").(int)
	return policy{agentRoot: user == 0}
}

// render renders a case and decodes it strictly.
func render(t *testing.T, c chartCase) *objects {
	t.Helper()
	out, err := Template(context.Background(), helmBin, c.opts)
	require.NoError(t, err)
	o, err := decode(out)
	require.NoError(t, err, "strict decoding of the rendered objects")
	return o
}

// checkRendering runs every check on a valid case.
func checkRendering(t *testing.T, c chartCase) {
	t.Helper()
	o := render(t, c)
	require.NoError(t, c.policy(t).check(o), "policy")
	require.NoError(t, checkWiring(o), "wiring")
	p := c.presets(t)
	checkStateDirOwner(t, o, c)
	checkMounts(t, o, p)
	checkRBAC(t, o, p, c)
	checkCollectors(t, o, p, c.userPipelines(t))
}

func TestLint(t *testing.T) {
	for _, c := range ciCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, err := Lint(context.Background(), helmBin, c.opts)
			require.NoError(t, err)
			require.Contains(t, string(out), "0 chart(s) failed")
		})
	}
}

func TestRender(t *testing.T) {
	for _, c := range ciCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			checkRendering(t, c)
		})
	}
}

// TestPresetCombinations renders every combination of the five presets: the valid ones pass every
// check, the others fail with a message naming the presets.
func TestPresetCombinations(t *testing.T) {
	names := []string{"logs", "metrics", "traces", "spanMetrics", "gateway"}
	valid := 0
	for bits := 0; bits < 1<<len(names); bits++ {
		on := map[string]bool{}
		var set []string
		for i, n := range names {
			on[n] = bits&(1<<i) != 0
			set = append(set, fmt.Sprintf("presets.%s.enabled=%t", n, on[n]))
		}
		ok := (on["logs"] || on["metrics"] || on["traces"]) &&
			(!on["spanMetrics"] || (on["traces"] && on["metrics"])) &&
			(!on["gateway"] || on["traces"])
		if ok {
			valid++
		}
		c := chartCase{name: fmt.Sprintf("%05b", bits), opts: Options{Set: set}}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if ok {
				checkRendering(t, c)
				return
			}
			_, err := Template(context.Background(), helmBin, c.opts)
			require.Error(t, err, "presets %v should be refused", on)
			require.Contains(t, err.Error(), "presets")
		})
	}
	require.Equal(t, 15, valid, "valid combinations")
}

// checkMounts checks the agent's host mounts against the presets: each is there exactly when
// its preset needs it.
func checkMounts(t *testing.T, o *objects, p presets) {
	t.Helper()
	spec := o.DaemonSets[0].Spec.Template.Spec
	hostPaths := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.HostPath.Path] = true
		}
	}
	want := map[string]bool{stateDir: true}
	if p.logs && p.podLogs {
		want["/var/log/pods"] = true
		want["/var/log/containers"] = true
	}
	if p.metrics && p.hostMetrics {
		want["/"] = true
	}
	delete(hostPaths, "/var/lib/docker/containers") // presets.logs.dockerContainers, checked by the policy
	require.Equal(t, want, hostPaths, "the agent's hostPath volumes for presets %s", p)

	env := map[string]string{}
	for _, e := range spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if p.metrics && p.hostMetrics {
		require.Equal(t, "/hostfs", env["LOOKOUT_HOST_ROOT"])
	}
	require.Equal(t, stateDir, env["LOOKOUT_STATE_DIR"])
}

// checkRBAC checks that the agent is granted exactly what its presets use.
func checkRBAC(t *testing.T, o *objects, p presets, c chartCase) {
	t.Helper()
	require.Len(t, o.ClusterRoles, 1)
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}
	if p.metrics && p.kubeletStats {
		want = append(want, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/stats"}, Verbs: []string{"get"}})
	}
	extra, _ := lookup(c.values(t), "rbac.extraRules").([]any)
	require.Equal(t, want, o.ClusterRoles[0].Rules[:len(o.ClusterRoles[0].Rules)-len(extra)])
	for _, sa := range o.ServiceAccounts {
		require.NotNil(t, sa.AutomountServiceAccountToken, "ServiceAccount/%s", sa.Name)
		require.False(t, *sa.AutomountServiceAccountToken, "ServiceAccount/%s mounts its token by default", sa.Name)
	}
	for _, d := range o.Deployments {
		require.False(t, *d.Spec.Template.Spec.AutomountServiceAccountToken, "the gateway needs no token")
	}
}

// TestPipelinesWithEverythingOnAreTheBuiltinOnes pins the chart's pipelines to the built-in
// config's: the chart replaces the pipelines, so a change to the built-in ones must reach it.
func TestPipelinesWithEverythingOnAreTheBuiltinOnes(t *testing.T) {
	for _, gateway := range []bool{false, true} {
		t.Run(fmt.Sprintf("gateway=%t", gateway), func(t *testing.T) {
			c := chartCase{opts: Options{Set: []string{fmt.Sprintf("presets.gateway.enabled=%t", gateway)}}}
			o := render(t, c)
			agent := prepareContainer(t, o, &o.DaemonSets[0].Spec.Template.Spec, "agent")
			uris := []string{"lookout:agent"}
			if gateway {
				uris = append(uris, "lookout:to-gateway")
			}
			builtin := builtinService(t, uris...)
			got := agent.printService(t)
			require.Equal(t, builtin.Pipelines, got.Pipelines,
				"the chart's pipelines (lookout.agent.pipelines in templates/_config.tpl) must follow the built-in ones (collector/config)")
			require.Equal(t, builtin.Extensions, got.Extensions,
				"the chart's service::extensions (lookout.agent.presets in templates/_config.tpl) must follow the built-in ones (collector/config)")
		})
	}
}

// TestToGatewayChangesOnlyWhereTracesGo checks lookout:to-gateway against lookout:agent: the
// overlay replaces whole lists (the traces exporters, the metrics receivers), which must stay the
// agent's but for the gateway instead of Tempo and the service graph left to the gateway.
func TestToGatewayChangesOnlyWhereTracesGo(t *testing.T) {
	want := builtinService(t, "lookout:agent").Pipelines
	exporters := without(want["traces"]["exporters"], "service_graph")
	exporters[slices.Index(exporters, "otlp_grpc/tempo")] = "load_balancing"
	want["traces"]["exporters"] = exporters
	want["metrics"]["receivers"] = without(want["metrics"]["receivers"], "service_graph")
	require.Equal(t, want, builtinService(t, "lookout:agent", "lookout:to-gateway").Pipelines)
}

// TestEnvironmentCoversBuiltinConfigs checks that the pods set every variable the built-in configs
// read without a default (and the ones the chart sets on purpose).
func TestEnvironmentCoversBuiltinConfigs(t *testing.T) {
	o := render(t, chartCase{opts: Options{Set: []string{"presets.gateway.enabled=true", "clusterName=test"}}})
	envOf := func(spec corev1.PodSpec) map[string]bool {
		set := map[string]bool{}
		for _, e := range spec.Containers[0].Env {
			set[e.Name] = true
		}
		return set
	}
	for _, x := range []struct {
		configs []string
		env     map[string]bool
	}{
		{[]string{"agent", "to-gateway"}, envOf(o.DaemonSets[0].Spec.Template.Spec)},
		{[]string{"gateway", "gateway-service-graph"}, envOf(o.Deployments[0].Spec.Template.Spec)},
	} {
		for _, name := range x.configs {
			b, err := config.Get(name)
			require.NoError(t, err)
			for _, v := range envVars(string(b)) {
				if v == "TEMPO_ENDPOINT" || v == "TEMPO_INSECURE" {
					if name == "agent" {
						continue // the agent's traces go to the gateway here
					}
				}
				require.True(t, x.env[v], "lookout:%s reads %s, which the chart does not set", name, v)
			}
		}
	}
}

// envVars lists the variables a config reads with ${env:NAME} or ${env:NAME:-default}.
func envVars(cfg string) []string {
	seen := map[string]bool{}
	for _, part := range strings.Split(cfg, "${env:")[1:] {
		end := strings.IndexAny(part, ":}")
		if end > 0 {
			seen[part[:end]] = true
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// checkStateDirOwner: a non-root agent gets the init container that hands it the state directory,
// chowning to exactly its user and group; an agent running as root gets none.
func checkStateDirOwner(t *testing.T, o *objects, c chartCase) {
	t.Helper()
	spec := o.DaemonSets[0].Spec.Template.Spec
	if c.policy(t).agentRoot {
		require.Empty(t, spec.InitContainers, "an agent running as root needs no state-dir-owner")
		return
	}
	require.Len(t, spec.InitContainers, 1)
	init := spec.InitContainers[0]
	require.Equal(t, "state-dir-owner", init.Name)
	sc := spec.SecurityContext
	owner := fmt.Sprintf("%d:%d", *sc.RunAsUser, *sc.RunAsGroup)
	require.Equal(t, []string{"chown", "-R", owner, stateDir}, init.Command)
	require.Equal(t, []corev1.VolumeMount{{Name: "state", MountPath: stateDir}}, init.VolumeMounts)
}
