package segmentstorage

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/lookoutdev/lookout/extensions/segmentstorage/internal/metadata"
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
		{id: component.NewID(metadata.Type), expected: withDefaults(func(c *Config) { c.Directory = "./testdata" })},
		{id: component.NewIDWithName(metadata.Type, "custom"), expected: &Config{
			Directory:         "./testdata/not-yet",
			CreateDirectory:   true,
			SegmentSize:       16 * mib,
			FSync:             true,
			SmallWriteReserve: 64 << 10,
			MinFreeSpace:      0,
			ReadCacheSize:     1 << 20,
		}},
		{id: component.NewIDWithName(metadata.Type, "elsewhere"), expected: withDefaults(func(c *Config) {
			c.Directory = "./testdata"
			c.FileStorageDirectory = "./testdata/old-file-storage" // need not exist: nothing to migrate then
		})},
		{id: component.NewIDWithName(metadata.Type, "no_directory"), errs: []string{"directory: must be set"}},
		{id: component.NewIDWithName(metadata.Type, "missing_directory"), errs: []string{
			"directory: stat ./testdata/not-yet: no such file or directory (set create_directory to create it)",
		}},
		{id: component.NewIDWithName(metadata.Type, "not_a_directory"), errs: []string{"directory: ./testdata/config.yaml is not a directory"}},
		{id: component.NewIDWithName(metadata.Type, "bad_sizes"), errs: []string{
			"segment_size: 1000 is less than the minimum of 1048576 (1 MiB)",
			"small_write_reserve: -1 must be at least 0 and less than segment_size/2 (500)",
			"min_free_space: -1 must be at least 0",
			"read_cache_size: -1 must be at least 0 and less than 2 GiB",
		}},
		{id: component.NewIDWithName(metadata.Type, "big_reserve"), errs: []string{
			"small_write_reserve: 1048576 must be at least 0 and less than segment_size/2 (1048576)",
		}},
		{id: component.NewIDWithName(metadata.Type, "unknown_key"), errs: []string{"max_size"}},
		{id: component.NewIDWithName(metadata.Type, "bad_type"), errs: []string{"'fsync' expected type 'bool'"}},
		{id: component.NewIDWithName(metadata.Type, "bad_file_storage_directory"), errs: []string{
			"file_storage_directory: ./testdata/config.yaml is not a directory",
		}},
		{id: component.NewIDWithName(metadata.Type, "bad_migrate_type"), errs: []string{"'migrate_from_file_storage' expected type 'bool'"}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			err = sub.Unmarshal(cfg)
			if err == nil {
				err = confmap.Validate(cfg)
			}
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
