package maskingprocessor

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/lookoutdev/lookout/processors/masking/internal/metadata"
)

// DefaultMask replaces each secret unless mask is set.
const DefaultMask = "****"

// NewFactory returns the factory of the masking processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(metadata.Type, createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Mask:         DefaultMask,
		Emails:       true,
		BearerTokens: true,
		CardNumbers:  true,
		SecretPairs:  true,
		SecretKeys:   true,
	}
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("masking processor: unexpected config type %T", cfg)
	}
	m, err := newMasker(c)
	if err != nil {
		return nil, fmt.Errorf("masking processor: %w", err)
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, m.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
