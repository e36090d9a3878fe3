package prometheusremotewriteexporter

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/xexporter"

	"github.com/lookoutdev/lookout/exporters/prometheusremotewrite/internal/metadata"
)

// NewFactory returns the factory of the prometheus_remote_write exporter (also known by
// contrib's older name, prometheusremotewrite).
func NewFactory() exporter.Factory {
	return xexporter.NewFactory(metadata.Type, createDefaultConfig,
		xexporter.WithMetrics(createMetrics, metadata.MetricsStability),
		xexporter.WithDeprecatedTypeAlias(metadata.DeprecatedType))
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = 5 * time.Second
	client.WriteBufferSize = 512 << 10
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = 50 * time.Millisecond
	return &Config{
		ClientConfig:      client,
		Retry:             retry,
		RemoteWriteQueue:  RemoteWriteQueue{Enabled: true, QueueSize: 10000, NumConsumers: 1},
		AddMetricSuffixes: true,
		MaxBatchSizeBytes: 3000000,
	}
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("prometheus_remote_write exporter: unexpected config type %T", cfg)
	}
	e, err := newExporter(c, set)
	if err != nil {
		return nil, err
	}
	queue := configoptional.None[exporterhelper.QueueBatchConfig]()
	if c.RemoteWriteQueue.Enabled {
		q := exporterhelper.NewDefaultQueueConfig()
		q.QueueSize = int64(c.RemoteWriteQueue.QueueSize)
		q.NumConsumers = c.RemoteWriteQueue.NumConsumers
		q.Sizer = exporterhelper.RequestSizerTypeRequests
		q.Batch = configoptional.None[exporterhelper.BatchConfig]()
		queue = configoptional.Some(q)
	}
	return exporterhelper.NewMetrics(ctx, set, cfg, e.push,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// The client's timeout bounds each request; retries are bounded by retry_on_failure.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
		exporterhelper.WithRetry(c.Retry),
		exporterhelper.WithQueue(queue),
	)
}
