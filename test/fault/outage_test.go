package fault

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// Scenario names: the rows of docs/reliability.md (TestReliabilityDoc checks that each has one).
func outageScenario(d time.Duration) string { return fmt.Sprintf("backend outage (%s)", d) }
func killScenario(d time.Duration) string   { return fmt.Sprintf("SIGKILL during a %s outage", d) }
func stormScenario(d time.Duration) string {
	return fmt.Sprintf("429/503 storm and slow backend (%s each)", d)
}
func queueFullScenario() string               { return "queue full (backend hangs, small queues)" }
func overloadScenario(d time.Duration) string { return fmt.Sprintf("overload at 10x for %s", d) }
func diskFullScenario() string                { return "disk full for the queue directory" }
func badInputScenario() string                { return "malformed OTLP between good requests" }
func steadyRate(sc scale) func() (int, int, int) {
	return func() (int, int, int) { return sc.logRate, sc.spanRate, sc.sampleRate }
}

// waitFlowing waits until every signal has reached its backend at least once.
func (r *rig) waitFlowing() {
	r.t.Helper()
	lookouttest.Eventually(r.t, 90*time.Second, func() error {
		for _, s := range allSignals {
			if r.proxy(s).Unique() == 0 {
				return fmt.Errorf("no %s delivered yet", s)
			}
		}
		return nil
	})
}

// waitAccepted waits until the backend of every signal accepted a request in the last d.
func (r *rig) waitAccepted(d time.Duration) {
	r.t.Helper()
	lookouttest.Eventually(r.t, 90*time.Second, func() error {
		now := time.Now()
		for _, s := range allSignals {
			recent := r.proxy(s).Stats().Between(now.Add(-d), now.Add(time.Second)).Attempts
			if !slices.ContainsFunc(recent, func(a faultproxy.Attempt) bool { return a.Status/100 == 2 }) {
				return fmt.Errorf("%s: no request accepted in the last %s", s, d)
			}
		}
		return nil
	})
}

// record adds a row per signal to the results and fails the test on a loss where noLoss says one
// is not allowed.
func (r *rig) record(scenario string, recovery map[signal]time.Duration, notes map[signal]string, noLoss map[signal]bool, timeout time.Duration) map[signal]outcome {
	r.t.Helper()
	rss, _ := r.agent.peaks()
	out := map[signal]outcome{}
	for _, s := range allSignals {
		wait := timeout
		if !noLoss[s] {
			wait = 5 * time.Second // a loss is allowed: do not wait for what will not come
		}
		o := r.check(s, wait)
		out[s] = o
		results.add(row{
			scenario: scenario, signal: s, outcome: o, peakRSS: rss, recovery: recovery[s], note: notes[s],
			failed: noLoss[s] && o.lost > 0,
		})
		r.t.Logf("%s, %s: sent %d, received %d, lost %d, duplicated %d, peak RSS %s, recovery %s",
			scenario, s, o.sent, o.received, o.lost, o.duplicated, mib(rss), recovery[s])
	}
	for _, s := range allSignals {
		if noLoss[s] {
			requireNoLoss(r.t, s, out[s])
		}
	}
	return out
}

var allNoLoss = map[signal]bool{sigLogs: true, sigTraces: true, sigMetrics: true}

// TestBackendOutage takes the three backends down at once (connection refused) while the load
// goes on, brings them back, and checks that every log line, span and metric sample the agent
// accepted reaches its backend: the promise for an outage without a crash, for every signal
// (docs/delivery.md). Recovery time is from the backends' return to the last item's delivery.
func TestBackendOutage(t *testing.T) {
	skipShort(t)
	sc := currentScale()
	r := newRig(t, rigOptions{})
	r.agent.start()
	r.startLoad(steadyRate(sc))
	r.waitFlowing()

	r.setAll(faultproxy.Fault{Kind: faultproxy.Refuse})
	time.Sleep(sc.outage)
	restored := time.Now()
	r.setAll(faultproxy.Fault{})
	time.Sleep(2 * time.Second)
	r.stopLoad()

	recovery := r.waitDelivered(restored, sc.drainTimeout, allSignals...)
	r.record(outageScenario(sc.outage), recovery, nil, allNoLoss, 30*time.Second)
	for _, s := range allSignals {
		require.NotZero(t, recovery[s], "%s: not all delivered %s after the backends came back", s, sc.drainTimeout)
	}
	require.NoError(t, r.loki.Err())
	require.NoError(t, r.rw.Err())
}

// TestKillDuringOutage: the backends go down, the agent is killed with SIGKILL halfway through the
// outage and started again on the same state directory, then the backends come back. Logs and
// traces, queued on disk, must all arrive; metrics are queued in memory (the remote-write WAL is
// off on purpose, docs/delivery.md), so what was queued at the kill may be lost: the row says how
// much, and the test does not fail on it.
func TestKillDuringOutage(t *testing.T) {
	skipShort(t)
	sc := currentScale()
	r := newRig(t, rigOptions{})
	r.agent.start()
	r.startLoad(steadyRate(sc))
	r.waitFlowing()

	r.setAll(faultproxy.Fault{Kind: faultproxy.Refuse})
	time.Sleep(sc.outage / 2)
	r.agent.kill()
	time.Sleep(time.Second)
	r.agent.start()
	time.Sleep(sc.outage / 2)
	restored := time.Now()
	r.setAll(faultproxy.Fault{})
	time.Sleep(2 * time.Second)
	r.stopLoad()

	recovery := r.waitDelivered(restored, sc.drainTimeout, sigLogs, sigTraces)
	r.record(killScenario(sc.outage), recovery,
		map[signal]string{sigMetrics: "queued in memory: a loss at the kill is allowed (docs/delivery.md)"},
		map[signal]bool{sigLogs: true, sigTraces: true}, 30*time.Second)
	for _, s := range []signal{sigLogs, sigTraces} {
		require.NotZero(t, recovery[s], "%s: not all delivered %s after the backends came back", s, sc.drainTimeout)
	}
}
