package hygiene

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// debugExtensions serve profiles and internals with no authentication: they must listen on
// loopback only (kubectl port-forward reaches them). Their own defaults are localhost:1777 and
// localhost:55679, so an entry without an endpoint is fine.
var debugExtensions = []string{"pprof", "zpages"}

// loopback reports whether a host:port endpoint listens on loopback only.
func loopback(endpoint string) error {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("endpoint %q is not bound to loopback (127.0.0.1, localhost or [::1])", endpoint)
}

// debugEndpoints returns, from one collector config, the endpoint of every pprof and zpages
// extension ("" when it sets none), keyed by the extension's ID.
func debugEndpoints(config []byte) (map[string]string, error) {
	var cfg struct {
		Extensions map[string]struct {
			Endpoint string `yaml:"endpoint"`
		} `yaml:"extensions"`
	}
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for id, ext := range cfg.Extensions {
		typ, _, _ := strings.Cut(id, "/")
		for _, d := range debugExtensions {
			if typ == d {
				out[id] = ext.Endpoint
			}
		}
	}
	return out, nil
}

func checkDebugEndpoints(t *testing.T, where string, config []byte) int {
	t.Helper()
	eps, err := debugEndpoints(config)
	require.NoError(t, err, where)
	for id, ep := range eps {
		if ep == "" {
			continue
		}
		require.NoError(t, loopback(ep), "%s: extensions::%s", where, id)
	}
	return len(eps)
}

func TestLoopback(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"127.0.0.1:1777", true},
		{"127.0.0.2:1777", true},
		{"localhost:55679", true},
		{"[::1]:1777", true},
		{"0.0.0.0:1777", false},
		{":1777", false},
		{"[::]:1777", false},
		{"10.0.0.1:1777", false},
		{"${env:POD_IP}:1777", false},
		{"localhost", false},
	}
	for _, tt := range tests {
		err := loopback(tt.endpoint)
		if tt.ok {
			require.NoError(t, err, tt.endpoint)
		} else {
			require.Error(t, err, tt.endpoint)
		}
	}
	// A planted public pprof is caught.
	eps, err := debugEndpoints([]byte("extensions:\n  pprof/x:\n    endpoint: 0.0.0.0:1777\n  zpages: {}\n  health_check: {endpoint: 0.0.0.0:13133}\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"pprof/x": "0.0.0.0:1777", "zpages": ""}, eps)
	require.Error(t, loopback(eps["pprof/x"]))
}

// TestBuiltinDebugEndpointsOnLoopback checks the configs embedded in the binary.
func TestBuiltinDebugEndpointsOnLoopback(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(lookouttest.RepoRoot(), "collector", "config", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	found := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		found += checkDebugEndpoints(t, filepath.Base(f), b)
	}
	require.GreaterOrEqual(t, found, 2, "the built-in configs have no pprof or zpages at all: is the parsing right?")
}

// setEndpoint matches a --set of a debug extension's endpoint in a container's arguments.
var setEndpoint = regexp.MustCompile(`extensions::((?:pprof|zpages)[^:]*)::endpoint=(\S+)`)

// TestChartDebugEndpointsOnLoopback checks every collector config the chart renders (ConfigMaps,
// for the default values and each ci values file) and the containers' --set arguments.
func TestChartDebugEndpointsOnLoopback(t *testing.T) {
	for name, b := range rendered(t) {
		for _, m := range setEndpoint.FindAllSubmatch(b, -1) {
			require.NoError(t, loopback(string(m[2])), "%s: --set extensions::%s", name, m[1])
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		configs := 0
		for {
			var obj struct {
				Kind     string                `yaml:"kind"`
				Metadata struct{ Name string } `yaml:"metadata"`
				Data     map[string]string     `yaml:"data"`
			}
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, name)
			if obj.Kind != "ConfigMap" {
				continue
			}
			for key, v := range obj.Data {
				if !strings.HasSuffix(key, ".yaml") || !strings.Contains(v, "extensions") {
					continue
				}
				configs++
				checkDebugEndpoints(t, fmt.Sprintf("%s: ConfigMap %s, %s", name, obj.Metadata.Name, key), []byte(v))
			}
		}
		require.Positive(t, configs, "%s: no collector config with extensions rendered", name)
	}
}
