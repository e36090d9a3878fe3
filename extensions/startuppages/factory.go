package startuppages

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/lookoutdev/lookout/extensions/startuppages/internal/metadata"
)

// NewFactory returns the factory of the startup_pages extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config { return &Config{} }

func createExtension(_ context.Context, set extension.Settings, _ component.Config) (extension.Extension, error) {
	return &startupPages{logger: set.Logger, release: releaseBinaryPages}, nil
}
