// Package segmentstorage is the segment_storage extension: a storage extension
// (go.opentelemetry.io/collector/extension/xextension/storage) built for exporterhelper's
// persistent queue. Each client keeps an append-only log of fixed-size, preallocated segment
// files and an in-memory index of its keys. Segments are deleted oldest first once their data
// is dead, and the live data of the oldest is copied forward when too much dead data piles up
// behind it, so that disk use follows what is live. See README.md.
package segmentstorage // import "github.com/lookoutdev/lookout/extensions/segmentstorage"

//go:generate go run -C ../../internal/tools go.opentelemetry.io/collector/cmd/mdatagen ../../extensions/segmentstorage/metadata.yaml
