package fault

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// healthPoller asks the agent's health check every 250 ms and counts the answers that are not
// 200 within a second.
type healthPoller struct {
	polls, failures atomic.Int64
	stop            chan struct{}
	done            sync.WaitGroup
}

func pollHealth(url string) *healthPoller {
	h := &healthPoller{stop: make(chan struct{})}
	client := &http.Client{Timeout: time.Second}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
			h.polls.Add(1)
			resp, err := client.Get(url)
			if err != nil {
				h.failures.Add(1)
				continue
			}
			if resp.StatusCode != http.StatusOK {
				h.failures.Add(1)
			}
			_ = resp.Body.Close()
		}
	}()
	return h
}

func (h *healthPoller) close() (polls, failures int64) {
	close(h.stop)
	h.done.Wait()
	return h.polls.Load(), h.failures.Load()
}

// TestOverload drives the agent at 10 times the sustainable rate (pod log lines, OTLP spans and
// samples) for the scale's overload time, then back to the sustainable rate. During the overload
// the health check keeps answering (polled every 250 ms; failures counted) and the heap stays
// under the memory limiter's limit (the peak RSS is printed). After it the agent recovers by
// itself: the pod-log lag returns to zero and everything it accepted is delivered. What it
// refused (the memory limiter, a full queue) was refused to the sender, which retried it; the
// counts are in the row.
func TestOverload(t *testing.T) {
	skipShort(t)
	sc := currentScale()
	r := newRig(t, rigOptions{})
	r.agent.start()
	var factor atomic.Int64
	factor.Store(1)
	r.startLoad(func() (int, int, int) {
		f := int(factor.Load())
		return f * sc.logRate, f * sc.spanRate, f * sc.sampleRate
	})
	r.waitFlowing()

	health := pollHealth(r.agent.healthURL())
	factor.Store(10)
	maxLag := 0.0 // the largest pod-log lag seen during the overload, in bytes
	for end := time.Now().Add(sc.overload); time.Now().Before(end); time.Sleep(time.Second) {
		if lag, err := scrapeValue(context.Background(), r.agent.metricsURL(), "otelcol_podlogs_file_lag_bytes", nil); err == nil {
			maxLag = max(maxLag, lag)
		}
	}
	factor.Store(1)
	ended := time.Now()
	polls, failures := health.close()
	t.Logf("health check during the overload: %d polls, %d failed", polls, failures)
	time.Sleep(2 * time.Second)
	r.stopLoad()

	// The pod-log lag returns to zero: podlogs has caught up with every file.
	lookouttest.Eventually(t, sc.drainTimeout, func() error {
		lag, err := scrapeValue(context.Background(), r.agent.metricsURL(), "otelcol_podlogs_file_lag_bytes", nil)
		if err != nil {
			return err
		}
		if lag > 0 {
			return fmt.Errorf("pod-log lag %v bytes", lag)
		}
		return nil
	})
	recovery := r.waitDelivered(ended, sc.drainTimeout, allSignals...)
	rss, heap := r.agent.peaks()
	t.Logf("peak RSS %s, peak heap %s", mib(rss), mib(int64(heap)))

	spans, samples := r.spans.stats(), r.metrics.stats()
	refused := func(m string) int {
		return int(r.agentCounter(m, nil))
	}
	limiterSpans := refused("otelcol_processor_memory_limiter_refused_spans_total") // absent: 0
	recvSpans := refused("otelcol_receiver_refused_spans_total")
	recvPoints := refused("otelcol_receiver_refused_metric_points_total")
	podlogsRefused := refused("otelcol_podlogs_refused_batches_total")
	note := func(what string, st sendStats, agentRefused int) string {
		failedCalls := 0
		for _, n := range st.errs {
			failedCalls += n
		}
		return fmt.Sprintf("10x: %s; agent refused %d (sender: %d calls failed and were retried, %d items given up, %d shed by the sender); health %d/%d polls failed; peak heap %s",
			what, agentRefused, failedCalls, st.refused, st.shed, failures, polls, mib(int64(heap)))
	}
	r.record(overloadScenario(sc.overload), recovery, map[signal]string{
		sigLogs: fmt.Sprintf("10x: largest pod-log lag %d KiB, back to 0; podlogs paused %d times (next consumer refused a batch); health %d/%d polls failed; peak heap %s",
			int(maxLag)>>10, podlogsRefused, failures, polls, mib(int64(heap))),
		sigTraces:  note("spans", spans, recvSpans),
		sigMetrics: note("samples", samples, recvPoints),
	}, allNoLoss, 30*time.Second)
	t.Logf("memory limiter refused %d spans", limiterSpans)

	require.Zero(t, failures, "the health check failed %d of %d times during the overload", failures, polls)
	require.NotZero(t, polls)
	require.Less(t, heap, float64(localMemoryLimit), "peak heap over the memory limiter's limit")
	require.NotZero(t, heap, "the agent's heap was never read")
	for _, s := range allSignals {
		require.NotZero(t, recovery[s], "%s: not all delivered %s after the overload", s, sc.drainTimeout)
	}
	// What the agent refused, the sender was told about (and retried).
	if recvSpans > 0 {
		require.NotEmpty(t, spans.errs, "the agent refused %d spans but the sender saw no error", recvSpans)
	}
	if recvPoints > 0 {
		require.NotEmpty(t, samples.errs, "the agent refused %d samples but the sender saw no error", recvPoints)
	}
}
