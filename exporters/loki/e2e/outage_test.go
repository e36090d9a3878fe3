package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lookoutdev/lookout/exporters/loki/internal/victorialogstest"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// TestOutageAndKillLoseNothing: Loki is down, lookout accepts 2,000 lines into its segment_storage
// queue, is killed with SIGKILL, and is started again once Loki is up; every line arrives.
func TestOutageAndKillLoseNothing(t *testing.T) {
	const lines = 2_000
	vlAddr := lookouttest.FreeAddr(t) // nothing listens there yet: Loki is down
	state := t.TempDir()
	config := func(grpcAddr, healthAddr string) string {
		return fmt.Sprintf(`
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %[1]s
exporters:
  loki:
    client:
      endpoint: %[2]s
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 500ms
    sending_queue:
      storage: segment_storage
      batch:
        flush_timeout: 200ms
extensions:
  health_check:
    endpoint: %[3]s
  segment_storage:
    directory: %[4]s
service:
  extensions: [health_check, segment_storage]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [loki]
`, grpcAddr, victorialogstest.PushURLOn(vlAddr), healthAddr, state)
	}
	start := func() (*lookouttest.Process, string) {
		grpcAddr, healthAddr := lookouttest.FreeAddr(t), lookouttest.FreeAddr(t)
		path := filepath.Join(t.TempDir(), "config.yaml")
		require.NoError(t, os.WriteFile(path, []byte(config(grpcAddr, healthAddr)), 0o600))
		p := lookouttest.Start(t, lookoutBin, []string{"--config", path})
		p.WaitHTTP(t, "http://"+healthAddr+"/", 60*time.Second)
		return p, grpcAddr
	}

	p, grpcAddr := start()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	client := plogotlp.NewGRPCClient(conn)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Microsecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for first := 0; first < lines; first += perPush {
		// Accepted means on disk: the receiver answers once the queue has the request.
		_, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs("e2e-outage", base, first, perPush)))
		require.NoError(t, err)
	}
	require.NoError(t, conn.Close())
	time.Sleep(500 * time.Millisecond) // a few failed pushes and retries
	p.Kill()

	vl := victorialogstest.StartOn(t, vlAddr)
	start()
	got := vl.WaitCount(t, `{service_name="e2e-outage"} | sort by (_time)`, lines, 60*time.Second)
	for i, e := range got {
		require.Equal(t, fmt.Sprintf("seq=%06d service=e2e-outage msg=\"request handled\"", i), e["_msg"], "line %d", i)
	}
}
