package lokiexporter

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/s2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// benchLogs is lines records spread over 20 pods of 5 services, with the attributes a
// Kubernetes agent attaches, a ~160-byte line, a trace context on half of the records and four
// severities.
func benchLogs(lines int) plog.Logs {
	ld := plog.NewLogs()
	const pods = 20
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	severities := []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberDebug, plog.SeverityNumberWarn, plog.SeverityNumberError}
	for p := range pods {
		rl := ld.ResourceLogs().AppendEmpty()
		a := rl.Resource().Attributes()
		a.PutStr("service.name", fmt.Sprintf("service-%d", p%5))
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("k8s.container.name", "app")
		a.PutStr("k8s.cluster.name", "prod-eu-1")
		a.PutStr("k8s.pod.name", fmt.Sprintf("service-%d-7d9f8b6c5-%05d", p%5, p))
		a.PutStr("k8s.pod.uid", fmt.Sprintf("0b8e3f3a-1c2d-4e5f-8a9b-%012d", p))
		a.PutStr("k8s.node.name", fmt.Sprintf("node-%d", p%3))
		a.PutStr("k8s.deployment.name", fmt.Sprintf("service-%d", p%5))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := p; i < lines; i += pods {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
			lr.SetSeverityNumber(severities[i%len(severities)])
			lr.Body().SetStr(fmt.Sprintf(`ts=2026-11-25T10:00:00.%06dZ level=info msg="handled request" method=GET path=/api/v1/orders/%d status=200 duration_ms=%d user=u%d`, i, i, i%500, i%97))
			lr.Attributes().PutStr("log.iostream", "stdout")
			if i%2 == 0 {
				lr.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
				lr.SetSpanID(pcommon.SpanID{byte(i), 2, 3, 4, 5, 6, 7, 8})
			}
		}
	}
	return ld
}

// podlogsShape is what the podlogs receiver hands over: lines records from 20 pods' files of one
// container name (so one stream: the pod is metadata, not a label), no severity, the stream as
// a record attribute, no trace context, each file's records in time order and the files'
// times interleaved.
func podlogsShape(lines int) plog.Logs {
	ld := plog.NewLogs()
	const pods = 20
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	per := lines / pods
	for p := range pods {
		rl := ld.ResourceLogs().AppendEmpty()
		a := rl.Resource().Attributes()
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("k8s.pod.name", fmt.Sprintf("app-7d9f8b6c5-%05d", p))
		a.PutStr("k8s.pod.uid", fmt.Sprintf("0b8e3f3a-1c2d-4e5f-8a9b-%012d", p))
		a.PutStr("k8s.container.name", "app")
		a.PutInt("k8s.container.restart_count", 0)
		a.PutStr("service.name", "app")
		a.PutStr("k8s.cluster.name", "local")
		a.PutStr("k8s.node.name", "localhost")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range per {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i*pods+p) * time.Microsecond)))
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Hour)))
			lr.Body().SetStr(fmt.Sprintf(`L%03d-%09d level=info msg="handled request" method=GET path=/api/v1/orders/%d status=200 duration_ms=%d user=u%d`, p, i, i, i%500, i%97))
			lr.Attributes().PutStr("log.iostream", "stdout")
		}
	}
	return ld
}

// BenchmarkEncode measures the exporter's encode path (group by tenant and stream, order,
// marshal, compress) for each body format, on growing batches.
func BenchmarkEncode(b *testing.B) {
	shapes := []struct {
		name string
		logs func(int) plog.Logs
	}{{"services", benchLogs}, {"podlogs", podlogsShape}}
	for _, shape := range shapes {
		for _, format := range []Format{FormatProtobuf, FormatJSON} {
			for _, lines := range []int{100, 1000, 10000} {
				b.Run(fmt.Sprintf("shape=%s/format=%s/lines=%d", shape.name, format, lines), func(b *testing.B) {
					benchEncode(b, shape.logs(lines), format, lines)
				})
			}
		}
	}
}

func benchEncode(b *testing.B, ld plog.Logs, format Format, lines int) {
	cfg := createDefaultConfig().(*Config)
	cfg.Client.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	enc := newEncoder(cfg)
	var bodyBytes int
	var before, after runtime.MemStats
	b.ReportAllocs()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		batches, _ := enc.group(ld)
		bodyBytes = 0
		for _, tb := range batches {
			part := enc.part(tb, nil) // as convert queues it
			body := part.blocks[0]
			if format == FormatJSON { // as push sends it
				raw, err := part.raw()
				if err == nil {
					body, err = protobufToJSON(raw)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			bodyBytes += len(body)
		}
		enc.release(batches)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(b.N) * float64(lines)
	b.ReportMetric(total/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(bodyBytes)/float64(lines), "bytes/line")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/line")
}

// BenchmarkCompress compares, on one push body, the snappy encoder the exporter uses
// (golang/snappy) with s2's snappy-compatible one: podlogs-shaped records whose logfmt lines are
// padded to 200 B and 1 KiB with a trace ID and a detail of words, as bench/ generates them.
func BenchmarkCompress(b *testing.B) {
	encoders := []struct {
		name   string
		encode func(dst, src []byte) []byte
	}{{"golang-snappy", snappy.Encode}, {"s2-snappy", s2.EncodeSnappy}}
	for _, size := range []int{200, 1024} {
		raw := pushBody(b, size)
		for _, e := range encoders {
			b.Run(fmt.Sprintf("line=%dB/encoder=%s", size, e.name), func(b *testing.B) {
				dst := make([]byte, snappy.MaxEncodedLen(len(raw)))
				var n int
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					n = len(e.encode(dst, raw))
				}
				b.ReportMetric(float64(n)/float64(len(raw)), "ratio")
			})
		}
	}
}

// pushBody is the uncompressed protobuf push body of 1,000 podlogs-shaped records with lines of
// size bytes.
func pushBody(b *testing.B, size int) []byte {
	words := strings.Fields("order cart user payment session token cache query row table shard replica leader retry backoff request response latency bytes queue worker pool stream batch commit lock")
	rng := rand.New(rand.NewPCG(1, 2))
	ld := podlogsShape(1000)
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		lrs := rls.At(i).ScopeLogs().At(0).LogRecords()
		for j := range lrs.Len() {
			body := lrs.At(j).Body()
			line := fmt.Appendf([]byte(body.Str()), " trace_id=%016x%016x detail=\"", rng.Uint64(), rng.Uint64())
			for len(line) < size {
				line = append(line, words[rng.IntN(len(words))]...)
				line = append(line, ' ')
			}
			body.SetStr(string(line[:size]))
		}
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Client.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	enc := newEncoder(cfg)
	batches, _ := enc.group(ld)
	if len(batches) != 1 {
		b.Fatalf("group: %d batches, want 1", len(batches))
	}
	return rawRequest(b, batches[0])
}
