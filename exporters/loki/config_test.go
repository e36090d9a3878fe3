package lokiexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/lookoutdev/lookout/exporters/loki/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	withDefaults := func(change func(*Config)) *Config {
		cfg := createDefaultConfig().(*Config)
		change(cfg)
		return cfg
	}
	tests := []struct {
		id       component.ID
		expected *Config
		errs     []string // every one must appear in the error
	}{
		{
			id: component.NewID(metadata.Type),
			expected: withDefaults(func(c *Config) {
				c.Client.Endpoint = "http://loki:3100/loki/api/v1/push"
			}),
		},
		{
			id: component.NewIDWithName(metadata.Type, "full"),
			expected: withDefaults(func(c *Config) {
				c.Client.Endpoint = "https://loki.example:3100/loki/api/v1/push"
				c.Client.Headers = configopaque.MapList{{Name: "X-Team", Value: "payments"}}
				c.Client.TLS.InsecureSkipVerify = true
				c.Format = FormatJSON
				c.Timeout = 10 * time.Second
				c.MaxLineSize = 1024
				c.LongLines = LongLineDrop
				c.Tenant = TenantConfig{FromAttribute: "loki.tenant", ID: "platform"}
				c.Labels = LabelsConfig{
					ResourceAttributes: []AttributeLabel{{Attribute: "service.name", Label: "service"}, {Attribute: "k8s.pod.name"}},
					RecordAttributes:   []AttributeLabel{{Attribute: "http.method"}},
				}
				c.StructuredMetadata.Enabled = false
				storage := component.MustNewID("file_storage")
				q := c.Queue.Get()
				q.StorageID = &storage
				q.NumConsumers = 2
				q.Batch.Get().MinSize = 2 << 20
				q.Batch.Get().FlushTimeout = 5 * time.Second
				c.Retry.MaxElapsedTime = 10 * time.Minute
			}),
		},
		{id: component.NewIDWithName(metadata.Type, "no_endpoint"), errs: []string{"client::endpoint: required"}},
		{id: component.NewIDWithName(metadata.Type, "bad_endpoint"), errs: []string{"client::endpoint", "http:// or https://"}},
		{id: component.NewIDWithName(metadata.Type, "bad_format"), errs: []string{`unknown format "xml"`}},
		{id: component.NewIDWithName(metadata.Type, "bad_long_lines"), errs: []string{`unknown long line action "wrap"`}},
		{id: component.NewIDWithName(metadata.Type, "gzip_protobuf"), errs: []string{"client::compression", "already snappy-compressed"}},
		{id: component.NewIDWithName(metadata.Type, "negative"), errs: []string{"max_line_size: -1", "timeout: -1s"}},
		{id: component.NewIDWithName(metadata.Type, "bad_labels"), errs: []string{
			`labels::resource_attributes[0]::label: "1service" is not a valid Loki label name`,
			"labels::resource_attributes[1]::attribute: required",
			`labels::resource_attributes[2]: label "level" is already produced by labels::level`,
			`labels::record_attributes[1]: label "k8s_namespace_name" is already produced by labels::record_attributes[0]`,
		}},
		{id: component.NewIDWithName(metadata.Type, "tenant_twice"), errs: []string{"client::headers: X-Scope-OrgID"}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := NewFactory().CreateDefaultConfig()
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
			if len(tt.errs) > 0 {
				require.Error(t, err)
				for _, want := range tt.errs {
					require.ErrorContains(t, err, want)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.expected, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	// Everything but the endpoint has a usable default.
	require.ErrorContains(t, confmap.Validate(cfg), "client::endpoint: required")
	cfg.Client.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	require.NoError(t, confmap.Validate(cfg))

	q := cfg.Queue.Get()
	require.NotNil(t, q)
	require.Equal(t, exporterhelper.RequestSizerTypeBytes, q.Sizer)
	require.True(t, q.BlockOnOverflow, "a full queue applies backpressure")
	require.Equal(t, 1, q.NumConsumers)
	b := q.Batch.Get()
	require.NotNil(t, b, "batching is on by default")
	require.Equal(t, exporterhelper.RequestSizerTypeBytes, b.Sizer)
	require.EqualValues(t, 1<<20, b.MinSize)
	require.Equal(t, time.Second, b.FlushTimeout)
	require.Zero(t, b.MaxSize)
	require.True(t, cfg.Retry.Enabled)
	require.Zero(t, cfg.Retry.MaxElapsedTime, "an outage must not drop lines")
	require.Equal(t, FormatProtobuf, cfg.Format)
	require.False(t, cfg.Client.Compression.IsCompressed())
	require.True(t, cfg.Labels.Level)
	require.True(t, cfg.StructuredMetadata.Enabled)
	var labels []string
	for _, l := range cfg.Labels.ResourceAttributes {
		labels = append(labels, l.labelName())
	}
	require.Equal(t, []string{"service_name", "namespace", "container", "cluster"}, labels)
}
