package spanmetricsconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

func TestConfigValidate(t *testing.T) {
	def := "x"
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" when valid
	}{
		{"default", func(*Config) {}, ""},
		{"agent's", func(c *Config) {
			c.Dimensions = []Dimension{{Name: "http.request.method"}, {Name: "env", Default: &def}}
		}, ""},
		{"empty namespace", func(c *Config) { c.Namespace = "" }, "namespace: must not be empty"},
		{"unit", func(c *Config) { c.Histogram.Unit = "us" }, `histogram::unit: "us" is neither s nor ms`},
		{"no buckets", func(c *Config) { c.Histogram.Explicit.Buckets = nil }, "histogram::explicit::buckets: must not be empty"},
		{"zero bucket", func(c *Config) { c.Histogram.Explicit.Buckets = []time.Duration{0, time.Second} }, "histogram::explicit::buckets[0]: 0s is not positive"},
		{"unsorted buckets", func(c *Config) { c.Histogram.Explicit.Buckets = []time.Duration{time.Second, time.Second} }, "histogram::explicit::buckets[1]: 1s is not above the bucket before it (1s)"},
		{"unnamed dimension", func(c *Config) { c.Dimensions = []Dimension{{}} }, "dimensions[0]: name must not be empty"},
		{"duplicate dimension", func(c *Config) { c.Dimensions = []Dimension{{Name: "a"}, {Name: "a"}} }, `dimensions[1]: "a" is already a dimension`},
		{"built-in dimension", func(c *Config) { c.Dimensions = []Dimension{{Name: "span.kind"}} }, `dimensions[0]: "span.kind" is already a dimension`},
		{"empty key attribute", func(c *Config) { c.ResourceMetricsKeyAttributes = []string{"service.name", ""} }, "resource_metrics_key_attributes: an attribute name is empty"},
		{"cache size", func(c *Config) { c.ResourceMetricsCacheSize = 0 }, "resource_metrics_cache_size: 0 is not positive"},
		{"cardinality limit", func(c *Config) { c.AggregationCardinalityLimit = -1 }, "aggregation_cardinality_limit: -1 is negative"},
		{"flush interval", func(c *Config) { c.MetricsFlushInterval = 0 }, "metrics_flush_interval: 0s is not positive"},
		{"expiration", func(c *Config) { c.MetricsExpiration = -time.Second }, "metrics_expiration: -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tc.change(cfg)
			err := cfg.Validate()
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
		})
	}
}

// TestConfigUnsupportedKey: a key of contrib's connector that Lookout's lacks is refused by name
// rather than ignored.
func TestConfigUnsupportedKey(t *testing.T) {
	cfg := createDefaultConfig()
	err := confmap.NewFromStringMap(map[string]any{"exemplars": map[string]any{"enabled": true}}).Unmarshal(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exemplars")
}

// TestConfigAgentKeys: the agent's span_metrics section decodes into the fields it names.
func TestConfigAgentKeys(t *testing.T) {
	cfg := loadConfig(t, NewFactory(), agentConfig()).(*Config)
	require.NoError(t, cfg.Validate())
	assert.Equal(t, "s", cfg.Histogram.Unit)
	assert.Len(t, cfg.Histogram.Explicit.Buckets, 11)
	assert.Equal(t, 2500*time.Millisecond, cfg.Histogram.Explicit.Buckets[8])
	assert.Equal(t, []Dimension{{Name: "http.request.method"}, {Name: "http.response.status_code"}, {Name: "rpc.grpc.status_code"}}, cfg.Dimensions)
	assert.Equal(t, []string{"service.name", "service.namespace", "k8s.namespace.name", "k8s.pod.name"}, cfg.ResourceMetricsKeyAttributes)
	assert.Equal(t, 5000, cfg.AggregationCardinalityLimit)
	assert.Equal(t, 15*time.Second, cfg.MetricsFlushInterval)
	assert.Equal(t, 5*time.Minute, cfg.MetricsExpiration)
	assert.Equal(t, "traces.span.metrics", cfg.Namespace)
}
