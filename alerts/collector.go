package alerts

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/sli"
)

// The node of every test input.
const testNode = "node-1"

// simpleAlert is a single-threshold alert with its test inputs.
type simpleAlert struct {
	alert, severity, team, service string
	expr                           string
	forDur                         time.Duration
	summary                        string
	// describe renders the description from the node label and the value, as templates or as
	// the test expects them.
	describe  func(node, value string) string
	dashboard func(node string) string
	// valueTmpl renders $value in the description; value is what the firing test expects.
	valueTmpl, value string
	fire             scenario
	silent           []InputSeries
}

func (b *builder) spec(a simpleAlert) alertSpec {
	nodeTmpl := fmt.Sprintf("{{ $labels.%s }}", b.node)
	r := Rule{
		Alert:  a.alert,
		Expr:   a.expr,
		For:    dur(a.forDur),
		Labels: map[string]string{"severity": a.severity, "team": a.team, "service": a.service},
		Annotations: map[string]string{
			"summary":       a.summary,
			"description":   a.describe(nodeTmpl, a.valueTmpl),
			"runbook_url":   b.c.RunbookURL(a.alert),
			"dashboard_url": a.dashboard(nodeTmpl),
		},
	}
	b.summaries[a.alert] = a.summary
	fire := a.fire
	// The test expects the description with the test's label values in place of $labels.
	desc := a.describe(testNode, a.value)
	for l, v := range fire.labels {
		desc = strings.ReplaceAll(desc, "{{ $labels."+l+" }}", v)
	}
	fire.annotations = labels(r.Annotations, map[string]string{
		"description":   desc,
		"dashboard_url": a.dashboard(testNode),
	})
	return alertSpec{rule: r, fire: fire, silent: scenario{series: a.silent}}
}

// agentSeries returns a series of the agent's own metrics on the test node.
func (b *builder) agentSeries(name string, extra map[string]string) string {
	return seriesName(name, labels(map[string]string{"job": b.c.Settings.Collector.Job, b.node: testNode, "service_name": b.c.Settings.Collector.Job}, extra))
}

// perSignal returns the Prometheus names of a telemetry metric's span, metric-point and
// log-record variants that the agent emits (e.g. otelcol_receiver_refused_ + spans).
func (b *builder) perSignal(prefix string) []string {
	var out []string
	for _, sig := range []string{"spans", "metric_points", "log_records"} {
		if n, err := b.metric(prefix + sig); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// rateAbove0 is an alert expression on per-signal counters: items per second, by labels.
func (b *builder) rateAbove0(metrics []string, by ...string) string {
	var parts []string
	for _, m := range metrics {
		parts = append(parts, fmt.Sprintf("sum by (%s) (rate(%s{%s}[5m])) > 0", strings.Join(by, ", "), m, b.job))
	}
	return strings.Join(parts, "\nor\n")
}

// appearedAbove0 is, for each counter, a series that has appeared within the last 10 minutes
// already above zero, divided by the 5-minute window of rateAbove0: rate() cannot see such a
// series. The agent creates a failure counter at the first failure, and when the failure is a full
// remote-write queue its own metrics wait in that queue too, so Prometheus first sees the counter
// at its total (test/fault's queue-full scenario, docs/reliability.md).
func (b *builder) appearedAbove0(metrics []string, by ...string) string {
	var parts []string
	for _, m := range metrics {
		sum := fmt.Sprintf("sum by (%s) (%s{%s}", strings.Join(by, ", "), m, b.job)
		parts = append(parts, fmt.Sprintf("%s) / 300 > 0 unless %s offset 10m)", sum, sum))
	}
	return strings.Join(parts, "\nor\n")
}

func (b *builder) collectorFile() (*RuleFile, error) {
	c := b.c.Settings.Collector
	team := c.Team
	node := b.node
	dash := func(n string) string { return b.c.DashboardURL(catalog.CollectorUID, "node="+n) }
	f := &RuleFile{Name: "lookout-agent.yaml"}
	var errs []error
	need := func(from string) string {
		n, err := b.metric(from)
		errs = append(errs, err)
		return n
	}
	uptime := need("otelcol_process_uptime")
	queueSize := need("otelcol_exporter_queue_size")
	queueCap := need("otelcol_exporter_queue_capacity")
	refused := b.perSignal("otelcol_receiver_refused_")
	sendFailed := b.perSignal("otelcol_exporter_send_failed_")
	enqueueFailed := b.perSignal("otelcol_exporter_enqueue_failed_")
	limiterRefused := b.perSignal("otelcol_processor_memory_limiter_refused_")
	for what, l := range map[string][]string{"receiver refused": refused, "exporter send failed": sendFailed,
		"exporter enqueue failed": enqueueFailed, "memory limiter refused": limiterRefused} {
		if len(l) == 0 {
			errs = append(errs, fmt.Errorf("the agent emits no %s counters", what))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("collector alerts: %w", err)
	}
	for _, a := range []string{AlertAgentDown, AlertReceiverRefusing, AlertExporterSendFailing, AlertExporterDropping,
		AlertExporterQueueFull, AlertMemoryLimiterRefuses, AlertLogTailingLag} {
		b.kinds[a] = "collector"
	}
	perSecond := `{{ printf "%.2f" $value }}`
	counterInput := func(name string, extra map[string]string, perMinute int) []InputSeries {
		return []InputSeries{{Series: b.agentSeries(name, extra), Values: counter(perMinute)}}
	}

	specs := []simpleAlert{
		{
			alert: AlertAgentDown, severity: catalog.SeverityCritical,
			expr: fmt.Sprintf("max by (%[1]s) (max_over_time(%[2]s{%[3]s}[1h]))\nunless\nmax by (%[1]s) (max_over_time(%[2]s{%[3]s}[5m]))",
				node, uptime, b.job),
			forDur:  3 * time.Minute,
			summary: "A Lookout agent stopped sending its own metrics.",
			describe: func(n, _ string) string {
				return fmt.Sprintf("The Lookout agent on node %s sent its own metrics during the last hour but none in the last 5 minutes: it is down, crash-looping, or cannot reach Prometheus. That node's logs, metrics and traces are not being collected, and its other alerts are silenced.", n)
			},
			// The agent reported for 30 minutes, then stopped: the 5-minute window is empty
			// from minute 36 (its range includes its start in Prometheus 2).
			fire: scenario{
				series:   []InputSeries{{Series: b.agentSeries(uptime, nil), Values: fmt.Sprintf("0+60x30 _x%d", testMinutes-30)}},
				activeAt: 36 * time.Minute,
				labels:   map[string]string{node: testNode},
			},
			silent: []InputSeries{{Series: b.agentSeries(uptime, nil), Values: counter(60)}},
		},
		{
			alert: AlertReceiverRefusing, severity: catalog.SeverityWarning,
			expr:    b.rateAbove0(refused, node, "receiver"),
			forDur:  5 * time.Minute,
			summary: "A Lookout agent's receiver refuses data.",
			describe: func(n, v string) string {
				return fmt.Sprintf("Receiver {{ $labels.receiver }} of the Lookout agent on node %s refuses %s items/s: the pipeline behind it pushes back (memory limiter, full queue). Senders retry or lose the data.", n, v)
			},
			valueTmpl: perSecond, value: "1.00",
			fire: scenario{
				series:   counterInput(refused[0], map[string]string{"receiver": "otlp", "transport": "grpc"}, 60),
				activeAt: time.Minute, labels: map[string]string{node: testNode, "receiver": "otlp"},
			},
			silent: counterInput(refused[0], map[string]string{"receiver": "otlp", "transport": "grpc"}, 0),
		},
		{
			alert: AlertExporterSendFailing, severity: catalog.SeverityWarning,
			expr:    b.rateAbove0(sendFailed, node, "exporter"),
			forDur:  10 * time.Minute,
			summary: "A Lookout agent's exporter fails to send data.",
			describe: func(n, v string) string {
				return fmt.Sprintf("Exporter {{ $labels.exporter }} of the Lookout agent on node %s fails to send %s items/s to its backend. The data waits in the exporter's queue and is retried; it is lost if the queue fills.", n, v)
			},
			valueTmpl: perSecond, value: "2.00",
			fire: scenario{
				series:   counterInput(sendFailed[0], map[string]string{"exporter": "otlp_grpc/tempo"}, 120),
				activeAt: time.Minute, labels: map[string]string{node: testNode, "exporter": "otlp_grpc/tempo"},
			},
			silent: counterInput(sendFailed[0], map[string]string{"exporter": "otlp_grpc/tempo"}, 0),
		},
		{
			alert: AlertExporterDropping, severity: catalog.SeverityCritical,
			expr:    b.rateAbove0(enqueueFailed, node, "exporter") + "\nor\n" + b.appearedAbove0(enqueueFailed, node, "exporter"),
			forDur:  5 * time.Minute,
			summary: "A Lookout agent drops data: an exporter's queue is full.",
			describe: func(n, v string) string {
				return fmt.Sprintf("Exporter {{ $labels.exporter }} of the Lookout agent on node %s could not queue %s items/s: its sending queue is full and the data is dropped.", n, v)
			},
			valueTmpl: perSecond, value: "5.00",
			// The counter first seen at its total after an hour (the remote-write queue's own
			// drops, appearedAbove0): rate() stays 0, the alert must fire anyway.
			fire: scenario{
				series:   []InputSeries{{Series: b.agentSeries(enqueueFailed[0], map[string]string{"exporter": "prometheus_remote_write"}), Values: fmt.Sprintf("_x60 1500x%d", testMinutes-60)}},
				activeAt: time.Hour, labels: map[string]string{node: testNode, "exporter": "prometheus_remote_write"},
			},
			silent: counterInput(enqueueFailed[0], map[string]string{"exporter": "prometheus_remote_write"}, 0),
		},
		{
			alert: AlertExporterQueueFull, severity: catalog.SeverityWarning,
			expr: fmt.Sprintf("max by (%s, exporter) (%s{%s} / %s{%s}) > %s",
				node, queueSize, b.job, queueCap, b.job, sli.FormatFloat(c.QueueFullRatio)),
			forDur:  5 * time.Minute,
			summary: "A Lookout agent's exporter queue is nearly full.",
			describe: func(n, v string) string {
				return fmt.Sprintf("The sending queue of exporter {{ $labels.exporter }} on the Lookout agent on node %s is %s full (alert above %s). When it is full the agent drops data.", n, v, pct(c.QueueFullRatio))
			},
			valueTmpl: "{{ $value | humanizePercentage }}", value: pct((1 + c.QueueFullRatio) / 2),
			fire: scenario{
				series: []InputSeries{
					{Series: b.agentSeries(queueSize, map[string]string{"exporter": "otlp_grpc/tempo", "data_type": "traces"}), Values: constant(num(1000 * (1 + c.QueueFullRatio) / 2))},
					{Series: b.agentSeries(queueCap, map[string]string{"exporter": "otlp_grpc/tempo", "data_type": "traces"}), Values: constant("1000")},
				},
				labels: map[string]string{node: testNode, "exporter": "otlp_grpc/tempo"},
			},
			silent: []InputSeries{
				{Series: b.agentSeries(queueSize, map[string]string{"exporter": "otlp_grpc/tempo", "data_type": "traces"}), Values: constant(num(1000 * c.QueueFullRatio / 2))},
				{Series: b.agentSeries(queueCap, map[string]string{"exporter": "otlp_grpc/tempo", "data_type": "traces"}), Values: constant("1000")},
			},
		},
		{
			alert: AlertMemoryLimiterRefuses, severity: catalog.SeverityWarning,
			expr:    b.rateAbove0(limiterRefused, node),
			forDur:  5 * time.Minute,
			summary: "A Lookout agent's memory limiter refuses data.",
			describe: func(n, v string) string {
				return fmt.Sprintf("The memory limiter of the Lookout agent on node %s refuses %s items/s: the agent is near its memory limit, and receivers push back on their senders.", n, v)
			},
			valueTmpl: perSecond, value: "1.00",
			fire: scenario{
				series:   counterInput(limiterRefused[0], map[string]string{"processor": "memory_limiter"}, 60),
				activeAt: time.Minute, labels: map[string]string{node: testNode},
			},
			silent: counterInput(limiterRefused[0], map[string]string{"processor": "memory_limiter"}, 0),
		},
	}
	if ll := c.LogLag; ll != nil {
		specs = append(specs, simpleAlert{
			alert: AlertLogTailingLag, severity: catalog.SeverityWarning,
			expr:    fmt.Sprintf("max by (%s) (%s{%s}) > %s", node, ll.Metric, b.job, sli.FormatFloat(ll.Bytes)),
			forDur:  time.Duration(ll.For),
			summary: "A Lookout agent falls behind in reading pod logs.",
			describe: func(n, v string) string {
				return fmt.Sprintf("The Lookout agent on node %s has %s bytes of pod logs written but not yet read (alert above %s). Logs arrive late, and are lost if the kubelet rotates them away first.", n, v, sli.FormatFloat(ll.Bytes))
			},
			valueTmpl: "{{ $value | humanize1024 }}", value: humanize1024(2 * ll.Bytes),
			fire: scenario{
				series: []InputSeries{{Series: b.agentSeries(ll.Metric, nil), Values: constant(num(2 * ll.Bytes))}},
				labels: map[string]string{node: testNode},
			},
			silent: []InputSeries{{Series: b.agentSeries(ll.Metric, nil), Values: constant(num(ll.Bytes / 2))}},
		})
	}
	g := Group{Name: "lookout-agent"}
	for _, a := range specs {
		a.team, a.service, a.dashboard = team, ServiceAgent, dash
		if a.describe == nil {
			continue
		}
		sp := b.spec(a)
		g.Rules = append(g.Rules, sp.rule)
		f.specs = append(f.specs, sp)
	}
	f.Groups = []Group{g}
	return f, nil
}

// pct renders a ratio as Prometheus' humanizePercentage does.
func pct(r float64) string { return fmt.Sprintf("%.4g%%", r*100) }

// humanize1024 renders a value as Prometheus' humanize1024 does (for values >= 1024).
func humanize1024(v float64) string {
	prefixes := []string{"", "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"}
	i := 0
	for v >= 1024 && i < len(prefixes)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", v, prefixes[i])
}
