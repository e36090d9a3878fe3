package prometheusremotewriteexporter

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"
)

// Config is the prometheus_remote_write exporter's configuration. Its keys are those of contrib's
// prometheus_remote_write exporter that it implements, with the same meaning.
type Config struct {
	// The HTTP client: endpoint (Prometheus' /api/v1/write), TLS, headers, auth, timeout (of
	// each request).
	confighttp.ClientConfig `mapstructure:",squash"`
	Retry                   configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	RemoteWriteQueue        RemoteWriteQueue          `mapstructure:"remote_write_queue"`

	// Namespace prefixes every metric name.
	Namespace string `mapstructure:"namespace"`
	// ExternalLabels are added to every series that has no label of their name.
	ExternalLabels map[string]string `mapstructure:"external_labels"`
	// ResourceConstantLabels names the resource attributes that become labels of every series.
	ResourceConstantLabels ResourceConstantLabels `mapstructure:"resource_constant_labels"`
	// AddMetricSuffixes adds the unit and _total suffixes to metric names, as Prometheus' OTLP
	// translation does.
	AddMetricSuffixes bool `mapstructure:"add_metric_suffixes"`
	// DisableScopeInfo leaves out the otel_scope_* labels.
	DisableScopeInfo bool `mapstructure:"disable_scope_info"`
	// TargetInfo: this exporter writes no target_info series; the key is accepted with
	// enabled: false so that a config written for contrib's exporter keeps working.
	TargetInfo TargetInfo `mapstructure:"target_info"`
	// MaxBatchSizeBytes bounds a request's size before compression.
	MaxBatchSizeBytes int `mapstructure:"max_batch_size_bytes"`
}

// RemoteWriteQueue is the in-memory queue in front of the sender.
type RemoteWriteQueue struct {
	Enabled   bool `mapstructure:"enabled"`
	QueueSize int  `mapstructure:"queue_size"`
	// NumConsumers sends this many batches at once. More than one lets a series' samples
	// arrive out of order, which Prometheus refuses.
	NumConsumers int `mapstructure:"num_consumers"`
}

// ResourceConstantLabels lists resource attribute keys.
type ResourceConstantLabels struct {
	Included []string `mapstructure:"included"`
}

// TargetInfo is accepted for compatibility; see Config.TargetInfo.
type TargetInfo struct {
	Enabled bool `mapstructure:"enabled"`
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint is empty: set it to Prometheus' remote-write URL, e.g. http://prometheus:9090/api/v1/write"))
	}
	if c.MaxBatchSizeBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_batch_size_bytes must be positive, have %d", c.MaxBatchSizeBytes))
	}
	if c.RemoteWriteQueue.Enabled {
		if c.RemoteWriteQueue.QueueSize <= 0 {
			errs = append(errs, fmt.Errorf("remote_write_queue::queue_size must be positive, have %d", c.RemoteWriteQueue.QueueSize))
		}
		if c.RemoteWriteQueue.NumConsumers <= 0 {
			errs = append(errs, fmt.Errorf("remote_write_queue::num_consumers must be positive, have %d", c.RemoteWriteQueue.NumConsumers))
		}
	}
	for k, v := range c.ExternalLabels {
		if k == "" || v == "" {
			errs = append(errs, fmt.Errorf("external_labels: %q=%q: neither the name nor the value may be empty", k, v))
		}
	}
	for _, k := range c.ResourceConstantLabels.Included {
		if k == "" || strings.ContainsAny(k, "*?") {
			errs = append(errs, fmt.Errorf("resource_constant_labels::included: %q: list resource attribute keys (patterns are not supported)", k))
		}
	}
	if c.TargetInfo.Enabled {
		errs = append(errs, errors.New("target_info::enabled: this exporter writes no target_info series; put the resource attributes wanted on every series in resource_constant_labels::included"))
	}
	return errors.Join(errs...)
}
