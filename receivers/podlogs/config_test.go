package podlogsreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	storage := component.MustNewID("file_storage")
	tests := []struct {
		id       component.ID
		expected *Config
		errs     []string
	}{
		{id: component.NewID(typeStr), expected: createDefaultConfig().(*Config)},
		{
			id: component.NewIDWithName(typeStr, "custom"),
			expected: &Config{
				Include:         []string{"/var/log/pods/*/*/*.log", "/var/log/containers/*.log"},
				Exclude:         []string{"/var/log/pods/kube-system_*/*/*.log"},
				StartAt:         StartAtEnd,
				Storage:         &storage,
				PollInterval:    time.Second,
				MaxOpenFiles:    100,
				ReadBufferSize:  65536,
				MaxLogSize:      262144,
				FingerprintSize: 512,
				FlushTimeout:    2 * time.Second,
				IncludeFilePath: true,
				Batch:           BatchConfig{MaxRecords: 1000, MaxBytes: 524288},
				Retry:           RetryConfig{InitialInterval: 50 * time.Millisecond, MaxInterval: time.Second},
				Multiline: MultilineConfig{
					Presets:  []Preset{PresetJava},
					Rules:    []MultilineRule{{StartPattern: `^\d{4}-\d{2}-\d{2}`}},
					MaxLines: 50,
				},
				JSON: JSONConfig{Enabled: true},
			},
		},
		{
			id: component.NewIDWithName(typeStr, "no_multiline"),
			expected: func() *Config {
				c := createDefaultConfig().(*Config)
				c.Multiline.Presets = []Preset{}
				return c
			}(),
		},
		{id: component.NewIDWithName(typeStr, "bad_start_at"), errs: []string{`start_at: "middle" is not one of beginning, end`}},
		{id: component.NewIDWithName(typeStr, "bad_values"), errs: []string{
			"include: at least one glob pattern is required",
			"poll_interval: must be positive",
			"max_open_files: must be at least 2, got 1",
			"batch::max_records: must be positive, got 0",
		}},
		{id: component.NewIDWithName(typeStr, "bad_multiline"), errs: []string{
			`multiline::presets[0]: "cobol" is not one of java, go, python`,
			"multiline::rules[0]::start_pattern: error parsing regexp",
			"multiline::rules[1]: set exactly one of continuation_pattern, start_pattern",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if len(tt.errs) > 0 {
				require.Error(t, err)
				for _, e := range tt.errs {
					require.ErrorContains(t, err, e)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.expected, cfg)
		})
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(createDefaultConfig()))
}

func TestCheckpointRoundTrip(t *testing.T) {
	cp := checkpoint{name: "/var/log/pods/a_b_c/d/0.log.20260101-000000", dev: 2049, ino: 123456, offset: 1 << 40, format: formatDocker, fp: []byte("2026-01-01T00:00:00Z stdout F x")}
	got, err := unmarshalCheckpoint(cp.marshal())
	require.NoError(t, err)
	require.Equal(t, cp, got)
	for _, bad := range [][]byte{nil, {9}, {checkpointVersion}, cp.marshal()[:10], append(cp.marshal(), 'x')} {
		_, err := unmarshalCheckpoint(bad)
		require.ErrorIs(t, err, errCheckpoint)
	}
}

func TestIdentityFromPath(t *testing.T) {
	tests := []struct {
		path string
		want identity
	}{
		{"/var/log/pods/shop_cart-7d9f_5b1c-11ee/app/3.log", identity{namespace: "shop", pod: "cart-7d9f", uid: "5b1c-11ee", container: "app", restart: 3, ok: true}},
		{"/var/log/pods/shop_cart/app/0.log", identity{}},
		{"/var/log/pods/a_b_c/app/x.log", identity{}},
		{"/var/log/syslog", identity{}},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, parseIdentity(tt.path), tt.path)
	}
}
