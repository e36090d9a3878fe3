package servicegraphconnector

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/lookoutdev/lookout/connectors/internal/histogram"
	"github.com/lookoutdev/lookout/connectors/servicegraph/internal/metadata"
)

// NewFactory returns the factory of the service_graph connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		LatencyHistogramBuckets:   histogram.DefaultBuckets(),
		Store:                     StoreConfig{MaxItems: 1000, TTL: 2 * time.Second},
		CacheLoop:                 time.Minute,
		StoreExpirationLoop:       2 * time.Second,
		VirtualNodePeerAttributes: []string{"peer.service", "db.name", "db.system"},
		MetricsFlushInterval:      60 * time.Second,
		DatabaseNameAttributes:    []string{"db.name"},
	}
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("service_graph connector: unexpected config type %T", cfg)
	}
	conn, err := newConnector(c, set.TelemetrySettings, next)
	if err != nil {
		return nil, fmt.Errorf("service_graph connector: %w", err)
	}
	return conn, nil
}
