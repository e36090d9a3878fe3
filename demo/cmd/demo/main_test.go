package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/demo/launcher"
	"github.com/lookoutdev/lookout/demo/service"
)

func testFlags() flags {
	sf, ord, pay := "127.0.0.1:18081", "127.0.0.1:18082", "127.0.0.1:18083"
	return flags{
		runDir: "/run", namespace: "demo", binDir: "/bin", otlp: "127.0.0.1:4317",
		addrs: map[service.Role]*string{service.Storefront: &sf, service.Orders: &ord, service.Payments: &pay},
		rate:  5, duration: time.Hour, declineRatio: 0.02,
	}
}

func TestPods(t *testing.T) {
	pods, err := testFlags().pods()
	require.NoError(t, err)
	require.Len(t, pods, 4)

	byContainer := map[string]launcher.Pod{}
	for _, p := range pods {
		byContainer[p.Container.Name] = p
		require.Equal(t, "demo", p.Namespace)
		require.Regexp(t, `^`+p.Container.Name+`-[0-9a-f]{10}-[0-9a-f]{5}$`, p.Name)
	}
	sf := byContainer["storefront"]
	require.Equal(t, []string{"/bin/demo-service", "-service", "storefront", "-listen", "127.0.0.1:18081",
		"-otlp-endpoint", "127.0.0.1:4317", "-downstream", "http://127.0.0.1:18082"}, sf.Container.Command)
	require.Equal(t, "127.0.0.1:18081", sf.MetricsAddr)
	require.Equal(t, map[string]string{"service_name": "storefront"}, sf.TargetLabels)
	require.Len(t, sf.Container.Env, 1)
	attrs := strings.TrimPrefix(sf.Container.Env[0], "OTEL_RESOURCE_ATTRIBUTES=")
	require.Contains(t, attrs, "k8s.namespace.name=demo,k8s.pod.name="+sf.Name+",k8s.pod.uid="+sf.UID)
	require.Contains(t, attrs, "k8s.container.name=storefront")

	require.Contains(t, byContainer["payments"].Container.Command, "-decline-ratio")
	lg := byContainer["loadgen"]
	require.Equal(t, launcher.RestartOnFailure, lg.RestartPolicy)
	require.Empty(t, lg.MetricsAddr, "the load generator is no scrape target")
	require.Equal(t, []string{"/bin/loadgen", "-target", "http://127.0.0.1:18081", "-rate", "5", "-duration", "1h0m0s"}, lg.Container.Command)

	// Stable across runs: the same names, so a second run appends to the same log directories.
	again, err := testFlags().pods()
	require.NoError(t, err)
	require.Equal(t, pods, again)
}

func TestPodsWithoutLoad(t *testing.T) {
	f := testFlags()
	f.rate = 0
	pods, err := f.pods()
	require.NoError(t, err)
	require.Len(t, pods, 3)
}

func TestPodsErrors(t *testing.T) {
	f := testFlags()
	public := "10.0.0.5:8081"
	f.addrs[service.Orders] = &public
	f.otlp = "example.com:4317"
	f.rate = 5000
	_, err := f.pods()
	require.ErrorContains(t, err, `-orders: address "10.0.0.5:8081": not a loopback address`)
	require.ErrorContains(t, err, `-otlp-endpoint: address "example.com:4317": not a loopback address`)
	require.ErrorContains(t, err, "-rate: 5000 is outside [0, 1000]")
}
