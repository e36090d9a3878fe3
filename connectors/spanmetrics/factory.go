package spanmetricsconnector

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/lookoutdev/lookout/connectors/internal/histogram"
	"github.com/lookoutdev/lookout/connectors/spanmetrics/internal/metadata"
)

// NewFactory returns the factory of the span_metrics connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Namespace: "traces.span.metrics",
		Histogram: HistogramConfig{
			Unit:     "s",
			Explicit: ExplicitHistogramConfig{Buckets: histogram.DefaultBuckets()},
		},
		ResourceMetricsCacheSize: 1000,
		MetricsFlushInterval:     60 * time.Second,
	}
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("span_metrics connector: unexpected config type %T", cfg)
	}
	conn, err := newConnector(c, set.Logger, next)
	if err != nil {
		return nil, fmt.Errorf("span_metrics connector: %w", err)
	}
	return conn, nil
}
