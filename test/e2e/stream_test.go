package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStreamLabels(t *testing.T) {
	require.Equal(t, map[string]string{"cluster": "local", "namespace": "demo", "service_name": `a"b`},
		streamLabels(`{cluster="local",namespace="demo",service_name="a\"b"}`))
	require.Empty(t, streamLabels(""))
}

func TestCheckLogRecord(t *testing.T) {
	good := map[string]string{
		"_stream":   `{cluster="local",container="payments",level="unknown",namespace="demo",service_name="payments"}`,
		"namespace": "demo", "container": "payments", "service_name": "payments",
		"k8s_pod_name": "payments-c5fe20abc9-a56c7", "trace_id": "3ca17df1ba9d17e6cd167bc229e27738",
	}
	require.NoError(t, checkLogRecord(good, "payments"))

	noLabels := map[string]string{}
	for k, v := range good {
		noLabels[k] = v
	}
	noLabels["_stream"] = `{cluster="local"}`
	require.ErrorContains(t, checkLogRecord(noLabels, "payments"), "no namespace label")

	idInLine := map[string]string{}
	for k, v := range good {
		idInLine[k] = v
	}
	delete(idInLine, "trace_id")
	idInLine["_msg"] = `{"msg":"payment charged","trace_id":"3ca17df1ba9d17e6cd167bc229e27738"}`
	require.NoError(t, checkLogRecord(idInLine, "payments"))

	wrongPod := map[string]string{}
	for k, v := range good {
		wrongPod[k] = v
	}
	wrongPod["k8s_pod_name"] = "orders-1-2"
	require.ErrorContains(t, checkLogRecord(wrongPod, "payments"), `pod "orders-1-2"`)
}
