// Package lokiexporter exports OpenTelemetry logs to Loki's push API (/loki/api/v1/push), as
// protobuf + snappy or JSON, with stream labels chosen from resource and record attributes,
// everything else in structured metadata, one push per tenant, and exporterhelper's queue,
// batching and retries.
//
//go:generate go run -C ../../internal/tools go.opentelemetry.io/collector/cmd/mdatagen ../../exporters/loki/metadata.yaml
//go:generate sed -i -e "s/^package loki$/package lokiexporter/" generated_component_test.go generated_package_test.go
package lokiexporter // import "github.com/lookoutdev/lookout/exporters/loki"
