// Package servicegraphconnector draws the calls between services from their spans: it pairs
// each client (or producer) span with the server (or consumer) span whose parent it is, and
// counts the pair's requests, failures and both ends' latencies under the names and labels of
// contrib's servicegraph connector (traces_service_graph_request_total and the rest in
// Prometheus). A span is paired through a map keyed by trace and span ID, with nothing allocated
// when its edge is known or the store is full. See README.md.
package servicegraphconnector // import "github.com/lookoutdev/lookout/connectors/servicegraph"

//go:generate go run -C ../../internal/tools go.opentelemetry.io/collector/cmd/mdatagen ../../connectors/servicegraph/metadata.yaml
//go:generate sed -i -e "s/^package servicegraph$/package servicegraphconnector/" generated_component_test.go generated_package_test.go
