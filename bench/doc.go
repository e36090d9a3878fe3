// Package bench runs the same workloads through Lookout and through the same pipeline built
// from upstream OpenTelemetry components (bench/cmd/upstream), one after the other in one run,
// and reports what each costs: CPU-seconds per million items (from /proc, start-up excluded),
// the highest rate sustained, peak and steady RSS, and bytes sent per item. Generators count
// what the collector acknowledged, and counting sinks (Loki push, Prometheus remote write,
// OTLP) check that all of it arrived.
//
// `make bench` runs the full set (bench/cmd/bench) and writes docs/benchmarks.md;
// `make bench-quick` (and `make test`, through TestQuick) runs small scenarios to catch
// breakage. See bench/README.md.
package bench
