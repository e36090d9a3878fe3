package configlocate

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

const base = `receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317
        bogus: 1
  nosuch: {}
exporters:
  otlp_http/loki:
    endpoint: "::not a url"
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_http/loki, missing]
`

const overlay = `exporters:
  otlp_http/loki:
    endpoint: "::still not a url"
`

func TestLocate(t *testing.T) {
	sources := []Source{{Name: "base.yaml", Data: []byte(base)}}
	tests := []struct {
		name    string
		sources []Source
		msg     string // as the collector words it
		want    string // "" when nothing can be located
	}{
		{
			name: "unknown component type",
			msg:  "failed to get config: cannot unmarshal the configuration: decoding failed due to the following error(s):\n\n'receivers' unknown type: \"nosuch\" for id: \"nosuch\" (valid values: [otlp])",
			want: `base.yaml:7: receivers::nosuch: failed to get config: cannot unmarshal the configuration: 'receivers' unknown type: "nosuch" for id: "nosuch" (valid values: [otlp])`,
		},
		{
			name: "unknown key deep in a component",
			msg:  "failed to get config: cannot unmarshal the configuration: decoding failed due to the following error(s):\n\n'receivers' error reading configuration for \"otlp\": decoding failed due to the following error(s):\n\n'protocols.grpc' decoding failed due to the following error(s):\n\n'configgrpc.ServerConfig' has invalid keys: bogus",
			want: `base.yaml:6: receivers::otlp: failed to get config: cannot unmarshal the configuration: 'receivers' error reading configuration for "otlp": 'protocols.grpc' 'configgrpc.ServerConfig' has invalid keys: bogus`,
		},
		{
			name: "a component refuses its settings when built",
			msg:  `failed to build pipelines: failed to create "otlp_http/loki" exporter for data type "traces": endpoint must be a valid URL`,
			want: `base.yaml:10: exporters::otlp_http/loki: failed to build pipelines: failed to create "otlp_http/loki" exporter for data type "traces": endpoint must be a valid URL`,
		},
		{
			name:    "a later source overrides an earlier one",
			sources: []Source{sources[0], {Name: "overlay.yaml", Data: []byte(overlay)}},
			msg:     `failed to build pipelines: failed to create "otlp_http/loki" exporter for data type "traces": endpoint must be a valid URL`,
			want:    `overlay.yaml:3: exporters::otlp_http/loki: failed to build pipelines: failed to create "otlp_http/loki" exporter for data type "traces": endpoint must be a valid URL`,
		},
		{
			name: "a pipeline names a component that is not configured",
			msg:  `invalid configuration: service::pipelines::traces: references exporter "missing" which is not configured`,
			want: `base.yaml:15: invalid configuration: service::pipelines::traces: references exporter "missing" which is not configured`,
		},
		{
			name: "a component's own validation",
			msg:  "invalid configuration: receivers::otlp: must specify at least one protocol when using the OTLP receiver",
			want: "base.yaml:2: invalid configuration: receivers::otlp: must specify at least one protocol when using the OTLP receiver",
		},
		{
			name: "nothing to point at",
			msg:  "cannot start pipelines: listen tcp 127.0.0.1:4317: bind: address already in use",
		},
		{
			name: "a component that is in no source",
			msg:  "invalid configuration: receivers::jaeger: bad",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.sources
			if src == nil {
				src = sources
			}
			orig := errors.New(tt.msg)
			got := Locate(orig, src)
			if tt.want == "" {
				require.Same(t, orig, got)
				return
			}
			require.EqualError(t, got, tt.want)
			require.ErrorIs(t, got, orig)
		})
	}
}

func TestCheckYAML(t *testing.T) {
	good := Source{Name: "good.yaml", Data: []byte(base)}
	bad := Source{Name: "bad.yaml", Data: []byte("receivers:\n  otlp:\n    protocols:\n     grpc:\n        endpoint: x\n   foo: bar\n")}
	require.NoError(t, CheckYAML([]Source{good}))
	err := CheckYAML([]Source{good, bad})
	require.ErrorContains(t, err, "bad.yaml:6:4: invalid YAML: value is not allowed in this context")
	require.ErrorContains(t, err, ">  6 |    foo: bar", "the error shows the offending line")

	// Windows line ends after comments: the line is still the third.
	crlf := Source{Name: "crlf.yaml", Data: []byte("a: 1 #\r\nb: 2 #\r\nc: \"")}
	require.ErrorContains(t, CheckYAML([]Source{crlf}), "crlf.yaml:3:4: invalid YAML: could not find end character of double-quoted text")
}
