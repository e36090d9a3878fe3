package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lookoutdev/lookout/collector"
	"github.com/lookoutdev/lookout/collector/config"
	"github.com/lookoutdev/lookout/internal/configlocate"
)

// wrapValidate makes `lookout validate` name the file and line of what is wrong: YAML syntax is
// checked first, and the collector's own validation error is then pointed at its place.
func wrapValidate(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "validate" {
			continue
		}
		validate := c.RunE
		c.RunE = func(c *cobra.Command, args []string) error {
			if err := defaultToLocal(c); err != nil {
				return err
			}
			sources, err := readSources(configURIs(c))
			if err != nil {
				return err
			}
			if err := configlocate.CheckYAML(sources); err != nil {
				return err
			}
			if err := validate(c, args); err != nil {
				return configlocate.Locate(err, sources)
			}
			fmt.Fprintln(c.OutOrStdout(), "config is valid")
			return nil
		}
	}
}

// configURIs returns the --config values of c.
func configURIs(c *cobra.Command) []string {
	v := strings.Trim(c.Flags().Lookup("config").Value.String(), "[]") // the collector's flag prints as "[a, b]"
	if v == "" {
		return nil
	}
	return strings.Split(v, ", ")
}

// readSources reads the YAML behind each config URI that names a file or a built-in config.
// Other URIs (env:, http:, yaml:) are left to the collector.
func readSources(uris []string) ([]configlocate.Source, error) {
	var sources []configlocate.Source
	for _, uri := range uris {
		var (
			data []byte
			err  error
		)
		switch scheme, rest, _ := strings.Cut(uri, ":"); {
		case scheme == collector.Scheme:
			data, err = config.Get(rest)
		case scheme == "file":
			data, err = os.ReadFile(rest)
		case !strings.Contains(uri, ":"):
			data, err = os.ReadFile(uri)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", uri, err)
		}
		sources = append(sources, configlocate.Source{Name: uri, Data: data})
	}
	return sources, nil
}
