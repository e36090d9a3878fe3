// Package prometheusremotewriteexporter sends metrics to Prometheus by remote write 1.0
// (protobuf, snappy) under the series names and labels of contrib's prometheus_remote_write
// exporter, so that dashboards and alerts written for it read these. A series' labels are
// built, sorted, sanitized and encoded the first time it is seen and kept while it is written:
// a point of a known series costs a map lookup keyed by bytes built in a reused buffer, and its
// sample. See README.md.
package prometheusremotewriteexporter // import "github.com/lookoutdev/lookout/exporters/prometheusremotewrite"

//go:generate go run -C ../../internal/tools go.opentelemetry.io/collector/cmd/mdatagen ../../exporters/prometheusremotewrite/metadata.yaml
//go:generate sed -i -e "s/^package prometheusremotewrite$/package prometheusremotewriteexporter/" generated_component_test.go generated_package_test.go
