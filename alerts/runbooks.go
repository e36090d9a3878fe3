package alerts

import (
	"fmt"
	"path"
	"strings"

	"github.com/lookoutdev/lookout/internal/catalog"
)

// RunbookDir is where runbooks go, relative to the repository root.
const RunbookDir = "docs/runbooks"

// runbook is the hand-written part of an alert's runbook.
type runbook struct {
	meaning string
	check   []string
	act     []string
}

// runbookTexts holds what to check and what to do for every alert the catalog can generate.
func runbookTexts() map[string]runbook {
	return map[string]runbook{
		AlertErrorBudgetBurn: {
			meaning: "The service fails a larger share of its server requests (spans with status ERROR, from span metrics) than its availability SLO allows, fast enough that the error budget of the whole SLO window would be gone early. The critical alert (a page) fires on a fast burn over short windows; the warning (a ticket) on a slower burn over days. `burn_rate` in the notification is how many times faster than sustainable the budget is spent.",
			check: []string{
				"Open the service dashboard (`dashboard_url`): *Errors by operation* shows which operations fail; *Duration* whether they also slowed down.",
				"In the same dashboard, *Recent traces* lists failing traces; click a trace ID to see the trace and only its log lines.",
				"Did a deploy or config change happen at the start of the burn? Compare with the *Requests by operation* panel and your deploy history.",
				"Are the errors the service's own, or a dependency's? The trace shows which span failed first; check the dashboard of that downstream service.",
				"Is the traffic itself unusual (a spike, one client, a bad batch)? *Requests by operation* and the service's own HTTP panels tell.",
			},
			act: []string{
				"Roll back the change that started it, if there is one; that is the fastest way to stop the burn.",
				"If a dependency fails, page or ticket its owners (their team is in the catalog) and degrade gracefully if the service can.",
				"If it is load, scale out or shed load; then find out why the service failed instead of queueing.",
				"When the burn stops, the short window clears within minutes and the alert resolves; the budget already spent stays spent: the overview dashboard shows what is left.",
				"A ticket (warning) is not urgent: plan the fix within the week, before the budget runs out.",
			},
		},
		AlertLatencyBudgetBurn: {
			meaning: "Too large a share of the service's server requests take longer than the latency SLO's threshold (counted from the span-metrics duration histogram), fast enough that the latency error budget of the SLO window would be gone early. Critical pages on a fast burn, warning tickets on a slow one.",
			check: []string{
				"Open the service dashboard (`dashboard_url`): *Duration* shows p50/p95/p99; the dashed line is the SLO threshold.",
				"Which operations are slow? Compare *Requests by operation* and the service's own HTTP latency panel by handler.",
				"Pick a slow trace in *Recent traces*: the trace shows where the time goes (the service itself, a database, a downstream call).",
				"Is the service saturated? Look at its CPU, memory and goroutines panels, and at the node dashboard of its nodes.",
				"Did the traffic grow, or a deploy or config change land when latency rose?",
			},
			act: []string{
				"Roll back a change that made it slower; scale out if it is saturated.",
				"If a downstream call is slow, involve its owners; add timeouts or caching where the design allows.",
				"For a ticket (warning), plan the fix before the budget runs out; check the trend on the overview dashboard.",
			},
		},
		AlertAgentDown: {
			meaning: "A Lookout agent reported its own metrics during the last hour but not in the last five minutes. Either it is down or crash-looping, or it runs but cannot deliver to Prometheus. While it is down, its node's logs, metrics and traces are not collected (logs on disk are picked up when it comes back), and the node's other alerts are silenced by Alertmanager.",
			check: []string{
				"`kubectl -n <lookout namespace> get pods -o wide --field-selector spec.nodeName=<node>`: is the agent pod running, restarting, or pending?",
				"`kubectl logs --previous` of the agent pod: an OOM kill (`OOMKilled` in `kubectl describe pod`), a config error, or a panic?",
				"Does the node itself still exist and is it Ready (`kubectl get node <node>`)? If the node is gone, the alert clears within the hour.",
				"If the pod runs: can it reach Prometheus? Its logs show remote-write errors; the *Collector health* dashboard of other nodes shows whether every agent is affected (then it is Prometheus).",
			},
			act: []string{
				"OOM killed: raise the agent's memory limit in the Helm values, or lower `memory_limiter` limits so that it pushes back before it is killed.",
				"Config error after an upgrade: roll back the chart, then fix the values.",
				"Prometheus unreachable from every agent: fix Prometheus or the network; agents keep data in their queues (`segment_storage`, on disk) and send it when it is back.",
				"Node gone: nothing to do; the alert resolves by itself.",
			},
		},
		AlertReceiverRefusing: {
			meaning: "A receiver of the agent refuses data: the pipeline behind it (memory limiter, a full exporter queue) pushes back. OTLP senders get a retryable error and retry or drop on their side; the pod-log receiver pauses reading, so logs arrive late.",
			check: []string{
				"*Collector health* dashboard for the node: which receiver, and is the memory limiter refusing (processor row) or an exporter queue full (exporter row)?",
				"Is one backend slow or down? *Send failures* and *Queue fill* per exporter tell.",
				"Did the node's workload change (a chatty pod logging much more, a burst of spans)?",
			},
			act: []string{
				"If an exporter's backend is down or slow, fix the backend; the queue drains when it recovers.",
				"If the agent is at its memory limit, give it more memory or lower the batch sizes; see LookoutMemoryLimiterRefusingData.",
				"If one pod floods the agent, reduce its log volume or sample its spans.",
			},
		},
		AlertExporterSendFailing: {
			meaning: "An exporter of the agent fails to deliver to its backend (Prometheus, Loki or Tempo). Failed sends are retried with backoff from the exporter's queue; nothing is lost until the queue fills (then LookoutExporterDroppingData fires).",
			check: []string{
				"Which exporter (the `exporter` label) and so which backend? Is the backend up and reachable from the node?",
				"Agent logs on that node: the exporter logs the backend's error (HTTP status, message).",
				"Does every agent fail, or only this node's (a network policy, DNS, a node-level problem)? The *Collector health* dashboard with all nodes selected tells.",
				"Permanent errors (HTTP 400: too old, out of order, rejected labels) are dropped and counted, not retried: the log line says why.",
			},
			act: []string{
				"Backend down: restore it; queued data is sent when it is back.",
				"Authentication or TLS errors after a secret rotation: update the agent's secret and restart it.",
				"Backend rejecting data (limits): raise the backend's limits or reduce what the agent sends.",
			},
		},
		AlertExporterDropping: {
			meaning: "An exporter's sending queue is full and new data is dropped: this is data loss. It follows a backend that has been failing or too slow for longer than the queue can hold.",
			check: []string{
				"*Collector health*: *Queue fill* and *Send failures* for the exporter; how long has the backend been failing?",
				"Is the queue in memory or on disk (`segment_storage`)? A persistent queue holds more; its size is set in the agent's config.",
				"Is the agent sending more than the backend accepts (rate limits, slow ingestion)?",
			},
			act: []string{
				"Restore the backend first: nothing else stops the loss.",
				"If the backend is healthy but slow, raise the exporter's `num_consumers` or the backend's ingestion limits.",
				"Raise the queue size (and give it disk with `segment_storage`) so that the next outage of the same length loses nothing.",
			},
		},
		AlertExporterQueueFull: {
			meaning: "An exporter's sending queue is filling up: the backend takes data more slowly than the agent produces it, or not at all. When the queue is full the agent drops data (LookoutExporterDroppingData).",
			check: []string{
				"*Collector health*: *Queue size and capacity* and *Send failures* for the exporter.",
				"Is the backend failing (errors in the agent's logs) or only slow?",
				"Did the node's data volume grow (more pods, more logs)?",
			},
			act: []string{
				"Fix a failing backend; a slow one may need more ingestion capacity.",
				"Raise `sending_queue` size or consumers in the agent's config if the volume grew for good.",
			},
		},
		AlertMemoryLimiterRefuses: {
			meaning: "The agent's memory limiter refuses data because the agent is near its memory limit. Receivers push back on their senders; logs are read later; spans may be dropped by SDKs whose buffers fill.",
			check: []string{
				"*Collector health*: *Resident memory* and *Go heap* of the agent on that node, against its limit.",
				"What fills memory: a full exporter queue in memory (a backend down), or a burst of data?",
				"Are batch sizes or queue sizes set larger than the memory limit allows?",
			},
			act: []string{
				"If a backend is down, restore it: the in-memory queue drains and memory drops.",
				"Give the agent more memory (Helm values) and keep `memory_limiter` at about 80% of the container limit.",
				"Move queues to `segment_storage` so that they hold data on disk instead of memory.",
			},
		},
		AlertLogTailingLag: {
			meaning: "The agent is behind in reading pod log files: bytes are written faster than it reads and ships them. Logs arrive late in Loki, and lines are lost if the kubelet rotates a file away before the agent has read it.",
			check: []string{
				"*Collector health*: is the agent CPU-bound, or is the logs exporter failing or slow (queue filling)?",
				"Which pods log the most on that node? A single pod writing megabytes per second can outrun the agent.",
				"Is the memory limiter refusing data (then reading is paused on purpose)?",
			},
			act: []string{
				"Give the agent more CPU, or fix the logs backend if it is slow.",
				"Reduce the log volume of the noisiest pods, or raise their rotation size so that nothing is rotated away unread.",
			},
		},
		AlertNodeFilesystem: {
			meaning: "A file system of the node is filling up. When it is full, the kubelet evicts pods, containers cannot write logs, and the agent's persistent queues cannot grow.",
			check: []string{
				"*Nodes* dashboard: *File systems used* for the node and mount point; how fast is it growing?",
				"On the node: `du -xh --max-depth=2 <mountpoint> | sort -h | tail` to find what grows (container logs under /var/log/pods, images under /var/lib/containerd, emptyDir volumes under /var/lib/kubelet).",
				"Is the agent's own state directory (its queues) large because a backend has been down?",
			},
			act: []string{
				"Remove what should not be there (old images: `crictl rmi --prune`; runaway logs: fix the pod that writes them).",
				"Grow the volume, or move the growing data to a larger disk.",
				"If the agent's queues are large, restore the backend they wait for.",
			},
		},
		AlertNodeMemory: {
			meaning: "The node's used memory (excluding page cache and buffers) is high. Soon the kernel reclaims cache hard (everything slows down), then the kubelet evicts pods or the OOM killer kills processes.",
			check: []string{
				"*Nodes* dashboard: *Memory used* over time, and *Top pods by memory working set* on that node.",
				"Do those pods have memory limits? Pods without limits can take the whole node.",
				"Is it one pod growing (a leak) or many pods scheduled there (requests too low)?",
			},
			act: []string{
				"Set or lower memory limits of the pods that grow; restart a leaking pod and report the leak to its owners.",
				"Raise memory requests so that the scheduler does not overcommit the node; add nodes if the cluster is full.",
			},
		},
		AlertNodeCPU: {
			meaning: "The node's CPUs are busy on average above the threshold for a while. Pods on it are throttled or wait for CPU, and their latency grows.",
			check: []string{
				"*Nodes* dashboard: *CPU busy*, *Load average* and *Top pods by CPU* for the node.",
				"Is one pod using far more than its request (no CPU limit)?",
				"Is the agent itself among the top consumers (see *Collector health*)?",
			},
			act: []string{
				"Set CPU requests that match the usage, so that the scheduler spreads the load; add nodes if the cluster is full.",
				"Fix or limit the pod that spins.",
			},
		},
	}
}

// Runbooks renders docs/runbooks/<alert>.md for every generated alert.
func Runbooks(c *catalog.Catalog, rs *RuleSet) (map[string][]byte, error) {
	out := map[string][]byte{}
	texts := runbookTexts()
	for _, a := range rs.Alerts {
		rb, ok := texts[a.Name]
		if !ok {
			return nil, fmt.Errorf("alert %s has no runbook text in alerts/runbooks.go", a.Name)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "<!-- %s -->\n\n", GeneratedNotice(c.File))
		fmt.Fprintf(&b, "# %s\n\n", a.Name)
		fmt.Fprintf(&b, "%s\n\n", a.Summary)
		fmt.Fprintf(&b, "| | |\n|---|---|\n| Severity | %s |\n| Routed to | %s |\n\n",
			strings.Join(a.Severities, ", "), strings.Join(routes(c, a), "; "))
		fmt.Fprintf(&b, "## What it means\n\n%s\n\n", rb.meaning)
		if a.Kind == "slo" {
			b.WriteString("## Services and their SLOs\n\n| Service | Team | Tier | SLO | Dashboard |\n|---|---|---|---|---|\n")
			for _, s := range a.Services {
				kind := SLOAvailability
				if a.Name == AlertLatencyBudgetBurn {
					kind = SLOLatency
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %s | [%s](%s) |\n", s.ID, s.Team, s.Tier, sloText(s, kind),
					catalog.ServiceDashboardUID(s.ID), c.DashboardURL(catalog.ServiceDashboardUID(s.ID)))
			}
			b.WriteString("\nBurn-rate windows:\n\n")
			for _, sa := range c.Settings.SLO.Alerts {
				fmt.Fprintf(&b, "- %s: %s, for %s\n", sa.Severity, thresholdText(sa), sa.For)
			}
			b.WriteString("\nTier 3 services never page: only their warning is generated.\n\n")
		}
		b.WriteString("## What to check\n\n")
		for i, s := range rb.check {
			fmt.Fprintf(&b, "%d. %s\n", i+1, s)
		}
		b.WriteString("\n## What to do\n\n")
		for _, s := range rb.act {
			fmt.Fprintf(&b, "- %s\n", s)
		}
		b.WriteString("\n## Dashboards\n\n")
		for _, d := range dashboardsFor(c, a) {
			fmt.Fprintf(&b, "- %s\n", d)
		}
		out[path.Join(RunbookDir, a.Name+".md")] = []byte(b.String())
	}
	return out, nil
}

func routes(c *catalog.Catalog, a *Alert) []string {
	var out []string
	for _, team := range a.Teams {
		for _, sev := range a.Severities {
			t := c.TeamByID(team)
			dest := t.Slack.Channel + " on Slack"
			if sev == catalog.SeverityCritical {
				dest = "PagerDuty (" + t.Name + ")"
			}
			out = append(out, fmt.Sprintf("%s: team %s → %s", sev, team, dest))
		}
	}
	return out
}

func dashboardsFor(c *catalog.Catalog, a *Alert) []string {
	link := func(title, uid string) string { return fmt.Sprintf("[%s](%s)", title, c.DashboardURL(uid)) }
	switch a.Kind {
	case "slo":
		return []string{link("Services overview", catalog.OverviewUID) + ": every service's error ratio, latency and budget left",
			"each service's own dashboard, linked in the table above and in the alert's `dashboard_url`"}
	case "collector":
		return []string{link("Collector health", catalog.CollectorUID), link("Nodes", catalog.NodesUID)}
	default:
		return []string{link("Nodes", catalog.NodesUID), link("Collector health", catalog.CollectorUID)}
	}
}
