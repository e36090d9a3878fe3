// Package config holds Lookout's built-in collector configurations, embedded in the binary.
package config

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Get returns the built-in configuration with the given name (e.g. "agent").
func Get(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in config %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	return b, nil
}

// Names lists the built-in configurations.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}
