package prometheusremotewriteexporter

import (
	"path/filepath"
	"testing"

	"github.com/lookoutdev/lookout/internal/mdatagentest"
)

// TestGeneratedFilesAreFresh fails when a file mdatagen generates from metadata.yaml is stale:
// run `go generate ./exporters/prometheusremotewrite` after editing metadata.yaml.
func TestGeneratedFilesAreFresh(t *testing.T) {
	mdatagentest.CheckFresh(t, "github.com/lookoutdev/lookout/exporters/prometheusremotewrite", "prometheusremotewriteexporter", []string{
		"generated_component_test.go",
		"generated_package_test.go",
		filepath.Join("internal", "metadata", "generated_status.go"),
	})
}
