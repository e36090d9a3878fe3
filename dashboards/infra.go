package dashboards

import (
	"errors"
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

// names looks metrics up by their name before translation, collecting what is missing.
type names struct {
	l    *emitted.List
	errs []error
}

func (n *names) get(from string) string {
	name, err := n.l.Named(from)
	if err != nil {
		n.errs = append(n.errs, err)
		return from
	}
	return name
}

// perSignal returns the span, metric-point and log-record variants of a telemetry counter that
// the agent emits, with the signal's display name.
func (n *names) perSignal(prefix string) [][2]string {
	var out [][2]string
	for _, s := range [][2]string{{"spans", "spans"}, {"metric_points", "metric points"}, {"log_records", "log records"}} {
		if name, err := n.l.Named(prefix + s[0]); err == nil {
			out = append(out, [2]string{name, s[1]})
		}
	}
	if len(out) == 0 {
		n.errs = append(n.errs, fmt.Errorf("the agent emits no %s* counter", prefix))
	}
	return out
}

func (n *names) err() error { return errors.Join(n.errs...) }

// nodeVar is a variable listing the nodes that report metric.
func nodeVar(label, metric, selector string) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s{%s}, %s)", metric, selector, label)
	return dashboard.NewQueryVariableBuilder(VarNode).Label("Node").
		Datasource(ds(TypePrometheus, VarPrometheus)).
		Query(dashboard.StringOrMap{Map: map[string]any{"query": q, "refId": "nodes", "qryType": 1}}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".+")
}

// --- nodes ---------------------------------------------------------------------------------------

func nodesDashboard(c *catalog.Catalog) (*dashboard.DashboardBuilder, error) {
	n := &names{l: c.Metrics}
	node := c.Settings.Labels.Node
	sel := fmt.Sprintf(`%s=~"$%s"`, node, VarNode)
	with := func(extra string) string { return "{" + sel + extra + "}" }
	cpu := n.get("system.cpu.time")
	load := n.get("system.cpu.load_average.1m")
	mem := n.get("system.memory.usage")
	fs := n.get("system.filesystem.usage")
	netIO := n.get("system.network.io")
	diskIO := n.get("system.disk.io")
	nodeCPU := n.get("k8s.node.cpu.usage")
	nodeWS := n.get("k8s.node.memory.working_set")
	podCPU := n.get("k8s.pod.cpu.usage")
	podWS := n.get("k8s.pod.memory.working_set")
	podNet := n.get("k8s.pod.network.io")
	if err := n.err(); err != nil {
		return nil, fmt.Errorf("node dashboard: %w", err)
	}
	legend := "{{" + node + "}}"
	d := newDashboard(catalog.NodesUID, "Lookout / Nodes",
		"Host metrics (host_metrics receiver) and kubelet metrics (kubelet_stats receiver) of every node running the Lookout agent.", "nodes").
		WithVariable(nodeVar(node, cpu, "")).
		Link(dashboardLink("Collector health", c.DashboardURL(catalog.CollectorUID))).
		Link(dashboardLink("Services overview", c.DashboardURL(catalog.OverviewUID)))
	d = d.WithRow(dashboard.NewRowBuilder("Host")).
		// Idle time over all CPU time, not 1 - avg(idle): the host_metrics receiver leaves out the
		// per-CPU label by default (opt-in), so one idle series counts every core's idle seconds.
		WithPanel(series("CPU busy", "percentunit", prom(fmt.Sprintf("1 - (\n  sum by (%[1]s) (rate(%[2]s%[3]s[%[5]s]))\n  /\n  sum by (%[1]s) (rate(%[2]s%[4]s[%[5]s]))\n)", node, cpu, with(`, state="idle"`), with(""), rateWindow), legend)).Min(0).Max(1)).
		WithPanel(series("Load average (1m)", "short", prom(fmt.Sprintf(`max by (%s) (%s%s)`, node, load, with("")), legend)).Min(0)).
		WithPanel(series("Memory used", "percentunit", prom(fmt.Sprintf("sum by (%[1]s) (%[2]s%[3]s)\n/\nsum by (%[1]s) (%[2]s%[4]s)", node, mem, with(`, state="used"`), with(`, state=~"used|free|buffered|cached"`)), legend)).Min(0).Max(1)).
		WithPanel(series("File systems used", "percentunit", prom(fmt.Sprintf("sum by (%[1]s, mountpoint) (%[2]s%[3]s)\n/\nsum by (%[1]s, mountpoint) (%[2]s%[4]s)", node, fs, with(`, state="used"`), with(`, state=~"used|free"`)), legend+" {{mountpoint}}")).Min(0).Max(1)).
		WithPanel(series("Network", "Bps", prom(fmt.Sprintf(`sum by (%s, direction) (rate(%s%s[%s]))`, node, netIO, with(`, device!="lo"`), rateWindow), legend+" {{direction}}"))).
		WithPanel(series("Disk I/O", "Bps", prom(fmt.Sprintf(`sum by (%s, direction) (rate(%s%s[%s]))`, node, diskIO, with(""), rateWindow), legend+" {{direction}}")))
	d = d.WithRow(dashboard.NewRowBuilder("Kubelet")).
		WithPanel(series("Node CPU (cores)", "short", prom(fmt.Sprintf(`sum by (%s) (%s%s)`, node, nodeCPU, with("")), legend)).Min(0)).
		WithPanel(series("Node memory working set", "bytes", prom(fmt.Sprintf(`sum by (%s) (%s%s)`, node, nodeWS, with("")), legend)).Min(0)).
		WithPanel(series("Pod network", "Bps", prom(fmt.Sprintf(`topk(10, sum by (k8s_namespace_name, k8s_pod_name) (rate(%s%s[%s])))`, podNet, with(""), rateWindow), "{{k8s_namespace_name}}/{{k8s_pod_name}}"))).
		WithPanel(series("Top pods by CPU (cores)", "short", prom(fmt.Sprintf(`topk(10, sum by (k8s_namespace_name, k8s_pod_name) (%s%s))`, podCPU, with("")), "{{k8s_namespace_name}}/{{k8s_pod_name}}")).Span(12)).
		WithPanel(series("Top pods by memory working set", "bytes", prom(fmt.Sprintf(`topk(10, sum by (k8s_namespace_name, k8s_pod_name) (%s%s))`, podWS, with("")), "{{k8s_namespace_name}}/{{k8s_pod_name}}")).Span(12))
	return d, nil
}

// --- collector -----------------------------------------------------------------------------------

func collectorDashboard(c *catalog.Catalog) (*dashboard.DashboardBuilder, error) {
	n := &names{l: c.Metrics}
	node := c.Settings.Labels.Node
	job := fmt.Sprintf(`job=%q`, c.Settings.Collector.Job)
	sel := fmt.Sprintf(`{%s, %s=~"$%s"}`, job, node, VarNode)
	uptime := n.get("otelcol_process_uptime")
	cpu := n.get("otelcol_process_cpu_seconds")
	rss := n.get("otelcol_process_memory_rss")
	heap := n.get("otelcol_process_runtime_heap_alloc_bytes")
	qSize := n.get("otelcol_exporter_queue_size")
	qCap := n.get("otelcol_exporter_queue_capacity")
	accepted := n.perSignal("otelcol_receiver_accepted_")
	refused := n.perSignal("otelcol_receiver_refused_")
	failed := n.perSignal("otelcol_receiver_failed_")
	limiter := n.perSignal("otelcol_processor_memory_limiter_refused_")
	limiterAccepted := n.perSignal("otelcol_processor_memory_limiter_accepted_")
	sent := n.perSignal("otelcol_exporter_sent_")
	sendFailed := n.perSignal("otelcol_exporter_send_failed_")
	dropped := n.perSignal("otelcol_exporter_enqueue_failed_")
	procIn := n.get("otelcol_processor_incoming_items")
	procOut := n.get("otelcol_processor_outgoing_items")
	if err := n.err(); err != nil {
		return nil, fmt.Errorf("collector dashboard: %w", err)
	}
	// perComponent is items/s by node, component and signal, in one query; zero is the series of
	// the zero family (a counter every such component has), shown for components whose counter
	// has not been created yet because nothing happened.
	perComponent := func(title, component string, ms, zero [][2]string) *timeseriesPanel {
		var parts []string
		term := func(m [2]string) string {
			return fmt.Sprintf(`label_replace(sum by (%s, %s) (rate(%s%s[%s])), "signal", %q, "", "")`, node, component, m[0], sel, rateWindow, m[1])
		}
		for _, m := range ms {
			parts = append(parts, term(m))
		}
		for _, m := range zero {
			parts = append(parts, term(m)+" * 0")
		}
		return series(title, "short", prom(strings.Join(parts, "\nor\n"),
			fmt.Sprintf("{{%s}} {{%s}} {{signal}}", node, component))).Min(0)
	}
	legend := "{{" + node + "}}"
	d := newDashboard(catalog.CollectorUID, "Lookout / Collector health",
		"The Lookout agents' own telemetry: what each receiver accepted and refused, what processors and exporters passed on, dropped or failed to send, queue fill, memory limiter, CPU and memory of each agent.", "collector").
		WithVariable(nodeVar(node, uptime, job)).
		Link(dashboardLink("Nodes", c.DashboardURL(catalog.NodesUID))).
		Link(dashboardLink("Services overview", c.DashboardURL(catalog.OverviewUID)))
	d = d.WithRow(dashboard.NewRowBuilder("Receivers (items/s)")).
		WithPanel(perComponent("Accepted", "receiver", accepted, nil)).
		WithPanel(perComponent("Refused (pushed back to the sender)", "receiver", refused, accepted)).
		WithPanel(perComponent("Failed", "receiver", failed, accepted))
	d = d.WithRow(dashboard.NewRowBuilder("Processors (items/s)")).
		WithPanel(perComponent("Refused by the memory limiter", "processor", limiter, limiterAccepted)).
		WithPanel(series("Incoming and outgoing", "short",
			prom(fmt.Sprintf(`sum by (%s, processor) (rate(%s%s[%s]))`, node, procIn, sel, rateWindow), fmt.Sprintf("{{%s}} {{processor}} in", node)),
			prom(fmt.Sprintf(`sum by (%s, processor) (rate(%s%s[%s]))`, node, procOut, sel, rateWindow), fmt.Sprintf("{{%s}} {{processor}} out", node)),
		).Min(0)).
		WithPanel(series("Dropped by processors (in - out)", "short",
			prom(fmt.Sprintf("sum by (%[1]s, processor) (rate(%[2]s%[4]s[%[5]s]))\n-\nsum by (%[1]s, processor) (rate(%[3]s%[4]s[%[5]s]))", node, procIn, procOut, sel, rateWindow), fmt.Sprintf("{{%s}} {{processor}}", node)),
		))
	d = d.WithRow(dashboard.NewRowBuilder("Exporters")).
		WithPanel(perComponent("Sent (items/s)", "exporter", sent, nil)).
		WithPanel(perComponent("Send failures (items/s, retried)", "exporter", sendFailed, sent)).
		WithPanel(perComponent("Dropped: queue full (items/s)", "exporter", dropped, sent)).
		WithPanel(series("Queue size and capacity", "short",
			prom(fmt.Sprintf(`max by (%s, exporter) (%s%s)`, node, qSize, sel), fmt.Sprintf("{{%s}} {{exporter}} size", node)),
			prom(fmt.Sprintf(`max by (%s, exporter) (%s%s)`, node, qCap, sel), fmt.Sprintf("{{%s}} {{exporter}} capacity", node)),
		).Span(12).Min(0)).
		WithPanel(series("Queue fill", "percentunit",
			prom(fmt.Sprintf(`max by (%s, exporter) (%s%s / %s%s)`, node, qSize, sel, qCap, sel), fmt.Sprintf("{{%s}} {{exporter}}", node)),
		).Span(12).Min(0).Max(1).Thresholds(thresholds("green", c.Settings.Collector.QueueFullRatio, "red")))
	d = d.WithRow(dashboard.NewRowBuilder("Agent process")).
		WithPanel(series("CPU (cores)", "short", prom(fmt.Sprintf(`sum by (%s) (rate(%s%s[%s]))`, node, cpu, sel, rateWindow), legend)).Span(6).Min(0)).
		WithPanel(series("Resident memory", "bytes", prom(fmt.Sprintf(`sum by (%s) (%s%s)`, node, rss, sel), legend)).Span(6).Min(0)).
		WithPanel(series("Go heap", "bytes", prom(fmt.Sprintf(`sum by (%s) (%s%s)`, node, heap, sel), legend)).Span(6).Min(0)).
		WithPanel(series("Uptime", "s", prom(fmt.Sprintf(`max by (%s) (%s%s)`, node, uptime, sel), legend)).Span(6).Min(0))
	return d, nil
}

// variableQueries returns the PromQL selectors inside label_values(...) variable definitions.
func variableQuery(def string) (string, bool) {
	inner, ok := strings.CutPrefix(def, "label_values(")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(inner, ",")
	if i < 0 {
		return "", false
	}
	return strings.TrimSpace(inner[:i]), true
}
