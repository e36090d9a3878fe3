package lokiexporter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Format is the body encoding of a push request.
type Format string

const (
	// FormatProtobuf is Loki's push protobuf (logproto.PushRequest) compressed with snappy.
	FormatProtobuf Format = "protobuf"
	// FormatJSON is Loki's JSON push body ({"streams":[{"stream":{...},"values":[[ts, line, {sm}]]}]}).
	FormatJSON Format = "json"
)

// UnmarshalText rejects unknown formats.
func (f *Format) UnmarshalText(text []byte) error {
	switch v := Format(text); v {
	case FormatProtobuf, FormatJSON:
		*f = v
		return nil
	default:
		return fmt.Errorf("unknown format %q (want %q or %q)", string(text), FormatProtobuf, FormatJSON)
	}
}

// LongLineAction is what happens to a line longer than max_line_size.
type LongLineAction string

const (
	// LongLineTruncate cuts the line at max_line_size (on a UTF-8 boundary) and sends it.
	LongLineTruncate LongLineAction = "truncate"
	// LongLineDrop drops the line.
	LongLineDrop LongLineAction = "drop"
)

// UnmarshalText rejects unknown actions.
func (a *LongLineAction) UnmarshalText(text []byte) error {
	switch v := LongLineAction(text); v {
	case LongLineTruncate, LongLineDrop:
		*a = v
		return nil
	default:
		return fmt.Errorf("unknown long line action %q (want %q or %q)", string(text), LongLineTruncate, LongLineDrop)
	}
}

// Config is the configuration of the loki exporter.
type Config struct {
	// Client is the HTTP client: endpoint (the full push URL, e.g.
	// http://loki:3100/loki/api/v1/push), TLS, headers, auth extensions, proxy.
	Client confighttp.ClientConfig `mapstructure:"client"`

	// Queue is exporterhelper's sending queue, with its batching (batch size and wait).
	Queue configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	// Retry is exporterhelper's retry with exponential backoff (429, 5xx and network errors).
	Retry configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Timeout bounds one push attempt (one tenant's request), response included.
	Timeout time.Duration `mapstructure:"timeout"`

	// Format is the body encoding: "protobuf" (snappy-compressed, the default) or "json".
	Format Format `mapstructure:"format"`

	// Labels chooses the attributes that become stream labels.
	Labels LabelsConfig `mapstructure:"labels"`

	// StructuredMetadata controls what is attached to each entry as structured metadata.
	StructuredMetadata StructuredMetadataConfig `mapstructure:"structured_metadata"`

	// Tenant sets X-Scope-OrgID.
	Tenant TenantConfig `mapstructure:"tenant"`

	// MaxLineSize is the longest line in bytes sent as is; 0 means no limit.
	MaxLineSize int `mapstructure:"max_line_size"`

	// LongLines is what happens to a longer line: "truncate" or "drop".
	LongLines LongLineAction `mapstructure:"long_lines"`
}

// LabelsConfig lists the attributes that become stream labels.
type LabelsConfig struct {
	// ResourceAttributes become labels when the resource has them.
	ResourceAttributes []AttributeLabel `mapstructure:"resource_attributes"`
	// RecordAttributes become labels when the log record has them.
	RecordAttributes []AttributeLabel `mapstructure:"record_attributes"`
	// Level adds a "level" label derived from the record's severity.
	Level bool `mapstructure:"level"`
}

// AttributeLabel maps one attribute to a label.
type AttributeLabel struct {
	// Attribute is the attribute key, e.g. "k8s.namespace.name".
	Attribute string `mapstructure:"attribute"`
	// Label is the label name; empty means the attribute key sanitized (dots become "_").
	Label string `mapstructure:"label"`
}

// labelName returns the label this mapping produces.
func (a AttributeLabel) labelName() string {
	if a.Label != "" {
		return a.Label
	}
	return sanitizeLabelName(a.Attribute)
}

// StructuredMetadataConfig controls structured metadata.
type StructuredMetadataConfig struct {
	// Enabled attaches the attributes that are not labels, trace_id and span_id to each entry.
	// Turn it off for Loki before 2.9 (JSON pushes with structured metadata fail there).
	Enabled bool `mapstructure:"enabled"`
}

// TenantConfig chooses the tenant (X-Scope-OrgID) of each entry.
type TenantConfig struct {
	// FromAttribute is a resource attribute holding the tenant; it wins over ID when present.
	FromAttribute string `mapstructure:"from_attribute"`
	// ID is the tenant of entries whose resource has no FromAttribute; empty sends no header.
	ID string `mapstructure:"id"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration; it changes nothing.
func (cfg *Config) Validate() error {
	var errs error
	if cfg.Client.Endpoint == "" {
		errs = errors.Join(errs, errors.New("client::endpoint: required (the full push URL, e.g. http://loki:3100/loki/api/v1/push)"))
	} else if u, err := url.Parse(cfg.Client.Endpoint); err != nil {
		errs = errors.Join(errs, fmt.Errorf("client::endpoint: %w", err))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		errs = errors.Join(errs, fmt.Errorf("client::endpoint: %q must be an http:// or https:// URL", cfg.Client.Endpoint))
	} else if u.Host == "" {
		errs = errors.Join(errs, fmt.Errorf("client::endpoint: %q has no host", cfg.Client.Endpoint))
	}
	switch cfg.Format {
	case FormatProtobuf:
		if cfg.Client.Compression.IsCompressed() {
			errs = errors.Join(errs, fmt.Errorf("client::compression: %q cannot be combined with format %q, whose body is already snappy-compressed", cfg.Client.Compression, FormatProtobuf))
		}
	case FormatJSON:
	default:
		errs = errors.Join(errs, fmt.Errorf("format: %q is not %q or %q", cfg.Format, FormatProtobuf, FormatJSON))
	}
	if cfg.Timeout < 0 {
		errs = errors.Join(errs, fmt.Errorf("timeout: %s must not be negative", cfg.Timeout))
	}
	if cfg.MaxLineSize < 0 {
		errs = errors.Join(errs, fmt.Errorf("max_line_size: %d must not be negative", cfg.MaxLineSize))
	}
	if cfg.LongLines != LongLineTruncate && cfg.LongLines != LongLineDrop {
		errs = errors.Join(errs, fmt.Errorf("long_lines: %q is not %q or %q", cfg.LongLines, LongLineTruncate, LongLineDrop))
	}
	if hasHeaderFold(cfg.Client, tenantHeader) {
		if cfg.Tenant.ID != "" || cfg.Tenant.FromAttribute != "" {
			errs = errors.Join(errs, fmt.Errorf("client::headers: %s is set by tenant::id / tenant::from_attribute; set it in one place only", tenantHeader))
		}
	}
	errs = errors.Join(errs, cfg.Labels.validate())
	return errs
}

func hasHeaderFold(c confighttp.ClientConfig, name string) bool {
	found := false
	c.Headers.Iter(func(k string, _ configopaque.String) bool {
		if strings.EqualFold(k, name) {
			found = true
			return false
		}
		return true
	})
	return found
}

func (l LabelsConfig) validate() error {
	var errs error
	seen := map[string]string{}
	if l.Level {
		seen[levelLabel] = "labels::level"
	}
	check := func(key string, list []AttributeLabel) {
		for i, a := range list {
			where := fmt.Sprintf("labels::%s[%d]", key, i)
			if a.Attribute == "" {
				errs = errors.Join(errs, fmt.Errorf("%s::attribute: required", where))
				continue
			}
			name := a.labelName()
			if a.Label != "" && !validLabelName(a.Label) {
				errs = errors.Join(errs, fmt.Errorf("%s::label: %q is not a valid Loki label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", where, a.Label))
				continue
			}
			if name == "" {
				errs = errors.Join(errs, fmt.Errorf("%s::attribute: %q gives an empty label name; set label", where, a.Attribute))
				continue
			}
			if prev, dup := seen[name]; dup {
				errs = errors.Join(errs, fmt.Errorf("%s: label %q is already produced by %s", where, name, prev))
				continue
			}
			seen[name] = where
		}
	}
	check("resource_attributes", l.ResourceAttributes)
	check("record_attributes", l.RecordAttributes)
	return errs
}
