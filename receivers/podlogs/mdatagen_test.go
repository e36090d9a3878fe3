package podlogsreceiver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGeneratedFilesAreFresh runs mdatagen (pinned in internal/tools/go.mod) on metadata.yaml in
// a scratch copy of this package and fails when a committed generated file differs: run
// `go generate ./receivers/podlogs` after editing metadata.yaml.
func TestGeneratedFilesAreFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mdatagen")
	}
	generated := []string{
		"documentation.md",
		"generated_component_test.go",
		"generated_package_test.go",
		filepath.Join("internal", "metadata", "generated_logs.go"),
		filepath.Join("internal", "metadata", "generated_logs_test.go"),
		filepath.Join("internal", "metadata", "generated_status.go"),
		filepath.Join("internal", "metadata", "generated_telemetry.go"),
		filepath.Join("internal", "metadata", "generated_telemetry_test.go"),
		filepath.Join("internal", "metadatatest", "generated_telemetrytest.go"),
		filepath.Join("internal", "metadatatest", "generated_telemetrytest_test.go"),
	}
	// mdatagen names the package after its directory and asks `go list` for the import path:
	// a directory named podlogs in a module of this package's path gives both.
	scratch := filepath.Join(t.TempDir(), "podlogs")
	require.NoError(t, os.MkdirAll(scratch, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(scratch, "go.mod"),
		[]byte("module github.com/lookoutdev/lookout/receivers/podlogs\n\ngo 1.26.0\n"), 0o644))
	for _, f := range []string{"metadata.yaml", "doc.go"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(scratch, f), b, 0o644))
	}
	tools, err := filepath.Abs(filepath.Join("internal", "tools"))
	require.NoError(t, err)
	cmd := exec.Command("go", "run", "-C", tools, "go.opentelemetry.io/collector/cmd/mdatagen", filepath.Join(scratch, "metadata.yaml"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "mdatagen: %s", out)
	for _, f := range generated {
		want, err := os.ReadFile(filepath.Join(scratch, f))
		require.NoError(t, err, "mdatagen no longer generates %s", f)
		// The second go:generate step in doc.go: the package is podlogsreceiver.
		fresh := strings.ReplaceAll(string(want), "\npackage podlogs\n", "\npackage podlogsreceiver\n")
		got, err := os.ReadFile(f)
		require.NoError(t, err)
		if fresh != string(got) {
			t.Errorf("%s is stale: run go generate ./receivers/podlogs", f)
		}
	}
}
