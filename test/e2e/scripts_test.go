package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// The scripts' refusals: quick, and no backend is started.

func script(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(lookouttest.RepoRoot(), "deploy", "local", name), args...)
	cmd.Env = append(append(os.Environ(), "LOOKOUT_RUN_DIR="+t.TempDir(), "LOOKOUT_DEMO_BIN="+demoBin), env...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

func TestStackRefusesNonLoopbackAddresses(t *testing.T) {
	out, err := script(t, []string{"VICTORIALOGS_ADDR=0.0.0.0:9428"}, "stack.sh", "start", "victorialogs")
	require.Error(t, err)
	require.Contains(t, out, "VICTORIALOGS_ADDR=0.0.0.0:9428: not a loopback host:port (use 127.0.0.1:PORT)")

	out, err = script(t, []string{"DEMO_ORDERS_ADDR=192.168.1.4:8082"}, "run.sh")
	require.Error(t, err)
	require.Contains(t, out, "DEMO_ORDERS_ADDR=192.168.1.4:8082: not a loopback host:port")
}

func TestStackRefusesABusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	out, err := script(t, []string{"SINK_ADDR=" + l.Addr().String()}, "stack.sh", "start", "sink")
	require.Error(t, err)
	require.Contains(t, out, "sink: "+l.Addr().String()+" is already in use by another process")
	require.Contains(t, out, "sink did not start; stopped what this call had started (nothing)")
}

func TestStackStatusAndUsage(t *testing.T) {
	out, err := script(t, nil, "stack.sh", "status")
	require.NoError(t, err)
	require.Equal(t, "prometheus: stopped\nalertmanager: stopped\nvictorialogs: stopped\njaeger: stopped\nsink: stopped\n", out)

	out, err = script(t, nil, "stack.sh", "restart")
	require.Error(t, err)
	require.Contains(t, out, "usage:")

	out, err = script(t, nil, "stack.sh", "start", "grafana")
	require.Error(t, err)
	require.Contains(t, out, "unknown component grafana")
}
