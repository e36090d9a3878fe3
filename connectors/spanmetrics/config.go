package spanmetricsconnector

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/lookoutdev/lookout/connectors/internal/histogram"
)

// The attributes every series has, before the configured dimensions.
const (
	attrServiceName = "service.name"
	attrSpanName    = "span.name"
	attrSpanKind    = "span.kind"
	attrStatusCode  = "status.code"
	attrOverflow    = "otel.metric.overflow"
)

// Config is the configuration of the span_metrics connector. Its keys are those of contrib's
// spanmetrics connector that Lookout supports, with the same meaning, so that a contrib
// configuration using only them works unchanged; any other key is refused by name.
type Config struct {
	// Namespace prefixes the metric names: <namespace>.calls and <namespace>.duration
	// (default traces.span.metrics; Prometheus: traces_span_metrics_calls_total and
	// traces_span_metrics_duration_seconds).
	Namespace string `mapstructure:"namespace"`
	// Histogram is the duration histogram's unit and buckets.
	Histogram HistogramConfig `mapstructure:"histogram"`
	// Dimensions are span attributes (or, when the span lacks one, resource attributes) that
	// become attributes of each series, after service.name, span.name, span.kind and
	// status.code. A span that has neither, and no default, makes a series without it.
	Dimensions []Dimension `mapstructure:"dimensions"`
	// ResourceMetricsKeyAttributes are the resource attributes whose values tell apart the
	// resources that get series of their own; the first resource seen with given values gives
	// its attributes to the metrics. Empty: every resource attribute counts.
	ResourceMetricsKeyAttributes []string `mapstructure:"resource_metrics_key_attributes"`
	// ResourceMetricsCacheSize is how many resources are kept; beyond it, the one seen least
	// recently is dropped with its series (default 1000).
	ResourceMetricsCacheSize int `mapstructure:"resource_metrics_cache_size"`
	// AggregationCardinalityLimit caps the series of each resource; spans that would make
	// more are counted in one series whose only attribute is otel.metric.overflow=true.
	// 0: no limit.
	AggregationCardinalityLimit int `mapstructure:"aggregation_cardinality_limit"`
	// MetricsFlushInterval is how often the metrics are sent (default 60s).
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	// MetricsExpiration drops a resource's series once it has sent no span for this long
	// (checked at each flush). 0: never.
	MetricsExpiration time.Duration `mapstructure:"metrics_expiration"`
}

// HistogramConfig is the duration histogram's unit and bucket bounds.
type HistogramConfig struct {
	// Unit is "s" (default) or "ms".
	Unit string `mapstructure:"unit"`
	// Explicit holds the bucket bounds.
	Explicit ExplicitHistogramConfig `mapstructure:"explicit"`
}

// ExplicitHistogramConfig is a histogram's explicit bucket bounds.
type ExplicitHistogramConfig struct {
	// Buckets are the upper bounds, increasing (default 2ms, 4ms, 6ms, 8ms, 10ms, 50ms, 100ms,
	// 200ms, 400ms, 800ms, 1s, 1.4s, 2s, 5s, 10s, 15s, contrib's).
	Buckets []time.Duration `mapstructure:"buckets"`
}

// Dimension is one attribute that becomes a series attribute.
type Dimension struct {
	// Name is the attribute's key.
	Name string `mapstructure:"name"`
	// Default is the value given when neither the span nor its resource has the attribute;
	// unset: the series has no such attribute.
	Default *string `mapstructure:"default"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; it changes nothing.
func (c *Config) Validate() error {
	var errs []error
	if c.Namespace == "" {
		errs = append(errs, errors.New("namespace: must not be empty"))
	}
	if _, err := unitNanos(c.Histogram.Unit); err != nil {
		errs = append(errs, fmt.Errorf("histogram::unit: %w", err))
	}
	errs = append(errs, histogram.ValidateBounds("histogram::explicit::buckets", c.Histogram.Explicit.Buckets)...)
	seen := map[string]bool{attrServiceName: true, attrSpanName: true, attrSpanKind: true, attrStatusCode: true}
	for i, d := range c.Dimensions {
		switch {
		case d.Name == "":
			errs = append(errs, fmt.Errorf("dimensions[%d]: name must not be empty", i))
		case seen[d.Name]:
			errs = append(errs, fmt.Errorf("dimensions[%d]: %q is already a dimension", i, d.Name))
		}
		seen[d.Name] = true
	}
	if slices.Contains(c.ResourceMetricsKeyAttributes, "") {
		errs = append(errs, errors.New("resource_metrics_key_attributes: an attribute name is empty"))
	}
	if c.ResourceMetricsCacheSize <= 0 {
		errs = append(errs, fmt.Errorf("resource_metrics_cache_size: %d is not positive", c.ResourceMetricsCacheSize))
	}
	if c.AggregationCardinalityLimit < 0 {
		errs = append(errs, fmt.Errorf("aggregation_cardinality_limit: %d is negative", c.AggregationCardinalityLimit))
	}
	if c.MetricsFlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("metrics_flush_interval: %v is not positive", c.MetricsFlushInterval))
	}
	if c.MetricsExpiration < 0 {
		errs = append(errs, fmt.Errorf("metrics_expiration: %v is negative", c.MetricsExpiration))
	}
	return errors.Join(errs...)
}

// unitNanos returns how many nanoseconds one unit of the histogram is.
func unitNanos(unit string) (float64, error) {
	switch unit {
	case "s":
		return 1e9, nil
	case "ms":
		return 1e6, nil
	}
	return 0, fmt.Errorf("%q is neither s nor ms", unit)
}
