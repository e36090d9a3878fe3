package podlogsreceiver

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config is the configuration of the podlogs receiver.
type Config struct {
	// Include lists glob patterns of the container log files to tail. Each file's path must end in
	// <namespace>_<pod>_<uid>/<container>/<restart>.log for the Kubernetes identity to be known.
	Include []string `mapstructure:"include"`
	// Exclude lists glob patterns of files not to tail, matched against the full path.
	Exclude []string `mapstructure:"exclude"`
	// StartAt says where to start reading a file found at start-up that has no stored offset:
	// "beginning" or "end". Files that appear later are always read from their beginning.
	StartAt StartAt `mapstructure:"start_at"`
	// Storage is the ID of a storage extension (file_storage) that keeps the committed offsets.
	// Without it, offsets live in memory and a restart starts over by start_at.
	Storage *component.ID `mapstructure:"storage"`
	// PollInterval is how often the include patterns are globbed and idle files are checked.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// MaxOpenFiles bounds the files kept open at once; idle ones are closed first.
	MaxOpenFiles int `mapstructure:"max_open_files"`
	// ReadBufferSize is the size of one read, and the most read from one file before the reader
	// moves on to the next (fair reading across files).
	ReadBufferSize int `mapstructure:"read_buffer_size"`
	// MaxLogSize bounds one log record in bytes; a longer one is split into several records.
	MaxLogSize int `mapstructure:"max_log_size"`
	// FingerprintSize is how many leading bytes of a file identify it across rotation.
	FingerprintSize int `mapstructure:"fingerprint_size"`
	// FlushTimeout is how long a partial line or a multiline record waits for its continuation.
	FlushTimeout time.Duration `mapstructure:"flush_timeout"`
	// IncludeFilePath adds the log.file.path attribute to every record.
	IncludeFilePath bool `mapstructure:"include_file_path"`
	// Batch bounds what is handed to the next consumer in one call.
	Batch BatchConfig `mapstructure:"batch"`
	// Retry sets the backoff when the next consumer refuses data with a retryable error.
	Retry RetryConfig `mapstructure:"retry"`
	// Multiline joins stack traces and other multi-line records.
	Multiline MultilineConfig `mapstructure:"multiline"`
	// JSON parses bodies that are JSON objects.
	JSON JSONConfig `mapstructure:"json"`
	// ReuseBuffers lets each batch's bodies be written over the last batch's once the next
	// consumer has returned from it, instead of into new memory. Safe only when no component
	// after the receiver keeps a body, or a string cut from one, after its Consume call returns:
	// the lookout binary sets it itself, for a receiver whose pipelines are all made of
	// components known not to (README.md), and refuses a config that sets it.
	ReuseBuffers bool `mapstructure:"reuse_buffers"`
}

var _ component.Config = (*Config)(nil)

// StartAt is where a file without a stored offset is first read from.
type StartAt string

// The values of StartAt.
const (
	StartAtBeginning StartAt = "beginning"
	StartAtEnd       StartAt = "end"
)

// BatchConfig bounds one ConsumeLogs call. Offsets are committed after each accepted call.
type BatchConfig struct {
	// MaxRecords is the most log records in one call.
	MaxRecords int `mapstructure:"max_records"`
	// MaxBytes is the most body bytes in one call.
	MaxBytes int `mapstructure:"max_bytes"`
}

// RetryConfig is the backoff used while the next consumer refuses data with a retryable error.
// Reading pauses meanwhile; nothing is dropped.
type RetryConfig struct {
	// InitialInterval is the first wait.
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	// MaxInterval caps the doubling wait.
	MaxInterval time.Duration `mapstructure:"max_interval"`
}

// Preset names a built-in multiline rule.
type Preset string

// The multiline presets.
const (
	PresetJava   Preset = "java"   // "\tat ...", "\t... N more", "Caused by: ..."
	PresetGo     Preset = "go"     // "panic: ..." / "fatal error: ..." through the goroutine dumps
	PresetPython Preset = "python" // "Traceback (most recent call last):" through the exception line
)

// MultilineConfig sets which lines continue the record before them.
type MultilineConfig struct {
	// Presets lists built-in rules: java, go, python.
	Presets []Preset `mapstructure:"presets"`
	// Rules adds regular-expression rules (slower than the presets).
	Rules []MultilineRule `mapstructure:"rules"`
	// MaxLines is the most lines joined into one record.
	MaxLines int `mapstructure:"max_lines"`
}

// MultilineRule is a custom rule; set exactly one pattern.
type MultilineRule struct {
	// ContinuationPattern: a line matching it continues the previous record.
	ContinuationPattern string `mapstructure:"continuation_pattern"`
	// StartPattern: a line matching it starts a record; a line matching no start pattern (and no
	// other rule) continues the previous one.
	StartPattern string `mapstructure:"start_pattern"`
}

// JSONConfig turns JSON bodies into attributes.
type JSONConfig struct {
	// Enabled parses a body that is a JSON object: message/msg becomes the body, level/severity
	// the severity, trace_id/span_id the record's trace context, other keys attributes.
	Enabled bool `mapstructure:"enabled"`
}

// Validate checks the configuration without changing it.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Include) == 0 {
		errs = append(errs, errors.New("include: at least one glob pattern is required"))
	}
	for i, p := range c.Include {
		if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("include[%d]: bad pattern %q: %w", i, p, err))
		}
	}
	for i, p := range c.Exclude {
		if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("exclude[%d]: bad pattern %q: %w", i, p, err))
		}
	}
	switch c.StartAt {
	case StartAtBeginning, StartAtEnd:
	default:
		errs = append(errs, fmt.Errorf("start_at: %q is not one of beginning, end", c.StartAt))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll_interval: must be positive, got %s", c.PollInterval))
	}
	if c.MaxOpenFiles < 2 {
		errs = append(errs, fmt.Errorf("max_open_files: must be at least 2, got %d", c.MaxOpenFiles))
	}
	if c.ReadBufferSize < 4096 {
		errs = append(errs, fmt.Errorf("read_buffer_size: must be at least 4096, got %d", c.ReadBufferSize))
	}
	if c.MaxLogSize < 1024 {
		errs = append(errs, fmt.Errorf("max_log_size: must be at least 1024, got %d", c.MaxLogSize))
	}
	if c.FingerprintSize < 16 || c.FingerprintSize > 4096 {
		errs = append(errs, fmt.Errorf("fingerprint_size: must be between 16 and 4096, got %d", c.FingerprintSize))
	}
	if c.FlushTimeout <= 0 {
		errs = append(errs, fmt.Errorf("flush_timeout: must be positive, got %s", c.FlushTimeout))
	}
	if c.Batch.MaxRecords <= 0 {
		errs = append(errs, fmt.Errorf("batch::max_records: must be positive, got %d", c.Batch.MaxRecords))
	}
	if c.Batch.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("batch::max_bytes: must be positive, got %d", c.Batch.MaxBytes))
	}
	if c.Retry.InitialInterval <= 0 {
		errs = append(errs, fmt.Errorf("retry::initial_interval: must be positive, got %s", c.Retry.InitialInterval))
	}
	if c.Retry.MaxInterval < c.Retry.InitialInterval {
		errs = append(errs, fmt.Errorf("retry::max_interval: %s is less than retry::initial_interval %s",
			c.Retry.MaxInterval, c.Retry.InitialInterval))
	}
	for i, p := range c.Multiline.Presets {
		switch p {
		case PresetJava, PresetGo, PresetPython:
		default:
			errs = append(errs, fmt.Errorf("multiline::presets[%d]: %q is not one of java, go, python", i, p))
		}
	}
	for i, r := range c.Multiline.Rules {
		if (r.ContinuationPattern == "") == (r.StartPattern == "") {
			errs = append(errs, fmt.Errorf("multiline::rules[%d]: set exactly one of continuation_pattern, start_pattern", i))
		}
		for _, kv := range [...][2]string{{"continuation_pattern", r.ContinuationPattern}, {"start_pattern", r.StartPattern}} {
			if kv[1] == "" {
				continue
			}
			if _, err := regexp.Compile(kv[1]); err != nil {
				errs = append(errs, fmt.Errorf("multiline::rules[%d]::%s: %w", i, kv[0], err))
			}
		}
	}
	if c.Multiline.MaxLines <= 0 {
		errs = append(errs, fmt.Errorf("multiline::max_lines: must be positive, got %d", c.Multiline.MaxLines))
	}
	return errors.Join(errs...)
}
