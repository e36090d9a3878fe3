package podlogsreceiver

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

// typeStr is the component type.
var typeStr = component.MustNewType("podlogs")

// NewFactory returns the factory of the podlogs receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(typeStr, createDefaultConfig,
		receiver.WithLogs(createLogs, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	return &Config{
		// The kubelet's layout: /var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log.
		Include: []string{"/var/log/pods/*/*/*.log"},
		// Lose nothing: a file with no stored offset is read whole.
		StartAt: StartAtBeginning,
		// New pods show up within a second.
		PollInterval:   200 * time.Millisecond,
		MaxOpenFiles:   512,
		ReadBufferSize: 256 << 10,
		// Runtimes split lines at 16 KiB; joined partial lines up to 1 MiB make one record.
		MaxLogSize:      1 << 20,
		FingerprintSize: 256,
		FlushTimeout:    250 * time.Millisecond,
		Batch:           BatchConfig{MaxRecords: 8192, MaxBytes: 2 << 20},
		Retry:           RetryConfig{InitialInterval: 100 * time.Millisecond, MaxInterval: 5 * time.Second},
		Multiline: MultilineConfig{
			Presets:  []Preset{PresetJava, PresetGo, PresetPython},
			MaxLines: 1000,
		},
	}
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, errors.New("podlogs: unexpected config type")
	}
	return newReceiver(set, c, next)
}
