// Command lookout is the Lookout agent and gateway: an OpenTelemetry Collector distribution for
// Kubernetes. With no --config it runs its built-in local config.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"

	"github.com/lookoutdev/lookout/collector"
	"github.com/lookoutdev/lookout/internal/outagelog"
)

// Set at build time: -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// defaultConfig is what lookout runs when no --config is given.
const defaultConfig = collector.Scheme + ":local"

func main() {
	if err := newCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "lookout",
			Description: "Lookout: the observability agent and OpenTelemetry Collector distribution for Kubernetes",
			Version:     version,
		},
		Factories: collector.Components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs: []string{defaultConfig},
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
					collector.NewBuiltinProviderFactory(),
				},
				ConverterFactories: []confmap.ConverterFactory{collector.NewBufferReuseConverterFactory()},
			},
		},
		LoggingOptions: []zap.Option{outagelog.Option(outagelog.DefaultQuiet)},
	}
	cmd := otelcol.NewCommand(set)
	cmd.SilenceErrors = true // main prints the error once
	cmd.SetVersionTemplate(versionText() + "\n")
	wrapRun(cmd)
	wrapValidate(cmd)
	cmd.AddCommand(newCatalogCommand())
	return cmd
}

// versionText is what `lookout --version` prints.
func versionText() string {
	otel := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "go.opentelemetry.io/collector/otelcol" {
				otel = d.Version
			}
		}
	}
	return fmt.Sprintf("lookout %s (commit %s, OpenTelemetry Collector %s, %s %s/%s)",
		version, commit, otel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// wrapRun adds --log-level to the root command (a shorthand for
// --set=service::telemetry::logs::level=LEVEL that works with any config), and prepares the run
// directory when the local config runs.
func wrapRun(cmd *cobra.Command) {
	var level string
	cmd.Flags().StringVar(&level, "log-level", "", "log level (debug, info, warn, error); overrides service::telemetry::logs::level of the config")
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if err := defaultToLocal(c); err != nil {
			return err
		}
		if level != "" {
			if err := c.Flags().Set("set", "service::telemetry::logs::level="+level); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
		}
		if slices.Contains(configURIs(c), defaultConfig) {
			if err := prepareRunDir(); err != nil {
				return err
			}
		}
		return run(c, args)
	}
}

// defaultToLocal adds --config lookout:local when no --config is given. (The collector would use
// its default URIs too, but not when --set flags are given: they would replace it.)
func defaultToLocal(c *cobra.Command) error {
	if len(configURIs(c)) > 0 {
		return nil
	}
	return c.Flags().Set("config", defaultConfig)
}

// prepareRunDir creates the folders the local config reads, so that a first run finds them.
func prepareRunDir() error {
	dir := os.Getenv("LOOKOUT_RUN_DIR")
	if dir == "" {
		dir = ".lookout-run"
	}
	for _, sub := range []string{"pods", "targets"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("run directory: %w", err)
		}
	}
	return nil
}
