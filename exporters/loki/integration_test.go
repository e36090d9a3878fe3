package lokiexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/lookoutdev/lookout/exporters/loki/internal/metadata"
	"github.com/lookoutdev/lookout/exporters/loki/internal/victorialogstest"
)

// TestFormatsAgainstVictoriaLogs pushes through the exporter built by the factory (queue,
// batching, retries) to a real VictoriaLogs, once per body format, and reads the entries back.
func TestFormatsAgainstVictoriaLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts VictoriaLogs")
	}
	vl := victorialogstest.Start(t)
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for _, format := range []Format{FormatProtobuf, FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Client.Endpoint = vl.PushURL()
			cfg.Format = format
			cfg.Queue.Get().Batch.Get().FlushTimeout = 50 * time.Millisecond
			exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

			service := "svc-" + string(format)
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			res := rl.Resource().Attributes()
			res.PutStr("service.name", service)
			res.PutStr("k8s.namespace.name", "shop")
			res.PutStr("k8s.container.name", "app")
			res.PutStr("k8s.pod.name", "app-7d9f-x1")
			lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
			// Written newest first: the exporter orders each stream by time.
			for i := 9; i >= 0; i-- {
				lr := lrs.AppendEmpty()
				lr.Body().SetStr(fmt.Sprintf("%s line %d", format, i))
				lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
				lr.SetSeverityNumber(plog.SeverityNumberWarn)
				lr.Attributes().PutInt("attempt", int64(i))
				lr.SetTraceID(pcommon.TraceID{byte(i + 1), 0xaa})
				lr.SetSpanID(pcommon.SpanID{byte(i + 1), 0xbb})
			}
			require.NoError(t, exp.ConsumeLogs(context.Background(), ld))

			got := vl.WaitCount(t, fmt.Sprintf(`{service_name=%q} | sort by (_time)`, service), 10, 30*time.Second)
			for i, e := range got {
				require.Equal(t, fmt.Sprintf("%s line %d", format, i), e["_msg"])
				require.Equal(t, fmt.Sprintf(`{container="app",level="warn",namespace="shop",service_name=%q}`, service), e["_stream"])
				require.Equal(t, "app-7d9f-x1", e["k8s_pod_name"], "the pod is structured metadata")
				require.Equal(t, fmt.Sprint(i), e["attempt"])
				require.Equal(t, fmt.Sprintf("%02xaa0000000000000000000000000000", i+1), e["trace_id"])
				require.Equal(t, fmt.Sprintf("%02xbb000000000000", i+1), e["span_id"])
				ts, err := time.Parse(time.RFC3339Nano, e["_time"])
				require.NoError(t, err)
				require.True(t, base.Add(time.Duration(i)*time.Millisecond).Equal(ts), "timestamp of line %d: %s", i, ts)
			}
		})
	}
}
