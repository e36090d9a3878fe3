package helm

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// TestBadValues: values the chart cannot honour fail at render time with a message naming the
// value.
func TestBadValues(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want string
	}{
		{"nothing on", []string{"presets.logs.enabled=false", "presets.metrics.enabled=false", "presets.traces.enabled=false", "presets.spanMetrics.enabled=false"}, "logs, metrics and traces are all off"},
		{"span metrics without traces", []string{"presets.traces.enabled=false"}, "presets.spanMetrics.enabled needs presets.traces.enabled and presets.metrics.enabled"},
		{"gateway without traces", []string{"presets.traces.enabled=false", "presets.spanMetrics.enabled=false", "presets.gateway.enabled=true"}, "presets.gateway.enabled needs presets.traces.enabled"},
		{"docker logs without pod logs", []string{"presets.logs.podLogs=false", "presets.logs.dockerContainers=true"}, "presets.logs.dockerContainers needs"},
		{"two kinds of auth", []string{"backends.loki.basicAuth.existingSecret=a", "backends.loki.bearerToken.existingSecret=b"}, "backends.loki: basicAuth.existingSecret and bearerToken.existingSecret are exclusive"},
		{"gRPC credentials in plain text", []string{"backends.tempo.bearerToken.existingSecret=t"}, "backends.tempo: basicAuth and bearerToken need TLS"},
		{"unknown key", []string{"presets.logz.enabled=true"}, "additional properties 'logz' not allowed"},
		{"unknown nested key", []string{"agent.stateDir.path=/x"}, "additional properties 'path' not allowed"},
		{"no Loki URL", []string{"backends.loki.url="}, "backends.loki.url is required when presets.logs.enabled"},
		{"no Tempo endpoint", []string{"backends.tempo.endpoint="}, "backends.tempo.endpoint is required when presets.traces.enabled"},
		{"URL without scheme", []string{"backends.prometheus.url=prometheus:9090/api/v1/write"}, "/backends/prometheus/url"},
		{"endpoint with scheme", []string{"backends.tempo.endpoint=http://tempo:4317"}, "/backends/tempo/endpoint"},
		{"no memory limit", []string{"agent.resources.limits.memory=null"}, "missing property 'memory'"},
		{"fractional memory limit", []string{"agent.resources.limits.memory=1.5Gi"}, "resources.limits.memory: \"1.5Gi\" is not a whole number"},
		{"wildcard verb", []string{"rbac.extraRules[0].resources[0]=pods", "rbac.extraRules[0].verbs[0]=*"}, "/rbac/extraRules/0/verbs/0"},
		{"wildcard resource", []string{"rbac.extraRules[0].resources[0]=*", "rbac.extraRules[0].verbs[0]=get"}, "/rbac/extraRules/0/resources/0"},
		{"write verb", []string{"rbac.extraRules[0].resources[0]=pods", "rbac.extraRules[0].verbs[0]=escalate"}, "/rbac/extraRules/0/verbs/0"},
		{"HPA upside down", []string{"presets.gateway.enabled=true", "gateway.autoscaling.minReplicas=5", "gateway.autoscaling.maxReplicas=2"}, "minReplicas (5) is above maxReplicas (2)"},
		{"HPA without target", []string{"presets.gateway.enabled=true", "gateway.autoscaling.targetCPUUtilizationPercentage=0"}, "set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage"},
		{"bad dashboard name", []string{"dashboards.extra.My_Board=x"}, "dashboards.extra.My_Board: a dashboard name must be"},
		{"no rule groups", []string{"prometheusRule.enabled=true", "prometheusRule.builtin=false"}, "prometheusRule: no rule groups"},
		{"bad pull policy", []string{"image.pullPolicy=Sometimes"}, "/image/pullPolicy"},
		{"no service account", []string{"serviceAccount.create=false"}, "serviceAccount.name: name an existing ServiceAccount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Template(context.Background(), helmBin, Options{Set: tt.set})
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestPolicyCatchesViolations breaks a good rendering in each way the policy forbids and checks
// that the policy says so (a policy that cannot fail proves nothing).
func TestPolicyCatchesViolations(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(o *objects)
		want   string
	}{
		{"writable root fs", func(o *objects) {
			agent(o).SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
		}, "readOnlyRootFilesystem is not true"},
		{"privilege escalation", func(o *objects) {
			agent(o).SecurityContext.AllowPrivilegeEscalation = nil
		}, "allowPrivilegeEscalation is not false"},
		{"root", func(o *objects) {
			agent(o).SecurityContext.RunAsUser = ptr.To[int64](0)
		}, "may run as root"},
		{"runAsNonRoot off", func(o *objects) {
			o.DaemonSets[0].Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
		}, "container agent: may run as root"},
		{"capability added", func(o *objects) {
			agent(o).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, "adds capability NET_ADMIN"},
		{"exception adds more", func(o *objects) {
			init := &o.DaemonSets[0].Spec.Template.Spec.InitContainers[0]
			init.SecurityContext.Capabilities.Add = append(init.SecurityContext.Capabilities.Add, "SYS_ADMIN")
		}, "container state-dir-owner: adds capability SYS_ADMIN"},
		{"capabilities kept", func(o *objects) {
			agent(o).SecurityContext.Capabilities.Drop = nil
		}, "capabilities.drop does not contain ALL"},
		{"privileged", func(o *objects) {
			agent(o).SecurityContext.Privileged = ptr.To(true)
		}, "privileged"},
		{"no seccomp", func(o *objects) {
			o.DaemonSets[0].Spec.Template.Spec.SecurityContext.SeccompProfile = nil
		}, "seccompProfile is not RuntimeDefault"},
		{"no memory limit", func(o *objects) {
			delete(agent(o).Resources.Limits, corev1.ResourceMemory)
		}, "resources.limits.memory must be set"},
		{"no cpu request", func(o *objects) {
			agent(o).Resources.Requests[corev1.ResourceCPU] = resource.Quantity{}
		}, "resources.requests.cpu and .memory must be set"},
		{"writable log mount", func(o *objects) {
			for i, m := range agent(o).VolumeMounts {
				if m.MountPath == "/var/log/pods" {
					agent(o).VolumeMounts[i].ReadOnly = false
				}
			}
		}, "hostPath /var/log/pods is mounted writable"},
		{"host network", func(o *objects) {
			o.DaemonSets[0].Spec.Template.Spec.HostNetwork = true
		}, "host's network"},
		{"wildcard verb", func(o *objects) {
			o.ClusterRoles[0].Rules = append(o.ClusterRoles[0].Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"*"}})
		}, `verbs has a wildcard "*"`},
		{"wildcard resource", func(o *objects) {
			o.ClusterRoles[0].Rules[0].Resources = []string{"*"}
		}, `resources has a wildcard "*"`},
		{"write verb", func(o *objects) {
			o.ClusterRoles[0].Rules[0].Verbs = append(o.ClusterRoles[0].Rules[0].Verbs, "delete")
		}, `grants "delete"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := render(t, chartCase{})
			require.NoError(t, policy{}.check(o))
			tt.mutate(o)
			err := policy{}.check(o)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestWiringCatchesMistakes does the same for the wiring checks.
func TestWiringCatchesMistakes(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(o *objects)
		want   string
	}{
		{"service selects nothing", func(o *objects) {
			o.Services[0].Spec.Selector["app.kubernetes.io/component"] = "nothing"
		}, "selects 0 workloads"},
		{"config file not in the ConfigMap", func(o *objects) {
			delete(o.ConfigMaps[0].Data, "presets.yaml")
		}, "has no key presets.yaml"},
		{"probe on an undeclared port", func(o *objects) {
			agent(o).Ports = agent(o).Ports[:2]
		}, "probes port health"},
		{"binding to a missing role", func(o *objects) {
			o.ClusterRoleBindings[0].RoleRef.Name = "missing"
		}, "ClusterRole missing is not rendered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := render(t, chartCase{})
			require.NoError(t, checkWiring(o))
			tt.mutate(o)
			err := checkWiring(o)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func agent(o *objects) *corev1.Container {
	for i, c := range o.DaemonSets[0].Spec.Template.Spec.Containers {
		if c.Name == "agent" {
			return &o.DaemonSets[0].Spec.Template.Spec.Containers[i]
		}
	}
	panic("no agent container")
}

// TestDecodeIsStrict: a field the Kubernetes type does not have, or a rule the Prometheus parser
// refuses, fails decoding.
func TestDecodeIsStrict(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {}\nbinaryDataz: {}\n", `unknown field "binaryDataz"`},
		{"misplaced field", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: x\nspec:\n  replicas: 2\n", `unknown field "spec.replicas"`},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n", `key "name" already set in map`},
		{"unknown kind", "apiVersion: v1\nkind: Pod2\nmetadata:\n  name: x\n", "Pod2"},
		{"rule field", "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: x\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: A\n          expr: up == 0\n          forr: 5m\n", "forr"},
		{"rule PromQL", "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: x\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: A\n          expr: up ==\n", "expr"},
		{"rule spec field", "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: x\nspec:\n  group: []\n", `unknown field "group"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode([]byte("---\n# Source: test\n" + tt.doc))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestGeneratedFilesAreFresh: the chart's copies of the catalog outputs, its README's values
// table and deploy/manifests are what `go generate ./deploy/helm` writes.
func TestGeneratedFilesAreFresh(t *testing.T) {
	files, err := Expected(context.Background(), helmBin)
	require.NoError(t, err)
	stale, err := Stale(files)
	require.NoError(t, err)
	require.Empty(t, stale, "stale generated files; refresh them with `go generate ./deploy/helm` (or `make generate`)")
}

// TestCommittedManifests: deploy/manifests decodes strictly and passes the policy on its own.
func TestCommittedManifests(t *testing.T) {
	b, err := os.ReadFile(ManifestsFile())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "# Code generated"), "deploy/manifests/lookout.yaml has no generated header")
	o, err := decode(b)
	require.NoError(t, err)
	require.NoError(t, policy{}.check(o))
	require.NoError(t, checkWiring(o))
	require.Len(t, o.DaemonSets, 1)
}

// TestValuesAreDocumented: every key of values.yaml has a description (README's table is built
// from them).
func TestValuesAreDocumented(t *testing.T) {
	values, err := Values()
	require.NoError(t, err)
	require.Greater(t, len(values), 100)
	readme, err := os.ReadFile(ChartDir() + "/README.md")
	require.NoError(t, err)
	for _, v := range values {
		require.Contains(t, string(readme), "| `"+v.Key+"` |")
	}
}
