package segmentstorage

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/lookoutdev/lookout/extensions/segmentstorage/internal/metadata"
)

// NewFactory returns the factory of the segment_storage extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, createExtension, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		// Directory has no default: it must be a volume that outlives the pod.
		SegmentSize:       defaultSegmentSize,
		SmallWriteReserve: defaultSmallWriteReserve,
		MinFreeSpace:      defaultMinFreeSpace,
		ReadCacheSize:     defaultReadCacheSize,
		// An upgrade from file_storage keeps its queues and offsets.
		MigrateFromFileStorage: true,
	}
}

func createExtension(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("segment_storage: unexpected config type %T", cfg)
	}
	return newExtension(set.Logger, c)
}
