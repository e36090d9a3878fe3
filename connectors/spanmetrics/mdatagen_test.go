package spanmetricsconnector

import (
	"path/filepath"
	"testing"

	"github.com/lookoutdev/lookout/internal/mdatagentest"
)

// TestGeneratedFilesAreFresh fails when a file mdatagen generates from metadata.yaml is stale:
// run `go generate ./connectors/spanmetrics` after editing metadata.yaml.
func TestGeneratedFilesAreFresh(t *testing.T) {
	mdatagentest.CheckFresh(t, "github.com/lookoutdev/lookout/connectors/spanmetrics", "spanmetricsconnector", []string{
		"generated_component_test.go",
		"generated_package_test.go",
		filepath.Join("internal", "metadata", "generated_status.go"),
	})
}
