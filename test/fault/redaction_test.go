package fault

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/redactionprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/lookoutdev/lookout/collector"
)

// redactionPreset is the processors that mask secrets in the built-in agent and local configs,
// in their pipeline order: the last ones of the logs pipeline.
var redactionPreset = []string{"transform/redact", "redaction/logs"}

// builtin resolves a built-in config as the binary does (${env:...} expanded, "$$" unescaped).
func builtin(t testing.TB, name string) map[string]any {
	t.Helper()
	r, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              []string{collector.Scheme + ":" + name},
		ProviderFactories: []confmap.ProviderFactory{collector.NewBuiltinProviderFactory(), envprovider.NewFactory()},
		DefaultScheme:     "env",
	})
	require.NoError(t, err)
	conf, err := r.Resolve(context.Background())
	require.NoError(t, err)
	return conf.ToStringMap()
}

func lookup(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// presetProcessor builds the preset's processors from a built-in config, as the binary does, and
// chains them in front of next.
func presetProcessor(t testing.TB, configName string, next *consumertest.LogsSink) consumer.Logs {
	t.Helper()
	factories := map[string]processor.Factory{
		"transform": transformprocessor.NewFactory(),
		"redaction": redactionprocessor.NewFactory(),
	}
	var out consumer.Logs = next
	for i := len(redactionPreset) - 1; i >= 0; i-- {
		id := redactionPreset[i]
		raw, ok := lookup(builtin(t, configName), "processors", id).(map[string]any)
		require.True(t, ok, "%s has no processors::%s", configName, id)
		typ, _, _ := strings.Cut(id, "/")
		f := factories[typ]
		cfg := f.CreateDefaultConfig()
		require.NoError(t, confmap.NewFromStringMap(raw).Unmarshal(cfg))
		require.NoError(t, confmap.Validate(cfg))
		p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, out)
		require.NoError(t, err, id)
		require.NoError(t, p.Start(context.Background(), componentHost{}))
		t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
		out = p
	}
	return out
}

type componentHost struct{}

func (componentHost) GetExtensions() map[component.ID]component.Component { return nil }

// redactionSamples are log lines and what must reach Loki of them.
var redactionSamples = []struct{ in, want string }{
	// e-mail addresses
	{"password reset sent to alice.smith+test@example.co.uk", "password reset sent to ****"},
	{`{"user":"bob@corp.example.com","ok":true}`, `{"user":"****","ok":true}`},
	// bearer tokens and Authorization headers
	{"GET /api with Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl done", "GET /api with **** done"},
	{"header Authorization: Basic dXNlcjpwYXNzd29yZA== sent", "header Authorization: **** sent"},
	{"authorization=Bearer abc123", "authorization=****"},
	// card numbers
	{"charged card 4111 1111 1111 1111 for 12.00", "charged card **** for 12.00"},
	{"card=5500-0000-0000-0004 declined", "card=**** declined"},
	{"amex 378282246310005 ok", "amex **** ok"},
	{"discover 6011111111111117", "discover ****"},
	// passwords, secrets, keys, tokens as key=value or key: value
	{"login failed user=alice password=hunter2 retry=3", "login failed user=alice password=**** retry=3"},
	{`db connect DB_PASSWORD="s3cr3t pass" host=db`, `db connect DB_PASSWORD=**** host=db`},
	{`{"password": "hunter2", "user": "alice"}`, `{"password": ****, "user": "alice"}`},
	{"client_secret: abcdef123456", "client_secret: ****"},
	{"api_key=AKIAIOSFODNN7EXAMPLE&x=1", "api_key=****&x=1"},
	{"refresh_token=1//0gAbCdEf", "refresh_token=****"},
	// what must stay as it is
	{"GET /api/v1/orders/12345 200 12.3ms user=alice", "GET /api/v1/orders/12345 200 12.3ms user=alice"},
	{"trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7", "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7"},
	{"took 1732531200000000000ns, order 4111, 16 tokens processed", "took 1732531200000000000ns, order 4111, 16 tokens processed"},
	{"image nginx@sha256:0123abcd pulled; user@localhost", "image nginx@sha256:0123abcd pulled; user@localhost"},
	{"basic configuration loaded, password policy strict", "basic configuration loaded, password policy strict"},
}

func TestRedactionPresetMasksSamples(t *testing.T) {
	for _, name := range []string{"agent", "local"} {
		t.Run(name, func(t *testing.T) {
			// The preset is in the logs pipeline, after everything that adds attributes.
			procs, _ := lookup(builtin(t, name), "service", "pipelines", "logs", "processors").([]any)
			require.GreaterOrEqual(t, len(procs), len(redactionPreset))
			var last []string
			for _, p := range procs[len(procs)-len(redactionPreset):] {
				last = append(last, fmt.Sprint(p))
			}
			require.Equal(t, redactionPreset, last, "%s: the logs pipeline ends with the preset", name)

			sink := &consumertest.LogsSink{}
			p := presetProcessor(t, name, sink)
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("k8s.pod.name", "payments-7d9f")
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for _, s := range redactionSamples {
				lrs.AppendEmpty().Body().SetStr(s.in)
			}
			// Attributes: a JSON line's keys become attributes (receivers/podlogs).
			attrs := lrs.AppendEmpty()
			attrs.Body().SetStr("attributes")
			attrs.Attributes().PutStr("password", "hunter2")
			attrs.Attributes().PutStr("db.password", "x")
			attrs.Attributes().PutStr("X-Api-Key", "k")
			attrs.Attributes().PutStr("access_token", "t")
			attrs.Attributes().PutStr("email", "carol@example.org")
			attrs.Attributes().PutStr("card", "4111111111111111")
			attrs.Attributes().PutStr("password_policy", "strict")
			attrs.Attributes().PutStr("user", "carol")
			attrs.Attributes().PutInt("tokens", 16)

			require.NoError(t, p.ConsumeLogs(context.Background(), ld))
			require.Len(t, sink.AllLogs(), 1)
			out := sink.AllLogs()[0].ResourceLogs().At(0)
			got := out.ScopeLogs().At(0).LogRecords()
			for i, s := range redactionSamples {
				require.Equal(t, s.want, got.At(i).Body().Str(), "sample %d: %q", i, s.in)
			}
			a := got.At(len(redactionSamples)).Attributes().AsRaw()
			require.Equal(t, map[string]any{
				"password": "****", "db.password": "****", "X-Api-Key": "****", "access_token": "****",
				"email": "****", "card": "****", "password_policy": "strict", "user": "carol", "tokens": int64(16),
			}, a)
			require.Equal(t, "payments-7d9f", out.Resource().Attributes().AsRaw()["k8s.pod.name"])
		})
	}
}

// BenchmarkRedactionPreset measures the preset on typical lines (no secret) and on lines with
// one, per record: the cost it adds to the logs pipeline.
func BenchmarkRedactionPreset(b *testing.B) {
	for _, c := range []struct {
		name string
		line string
	}{
		{"clean", logPayload + " user=alice trace_id=4bf92f3577b34da6a3ce929d0e0e4736"},
		{"secret", "login user=alice@example.com password=hunter2 card 4111 1111 1111 1111"},
	} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/records=%d", c.name, n), func(b *testing.B) {
				sink := &consumertest.LogsSink{}
				p := presetProcessor(b, "agent", sink)
				ld := plog.NewLogs()
				lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
				for range n {
					lr := lrs.AppendEmpty()
					lr.Body().SetStr(c.line)
					lr.Attributes().PutStr("logtag", "F")
					lr.Attributes().PutStr("log.iostream", "stdout")
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					cp := plog.NewLogs()
					ld.CopyTo(cp)
					_ = p.ConsumeLogs(context.Background(), cp)
					sink.Reset()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			})
		}
	}
}
