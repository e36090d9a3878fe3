package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/collector/config"
)

func TestLogSetFiles(t *testing.T) {
	dir := t.TempDir()
	s := logSet{Pods: 3, Lines: 10, Size: 120}
	size, err := s.write(dir)
	require.NoError(t, err)
	var total int64
	for p := range s.Pods {
		f, err := os.Open(s.file(dir, p))
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		seq := 0
		for sc.Scan() {
			line := sc.Text()
			total += int64(len(line)) + 1
			require.Len(t, line, s.Size-1, "line %q", line)
			// CRI: <time> <stream> <tag> <message>
			parts := strings.SplitN(line, " ", 4)
			require.Len(t, parts, 4)
			_, err := time.Parse(time.RFC3339Nano, parts[0])
			require.NoError(t, err)
			require.Equal(t, []string{"stdout", "F"}, parts[1:3])
			id, ok := parseLineID([]byte(parts[3]))
			require.True(t, ok, "message %q", parts[3])
			require.Equal(t, itemID{stream: p, seq: uint64(seq)}, id)
			seq++
		}
		require.NoError(t, sc.Err())
		require.NoError(t, f.Close())
		require.Equal(t, s.perPod(p), seq)
	}
	require.Equal(t, int64(s.Lines), int64(s.perPod(0)+s.perPod(1)+s.perPod(2)))
	require.Equal(t, total, size)
	require.Contains(t, s.file(dir, 1), filepath.Join("pods", "bench_svc1-7d9f8b6c5-00001_0b8e3f3a-1c2d-4e5f-8a9b-000000000001", "app", "0.log"))

	// A complete set is not written again.
	again, err := s.write(dir)
	require.NoError(t, err)
	require.Equal(t, size, again)

	_, err = logSet{Pods: 0, Lines: 10, Size: 120}.write(t.TempDir())
	require.ErrorContains(t, err, "want 1-999 pods")
}

func TestParseLineID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want itemID
		ok   bool
	}{
		{"L007-000000123 rest", itemID{7, 123}, true},
		{"L999-999999999", itemID{999, 999999999}, true},
		{"", itemID{}, false},
		{"L07-000000123 rest", itemID{}, false},
		{"X007-000000123 rest", itemID{}, false},
		{"L007-00000012a rest", itemID{}, false},
		{"L007_000000123 rest", itemID{}, false},
	} {
		got, ok := parseLineID([]byte(tc.in))
		require.Equal(t, tc.ok, ok, "%q", tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
	}
	require.Equal(t, "L042-000001234", string(appendLineID(nil, 42, 1234)))
}

func TestTracker(t *testing.T) {
	var tr tracker
	tr.add(&batch{ids: []itemID{{0, 0}, {0, 1}, {0, 1}, {2, 70000}}, foreign: 1})
	st := tr.stats()
	require.Equal(t, int64(4), st.count)
	require.Equal(t, int64(1), st.dups)
	require.Equal(t, int64(1), st.foreign)
	require.Equal(t, int64(3), tr.distinct())
	require.Equal(t, int64(1), tr.missing(0, 0, 3))
	require.Equal(t, int64(5), tr.missing(1, 0, 5))
	require.Equal(t, int64(0), tr.missing(2, 70000, 70001))
	tr.reset()
	require.Equal(t, int64(0), tr.distinct())
}

// TestOTLPWireMatchesPdata checks the sinks' protowire walkers against pdata's encoding.
func TestOTLPWireMatchesPdata(t *testing.T) {
	ld := plog.NewLogs()
	var want []string
	for r := range 3 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("k8s.pod.name", "p")
		for s := range 2 {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("scope")
			for i := range 4 {
				lr := sl.LogRecords().AppendEmpty()
				lr.SetTimestamp(pcommon.Timestamp(123))
				lr.Attributes().PutStr("log.iostream", "stdout")
				body := string(appendLineID(nil, r, s*10+i)) + " message"
				if i == 3 {
					lr.Body().SetEmptyMap().PutStr("k", "v") // not a string: ""
					body = ""
				} else {
					lr.Body().SetStr(body)
				}
				want = append(want, body)
			}
		}
	}
	raw, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	var got []string
	require.NoError(t, walkLogBodies(raw, func(b []byte) { got = append(got, string(b)) }))
	require.Equal(t, want, got)
	require.Error(t, walkLogBodies(raw[:len(raw)-3], func([]byte) {}))

	td := traceTemplate(20, 0)
	stamp(td, 1000)
	raw, err = ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	var seqs []uint64
	require.NoError(t, walkSpanIDs(raw, func(id []byte) {
		seq, ok := spanSeq(id)
		require.True(t, ok)
		seqs = append(seqs, seq)
	}))
	require.Len(t, seqs, 20)
	for i, s := range seqs {
		require.Equal(t, uint64(1000+i), s)
	}
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	require.Equal(t, 10, span.Attributes().Len(), "spans carry 10 attributes")
	require.Error(t, walkSpanIDs(raw[:len(raw)-3], func([]byte) {}))
}

func post(t *testing.T, url, contentType, encoding string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func TestSinks(t *testing.T) {
	s, err := startSinks()
	require.NoError(t, err)
	defer s.close()
	defer http.DefaultClient.CloseIdleConnections()

	// Loki push: protobuf + snappy.
	req := push.PushRequest{Streams: []push.Stream{{
		Labels: `{service_name="a"}`,
		Entries: []push.Entry{
			{Timestamp: time.Unix(1, 0), Line: "L001-000000000 x"},
			{Timestamp: time.Unix(2, 0), Line: "L001-000000001 y"},
			{Timestamp: time.Unix(3, 0), Line: "no number"},
		},
	}}}
	raw, err := req.Marshal()
	require.NoError(t, err)
	code, _ := post(t, "http://"+s.loki.addr+"/loki/api/v1/push", "application/x-protobuf", "", snappy.Encode(nil, raw))
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, int64(2), s.logs.distinct())
	require.Equal(t, int64(1), s.logs.stats().foreign)
	require.Positive(t, s.loki.wire.Load())
	require.NoError(t, s.problems())

	// Bad requests are refused with a reason, and counted.
	code, msg := post(t, "http://"+s.loki.addr+"/loki/api/v1/push", "application/json", "", []byte(`{}`))
	require.Equal(t, http.StatusUnsupportedMediaType, code)
	require.Contains(t, msg, `Content-Type "application/json"`)
	code, msg = post(t, "http://"+s.loki.addr+"/loki/api/v1/push", "application/x-protobuf", "", []byte("not snappy"))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, msg, "snappy")
	require.ErrorContains(t, s.problems(), "Loki push sink refused 2 requests")

	// OTLP/HTTP logs, gzip'd as otlp_http sends them.
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("L002-000000005 z")
	raw, err = plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(raw)
	require.NoError(t, zw.Close())
	code, _ = post(t, "http://"+s.otlpLogs.addr+"/v1/logs", "application/x-protobuf", "gzip", gz.Bytes())
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, int64(0), s.logs.missing(2, 5, 6))
	code, msg = post(t, "http://"+s.otlpLogs.addr+"/v1/logs", "application/x-protobuf", "", []byte{0x0a, 0xff})
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, msg, "ExportLogsServiceRequest")

	// Remote write: a whole scrape of one target, a partial one of another, and a stale marker.
	wr := prompb.WriteRequest{}
	for i := range 3 {
		wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "bench_gauge_5"}, {Name: "instance", Value: "a:1"}, {Name: "series", Value: string(rune('0' + i))}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: 1000}},
		})
	}
	wr.Timeseries = append(wr.Timeseries,
		prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "bench_gauge_5"}, {Name: "instance", Value: "b:1"}, {Name: "series", Value: "0"}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: 1000}, {Value: staleNaN(), Timestamp: 2000}},
		},
		prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "instance", Value: "a:1"}},
			Samples: []prompb.Sample{{Value: 1, Timestamp: 1000}},
		})
	raw, err = wr.Marshal()
	require.NoError(t, err)
	code, _ = post(t, "http://"+s.rw.addr+"/api/v1/write", "application/x-protobuf", "", snappy.Encode(nil, raw))
	require.Equal(t, http.StatusNoContent, code)
	whole, partial, extra := s.metrics.scrapes(3)
	require.Equal(t, map[string]int{"a:1": 1}, whole)
	require.Equal(t, 1, partial)
	require.Equal(t, 0, extra)
	require.Equal(t, int64(4), s.metrics.benchSamples())
	require.Equal(t, int64(6), s.metrics.samples)
	require.Equal(t, int64(1), s.metrics.stale)

	s.reset()
	require.NoError(t, s.problems())
	require.Equal(t, int64(0), s.logs.distinct())
	require.Equal(t, int64(0), s.metrics.benchSamples())
}

// TestTraceGenerator sends to the sink's OTLP/gRPC endpoint, which speaks what a collector's
// OTLP receiver speaks: every acknowledged span must be counted there, once.
func TestTraceGenerator(t *testing.T) {
	s, err := startSinks()
	require.NoError(t, err)
	defer s.close()
	gen, err := newTraceGen(s.otlpGRPC.addr, 50)
	require.NoError(t, err)
	defer gen.close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	gen.run(ctx, 2, 2000)
	acked := gen.acked.Load()
	require.Positive(t, acked)
	require.LessOrEqual(t, acked, int64(1500), "the rate is 2,000 spans/s")
	require.Equal(t, int64(0), gen.missing(&s.spans))
	require.Equal(t, acked, s.spans.distinct())
	require.Equal(t, int64(0), s.spans.stats().dups)
	require.Positive(t, s.otlpGRPC.wire.Load())

	_, err = newTraceGen(s.otlpGRPC.addr, 7)
	require.ErrorContains(t, err, "multiple of 5")
}

func TestScrapeTargets(t *testing.T) {
	tg, err := startTargets(2, 20)
	require.NoError(t, err)
	defer tg.close()
	defer http.DefaultClient.CloseIdleConnections()
	resp, err := http.Get("http://" + tg.addrs[1] + "/metrics")
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Len(t, families, benchFamilies)
	series := 0
	for name, f := range families {
		require.True(t, strings.HasPrefix(name, benchMetricPrefix))
		series += len(f.GetMetric())
	}
	require.Equal(t, 20, series)
	total, per := tg.totalServed()
	require.Equal(t, int64(1), total)
	require.Equal(t, map[string]int{tg.addrs[0]: 0, tg.addrs[1]: 1}, per)

	sd := filepath.Join(t.TempDir(), "bench.json")
	require.NoError(t, tg.writeFileSD(sd))
	b, err := os.ReadFile(sd)
	require.NoError(t, err)
	require.JSONEq(t, `[{"targets":["`+tg.addrs[0]+`","`+tg.addrs[1]+`"],"labels":{"service_name":"bench-targets"}}]`, string(b))

	tg.down.Store(true)
	resp, err = http.Get("http://" + tg.addrs[0] + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	_, err = startTargets(1, 15)
	require.ErrorContains(t, err, "multiple of 10")
}

func TestReadProc(t *testing.T) {
	st, err := readProc(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, st.rss)
	require.Positive(t, st.hwm)
	require.GreaterOrEqual(t, st.hwm, st.rss)
	_, err = readProc(1 << 30)
	require.Error(t, err)
}

func TestUpdateDoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	doc := "# Benchmarks\n\nHand-written.\n\n" + latestBegin + "\nold table\n" + latestEnd + "\n\n## History\n\n" +
		historyBegin + "\n" + historyHeader + "\n" + historyEnd + "\n\n## Changes\n\nAlso hand-written.\n"
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o644))
	rep := &Report{Started: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Finished: time.Date(2026, 11, 25, 12, 15, 0, 0, time.UTC),
		CPUModel: "Test CPU", CPUs: 2, LoadStart: "0.5 0.4 0.3", LoadEnd: "1.0 0.9 0.8", Commit: "abc1234",
		Results: []Result{
			{Scenario: "pod logs, 200 B lines", Kind: KindLogs, Collector: Lookout, Items: 2e6, CPU: 2 * time.Second, Window: 4 * time.Second, PeakRSS: 90 * mib, SteadyRSS: 80 * mib},
			{Scenario: "pod logs, 200 B lines", Kind: KindLogs, Collector: Upstream, Items: 2e6, CPU: 20 * time.Second, Window: 20 * time.Second, PeakRSS: 200 * mib, SteadyRSS: 150 * mib},
			{Scenario: "pod logs, 200 B lines", Kind: KindLogs, Collector: UpstreamMatched, Items: 2e6, CPU: 25 * time.Second, Window: 25 * time.Second, PeakRSS: 210 * mib, SteadyRSS: 160 * mib},
			{Scenario: "idle", Kind: KindIdle, Collector: Lookout, CPU: time.Second, Window: time.Minute, PeakRSS: 70 * mib, SteadyRSS: 65 * mib},
		}}
	require.NoError(t, UpdateDoc(path, rep))
	require.NoError(t, UpdateDoc(path, rep))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	got := string(b)
	require.Contains(t, got, "Hand-written.")
	require.Contains(t, got, "Also hand-written.")
	require.NotContains(t, got, "old table")
	require.Equal(t, 1, strings.Count(got, "2 × Test CPU"))
	require.Equal(t, 2, strings.Count(got, "| 2026-11-25 12:00 | `abc1234` | 0.5 0.4 0.3 | 1.0 / 10.0 | 90 |"))
	require.Contains(t, got, "| pod logs, 200 B lines | lookout | 2000000 | 1.00 | 0.10 | 500000 | 90 |")
	require.Contains(t, got, "CPU per line 0.10× upstream (target ≤ 0.2×): met")
	require.Contains(t, got, "| pod logs, 200 B lines | upstream-matched | 2000000 | 12.50 | 1.25 | 80000 | 210 |")
	require.Contains(t, got, "pod logs, 200 B lines: CPU per item 0.08× upstream-matched")
	require.Contains(t, got, "idle: steady RSS 65 MiB (target ≤ 60 MiB): **missed**")
	require.Contains(t, got, "| idle | lookout |  | 1.00 s/min |")

	require.NoError(t, os.WriteFile(path, []byte("# no markers\n"), 0o644))
	require.ErrorContains(t, UpdateDoc(path, rep), "no section")
}

func TestSlug(t *testing.T) {
	require.Equal(t, "scrape-100-targets-1-000-series", slug("scrape 100 targets × 1,000 series"))
	require.Equal(t, "otlp-traces-max-rate-quick", slug("OTLP traces, max rate (quick)"))
}

func staleNaN() float64 { return math.Float64frombits(value.StaleNaN) }

// TestUpstreamMatchedConfig checks that upstream-matched makes span metrics and the service graph
// and labels series as Lookout's local config does, so that the comparison stays one of
// implementations.
func TestUpstreamMatchedConfig(t *testing.T) {
	parse := func(b []byte) map[string]any {
		var cfg map[string]any
		require.NoError(t, yaml.Unmarshal(b, &cfg))
		return cfg
	}
	local, err := config.Get("local")
	require.NoError(t, err)
	want, got := parse(local), parse(upstreamMatchedConfig)
	require.Contains(t, got, "connectors")
	require.Equal(t, want["connectors"], got["connectors"])

	exporter := func(cfg map[string]any, id string) map[string]any {
		e, ok := cfg["exporters"].(map[string]any)[id].(map[string]any)
		require.True(t, ok, "no %s exporter", id)
		return e
	}
	rw := func(cfg map[string]any) map[string]any { return exporter(cfg, "prometheus_remote_write") }
	for _, key := range []string{"resource_constant_labels", "external_labels", "target_info", "remote_write_queue"} {
		require.Contains(t, rw(got), key)
		require.Equal(t, rw(want)[key], rw(got)[key], "prometheus_remote_write::%s", key)
	}
	require.Equal(t, exporter(want, "otlp_grpc/tempo")["compression"], exporter(got, "otlp_http/traces")["compression"], "span compression")
	traces := got["service"].(map[string]any)["pipelines"].(map[string]any)["traces"].(map[string]any)
	require.Contains(t, traces["exporters"], "otlp_http/traces")
	require.Equal(t, exporter(got, "otlp_http")["sending_queue"], exporter(got, "otlp_http/traces")["sending_queue"], "the spans' queue")
	// Lookout clears the scope of what it makes itself; upstream-matched drops every scope label,
	// which leaves the benchmark's series the same labels.
	metrics := want["service"].(map[string]any)["pipelines"].(map[string]any)["metrics"].(map[string]any)
	require.Contains(t, metrics["processors"], "transform/own_scope")
	require.Equal(t, true, rw(got)["disable_scope_info"])
	// service_name: from the targets on scraped series, from the resource on the rest.
	processor := func(cfg map[string]any, id string) any { return cfg["processors"].(map[string]any)[id] }
	require.NotNil(t, processor(want, "transform/service_label"))
	require.Equal(t, processor(want, "transform/service_label"), processor(got, "transform/service_label"))
	job := func(cfg map[string]any, name string) any {
		prom := cfg["receivers"].(map[string]any)["prometheus"].(map[string]any)["config"].(map[string]any)
		for _, j := range prom["scrape_configs"].([]any) {
			if j.(map[string]any)["job_name"] == name {
				rules := j.(map[string]any)["relabel_configs"].([]any)
				return rules[len(rules)-1]
			}
		}
		t.Fatalf("no scrape job %s", name)
		return nil
	}
	require.Equal(t, job(want, "pods"), job(got, "pods"), "the pods job's last relabeling rule")
	require.Equal(t, job(want, "lookout"), job(got, "otelcol"), "the self-scrape job's last relabeling rule")
}

func TestMedianRun(t *testing.T) {
	run := func(cpu time.Duration, err error) Result {
		return Result{Scenario: "s", Collector: Lookout, Items: 1_000_000, CPU: cpu, Err: err, Notes: []string{"own note"}}
	}
	failed := errors.New("12 lines lost")
	tests := []struct {
		name     string
		runs     []Result
		want     time.Duration
		wantErr  error
		wantNote string
	}{
		{name: "one run, no note", runs: []Result{run(3*time.Second, nil)}, want: 3 * time.Second},
		{name: "three runs", runs: []Result{run(3*time.Second, nil), run(1*time.Second, nil), run(2*time.Second, nil)}, want: 2 * time.Second,
			wantNote: "CPU s per M items in its 3 runs, in order: 3.00, 1.00, 2.00; the row is the median run"},
		{name: "two runs: the lower", runs: []Result{run(3*time.Second, nil), run(2*time.Second, nil)}, want: 2 * time.Second,
			wantNote: "CPU s per M items in its 2 runs, in order: 3.00, 2.00; the row is the median run"},
		{name: "a failed run wins", runs: []Result{run(1*time.Second, nil), run(5*time.Second, failed), run(2*time.Second, nil)}, want: 5 * time.Second, wantErr: failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := medianRun(tt.runs)
			require.Equal(t, tt.want, got.CPU)
			require.Equal(t, tt.wantErr, got.Err)
			want := []string{"own note"}
			if tt.wantNote != "" {
				want = append(want, tt.wantNote)
			}
			require.Equal(t, want, got.Notes)
			for _, r := range tt.runs {
				require.Equal(t, []string{"own note"}, r.Notes, "the runs' notes are not changed")
			}
		})
	}
}
