// Command gen regenerates collector/components.go and the README's component table from
// collector/manifest.yaml. Run it with `go generate ./collector`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lookoutdev/lookout/collector/internal/distgen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run works in the collector directory, where go generate runs it.
func run() error {
	m, err := distgen.Load("manifest.yaml")
	if err != nil {
		return err
	}
	code, err := m.ComponentsGo()
	if err != nil {
		return err
	}
	if err := os.WriteFile("components.go", code, 0o644); err != nil {
		return err
	}
	readme := filepath.Join("..", "README.md")
	doc, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	doc, err = distgen.ReplaceSection(doc, m.Table())
	if err != nil {
		return fmt.Errorf("%s: %w", readme, err)
	}
	return os.WriteFile(readme, doc, 0o644)
}
