// Package startuppages is the startup_pages extension: once every pipeline runs, it asks the
// kernel to page out the collector binary's code and read-only data (madvise MADV_PAGEOUT), most
// of which only start-up touched. What runs afterwards comes back from disk as it is needed. See
// README.md.
package startuppages // import "github.com/lookoutdev/lookout/extensions/startuppages"

//go:generate go run -C ../../internal/tools go.opentelemetry.io/collector/cmd/mdatagen ../../extensions/startuppages/metadata.yaml
