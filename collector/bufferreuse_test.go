package collector

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/lookoutdev/lookout/collector/config"
)

func TestBufferReuse(t *testing.T) {
	const (
		safe = `
receivers:
  podlogs:
  podlogs/b: {reuse_buffers: false}
  otlp:
processors:
  batch:
service:
  pipelines:
    logs:
      receivers: [podlogs, podlogs/b, otlp]
      processors: [memory_limiter, k8s_attributes/x, transform, masking]
      exporters: [loki, loki/2]
`
		batch = `
receivers:
  podlogs: {include: [a]}
service:
  pipelines:
    logs:
      receivers: [podlogs]
      processors: [memory_limiter]
      exporters: [loki]
    logs/2:
      receivers: [podlogs]
      processors: [batch]
      exporters: [loki]
`
		connector = `
receivers:
  podlogs:
service:
  pipelines:
    logs:
      receivers: [podlogs]
      exporters: [loki, count]
`
		unused = `
receivers:
  podlogs/a:
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [loki]
`
		forced = `
receivers:
  podlogs: {reuse_buffers: true}
service:
  pipelines:
    logs:
      receivers: [podlogs]
      exporters: [otlp_http]
`
	)
	for _, tc := range []struct {
		name, yaml string
		want       map[string]bool // receiver -> reuse_buffers after conversion
		wantErr    string
	}{
		{name: "safe pipeline", yaml: safe, want: map[string]bool{"podlogs": true, "podlogs/b": false}},
		{name: "one of two pipelines batches", yaml: batch, want: map[string]bool{"podlogs": false}},
		{name: "connector", yaml: connector, want: map[string]bool{"podlogs": false}},
		{name: "in no pipeline", yaml: unused, want: map[string]bool{"podlogs/a": false}},
		{name: "set where unsafe", yaml: forced, wantErr: `receivers::podlogs::reuse_buffers: pipeline logs has exporter "otlp_http", which may keep log bodies`},
		{name: "set where safe", yaml: strings.Replace(forced, "otlp_http", "loki", 1), want: map[string]bool{"podlogs": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := confmap.NewRetrievedFromYAML([]byte(tc.yaml))
			require.NoError(t, err)
			conf, err := r.AsConf()
			require.NoError(t, err)
			err = bufferReuse{}.Convert(context.Background(), conf)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			for id, want := range tc.want {
				require.Equal(t, want, conf.Get("receivers::"+id+"::reuse_buffers"), id)
			}
			require.Nil(t, conf.Get("receivers::otlp::reuse_buffers"), "only podlogs receivers get the key")
		})
	}
}

// TestBufferReuseBuiltin: the built-in configs' podlogs receivers reuse their buffers, so a
// component added to their logs pipelines that is not known to be safe turns it off (and this
// test fails, to have the change looked at).
func TestBufferReuseBuiltin(t *testing.T) {
	for _, name := range []string{"agent", "local"} {
		t.Run(name, func(t *testing.T) {
			b, err := config.Get(name)
			require.NoError(t, err)
			r, err := confmap.NewRetrievedFromYAML(b)
			require.NoError(t, err)
			conf, err := r.AsConf()
			require.NoError(t, err)
			require.NoError(t, bufferReuse{}.Convert(context.Background(), conf))
			require.Equal(t, true, conf.Get("receivers::podlogs::reuse_buffers"))
		})
	}
}
