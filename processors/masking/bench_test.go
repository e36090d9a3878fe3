package maskingprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/redactionprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

type benchLine struct {
	name   string
	text   string
	secret bool
}

// benchLines returns the lines the benchmarks run on: n logfmt lines of ~200 B as the full
// benchmark (bench/gen_logs.go) writes them, starting with an item number "L014-000000000"
// (whose digits set off the preset's card pre-filter), and fixed clean and secret lines.
func benchLines(n int) []benchLine {
	rng := rand.New(rand.NewPCG(14, 42))
	var lines []benchLine
	for i := range n {
		lines = append(lines, benchLine{name: "logfmt", text: logfmt(rng, i, 200)})
	}
	return append(lines,
		benchLine{name: "logfmt-long", text: logfmt(rng, n, 1000)}, // as the 1 KiB lines of bench/
		benchLine{name: "fault", text: `GET /api/v1/orders/12345 200 12.3ms region=eu-west-1 az=b msg="request handled" user=alice trace_id=4bf92f3577b34da6a3ce929d0e0e4736`},
		benchLine{name: "json", text: `{"ts":"2026-01-02T03:04:05.123Z","level":"info","msg":"order created","order_id":482913,"amount":12.5,"currency":"EUR","user":"u4711","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","duration_ms":12.3}`},
		benchLine{name: "secret", text: "login user=alice@example.com password=hunter2 card 4111 1111 1111 1111", secret: true},
		benchLine{name: "secret-json", text: `{"level":"warn","msg":"retrying with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl","client_secret":"abc","email":"bob@corp.example.com"}`, secret: true},
	)
}

var words = strings.Fields(`the order cart user payment session token cache database query row table index
	shard replica primary leader timeout retry backoff request response header body status code
	latency duration bytes queue worker pool connection socket stream batch commit rollback lock`)

// logfmt returns line i of size bytes as bench/gen_logs.go writes them.
func logfmt(rng *rand.Rand, i, size int) string {
	var b []byte
	b = fmt.Appendf(b, "L014-%09d level=%s msg=%q method=GET path=/api/v1/orders/%d status=%d duration_ms=%.2f user=u%d trace_id=",
		i, []string{"info", "debug", "warn", "error"}[rng.IntN(4)], []string{"handled request", "cache miss", "order created"}[rng.IntN(3)],
		rng.IntN(1_000_000), []int{200, 201, 404, 500}[rng.IntN(4)], float64(rng.IntN(100_000))/100, rng.IntN(50_000))
	for range 32 {
		b = append(b, "0123456789abcdef"[rng.IntN(16)])
	}
	b = append(b, ` detail="`...)
	for len(b) < size {
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, ' ')
	}
	return string(b[:size])
}

// presetProcessor builds the OTTL preset (testdata/ottl_preset.yaml) chained in front of next.
func presetProcessor(tb testing.TB, next consumer.Logs) consumer.Logs {
	tb.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "ottl_preset.yaml"))
	require.NoError(tb, err)
	out := next
	for _, c := range []struct {
		id string
		f  processor.Factory
	}{{"redaction/logs", redactionprocessor.NewFactory()}, {"transform/redact", transformprocessor.NewFactory()}} {
		sub, err := cm.Sub(c.id)
		require.NoError(tb, err)
		cfg := c.f.CreateDefaultConfig()
		require.NoError(tb, sub.Unmarshal(cfg))
		p, err := c.f.CreateLogs(context.Background(), processortest.NewNopSettings(c.f.Type()), cfg, out)
		require.NoError(tb, err)
		require.NoError(tb, p.Start(context.Background(), nil))
		tb.Cleanup(func() { require.NoError(tb, p.Shutdown(context.Background())) })
		out = p
	}
	return out
}

// TestPresetAgreesOnSamples checks that the comparison is fair: the preset masks the samples as
// the masking processor does, except card-shaped numbers that fail the Luhn check.
func TestPresetAgreesOnSamples(t *testing.T) {
	sink := &consumertest.LogsSink{}
	p := presetProcessor(t, sink)
	ld := SampleLogs(t)
	require.NoError(t, p.ConsumeLogs(context.Background(), ld))
	got := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	differ := 0
	for i, s := range Samples {
		if got.At(i).Body().Str() != s.Want {
			differ++
			require.Contains(t, s.In, "4", "sample %d: %q: the preset made %q", i, s.In, got.At(i).Body().Str())
		}
	}
	require.Equal(t, 3, differ, "the three Luhn samples")
	want := map[string]any{}
	for _, a := range SampleAttributes {
		want[a.Key] = a.Want
	}
	require.Equal(t, want, got.At(len(Samples)).Attributes().AsRaw())
}

func newLogs(lines []benchLine, records int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("k8s.pod.name", "svc1-7d9f8b6c5-00001")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range records {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(lines[i%len(lines)].text)
		lr.Attributes().PutStr("logtag", "F")
		lr.Attributes().PutStr("log.iostream", "stdout")
	}
	return ld
}

// BenchmarkMasking runs the masking processor and the OTTL preset it replaced side by side on
// the same records (1000 per batch, two attributes each, as podlogs makes them): ns/record is
// the CPU a record costs. Records with a secret change, so every batch is a fresh copy, for
// both; copy-only is the cost of that copy.
func BenchmarkMasking(b *testing.B) {
	const records = 1000
	all := benchLines(200)
	var logfmt, fixed []benchLine
	for _, l := range all {
		if l.name == "logfmt" {
			logfmt = append(logfmt, l)
		} else {
			fixed = append(fixed, l)
		}
	}
	cases := []struct {
		name  string
		lines []benchLine
	}{{"logfmt", logfmt}}
	for _, l := range fixed {
		cases = append(cases, struct {
			name  string
			lines []benchLine
		}{l.name, []benchLine{l}})
	}
	for _, c := range cases {
		ld := newLogs(c.lines, records)
		impls := []struct {
			name string
			make func(b *testing.B, next consumer.Logs) consumer.Logs
		}{
			{"masking", func(b *testing.B, next consumer.Logs) consumer.Logs {
				f := NewFactory()
				p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), next)
				require.NoError(b, err)
				return p
			}},
			{"ottl_preset", func(b *testing.B, next consumer.Logs) consumer.Logs { return presetProcessor(b, next) }},
			{"copy_only", func(_ *testing.B, next consumer.Logs) consumer.Logs { return next }},
		}
		for _, impl := range impls {
			b.Run(c.name+"/"+impl.name, func(b *testing.B) {
				p := impl.make(b, consumertest.NewNop())
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					cp := plog.NewLogs()
					ld.CopyTo(cp)
					if err := p.ConsumeLogs(context.Background(), cp); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
			})
		}
	}
}

// BenchmarkMaskString is the masking of one body, without pdata: ns/op is per line.
func BenchmarkMaskString(b *testing.B) {
	m, err := newMasker(createDefaultConfig().(*Config))
	require.NoError(b, err)
	for _, l := range benchLines(1) {
		b.Run(l.name+"/"+strconv.Itoa(len(l.text))+"B", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(l.text)))
			for range b.N {
				m.maskString(l.text)
			}
		})
	}
}

// BenchmarkPrescan is prescan and prescanByPasses side by side on 2,000 different logfmt lines
// (2 MB of 1 KiB lines, more than a core's cache, as a batch of bench/'s): ns/op is per line.
// With a single line, as in BenchmarkMaskString, the branch predictor learns where its digits
// are, which it cannot in a stream of lines.
func BenchmarkPrescan(b *testing.B) {
	rng := rand.New(rand.NewPCG(15, 43))
	for _, size := range []int{200, 1000} {
		lines := make([]string, 2000)
		for i := range lines {
			lines[i] = logfmt(rng, i, size)
		}
		for _, impl := range []struct {
			name string
			scan func(string) uint8
		}{{"prescan", prescan}, {"byPasses", prescanByPasses}} {
			b.Run(fmt.Sprintf("%s/%dB", impl.name, size), func(b *testing.B) {
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					impl.scan(lines[i%len(lines)])
					i++
				}
			})
		}
	}
}
