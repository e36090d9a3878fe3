package generate

import (
	"path/filepath"
	"testing"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// BenchmarkGenerate is the cost of `lookout catalog generate` on the demo catalog, without disk
// writes: load and validate the catalog, build rules, tests, Alertmanager config, runbooks and
// dashboards.
func BenchmarkGenerate(b *testing.B) {
	path := filepath.Join(lookouttest.RepoRoot(), DefaultCatalog)
	b.ReportAllocs()
	for b.Loop() {
		c, err := Load(path, DefaultCatalog)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Files(c); err != nil {
			b.Fatal(err)
		}
	}
}
