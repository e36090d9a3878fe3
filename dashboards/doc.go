// Package dashboards builds Lookout's Grafana dashboards from the service catalog with
// grafana-foundation-sdk: an overview of every service, a RED dashboard per service (span metrics,
// the service's own metrics, its logs and traces linked by trace ID), the node view and the
// collector's own health. Data sources are template variables, so the JSON imports as it is.
//
// The generated JSON lives in dashboards/generated/; `lookout catalog generate` (or
// `go generate ./internal/catalog/...`) refreshes it, and a test fails when it is stale.
//
// The JSON uses Grafana's classic dashboard schema (schemaVersion 42), which every Grafana since
// 8 imports from the UI, the HTTP API and file provisioning; the v2 schema needs feature toggles.
package dashboards
