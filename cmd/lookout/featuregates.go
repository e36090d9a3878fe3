package main

import (
	"fmt"

	"go.opentelemetry.io/collector/featuregate"
)

// defaultGates are feature gates Lookout turns on by default (a user can still turn one off with
// --feature-gates=-<id>). Each is a fix the fault suite (test/fault) found missing.
var defaultGates = []string{
	// The remote-write exporter treats HTTP 429 as a permanent error and drops the batch unless
	// this gate is on; Prometheus-compatible backends (Mimir, Cortex, Thanos receive) answer 429
	// when a tenant is over its ingestion rate, so without it a rate-limit storm loses metrics.
	// test/fault's TestStormAndSlowBackend.
	"exporter.prometheusremotewritexporter.RetryOn429",
}

// enableDefaultGates sets defaultGates in reg; the --feature-gates flag, parsed later, overrides
// them.
func enableDefaultGates(reg *featuregate.Registry) error {
	for _, id := range defaultGates {
		if err := reg.Set(id, true); err != nil {
			return fmt.Errorf("feature gate %s: %w", id, err)
		}
	}
	return nil
}
