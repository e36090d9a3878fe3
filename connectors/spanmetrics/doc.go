// Package spanmetricsconnector turns spans into RED metrics: a calls counter and a duration
// histogram for each service, span name, kind, status and configured dimension, under the names
// and labels of contrib's spanmetrics connector (traces_span_metrics_calls_total and
// traces_span_metrics_duration_seconds in Prometheus), so that dashboards and alerts written for
// it read these. Each span costs a lookup keyed by bytes built in a reused buffer: no string,
// map or attribute is allocated for a span whose series exists. See README.md.
package spanmetricsconnector // import "github.com/lookoutdev/lookout/connectors/spanmetrics"

//go:generate go run -C ../../internal/tools go.opentelemetry.io/collector/cmd/mdatagen ../../connectors/spanmetrics/metadata.yaml
//go:generate sed -i -e "s/^package spanmetrics$/package spanmetricsconnector/" generated_component_test.go generated_package_test.go
