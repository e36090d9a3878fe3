package fault

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// Small queues for the queue-full scenario, set on the built-in local config with --set.
const (
	smallTracesQueue = 64 << 10 // otlp_grpc/tempo: bytes (its sizer in the built-in configs)
	// maxTracesRequest bounds the bytes of one OTLP request of the load (20 spans, ~4 KiB): a
	// request is refused when it does not fit, so the queue is "full" within that much.
	maxTracesRequest = 16 << 10
	smallLogsQueue   = 256 << 10 // loki: bytes (its sizer)
	smallLogsBatch   = 64 << 10  // loki: a batch may not be larger than the queue
	// podlogs: its batches (2 MiB of bodies by default) must fit in the loki queue, or the
	// exporter's Offer, which blocks until the request fits, waits for ever.
	smallPodlogsBatch = 16 << 10
	smallMetricsQueue = 5 // prometheus_remote_write: batches
)

// queueGauges is one reading of the agent's own metrics about its queues.
type queueGauges struct {
	at                                    time.Time
	tracesSize, tracesCap                 float64
	logsSize, logsCap                     float64
	spansEnqueueFailed, spansRefused      float64
	logsEnqueueFailed, logsRefused        float64
	metricsEnqueueFailed, metricsRefused  float64
	podlogsLag, podlogsRefused, podlogsIn float64
}

func (r *rig) readQueues(ctx context.Context) (queueGauges, error) {
	req, err := scrapeText(ctx, r.agent.metricsURL())
	if err != nil {
		return queueGauges{}, err
	}
	v := func(metric string, labels map[string]string) float64 {
		f, _ := sumSamples(req, metric, labels)
		return f
	}
	tempo := map[string]string{"exporter": "otlp_grpc/tempo"}
	loki := map[string]string{"exporter": "loki"}
	return queueGauges{
		at:         time.Now(),
		tracesSize: v("otelcol_exporter_queue_size", tempo), tracesCap: v("otelcol_exporter_queue_capacity", tempo),
		logsSize: v("otelcol_exporter_queue_size", loki), logsCap: v("otelcol_exporter_queue_capacity", loki),
		spansEnqueueFailed:   v("otelcol_exporter_enqueue_failed_spans_total", nil),
		spansRefused:         v("otelcol_receiver_refused_spans_total", nil),
		logsEnqueueFailed:    v("otelcol_exporter_enqueue_failed_log_records_total", nil),
		logsRefused:          v("otelcol_receiver_refused_log_records_total", nil),
		metricsEnqueueFailed: v("otelcol_exporter_enqueue_failed_metric_points_total", nil),
		metricsRefused:       v("otelcol_receiver_refused_metric_points_total", nil),
		podlogsLag:           v("otelcol_podlogs_file_lag_bytes", nil),
		podlogsRefused:       v("otelcol_podlogs_refused_batches_total", nil),
		podlogsIn:            v("otelcol_podlogs_records_total", nil),
	}, nil
}

// watchQueues reads the agent's queue metrics every 250 ms until done says so (or fails the test
// after timeout), and returns every reading.
func (r *rig) watchQueues(timeout time.Duration, done func(queueGauges) bool) []queueGauges {
	r.t.Helper()
	var out []queueGauges
	deadline := time.Now().Add(timeout)
	for {
		g, err := r.readQueues(context.Background())
		if err == nil {
			out = append(out, g)
			if done(g) {
				return out
			}
		}
		if time.Now().After(deadline) {
			last := queueGauges{}
			if len(out) > 0 {
				last = out[len(out)-1]
			}
			r.t.Fatalf("after %s: the queues did not get there (last error %v): %+v", timeout, err, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// alertExpr returns the expression of the named alert in the generated agent rules.
func alertExpr(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(rulesFile())
	require.NoError(t, err)
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f), rulesFile())
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == name {
				return r.Expr
			}
		}
	}
	t.Fatalf("%s has no alert %s", rulesFile(), name)
	return ""
}

// waitAlertExpr runs an alert's expression on the rig's Prometheus until it returns a series
// whose labels include want; it returns that series' labels.
func (r *rig) waitAlertExpr(name string, want map[string]string, timeout time.Duration) map[string]string {
	r.t.Helper()
	expr := alertExpr(r.t, name)
	var found map[string]string
	lookouttest.Eventually(r.t, timeout, func() error {
		res, err := r.prom.Query(context.Background(), expr)
		if err != nil {
			return err
		}
		for _, s := range res {
			ok := true
			for k, v := range want {
				ok = ok && s.Metric[k] == v
			}
			if ok {
				found = s.Metric
				return nil
			}
		}
		return fmt.Errorf("%s: no series with %v in %d results of %s", name, want, len(res), expr)
	})
	return found
}

// TestQueueFull hangs the logs and traces backends with small queues (--set on the exporters)
// until the queues are full, then the metrics backend too. Traces: nothing is refused before the
// queue is full; after that the OTLP receiver refuses spans to the sender (counted as refused and
// as failed to enqueue), and the collector-health alerts' expressions, run on the rig's
// Prometheus (which gets the agent's own metrics through its self-scrape), return the refusing
// receiver and the dropping exporter. Logs: the loki exporter blocks instead of dropping, so
// podlogs stops reading (its lag grows) and nothing is lost. Metrics: the batch processor in front
// of the remote-write queue takes the samples, so a full queue drops batches (counted: the
// exporter-dropping alert names prometheus_remote_write once its metrics reach Prometheus again).
// Then the backends come back: every accepted log line and span is delivered.
func TestQueueFull(t *testing.T) {
	skipShort(t)
	sc := currentScale()
	r := newRig(t, rigOptions{agentArgs: []string{
		fmt.Sprintf("--set=exporters::otlp_grpc/tempo::sending_queue::queue_size=%d", smallTracesQueue),
		fmt.Sprintf("--set=exporters::loki::sending_queue::queue_size=%d", smallLogsQueue),
		fmt.Sprintf("--set=exporters::loki::sending_queue::batch::min_size=%d", smallLogsBatch),
		fmt.Sprintf("--set=receivers::podlogs::batch::max_bytes=%d", smallPodlogsBatch),
		fmt.Sprintf("--set=exporters::prometheus_remote_write::remote_write_queue::queue_size=%d", smallMetricsQueue),
	}})
	r.agent.start()
	r.startLoad(steadyRate(sc))
	r.waitFlowing()

	// Phase 1: the logs and traces backends hang; the queues fill.
	before, err := r.readQueues(context.Background())
	require.NoError(t, err)
	hung := time.Now()
	r.loki.Set(faultproxy.Fault{Kind: faultproxy.Hang})
	r.tempo.Set(faultproxy.Fault{Kind: faultproxy.Hang})
	readings := r.watchQueues(2*time.Minute, func(g queueGauges) bool {
		return g.spansRefused > before.spansRefused && g.logsSize >= g.logsCap*0.9
	})
	logReading := func(g queueGauges) {
		t.Logf("+%5.1fs traces queue %v/%v, spans refused %v, failed to enqueue %v | logs queue %v/%v bytes, failed to enqueue %v | podlogs lag %v bytes, records %v",
			g.at.Sub(hung).Seconds(), g.tracesSize, g.tracesCap, g.spansRefused, g.spansEnqueueFailed,
			g.logsSize, g.logsCap, g.logsEnqueueFailed, g.podlogsLag, g.podlogsIn)
	}
	logReading(before)
	firstRefusal := -1
	for i, g := range readings {
		if i%4 == 0 || i == len(readings)-1 {
			logReading(g)
		}
		// The backend hangs, so the traces queue only grows: a refusal while a reading shows
		// room in it is a refusal before the queue was full.
		if g.spansRefused > before.spansRefused && firstRefusal < 0 {
			firstRefusal = i
			logReading(g)
			require.Greater(t, g.tracesSize, g.tracesCap-maxTracesRequest, "spans refused while the traces queue had room for a request")
		}
		// Spans refused by the receiver are the ones the exporter could not queue. The exporter
		// counts a failure before the receiver counts its refusal, so a reading taken between
		// the two sees more failures, by at most one request per sender; never fewer.
		require.LessOrEqual(t, g.spansRefused, g.spansEnqueueFailed, "the receiver refused spans that the exporter did not fail to queue")
		require.LessOrEqual(t, g.spansEnqueueFailed-g.spansRefused, float64(loadSpansPerRequest*loadSpanSenders),
			"the exporter failed to queue spans that the receiver did not refuse")
	}

	// Logs: the loki queue blocks; podlogs stops reading, its lag grows, nothing is dropped.
	paused, err := r.readQueues(context.Background())
	require.NoError(t, err)
	time.Sleep(5 * time.Second)
	later, err := r.readQueues(context.Background())
	require.NoError(t, err)
	logReading(later)
	require.Greater(t, later.podlogsLag, paused.podlogsLag+10_000, "podlogs' lag did not grow with the logs queue full")
	require.Less(t, later.podlogsIn-paused.podlogsIn, float64(sc.logRate), "podlogs kept reading with the logs queue full")
	require.Zero(t, later.logsEnqueueFailed, "log records failed to enqueue: the loki exporter should block")

	// The collector-health alerts, on the agent's own metrics in Prometheus.
	refusing := r.waitAlertExpr("LookoutReceiverRefusingData", map[string]string{"receiver": "otlp"}, 2*time.Minute)
	t.Logf("LookoutReceiverRefusingData: %v", refusing)
	dropping := r.waitAlertExpr("LookoutExporterDroppingData", map[string]string{"exporter": "otlp_grpc/tempo"}, 2*time.Minute)
	t.Logf("LookoutExporterDroppingData: %v", dropping)

	// Phase 2: the metrics backend hangs too, until its queue drops batches.
	r.rw.Set(faultproxy.Fault{Kind: faultproxy.Hang})
	r.watchQueues(2*time.Minute, func(g queueGauges) bool { return g.metricsEnqueueFailed > 0 })
	restored := time.Now()
	r.setAll(faultproxy.Fault{})

	// The drop reaches Prometheus once the agent's own metrics flow again; does the alert see it?
	metricsNote := r.metricsDropAlert()
	r.stopLoad()

	recovery := r.waitDelivered(restored, sc.drainTimeout, sigLogs, sigTraces)
	spans := r.spans.stats()
	r.record(queueFullScenario(), recovery, map[signal]string{
		sigLogs: fmt.Sprintf("loki queue (%d KiB) full: the exporter blocks, podlogs paused (lag grew %d KiB in 5 s), nothing dropped",
			smallLogsQueue>>10, int(later.podlogsLag-paused.podlogsLag)>>10),
		sigTraces: fmt.Sprintf("queue (%d KiB) full: no refusal before; then %d spans refused to the sender (retried, %d given up); LookoutReceiverRefusingData and LookoutExporterDroppingData return them",
			smallTracesQueue>>10, int(r.agentCounter("otelcol_receiver_refused_spans_total", nil)), spans.refused),
		sigMetrics: metricsNote,
	}, map[signal]bool{sigLogs: true, sigTraces: true}, 30*time.Second)
	for _, s := range []signal{sigLogs, sigTraces} {
		require.NotZero(t, recovery[s], "%s: not all delivered %s after the backends came back", s, sc.drainTimeout)
	}
}

// metricsDropAlert waits until Prometheus holds two samples of the remote-write exporter's
// enqueue-failure counter (the agent's own metrics, scraped every 15 s, flow again once its
// queue drains), then runs LookoutExporterDroppingData's expression once, and says what it saw.
func (r *rig) metricsDropAlert() string {
	r.t.Helper()
	const counter = `otelcol_exporter_enqueue_failed_metric_points_total{job="lookout",exporter="prometheus_remote_write"}`
	var last []float64
	lookouttest.Eventually(r.t, 2*time.Minute, func() error {
		series, err := r.prom.RawValues(context.Background(), counter, 5*time.Minute)
		if err != nil {
			return err
		}
		if len(series) == 0 || len(series[0]) < 2 {
			return fmt.Errorf("prometheus has fewer than two samples of %s: %v", counter, series)
		}
		last = series[0]
		return nil
	})
	require.Positive(r.t, last[len(last)-1], "the counter reached Prometheus at 0: %v", last)
	res, err := r.prom.Query(context.Background(), alertExpr(r.t, "LookoutExporterDroppingData"))
	require.NoError(r.t, err)
	for _, s := range res {
		if s.Metric["exporter"] == "prometheus_remote_write" {
			r.t.Logf("LookoutExporterDroppingData: %v", s.Metric)
			return fmt.Sprintf("queue of %d batches full: batches dropped, counted; LookoutExporterDroppingData returns it", smallMetricsQueue)
		}
	}
	// The counter is born during the outage (the collector creates it at the first failure) and
	// its first samples reach Prometheus only after it, at its total: rate() over them is 0, so the
	// alert has a branch for a series that appears above zero (alerts/collector.go).
	r.t.Fatalf("LookoutExporterDroppingData does not return prometheus_remote_write although Prometheus has %s = %v", counter, last)
	return ""
}
