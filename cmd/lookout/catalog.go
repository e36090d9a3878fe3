package main

import (
	"github.com/spf13/cobra"

	"github.com/lookoutdev/lookout/internal/catalog/generate"
)

// newCatalogCommand is `lookout catalog`: generate dashboards, alerts and on-call routes from the
// service catalog (docs/catalog.md). The same command runs without the collector as
// `go run ./internal/catalog/cmd/catalog`.
func newCatalogCommand() *cobra.Command { return generate.NewCommand() }
