// Package e2e runs the real lookout binary with the loki exporter against a real VictoriaLogs.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lookoutdev/lookout/exporters/loki/internal/victorialogstest"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

var lookoutBin string

func TestMain(m *testing.M) { lookouttest.Main(m, &lookoutBin) }

const (
	grpcLines = 10_000
	httpLines = 1_000
	perPush   = 500
	pods      = 4
)

// TestLookoutToVictoriaLogs pushes 10,000 lines over OTLP/gRPC into the real lookout binary, whose
// loki exporter sends them as protobuf+snappy, and 1,000 over OTLP/HTTP into a second pipeline
// whose loki exporter sends JSON; it reads them back from VictoriaLogs and checks count, labels,
// structured metadata and order, and the exporter's own metrics.
func TestLookoutToVictoriaLogs(t *testing.T) {
	vl := victorialogstest.Start(t)
	grpcAddr, httpAddr := lookouttest.FreeAddr(t), lookouttest.FreeAddr(t)
	healthAddr, metricsAddr := lookouttest.FreeAddr(t), lookouttest.FreeAddr(t)
	metricsHost, metricsPort, _ := strings.Cut(metricsAddr, ":")

	config := fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %[1]s
  otlp/json:
    protocols:
      http:
        endpoint: %[2]s
exporters:
  loki:
    client:
      endpoint: %[3]s
    sending_queue:
      batch:
        flush_timeout: 200ms
  loki/json:
    client:
      endpoint: %[3]s
    format: json
    sending_queue:
      batch:
        flush_timeout: 200ms
extensions:
  health_check:
    endpoint: %[4]s
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: %[5]s
                port: %[6]s
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [loki]
    logs/json:
      receivers: [otlp/json]
      exporters: [loki/json]
`, grpcAddr, httpAddr, vl.PushURL(), healthAddr, metricsHost, metricsPort)
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(config), 0o600))

	p := lookouttest.Start(t, lookoutBin, []string{"--config", cfgPath})
	p.WaitHTTP(t, "http://"+healthAddr+"/", 60*time.Second)

	base := time.Now().Add(-30 * time.Minute).Truncate(time.Microsecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	for first := 0; first < grpcLines; first += perPush {
		_, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs("e2e-proto", base, first, perPush)))
		require.NoError(t, err)
	}
	for first := 0; first < httpLines; first += perPush {
		body, err := plogotlp.NewExportRequestFromLogs(testLogs("e2e-json", base, first, perPush)).MarshalProto()
		require.NoError(t, err)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+"/v1/logs", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	for _, tc := range []struct {
		service string
		lines   int
	}{{"e2e-proto", grpcLines}, {"e2e-json", httpLines}} {
		t.Run(tc.service, func(t *testing.T) {
			got := vl.WaitCount(t, fmt.Sprintf(`{service_name=%q} | sort by (_time)`, tc.service), tc.lines, 60*time.Second)
			for i, e := range got {
				pod := i % pods
				level := levels[i%len(levels)]
				require.Equal(t, fmt.Sprintf("seq=%06d service=%s msg=\"request handled\"", i, tc.service), e["_msg"], "line %d", i)
				require.Equal(t, fmt.Sprintf(`{cluster="e2e",container="app",level=%q,namespace="shop",service_name=%q}`, level.name, tc.service), e["_stream"], "line %d", i)
				require.Equal(t, fmt.Sprintf("%s-%d", tc.service, pod), e["k8s_pod_name"], "line %d: the pod is structured metadata", i)
				require.Equal(t, "stdout", e["log_iostream"], "line %d", i)
				require.Equal(t, strconv.Itoa(i), e["seq"], "line %d", i)
				tid, sid := ids(i)
				require.Equal(t, tid.String(), e["trace_id"], "line %d", i)
				require.Equal(t, sid.String(), e["span_id"], "line %d", i)
				ts, err := time.Parse(time.RFC3339Nano, e["_time"])
				require.NoError(t, err)
				require.True(t, base.Add(time.Duration(i)*time.Millisecond).Equal(ts), "line %d: time %s", i, ts)
			}
		})
	}

	// The exporter's own metrics, from the collector's telemetry.
	lookouttest.Eventually(t, 30*time.Second, func() error {
		body, err := get(ctx, "http://"+metricsAddr+"/metrics")
		if err != nil {
			return err
		}
		for _, m := range []struct{ exporter, want string }{{"loki", strconv.Itoa(grpcLines)}, {"loki/json", strconv.Itoa(httpLines)}} {
			re := regexp.MustCompile(`(?m)^otelcol_loki_exporter_sent_entries(?:_total)?\{[^}]*exporter="` + regexp.QuoteMeta(m.exporter) + `"[^}]*\} (\S+)$`)
			match := re.FindStringSubmatch(body)
			if match == nil || match[1] != m.want {
				return fmt.Errorf("otelcol_loki_exporter_sent_entries for %s: got %v, want %s\n%s", m.exporter, match, m.want, grepLines(body, "otelcol_loki"))
			}
		}
		if !strings.Contains(body, "otelcol_loki_exporter_push_duration") {
			return fmt.Errorf("no otelcol_loki_exporter_push_duration in:\n%s", grepLines(body, "otelcol_loki"))
		}
		return nil
	})
}

type level struct {
	name     string
	severity plog.SeverityNumber
}

var levels = []level{{"info", plog.SeverityNumberInfo}, {"debug", plog.SeverityNumberDebug}, {"warn", plog.SeverityNumberWarn}, {"error", plog.SeverityNumberError}}

// testLogs returns lines first..first+n-1 of service: line i is at base+i ms, from pod i%pods,
// with severity levels[i%4], a record attribute seq=i and a trace context derived from i.
// Records are grouped per pod (one resource each), so a push mixes streams and pods.
func testLogs(service string, base time.Time, first, n int) plog.Logs {
	ld := plog.NewLogs()
	resources := make([]plog.LogRecordSlice, pods)
	for p := range pods {
		rl := ld.ResourceLogs().AppendEmpty()
		a := rl.Resource().Attributes()
		a.PutStr("service.name", service)
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("k8s.container.name", "app")
		a.PutStr("k8s.cluster.name", "e2e")
		a.PutStr("k8s.pod.name", fmt.Sprintf("%s-%d", service, p))
		resources[p] = rl.ScopeLogs().AppendEmpty().LogRecords()
	}
	for i := first; i < first+n; i++ {
		lr := resources[i%pods].AppendEmpty()
		lr.Body().SetStr(fmt.Sprintf("seq=%06d service=%s msg=\"request handled\"", i, service))
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
		lr.SetSeverityNumber(levels[i%len(levels)].severity)
		lr.Attributes().PutInt("seq", int64(i))
		lr.Attributes().PutStr("log.iostream", "stdout")
		tid, sid := ids(i)
		lr.SetTraceID(tid)
		lr.SetSpanID(sid)
	}
	return ld
}

func ids(i int) (pcommon.TraceID, pcommon.SpanID) {
	return pcommon.TraceID{0xe2, 0xe0, byte(i >> 8), byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
		pcommon.SpanID{0x5a, byte(i >> 8), byte(i), 1, 2, 3, 4, 5}
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
