package fault

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// localMemoryLimit is the memory_limiter's limit_mib in the built-in local config.
const localMemoryLimit = 512 << 20

// maxRetryInterval is every exporter's retry_on_failure::max_interval: the built-in configs keep
// configretry's default.
const maxRetryInterval = 30 * time.Second

type phase struct {
	name     string
	fault    faultproxy.Fault
	from, to time.Time
}

// TestStormAndSlowBackend puts every backend through a 429 storm with Retry-After, a 503 storm
// without it, a slow backend (every answer late) and a hanging one, one after the other, while
// the load goes on. Nothing may be lost; a client that is told to wait (Retry-After, or gRPC
// RetryInfo) waits at least that long before sending the same payload again, and one that is not
// told backs off (the gaps between its attempts grow); the agent's heap stays under the memory
// limiter's limit; and no exporter drops or fails to queue anything.
func TestStormAndSlowBackend(t *testing.T) {
	skipShort(t)
	sc := currentScale()
	r := newRig(t, rigOptions{})
	r.agent.start()
	r.startLoad(steadyRate(sc))
	r.waitFlowing()

	// Retry-After longer than the exporters' own backoff (5 s, ±50 %), so that honouring it shows.
	const retryAfter = 10 * time.Second
	pass := faultproxy.Fault{}
	phases := []*phase{
		{name: "429 with Retry-After", fault: faultproxy.Fault{Kind: faultproxy.Status, Status: http.StatusTooManyRequests, RetryAfter: retryAfter}},
		{name: "pass", fault: pass},
		{name: "503 without Retry-After", fault: faultproxy.Fault{Kind: faultproxy.Status, Status: http.StatusServiceUnavailable}},
		{name: "pass", fault: pass},
		{name: "slow (every answer 3 s late)", fault: faultproxy.Fault{Kind: faultproxy.Delay, Delay: 3 * time.Second}},
		{name: "hang", fault: faultproxy.Fault{Kind: faultproxy.Hang}},
	}
	for _, p := range phases {
		p.from = time.Now()
		r.setAll(p.fault)
		if p.fault == pass {
			// Retries scheduled during the storm go through, and each exporter is back at its
			// normal pace, not waiting out a backoff from before: otherwise the next storm could
			// start while one still waits and see too few of its attempts.
			time.Sleep(8 * time.Second)
			r.waitAccepted(3 * time.Second)
		} else {
			time.Sleep(sc.storm)
		}
		p.to = time.Now()
	}
	restored := time.Now()
	r.setAll(pass)
	time.Sleep(2 * time.Second)
	r.stopLoad()

	recovery := r.waitDelivered(restored, sc.drainTimeout, allSignals...)
	r.record(stormScenario(sc.storm), recovery, map[signal]string{
		sigLogs:    "loki exporter: backoff from 5 s, honours Retry-After",
		sigTraces:  "OTLP exporter: backoff from 5 s, honours RetryInfo",
		sigMetrics: "remote write: backoff from 50 ms, honours Retry-After",
	}, allNoLoss, 30*time.Second)

	// Retries, from the attempts of each payload the proxies saw.
	type client struct {
		s       signal
		initial time.Duration // the exporter's first retry interval in the built-in config
	}
	noAfter := phases[2]
	for _, c := range []client{{sigLogs, 5 * time.Second}, {sigTraces, 5 * time.Second}, {sigMetrics, 50 * time.Millisecond}} {
		st := r.proxy(c.s).Stats()
		t.Logf("%s: %d requests in all, by status %v; %s", c.s, st.Requests, st.ByStatus, describeRetries(st, phases))

		// Retry-After: a client told to wait does not send the same payload again sooner.
		told := 0
		for _, seq := range st.PerPayload() {
			for i := 0; i+1 < len(seq); i++ {
				if seq[i].Status == http.StatusTooManyRequests {
					told++
					gap := seq[i+1].At.Sub(seq[i].At)
					require.GreaterOrEqual(t, gap, retryAfter*9/10,
						"%s: a payload was sent again %s after a 429 with Retry-After: %s", c.s, gap, retryAfter)
				}
			}
		}
		require.NotZero(t, told, "%s: no payload was retried after a 429", c.s)

		// Backing off: during the 503 storm no payload is tried more often than an exponential
		// backoff from the exporter's initial interval to its maximum allows (a fixed interval
		// would exceed it many times over), and long runs of retries space out.
		bound := backoffAttempts(c.initial, maxRetryInterval, noAfter.to.Sub(noAfter.from))
		long := 0
		for _, gaps := range st.Between(noAfter.from, noAfter.to).Retries() {
			require.LessOrEqual(t, len(gaps)+1, bound, "%s: one payload tried %d times in the %s 503 storm: %v", c.s, len(gaps)+1, sc.storm, gaps)
			if len(gaps) >= 4 {
				long++
				// A fixed interval with the exporters' jitter (±50%) never waits more than 1.5×
				// the initial one; the fourth gap of an exponential backoff (×1.5 each time)
				// always does. Comparing the last gap with the first fails once the backoff
				// reaches its cap, where gaps vary at random around max_interval.
				require.Greater(t, slices.Max(gaps), c.initial*3/2, "%s: retries of one payload did not space out: %v", c.s, gaps)
			}
		}
		if c.s == sigMetrics {
			require.NotZero(t, long, "%s: no payload was retried 5 times during the 503 storm: the check saw nothing", c.s)
		}
	}

	// Memory: the heap stayed under the memory limiter's limit.
	rss, heap := r.agent.peaks()
	t.Logf("peak RSS %s, peak heap %s", mib(rss), mib(int64(heap)))
	require.Less(t, heap, float64(localMemoryLimit), "peak heap over the memory limiter's limit")

	// Nothing was dropped or refused by an exporter's queue.
	for _, m := range []string{"otelcol_exporter_enqueue_failed_log_records_total", "otelcol_exporter_enqueue_failed_spans_total",
		"otelcol_exporter_enqueue_failed_metric_points_total", "otelcol_exporter_send_failed_log_records_total",
		"otelcol_exporter_send_failed_spans_total", "otelcol_exporter_send_failed_metric_points_total"} {
		require.Zero(t, r.agentCounter(m, nil), m)
	}
}

func describeRetries(st faultproxy.Stats, phases []*phase) string {
	var parts []string
	for _, p := range phases {
		if p.name == "pass" {
			continue
		}
		n := len(st.Between(p.from, p.to).Attempts)
		parts = append(parts, fmt.Sprintf("%s: %d attempts", p.name, n))
	}
	return strings.Join(parts, ", ")
}

// backoffAttempts bounds the attempts at one payload in window by a client that backs off
// exponentially from initial up to maxInterval (multiplier 1.5 and randomization 0.5,
// exporterhelper's and the remote-write exporter's defaults): each gap is at least half of
// min(initial×1.5^k, maxInterval).
func backoffAttempts(initial, maxInterval, window time.Duration) int {
	n, sum, next := 1, time.Duration(0), initial
	for {
		sum += min(next, maxInterval) / 2
		if sum > window {
			return n
		}
		n++
		next = next * 3 / 2
	}
}
