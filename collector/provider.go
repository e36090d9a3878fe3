package collector

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/confmap"

	"github.com/lookoutdev/lookout/collector/config"
)

// Scheme is the config URI scheme of the built-in configurations: "lookout:agent".
const Scheme = "lookout"

// NewBuiltinProviderFactory returns a confmap provider that serves the built-in configurations.
func NewBuiltinProviderFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return builtinProvider{} })
}

type builtinProvider struct{}

func (builtinProvider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	name, ok := strings.CutPrefix(uri, Scheme+":")
	if !ok {
		return nil, fmt.Errorf("%q uri is not supported by the %q provider", uri, Scheme)
	}
	b, err := config.Get(name)
	if err != nil {
		return nil, err
	}
	return confmap.NewRetrievedFromYAML(b)
}

func (builtinProvider) Scheme() string                 { return Scheme }
func (builtinProvider) Shutdown(context.Context) error { return nil }
