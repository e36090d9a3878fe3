package alerts

import (
	"errors"
	"fmt"
	"time"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/sli"
)

// nodeFile builds the host alerts, from the agent's host metrics.
func (b *builder) nodeFile() (*RuleFile, error) {
	ns := b.c.Settings.Node
	node := b.node
	var errs []error
	need := func(from string) string {
		n, err := b.metric(from)
		errs = append(errs, err)
		return n
	}
	fs := need("system.filesystem.usage")
	mem := need("system.memory.usage")
	cpu := need("system.cpu.time")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("node alerts: %w", err)
	}
	for _, a := range []string{AlertNodeFilesystem, AlertNodeMemory, AlertNodeCPU} {
		b.kinds[a] = "node"
	}
	dash := func(n string) string { return b.c.DashboardURL(catalog.NodesUID, "node="+n) }
	host := func(extra map[string]string) map[string]string {
		return labels(map[string]string{node: testNode, "k8s_cluster_name": "ci"}, extra)
	}
	disk := map[string]string{"device": "/dev/vda1", "mountpoint": "/", "type": "ext4", "mode": "rw"}
	fsInput := func(used float64) []InputSeries {
		return []InputSeries{
			{Series: seriesName(fs, host(labels(disk, map[string]string{"state": "used"}))), Values: constant(num(used * 1e9))},
			{Series: seriesName(fs, host(labels(disk, map[string]string{"state": "free"}))), Values: constant(num((1 - used) * 1e9))},
			{Series: seriesName(fs, host(labels(disk, map[string]string{"state": "reserved"}))), Values: constant("5e7")},
		}
	}
	fsExpr := func(ratio float64) string {
		return fmt.Sprintf("(\n  sum by (%[1]s, device, mountpoint) (%[2]s{state=\"used\"})\n  /\n  sum by (%[1]s, device, mountpoint) (%[2]s{state=~\"used|free\"})\n) > %[3]s",
			node, fs, sli.FormatFloat(ratio))
	}
	fsDescribe := func(limit float64) func(n, v string) string {
		return func(n, v string) string {
			return fmt.Sprintf("File system {{ $labels.mountpoint }} ({{ $labels.device }}) on node %s is %s full (alert above %s). When it fills, pods on the node are evicted and logs stop being written.", n, v, pct(limit))
		}
	}
	fsLabels := map[string]string{node: testNode, "device": "/dev/vda1", "mountpoint": "/"}
	memInput := func(used float64) []InputSeries {
		var out []InputSeries
		for state, share := range map[string]float64{"used": used, "free": (1 - used) / 2, "cached": (1 - used) / 4, "buffered": (1 - used) / 4, "slab_reclaimable": 0.01} {
			out = append(out, InputSeries{Series: seriesName(mem, host(map[string]string{"state": state})), Values: constant(num(share * 16e9))})
		}
		sortSeries(out)
		return out
	}
	// What the agent sends: one series per state, summed over the node's CPUs (the receiver's
	// per-CPU label is opt-in), here for a node with 4 cores.
	cpuInput := func(idle float64) []InputSeries {
		const cores = 4
		var out []InputSeries
		for state, share := range map[string]float64{"idle": idle, "user": (1 - idle) * 0.7, "system": (1 - idle) * 0.3} {
			out = append(out, InputSeries{Series: seriesName(cpu, host(map[string]string{"state": state})), Values: fmt.Sprintf("0+%sx%d", num(share*60*cores), testMinutes)})
		}
		sortSeries(out)
		return out
	}
	midFS := (ns.FilesystemWarning + ns.FilesystemCritical) / 2
	topFS := (ns.FilesystemCritical + 1) / 2
	specs := []simpleAlert{
		{
			alert: AlertNodeFilesystem, severity: catalog.SeverityWarning,
			expr: fsExpr(ns.FilesystemWarning), forDur: 15 * time.Minute,
			summary:   "A node's file system is filling up.",
			describe:  fsDescribe(ns.FilesystemWarning),
			valueTmpl: "{{ $value | humanizePercentage }}", value: pct(midFS),
			fire:   scenario{series: fsInput(midFS), labels: fsLabels},
			silent: fsInput(ns.FilesystemWarning / 2),
		},
		{
			alert: AlertNodeFilesystem, severity: catalog.SeverityCritical,
			expr: fsExpr(ns.FilesystemCritical), forDur: 5 * time.Minute,
			summary:   "A node's file system is filling up.",
			describe:  fsDescribe(ns.FilesystemCritical),
			valueTmpl: "{{ $value | humanizePercentage }}", value: pct(topFS),
			// The warning holds too, but waits longer.
			fire:   scenario{series: fsInput(topFS), labels: fsLabels, alsoHolds: []string{catalog.SeverityWarning}},
			silent: fsInput(ns.FilesystemWarning / 2),
		},
		{
			alert: AlertNodeMemory, severity: catalog.SeverityWarning,
			expr: fmt.Sprintf("sum by (%[1]s) (%[2]s{state=\"used\"})\n/\nsum by (%[1]s) (%[2]s{state=~\"used|free|buffered|cached\"})\n> %[3]s",
				node, mem, sli.FormatFloat(ns.MemoryWarning)),
			forDur:  15 * time.Minute,
			summary: "A node is running out of memory.",
			describe: func(n, v string) string {
				return fmt.Sprintf("Node %s uses %s of its memory (alert above %s). The kernel will soon reclaim page cache hard, then kill processes.", n, v, pct(ns.MemoryWarning))
			},
			valueTmpl: "{{ $value | humanizePercentage }}", value: pct((ns.MemoryWarning + 1) / 2),
			fire:   scenario{series: memInput((ns.MemoryWarning + 1) / 2), labels: map[string]string{node: testNode}},
			silent: memInput(ns.MemoryWarning / 2),
		},
		{
			alert: AlertNodeCPU, severity: catalog.SeverityWarning,
			// Idle time over all CPU time: the host_metrics receiver leaves out the per-CPU label
			// by default (opt-in), so the idle series of a node counts every core's idle seconds.
			expr: fmt.Sprintf("1 - (\n  sum by (%[1]s) (rate(%[2]s{state=\"idle\"}[5m]))\n  /\n  sum by (%[1]s) (rate(%[2]s[5m]))\n)\n> %[3]s",
				node, cpu, sli.FormatFloat(ns.CPUWarning)),
			forDur:  15 * time.Minute,
			summary: "A node's CPUs are saturated.",
			describe: func(n, v string) string {
				return fmt.Sprintf("The CPUs of node %s are %s busy on average over 5 minutes (alert above %s). Requests on its pods slow down.", n, v, pct(ns.CPUWarning))
			},
			valueTmpl: "{{ $value | humanizePercentage }}", value: pct((ns.CPUWarning + 1) / 2),
			fire: scenario{
				series: cpuInput(1 - (ns.CPUWarning+1)/2), activeAt: time.Minute,
				labels: map[string]string{node: testNode},
			},
			silent: cpuInput(1 - ns.CPUWarning/2),
		},
	}
	g := Group{Name: "node"}
	f := &RuleFile{Name: "node.yaml"}
	for _, a := range specs {
		a.team, a.service, a.dashboard = ns.Team, ServiceNode, dash
		sp := b.spec(a)
		g.Rules = append(g.Rules, sp.rule)
		f.specs = append(f.specs, sp)
	}
	f.Groups = []Group{g}
	return f, nil
}
