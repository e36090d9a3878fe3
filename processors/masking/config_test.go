package maskingprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/lookoutdev/lookout/processors/masking/internal/metadata"
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
		{id: component.NewID(metadata.Type), expected: withDefaults(func(*Config) {})},
		{id: component.NewIDWithName(metadata.Type, "custom"), expected: withDefaults(func(c *Config) {
			c.Mask = "[REDACTED]"
			c.Emails = false
			c.CardNumbers = false
			c.ExtraPatterns = []string{`AKIA[0-9A-Z]{16}`, `(?i)ssn \d{3}-\d{2}-\d{4}`}
		})},
		{id: component.NewIDWithName(metadata.Type, "empty_mask"), errs: []string{"mask: must not be empty"}},
		{id: component.NewIDWithName(metadata.Type, "bad_patterns"), errs: []string{
			`mask: "a\nb" must be one line`,
			`extra_patterns[1]: "(unclosed" is not a valid regular expression: error parsing regexp: missing closing )`,
			`extra_patterns[2]: "x*" matches the empty string`,
			`extra_patterns[3]: empty pattern`,
		}},
		{id: component.NewIDWithName(metadata.Type, "unknown_key"), errs: []string{"phone_numbers"}},
		{id: component.NewIDWithName(metadata.Type, "bad_type"), errs: []string{"'emails' expected type 'bool'"}},
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
				require.NotContains(t, err.Error(), "extra_patterns[0]")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.expected, cfg)
		})
	}
}
