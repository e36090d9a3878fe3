package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/collector/config"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// bin is the lookout binary every test here runs, built once.
var bin string

func TestMain(m *testing.M) { lookouttest.Main(m, &bin) }

// run runs lookout to completion and returns its combined output and exit error.
func run(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// agentEnv is what the Helm chart gives the agent and the gateway.
var agentEnv = []string{
	"K8S_NODE_NAME=node-1", "K8S_POD_NAME=lookout-agent-x", "K8S_POD_NAMESPACE=monitoring",
	"K8S_CLUSTER_NAME=ci", "PROMETHEUS_URL=http://prometheus:9090/api/v1/write",
	"LOKI_URL=http://loki:3100/loki/api/v1/push", "TEMPO_ENDPOINT=tempo:4317",
	"LOOKOUT_GATEWAY_HOST=lookout-gateway-headless", "LOOKOUT_STATE_DIR=/tmp/lookout-state",
	"LOOKOUT_KUBELET_AUTH=none", // no service account token outside a pod
}

func TestVersion(t *testing.T) {
	out, err := run(t, nil, "--version")
	require.NoError(t, err, out)
	require.Regexp(t, `^lookout \S+ \(commit \S+, OpenTelemetry Collector v0\.\d+\.\d+, go1\.\d+`, out)
}

func TestComponents(t *testing.T) {
	out, err := run(t, nil, "components")
	require.NoError(t, err, out)
	for _, name := range []string{"otlp", "file_log", "prometheus_remote_write", "span_metrics", "file_storage", "k8s_attributes"} {
		require.Contains(t, out, "name: "+name)
	}
	require.Contains(t, out, "module: github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver v0.165.1")
}

func TestValidateBuiltinConfigs(t *testing.T) {
	// The overlays are valid only over the config they are for.
	overlays := map[string]string{"to-gateway": "agent", "gateway-service-graph": "gateway"}
	var configs [][]string
	for _, name := range config.Names() {
		if base, ok := overlays[name]; ok {
			configs = append(configs, []string{base, name})
		} else {
			configs = append(configs, []string{name})
		}
	}
	for _, names := range configs {
		t.Run(strings.Join(names, "+"), func(t *testing.T) {
			args := []string{"validate"}
			for _, n := range names {
				args = append(args, "--config", "lookout:"+n)
			}
			out, err := run(t, agentEnv, args...)
			require.NoError(t, err, out)
			require.Contains(t, out, "config is valid")
		})
	}
}

func TestValidateDefaultsToLocal(t *testing.T) {
	out, err := run(t, nil, "validate")
	require.NoError(t, err, out)
}

func TestValidateErrors(t *testing.T) {
	const good = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
exporters:
  debug: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`
	tests := []struct {
		name   string
		config string
		want   []string // all in the error output
	}{
		{
			name:   "unknown component",
			config: strings.Replace(good, "  debug: {}\n", "  debug: {}\n  nosuch: {}\n", 1),
			want:   []string{"config.yaml:8:", "exporters::nosuch", `unknown type: "nosuch"`},
		},
		{
			name:   "bad YAML",
			config: strings.Replace(good, "      grpc:\n", "     grpc:\n   bad: [\n", 1),
			want:   []string{"config.yaml:", "invalid YAML"},
		},
		{
			name:   "bad endpoint",
			config: strings.Replace(strings.Replace(good, "  debug: {}\n", "  otlp_http:\n    endpoint: \"::not a url\"\n", 1), "[debug]", "[otlp_http]", 1),
			want:   []string{"config.yaml:8:", "exporters::otlp_http", "endpoint must be a valid URL"},
		},
		{
			name:   "unknown key",
			config: strings.Replace(good, "endpoint: 127.0.0.1:4317\n", "endpoint: 127.0.0.1:4317\n        bogus: 1\n", 1),
			want:   []string{"config.yaml:6:", "receivers::otlp", "invalid keys: bogus"},
		},
		{
			name:   "pipeline names a missing component",
			config: strings.Replace(good, "exporters: [debug]", "exporters: [debug, otlp_grpc/missing]", 1),
			want:   []string{"config.yaml:12:", `references exporter "otlp_grpc/missing" which is not configured`},
		},
		{
			name: "podlogs reuse_buffers where a component may keep bodies",
			config: strings.NewReplacer("otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:4317",
				"podlogs:\n    include: [/var/log/pods/*/*/*.log]\n    reuse_buffers: true", "traces:", "logs:", "[otlp]", "[podlogs]").Replace(good),
			want: []string{"receivers::podlogs::reuse_buffers", `pipeline logs has exporter "debug", which may keep log bodies`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "config.yaml")
			require.NoError(t, os.WriteFile(file, []byte(tt.config), 0o600))
			out, err := run(t, nil, "validate", "--config", file)
			require.Error(t, err, "validate must fail")
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
			require.Equal(t, 1, strings.Count(out, "Error:"), "the error is printed once:\n%s", out)
		})
	}
}
