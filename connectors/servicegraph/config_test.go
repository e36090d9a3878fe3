package servicegraphconnector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" when valid
	}{
		{"default", func(*Config) {}, ""},
		{"flush every request", func(c *Config) { c.MetricsFlushInterval = 0 }, ""},
		{"no virtual nodes", func(c *Config) { c.VirtualNodePeerAttributes = []string{} }, ""},
		{"no buckets", func(c *Config) { c.LatencyHistogramBuckets = nil }, "latency_histogram_buckets: must not be empty"},
		{"negative bucket", func(c *Config) { c.LatencyHistogramBuckets = []time.Duration{-time.Second} }, "latency_histogram_buckets[0]: -1s is not positive"},
		{"unsorted buckets", func(c *Config) { c.LatencyHistogramBuckets = []time.Duration{2 * time.Second, time.Second} }, "latency_histogram_buckets[1]: 1s is not above the bucket before it (2s)"},
		{"empty dimension", func(c *Config) { c.Dimensions = []string{""} }, "dimensions[0]: must not be empty"},
		{"duplicate dimension", func(c *Config) { c.Dimensions = []string{"a", "b", "a"} }, `dimensions[2]: "a" is listed twice`},
		{"max items", func(c *Config) { c.Store.MaxItems = 0 }, "store::max_items: 0 is not positive"},
		{"ttl", func(c *Config) { c.Store.TTL = 0 }, "store::ttl: 0s is not positive"},
		{"cache loop", func(c *Config) { c.CacheLoop = 0 }, "cache_loop: 0s is not positive"},
		{"expiration loop", func(c *Config) { c.StoreExpirationLoop = -time.Second }, "store_expiration_loop: -1s is not positive"},
		{"flush interval", func(c *Config) { c.MetricsFlushInterval = -time.Second }, "metrics_flush_interval: -1s is negative"},
		{"peer attribute", func(c *Config) { c.VirtualNodePeerAttributes = []string{"peer.service", ""} }, "virtual_node_peer_attributes: an attribute name is empty"},
		{"database attribute", func(c *Config) { c.DatabaseNameAttributes = []string{""} }, "database_name_attributes: an attribute name is empty"},
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
	err := confmap.NewFromStringMap(map[string]any{"exponential_histogram_max_size": 160}).Unmarshal(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exponential_histogram_max_size")
}

// TestConfigAgentKeys: the agent's service_graph section decodes into the fields it names.
func TestConfigAgentKeys(t *testing.T) {
	cfg := loadConfig(t, NewFactory(), agentConfig()).(*Config)
	require.NoError(t, cfg.Validate())
	assert.Len(t, cfg.LatencyHistogramBuckets, 11)
	assert.Equal(t, StoreConfig{MaxItems: 5000, TTL: 5 * time.Second}, cfg.Store)
	assert.Equal(t, 15*time.Second, cfg.MetricsFlushInterval)
	assert.Equal(t, []string{"peer.service", "db.name", "db.system"}, cfg.VirtualNodePeerAttributes)
}
