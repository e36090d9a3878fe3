package servicegraphconnector

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/lookoutdev/lookout/connectors/internal/histogram"
)

// Config is the configuration of the service_graph connector. Its keys are those of contrib's
// servicegraph connector that Lookout supports, with the same meaning and defaults, so that a
// contrib configuration using only them works unchanged; any other key is refused by name.
type Config struct {
	// LatencyHistogramBuckets are the bounds of the latency histograms (default 2ms, 4ms, 6ms,
	// 8ms, 10ms, 50ms, 100ms, 200ms, 400ms, 800ms, 1s, 1.4s, 2s, 5s, 10s, 15s), in seconds.
	LatencyHistogramBuckets []time.Duration `mapstructure:"latency_histogram_buckets"`
	// Dimensions are attributes, of the resource or else of the span, that become series
	// attributes: client_<name> from the client span, server_<name> from the server span.
	Dimensions []string `mapstructure:"dimensions"`
	// Store holds the spans waiting for their other end.
	Store StoreConfig `mapstructure:"store"`
	// CacheLoop is how often series not updated for 15 minutes are dropped (default 1m).
	CacheLoop time.Duration `mapstructure:"cache_loop"`
	// StoreExpirationLoop is how often the store drops the spans that waited Store.TTL
	// (default 2s).
	StoreExpirationLoop time.Duration `mapstructure:"store_expiration_loop"`
	// VirtualNodePeerAttributes name, in order of preference, the client span attribute whose
	// value is the server of a call whose server sent no span (a database, a service outside
	// the mesh): an expired client span makes an edge to it (or to "unknown"), and an expired
	// root server span an edge from "user". Empty: no virtual nodes.
	VirtualNodePeerAttributes []string `mapstructure:"virtual_node_peer_attributes"`
	// VirtualNodeExtraLabel adds a virtual_node attribute ("client", "server" or empty) telling
	// which end of an edge is virtual.
	VirtualNodeExtraLabel bool `mapstructure:"virtual_node_extra_label"`
	// MetricsFlushInterval is how often the metrics are sent (default 60s); 0 sends them after
	// each request of spans.
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	// DatabaseNameAttributes name the attributes (of the resource or else of a client span)
	// whose value makes the span a call to that database, an edge of its own at once (default
	// db.name).
	DatabaseNameAttributes []string `mapstructure:"database_name_attributes"`
	// MetricsTimestampOffset is subtracted from the time of each data point.
	MetricsTimestampOffset time.Duration `mapstructure:"metrics_timestamp_offset"`
}

// StoreConfig sizes the store of spans waiting for their other end.
type StoreConfig struct {
	// MaxItems is how many spans wait at most; a span that would be one more is dropped
	// (default 1000).
	MaxItems int `mapstructure:"max_items"`
	// TTL is how long a span waits (default 2s).
	TTL time.Duration `mapstructure:"ttl"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; it changes nothing.
func (c *Config) Validate() error {
	errs := histogram.ValidateBounds("latency_histogram_buckets", c.LatencyHistogramBuckets)
	for i, d := range c.Dimensions {
		if d == "" {
			errs = append(errs, fmt.Errorf("dimensions[%d]: must not be empty", i))
		} else if slices.Index(c.Dimensions, d) < i {
			errs = append(errs, fmt.Errorf("dimensions[%d]: %q is listed twice", i, d))
		}
	}
	if c.Store.MaxItems <= 0 {
		errs = append(errs, fmt.Errorf("store::max_items: %d is not positive", c.Store.MaxItems))
	}
	if c.Store.TTL <= 0 {
		errs = append(errs, fmt.Errorf("store::ttl: %v is not positive", c.Store.TTL))
	}
	if c.CacheLoop <= 0 {
		errs = append(errs, fmt.Errorf("cache_loop: %v is not positive", c.CacheLoop))
	}
	if c.StoreExpirationLoop <= 0 {
		errs = append(errs, fmt.Errorf("store_expiration_loop: %v is not positive", c.StoreExpirationLoop))
	}
	if c.MetricsFlushInterval < 0 {
		errs = append(errs, fmt.Errorf("metrics_flush_interval: %v is negative", c.MetricsFlushInterval))
	}
	if slices.Contains(c.VirtualNodePeerAttributes, "") {
		errs = append(errs, errors.New("virtual_node_peer_attributes: an attribute name is empty"))
	}
	if slices.Contains(c.DatabaseNameAttributes, "") {
		errs = append(errs, errors.New("database_name_attributes: an attribute name is empty"))
	}
	return errors.Join(errs...)
}
