package helm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/test/fault/backends"
)

// TestGatewayRunsAsRendered starts the gateway as the chart renders it (its arguments, the
// ConfigMap's files and its environment; only the listening addresses are moved to free
// loopback ports), with a real Jaeger v2 standing in for Tempo and a real Prometheus, and sends
// it a trace of two services, each span in a request of its own as two agents would: the trace
// (it has an error) goes through tail sampling into Jaeger, and the call between the two
// services reaches Prometheus as a service-graph edge. (The agent cannot start outside a
// cluster: k8s_attributes and the pod discovery need the API server.)
func TestGatewayRunsAsRendered(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Jaeger and the gateway")
	}
	jaeger := lookouttest.Tool(t, "jaeger", "jaeger")
	otlpAddr, queryAddr, queryGRPCAddr := lookouttest.FreeAddr(t), lookouttest.FreeAddr(t), lookouttest.FreeAddr(t)
	j := lookouttest.Start(t, jaeger, []string{"--config", filepath.Join(RepoRoot(), "deploy", "local", "jaeger.yaml")},
		"JAEGER_OTLP_GRPC_ADDR="+otlpAddr, "JAEGER_QUERY_ADDR="+queryAddr, "JAEGER_QUERY_GRPC_ADDR="+queryGRPCAddr,
		"JAEGER_DATA_DIR="+t.TempDir())
	j.WaitHTTP(t, "http://"+queryAddr+"/api/services", time.Minute)

	prom := backends.StartPrometheus(t)

	o := render(t, chartCase{opts: Options{Set: []string{
		"presets.gateway.enabled=true",
		"backends.tempo.endpoint=" + otlpAddr,
		"backends.prometheus.url=" + prom.Base() + backends.WritePath,
		"clusterName=helm-test",
		// gateway.config reaches the gateway: decide after 1 s instead of 10 s, and write the
		// service graph every second instead of every 15.
		"gateway.config.processors.tail_sampling.decision_wait=1s",
		"gateway.config.connectors.service_graph.metrics_flush_interval=1s",
	}}})
	require.Len(t, o.Deployments, 1)
	run := prepareContainer(t, o, &o.Deployments[0].Spec.Template.Spec, "gateway")
	health, httpAddr := lookouttest.FreeAddr(t), lookouttest.FreeAddr(t)
	args := append(run.args,
		"--set=receivers::otlp::protocols::grpc::endpoint="+lookouttest.FreeAddr(t),
		"--set=receivers::otlp::protocols::http::endpoint="+httpAddr,
		"--set=extensions::health_check::endpoint="+health,
		"--set=extensions::pprof::endpoint="+lookouttest.FreeAddr(t),
		"--set=extensions::zpages::endpoint="+lookouttest.FreeAddr(t),
		"--set=service::telemetry::metrics::level=none", // its own metrics port (8888) is fixed
	)
	gw := lookouttest.Start(t, lookoutBin, args, run.env...)
	gw.WaitHTTP(t, "http://"+health+"/", time.Minute)

	// No idle connections left behind for goleak to find.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	traceID, clientSpan := randomHex(t, 16), randomHex(t, 8)
	now := time.Now()
	for _, span := range []string{
		// helm-gateway-caller's client span, then helm-gateway-test's server span (an error).
		fmt.Sprintf(`"service.name","value":{"stringValue":"helm-gateway-caller"}}]},
		"scopeSpans":[{"spans":[{"traceId":%q,"spanId":%q,"name":"GET","kind":3,
		"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`,
			traceID, clientSpan, now.Add(-2*time.Second).UnixNano(), now.UnixNano()),
		fmt.Sprintf(`"service.name","value":{"stringValue":"helm-gateway-test"}}]},
		"scopeSpans":[{"spans":[{"traceId":%q,"spanId":%q,"parentSpanId":%q,"name":"GET /fail","kind":2,
		"startTimeUnixNano":"%d","endTimeUnixNano":"%d","status":{"code":2}}]}]}]}`,
			traceID, randomHex(t, 8), clientSpan, now.Add(-time.Second).UnixNano(), now.UnixNano()),
	} {
		body := `{"resourceSpans":[{"resource":{"attributes":[{"key":` + span
		resp, err := client.Post("http://"+httpAddr+"/v1/traces", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	lookouttest.Eventually(t, time.Minute, func() error {
		resp, err := client.Get("http://" + queryAddr + "/api/traces/" + traceID)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var got struct {
			Data []struct {
				Spans []struct {
					OperationName string `json:"operationName"`
				} `json:"spans"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			return fmt.Errorf("jaeger /api/traces/%s: %s: %w", traceID, resp.Status, err)
		}
		if len(got.Data) != 1 || len(got.Data[0].Spans) != 2 {
			return fmt.Errorf("jaeger has %+v for trace %s", got.Data, traceID)
		}
		return nil
	})
	lookouttest.Eventually(t, time.Minute, func() error {
		got, err := prom.Query(context.Background(), `traces_service_graph_request_total{client="helm-gateway-caller",server="helm-gateway-test"}`)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Value != 1 {
			return fmt.Errorf("prometheus has %+v for the edge helm-gateway-caller -> helm-gateway-test", got)
		}
		if m := got[0].Metric; m["lookout_gateway"] != downward["metadata.name"] || m["k8s_cluster_name"] != "helm-test" || m["otel_scope_name"] != "" {
			return fmt.Errorf("the edge's series has the labels %v", m)
		}
		return nil
	})
	require.NoError(t, gw.Stop(30*time.Second), "the gateway stops cleanly on SIGTERM")
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
