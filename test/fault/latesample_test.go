package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// TestLateSampleOfATracedService sends samples of a service's own metrics stamped 20 s before
// they are sent (an SDK's export retried after a network blip), once the agent has written
// span metrics of the same service, same resource, to Prometheus. Prometheus refuses a whole
// remote-write request when one sample in it is older than the last of its series ("out of
// order sample"), so a series that both sources write, target_info among them, would lose the
// late samples and everything sent with them.
func TestLateSampleOfATracedService(t *testing.T) {
	skipShort(t)
	r := newRig(t, rigOptions{})
	r.agent.start()
	r.startLoad(func() (int, int, int) { return 0, 20, 0 }) // spans only
	service := "fault-" + r.id
	lookouttest.Eventually(t, time.Minute, func() error {
		got, err := r.prom.Query(context.Background(), fmt.Sprintf(`traces_span_metrics_calls_total{service_name=%q}`, service))
		if err != nil || len(got) == 0 {
			return fmt.Errorf("no span metrics of %s in Prometheus yet (%v)", service, err)
		}
		return nil
	})
	r.stopLoad()

	conn, err := grpc.NewClient(r.agent.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pmetricotlp.NewGRPCClient(conn)
	const late = 20 * time.Second
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("%s-m-%07d", r.id, i+1)
		md := samples(r.id, []string{id}, time.Now().Add(-late))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
		cancel()
		require.NoError(t, err)
		ids = append(ids, id)
		time.Sleep(2 * time.Second) // separate batches
	}

	lookouttest.Eventually(t, time.Minute, func() error {
		series, err := r.prom.RawValues(context.Background(), fmt.Sprintf(`%s{run=%q}`, probeMetric, r.id), 5*time.Minute)
		if err != nil {
			return err
		}
		got := map[string]int{}
		for _, vals := range series {
			for _, v := range vals {
				got[faultproxy.SampleID(r.id, v)]++
			}
		}
		if n := missingFrom(got, ids); n > 0 {
			return fmt.Errorf("%d of %d late samples not in Prometheus; remote write answered %v", n, len(ids), r.rw.Stats().ByStatus)
		}
		return nil
	})
	require.Zero(t, r.agentCounter("otelcol_exporter_send_failed_metric_points_total", nil),
		"the remote-write exporter had requests refused: %v", r.rw.Stats().ByStatus)
}
