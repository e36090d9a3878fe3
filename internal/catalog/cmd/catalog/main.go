// Command catalog is `lookout catalog` without the collector: `go generate` runs it, so that
// refreshing the generated dashboards and alerts does not need the distribution built.
//
//	go run ./internal/catalog/cmd/catalog generate --catalog demo/catalog.yaml --out .
package main

import (
	"os"

	"github.com/lookoutdev/lookout/internal/catalog/generate"
)

func main() {
	if err := generate.NewCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
