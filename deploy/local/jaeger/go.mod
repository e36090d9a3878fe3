// A wrapper module that pins Jaeger v2, the trace store that stands in for Tempo in local runs
// and tests. `go install github.com/jaegertracing/jaeger/cmd/jaeger@v1.76.0` is refused because
// Jaeger's own go.mod has a replace directive; this module repeats that pin instead.
module github.com/lookoutdev/lookout/deploy/local/jaeger

go 1.26.0

replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0
