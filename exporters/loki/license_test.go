package lokiexporter

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pushModule is the one Apache-2.0 module of Loki's repository that we may use; every other
// github.com/grafana/loki or github.com/grafana/tempo module is AGPL.
const pushModule = "github.com/grafana/loki/pkg/push"

// TestNoAGPLModules fails when the module graph of the repository reaches Loki or Tempo code other
// than the Apache-2.0 push schema.
func TestNoAGPLModules(t *testing.T) {
	out, err := exec.Command("go", "mod", "graph").Output()
	require.NoError(t, err, "go mod graph")
	bad := agplModules(string(out))
	require.Empty(t, bad, "AGPL modules in the module graph (only github.com/grafana/loki/pkg/push may be used)")
	require.Contains(t, string(out), pushModule+"@", "the push schema should be in the graph; is this the right module?")
}

// agplModules returns the forbidden modules of a `go mod graph` listing, each with who needs it.
func agplModules(graph string) []string {
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(graph), "\n") {
		from, to, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		path, _, _ := strings.Cut(to, "@")
		if path == pushModule {
			continue
		}
		if isUnder(path, "github.com/grafana/loki") || isUnder(path, "github.com/grafana/tempo") {
			bad = append(bad, to+" (required by "+from+")")
		}
	}
	return bad
}

func isUnder(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func TestAGPLModulesDetection(t *testing.T) {
	graph := strings.Join([]string{
		"github.com/lookoutdev/lookout github.com/grafana/loki/pkg/push@v0.0.0-20250630054201-94c0ba7b0952",
		"github.com/lookoutdev/lookout github.com/grafana/loki/v3@v3.5.0",
		"x@v1 github.com/grafana/tempo@v1.5.0",
		"x@v1 github.com/grafana/loki-client-go@v0.0.0-1", // a different repository, not Loki's
		"x@v1 github.com/grafana/loki@v1.6.1",
		"x@v1 github.com/grafana/grafana-foundation-sdk/go@v0.0.22",
	}, "\n")
	require.Equal(t, []string{
		"github.com/grafana/loki/v3@v3.5.0 (required by github.com/lookoutdev/lookout)",
		"github.com/grafana/tempo@v1.5.0 (required by x@v1)",
		"github.com/grafana/loki@v1.6.1 (required by x@v1)",
	}, agplModules(graph))
}
