package lokiexporter

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
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"

	"github.com/lookoutdev/lookout/exporters/loki/internal/metadata"
)

// NewFactory returns the factory of the loki exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

const (
	defaultBatchBytes   = 1 << 20 // ~1 MiB of push request (uncompressed protobuf) per push
	defaultBatchWait    = time.Second
	defaultQueueBytes   = 64 << 20 // bound of the queue, in push request bytes (uncompressed protobuf)
	defaultMaxLineSize  = 256 << 10
	defaultPushDeadline = 30 * time.Second
)

func createDefaultConfig() component.Config {
	queue := exporterhelper.NewDefaultQueueConfig()
	// Measure the queue in bytes so its bound means memory (or disk with file_storage).
	queue.Sizer = exporterhelper.RequestSizerTypeBytes
	queue.QueueSize = defaultQueueBytes
	// Backpressure instead of dropping when the queue is full (DESIGN: every queue is bounded).
	queue.BlockOnOverflow = true
	// One consumer keeps a stream's pushes in order (Loki before 2.4, or with unordered_writes
	// off, refuses out-of-order entries); one ~1 MiB push per round trip is plenty for a node.
	queue.NumConsumers = 1
	batch := exporterhelper.NewDefaultBatchConfig()
	batch.Sizer = exporterhelper.RequestSizerTypeBytes
	batch.MinSize = defaultBatchBytes
	batch.FlushTimeout = defaultBatchWait
	// MaxSize stays 0: exporterhelper drops a single record larger than max_size, and we drop nothing.
	queue.Batch = configoptional.Some(batch)

	retry := configretry.NewDefaultBackOffConfig()
	// Retry until Loki is back: an outage must not drop lines (DESIGN: at least once). The
	// bounded queue then fills and applies backpressure.
	retry.MaxElapsedTime = 0

	client := confighttp.NewDefaultClientConfig()
	// No Content-Encoding: the protobuf body is snappy-compressed already.
	client.Compression = ""
	// HTTP/1.1: one push at a time needs no multiplexing, and over HTTP/2 Go reports a refused
	// TLS handshake (a missing client certificate) as "http2: client conn could not be
	// established", without its cause.
	client.ForceAttemptHTTP2 = false

	return &Config{
		Client:  client,
		Queue:   configoptional.Some(queue),
		Retry:   retry,
		Timeout: defaultPushDeadline,
		Format:  FormatProtobuf,
		Labels: LabelsConfig{
			ResourceAttributes: []AttributeLabel{
				{Attribute: "service.name", Label: "service_name"},
				{Attribute: "k8s.namespace.name", Label: "namespace"},
				{Attribute: "k8s.container.name", Label: "container"},
				{Attribute: "k8s.cluster.name", Label: "cluster"},
			},
			Level: true,
		},
		StructuredMetadata: StructuredMetadataConfig{Enabled: true},
		MaxLineSize:        defaultMaxLineSize,
		LongLines:          LongLineTruncate,
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("loki exporter: unexpected config type %T", cfg)
	}
	e, err := newExporter(c, set)
	if err != nil {
		return nil, err
	}
	// The queue holds push requests, encoded once as the logs arrive (request.go).
	qs := xexporterhelper.QueueBatchSettings{Encoding: queueEncoding{convert: e.convert}}
	exp, err := xexporterhelper.NewLogsRequest(ctx, set, e.convert, e.push,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: c.Timeout}),
		exporterhelper.WithRetry(c.Retry),
		xexporterhelper.WithQueueBatch(c.Queue, qs),
	)
	if err != nil || !queueCopies(c) {
		return exp, err
	}
	return diskQueued{Logs: exp, enc: e.enc}, nil
}

// queueCopies reports whether the queue is on disk, in a storage extension known to copy a value
// before its Batch returns (segment_storage into its record, file_storage into its bbolt
// transaction), so that a request's buffers may be reused once it is queued (diskQueued). The
// storage interface does not say whether a client may keep the slices it is given.
func queueCopies(c *Config) bool {
	if !c.Queue.HasValue() || c.Queue.Get().StorageID == nil {
		return false
	}
	switch c.Queue.Get().StorageID.Type().String() {
	case "segment_storage", "file_storage":
		return true
	}
	return false
}
