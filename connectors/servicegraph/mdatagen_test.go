package servicegraphconnector

import (
	"path/filepath"
	"testing"

	"github.com/lookoutdev/lookout/internal/mdatagentest"
)

// TestGeneratedFilesAreFresh fails when a file mdatagen generates from metadata.yaml is stale:
// run `go generate ./connectors/servicegraph` after editing metadata.yaml.
func TestGeneratedFilesAreFresh(t *testing.T) {
	mdatagentest.CheckFresh(t, "github.com/lookoutdev/lookout/connectors/servicegraph", "servicegraphconnector", []string{
		"documentation.md",
		"generated_component_test.go",
		"generated_package_test.go",
		filepath.Join("internal", "metadata", "generated_status.go"),
		filepath.Join("internal", "metadata", "generated_telemetry.go"),
		filepath.Join("internal", "metadata", "generated_telemetry_test.go"),
		filepath.Join("internal", "metadatatest", "generated_telemetrytest.go"),
		filepath.Join("internal", "metadatatest", "generated_telemetrytest_test.go"),
	})
}
