package fault

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// stateFSSize is the size of the small file system the disk-full scenario puts under the agent's
// state directory (queues and offsets).
const stateFSSize = 64 << 20

// smallStateFS returns a wrapper that runs the agent in a mount namespace of its own, with a
// tmpfs of stateFSSize mounted at its state directory: the test's own file systems are untouched,
// and the mount goes away with the process. It skips the test where that is not allowed (it
// needs CAP_SYS_ADMIN: root here).
func smallStateFS(t *testing.T, stateDir string) []string {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("disk full: no unshare(1) to give the agent a small file system")
	}
	probe := t.TempDir()
	out, err := exec.Command(unshare, "-m", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe).CombinedOutput()
	if err != nil {
		t.Skipf("disk full: cannot mount a tmpfs in a private mount namespace (needs CAP_SYS_ADMIN): %v: %s", err, out)
	}
	require.NoError(t, os.MkdirAll(stateDir, 0o755))
	return []string{unshare, "-m", "--propagation", "private", "sh", "-c",
		fmt.Sprintf(`mount -t tmpfs -o size=%d tmpfs "$0" && exec "$@"`, stateFSSize), stateDir}
}

// fill writes path until the file system is full and returns how much it wrote.
func fill(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if n > 4*stateFSSize {
			return n, fmt.Errorf("wrote %d bytes to %s and the file system is not full: is the small file system mounted?", n, path)
		}
	}
}

// TestDiskFull gives the agent's state directory (the on-disk queues of logs and traces and the
// pod-log offsets, in segment_storage) a file system of its own, takes the backends down so that
// the queues must grow, and fills that file system. The agent must say so in its log, naming the
// problem ("no space left on device"), and keep running: podlogs cannot queue, so it does not
// commit and pauses, and the OTLP receiver refuses spans that it cannot queue (the sender
// retries them). Then the space returns and the backends come back: every log line, span and
// sample is delivered. (With file_storage, spans the queue had accepted were lost here:
// exporterhelper's persistent queue drops an item when the write that records its read fails;
// segment_storage keeps a reserve in each segment for such small writes.)
func TestDiskFull(t *testing.T) {
	skipShort(t)
	sc := currentScale()
	// The agent's run directory is only known once the rig exists: make the rig, then set its
	// wrapper before the first start.
	r := newRig(t, rigOptions{})
	state := filepath.Join(r.agent.runDir, "state")
	r.agent.wrapper = smallStateFS(t, state)
	r.agent.start()
	r.startLoad(steadyRate(sc))
	r.waitFlowing()

	// The agent's view of its state directory (its own mount namespace).
	view := filepath.Join("/proc", fmt.Sprint(r.agent.process().Pid()), "root", state)
	r.setAll(faultproxy.Fault{Kind: faultproxy.Refuse})
	filler := filepath.Join(view, "filler")
	n, err := fill(filler)
	require.NoError(t, err)
	full := time.Now()
	t.Logf("filled the state file system with %s", mib(n))

	const enospc = "no space left on device"
	lookouttest.Eventually(t, 2*time.Minute, func() error {
		if !strings.Contains(r.agent.output(), enospc) {
			return fmt.Errorf("the agent's log does not say %q yet", enospc)
		}
		return nil
	})
	said := firstLineWith(r.agent.output(), enospc)
	t.Logf("after %s the agent said: %s", time.Since(full).Round(time.Second), said)
	time.Sleep(sc.outage / 2) // the disk stays full a while, under load
	require.False(t, r.agent.process().Exited(), "the agent exited with its disk full:\n%s", tail(r.agent.output(), 50))

	require.NoError(t, os.Remove(filler))
	restored := time.Now()
	r.setAll(faultproxy.Fault{})
	time.Sleep(2 * time.Second)
	r.stopLoad()

	recovery := r.waitDelivered(restored, sc.drainTimeout, allSignals...)
	spans := r.spans.stats()
	failed := 0
	for _, k := range spans.errs {
		failed += k
	}
	t.Logf("spans: %d calls failed %v, the last with: %s", failed, spans.errs, spans.lastErr)
	r.record(diskFullScenario(), recovery, map[signal]string{
		sigLogs: fmt.Sprintf("%d MiB tmpfs filled: podlogs paused and retried; the log says `%s`",
			stateFSSize>>20, strings.ReplaceAll(errorField(said), r.agent.runDir, "$LOOKOUT_RUN_DIR")),
		sigTraces:  fmt.Sprintf("spans that could not be queued were refused to the sender (%d failed calls, retried); the queue's bookkeeping went on in segment_storage's reserve", failed),
		sigMetrics: "queued in memory: not affected",
	}, allNoLoss, 30*time.Second)
	for _, s := range allSignals {
		require.NotZero(t, recovery[s], "%s: not all delivered %s after the space returned", s, sc.drainTimeout)
	}
}

// errorField returns the "error" field of a JSON log line (the line itself if it has none).
func errorField(line string) string {
	var v struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &v); err != nil || v.Error == "" {
		return line
	}
	return v.Error
}

// firstLineWith returns the first line of s that contains sub.
func firstLineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
