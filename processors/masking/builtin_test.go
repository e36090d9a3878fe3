package maskingprocessor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/lookoutdev/lookout/collector/config"
	maskingprocessor "github.com/lookoutdev/lookout/processors/masking"
)

// builtinProvider serves the built-in configs under the binary's scheme ("lookout:agent"), as
// collector.NewBuiltinProviderFactory does, without linking the whole collector into this test.
type builtinProvider struct{}

func (builtinProvider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	b, err := config.Get(strings.TrimPrefix(uri, "lookout:"))
	if err != nil {
		return nil, err
	}
	return confmap.NewRetrievedFromYAML(b)
}
func (builtinProvider) Scheme() string                 { return "lookout" }
func (builtinProvider) Shutdown(context.Context) error { return nil }

// builtin resolves a built-in config as the binary does (${env:...} expanded, "$$" unescaped).
func builtin(t *testing.T, name string) *confmap.Conf {
	t.Helper()
	r, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs: []string{"lookout:" + name},
		ProviderFactories: []confmap.ProviderFactory{
			confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return builtinProvider{} }),
			envprovider.NewFactory(),
		},
		DefaultScheme: "env",
	})
	require.NoError(t, err)
	conf, err := r.Resolve(context.Background())
	require.NoError(t, err)
	return conf
}

// TestBuiltinConfigsMaskSamples builds the masking processor of the built-in agent and local
// configs, checks that it ends their logs pipeline (after everything that adds attributes), and
// runs the samples through it.
func TestBuiltinConfigsMaskSamples(t *testing.T) {
	for _, name := range []string{"agent", "local"} {
		t.Run(name, func(t *testing.T) {
			conf := builtin(t, name)
			procs, ok := conf.Get("service::pipelines::logs::processors").([]any)
			require.True(t, ok, "%s has no logs pipeline", name)
			require.Equal(t, "masking", procs[len(procs)-1], "%s: the logs pipeline ends with masking", name)
			for _, p := range procs {
				require.NotContains(t, []any{"transform/redact", "redaction/logs"}, p, "%s: the OTTL preset is gone", name)
			}

			f := maskingprocessor.NewFactory()
			cfg := f.CreateDefaultConfig()
			sub, err := conf.Sub("processors::masking")
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			sink := &consumertest.LogsSink{}
			p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background(), nil))
			defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

			require.NoError(t, p.ConsumeLogs(context.Background(), maskingprocessor.SampleLogs(t)))
			require.Len(t, sink.AllLogs(), 1)
			maskingprocessor.RequireSamplesMasked(t, sink.AllLogs()[0])
		})
	}
}
