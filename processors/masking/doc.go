// Package maskingprocessor masks secrets in log records before they leave the node: e-mail
// addresses, bearer tokens, payment card numbers (Luhn-checked), the values of password, secret,
// token, API key and Authorization pairs, attributes named like a secret, and user-supplied
// patterns, in the body and in attribute values. A cheap scan of each value decides which rules
// can match at all, so that a line with nothing to mask costs little and allocates nothing.
// See README.md.
package maskingprocessor // import "github.com/lookoutdev/lookout/processors/masking"

//go:generate go run -C ../../internal/tools go.opentelemetry.io/collector/cmd/mdatagen ../../processors/masking/metadata.yaml
//go:generate sed -i -e "s/^package masking$/package maskingprocessor/" generated_component_test.go generated_package_test.go
