package helm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"
)

// The downward-API values a pod would see.
var downward = map[string]string{
	"spec.nodeName":      "node-1",
	"status.hostIP":      "10.0.0.1",
	"status.podIP":       "10.1.0.5",
	"metadata.name":      "lookout-agent-x7k2p",
	"metadata.namespace": Namespace,
}

// containerRun is how a rendered container would start: its --config arguments and its
// environment, with the pod's volumes laid out under a temporary directory (ConfigMaps with
// their data, Secrets with placeholder values, host paths and emptyDirs as empty directories)
// and every path under a mount point moved there.
type containerRun struct {
	args []string
	env  []string
}

func prepareContainer(t *testing.T, o *objects, spec *corev1.PodSpec, name string) containerRun {
	t.Helper()
	var c *corev1.Container
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			c = &spec.Containers[i]
		}
	}
	require.NotNil(t, c, "container %s", name)
	root := t.TempDir()

	mounts := make([]string, 0, len(c.VolumeMounts))
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, m.MountPath)
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	move := func(s string) string {
		for _, m := range mounts {
			if s == m {
				return root + m
			}
			s = strings.ReplaceAll(s, m+"/", root+m+"/")
		}
		return s
	}

	configMaps := map[string]*corev1.ConfigMap{}
	for _, cm := range o.ConfigMaps {
		configMaps[cm.Name] = cm
	}
	for _, m := range c.VolumeMounts {
		dir := root + m.MountPath
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.ConfigMap != nil:
				cm, ok := configMaps[v.ConfigMap.Name]
				if !ok {
					continue // the user's own ConfigMap (extraVolumes): an empty directory
				}
				for key, data := range cm.Data {
					require.NoError(t, os.WriteFile(filepath.Join(dir, key), []byte(move(data)), 0o644))
				}
			case v.Secret != nil:
				// An existing Secret of the user's: its files hold placeholders.
				for _, item := range v.Secret.Items {
					require.NoError(t, os.WriteFile(filepath.Join(dir, item.Path), []byte("placeholder-"+item.Key), 0o600))
				}
			}
		}
	}

	run := containerRun{}
	for _, a := range c.Args {
		// Only the collector's config flags: `lookout validate` and `print-config` take no
		// run-time flags such as --log-level.
		if strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "--set=") || strings.HasPrefix(a, "--feature-gates=") {
			run.args = append(run.args, move(a))
		}
	}
	run.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
	for _, e := range c.Env {
		value := e.Value
		if f := e.ValueFrom; f != nil {
			switch {
			case f.FieldRef != nil:
				v, ok := downward[f.FieldRef.FieldPath]
				require.True(t, ok, "env %s: no test value for the downward API's %s", e.Name, f.FieldRef.FieldPath)
				value = v
			case f.SecretKeyRef != nil, f.ConfigMapKeyRef != nil:
				value = "placeholder"
			default:
				t.Fatalf("env %s: valueFrom of an unexpected kind", e.Name)
			}
		}
		if e.Name == "LOOKOUT_KUBELET_AUTH" {
			// Outside a pod there is no service-account token for the kubelet client to read:
			// validate with the kubelet's unauthenticated mode instead (the only change).
			value = "none"
		}
		run.env = append(run.env, e.Name+"="+move(value))
	}
	return run
}

// lookout runs the lookout binary with a subcommand and the container's config flags and
// environment, and returns its standard output.
func (r containerRun) lookout(t *testing.T, subcommand string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(append([]string{subcommand}, r.args...), extra...)
	cmd := exec.CommandContext(ctx, lookoutBin, args...)
	cmd.Env = r.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, err, "lookout %s\nenv: %s\nstderr:\n%s", strings.Join(args, " "), strings.Join(r.env, " "), stderr.String())
	return stdout.Bytes()
}

// effectiveService is the `service` section of a resolved config.
type effectiveService struct {
	Extensions []string                       `yaml:"extensions"`
	Pipelines  map[string]map[string][]string `yaml:"pipelines"`
}

// printService resolves the container's config with `lookout print-config` (which validates it
// too) and returns its service section.
func (r containerRun) printService(t *testing.T) effectiveService {
	t.Helper()
	out := r.lookout(t, "print-config")
	var cfg struct {
		Service effectiveService `yaml:"service"`
	}
	require.NoError(t, yaml.Unmarshal(out, &cfg), "print-config output:\n%s", out)
	return cfg.Service
}

// builtinService returns the service section of built-in configs alone, resolved by the binary.
func builtinService(t *testing.T, uris ...string) effectiveService {
	t.Helper()
	r := containerRun{env: []string{
		"PATH=" + os.Getenv("PATH"), "K8S_NODE_NAME=node-1", "K8S_POD_NAME=p", "K8S_POD_NAMESPACE=" + Namespace,
		"PROMETHEUS_URL=http://prometheus:9090/api/v1/write", "LOKI_URL=http://loki:3100/loki/api/v1/push",
		"TEMPO_ENDPOINT=tempo:4317", "LOOKOUT_GATEWAY_HOST=gateway", "LOOKOUT_KUBELET_AUTH=none",
		"LOOKOUT_STATE_DIR=" + t.TempDir(),
	}}
	for _, u := range uris {
		r.args = append(r.args, "--config="+u)
	}
	return r.printService(t)
}

// presets are the preset values of one rendering.
type presets struct {
	logs, podLogs, metrics, hostMetrics, kubeletStats, traces, spanMetrics, gateway bool
}

func (p presets) String() string {
	var on []string
	for _, x := range []struct {
		name string
		on   bool
	}{{"logs", p.logs}, {"metrics", p.metrics}, {"traces", p.traces}, {"spanMetrics", p.spanMetrics}, {"gateway", p.gateway}} {
		if x.on {
			on = append(on, x.name)
		}
	}
	return strings.Join(on, "+")
}

// expectedPipelines derives the agent's pipelines for some presets from the built-in ones: the
// built-in pipelines (through the gateway if it is on) with what is off taken out.
func expectedPipelines(t *testing.T, p presets) map[string]map[string][]string {
	t.Helper()
	uris := []string{"lookout:agent"}
	if p.gateway {
		uris = append(uris, "lookout:to-gateway")
	}
	pipelines := builtinService(t, uris...).Pipelines
	if !p.logs {
		delete(pipelines, "logs")
	} else if !p.podLogs {
		pipelines["logs"]["receivers"] = without(pipelines["logs"]["receivers"], "podlogs")
	}
	if !p.metrics {
		delete(pipelines, "metrics")
	} else {
		if !p.hostMetrics {
			pipelines["metrics"]["receivers"] = without(pipelines["metrics"]["receivers"], "host_metrics")
		}
		if !p.kubeletStats {
			pipelines["metrics"]["receivers"] = without(pipelines["metrics"]["receivers"], "kubelet_stats")
		}
	}
	if !p.traces {
		delete(pipelines, "traces")
	}
	if !p.spanMetrics {
		if m, ok := pipelines["metrics"]; ok {
			m["receivers"] = without(m["receivers"], "span_metrics", "service_graph")
		}
		if tr, ok := pipelines["traces"]; ok {
			tr["exporters"] = without(tr["exporters"], "span_metrics", "service_graph")
		}
	}
	return pipelines
}

// without returns list without the elements in drop.
func without(list []string, drop ...string) []string {
	var out []string
	for _, x := range list {
		if !contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkCollectors validates the agent's (and the gateway's) config as the rendered pods would run
// it, and checks the agent's effective pipelines against the presets.
func checkCollectors(t *testing.T, o *objects, p presets, userPipelines map[string]map[string][]string) {
	t.Helper()
	require.Len(t, o.DaemonSets, 1)
	agent := prepareContainer(t, o, &o.DaemonSets[0].Spec.Template.Spec, "agent")
	require.Contains(t, string(agent.lookout(t, "validate")), "config is valid")

	want := expectedPipelines(t, p)
	for name, fields := range userPipelines {
		for field, list := range fields {
			want[name][field] = list
		}
	}
	got := agent.printService(t)
	require.Equal(t, want, got.Pipelines, "the agent's effective pipelines for presets %s", p)

	if p.gateway {
		require.Len(t, o.Deployments, 1)
		gateway := prepareContainer(t, o, &o.Deployments[0].Spec.Template.Spec, "gateway")
		require.Contains(t, string(gateway.lookout(t, "validate")), "config is valid")
		uris := []string{"lookout:gateway"}
		if p.spanMetrics {
			uris = append(uris, "lookout:gateway-service-graph") // the agents leave the service graph to it
		}
		require.Equal(t, builtinService(t, uris...).Pipelines, gateway.printService(t).Pipelines,
			"the gateway runs its built-in pipelines")
	} else {
		require.Empty(t, o.Deployments, "no gateway without presets.gateway")
	}
}
