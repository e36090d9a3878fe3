package generate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/alerts"
	"github.com/lookoutdev/lookout/dashboards"
	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/emitted/derive"
	"github.com/lookoutdev/lookout/internal/catalog/querycheck"
	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// TestLocalConfigFeedsDashboards checks that the built-in local config (what `make run` and the
// end-to-end test run) emits every metric that the overview, service and collector dashboards and
// the SLO and agent rules use, so that their queries can return data on the demo stack. The node
// dashboard's kubelet panels and rules are left out: there is no kubelet on a laptop.
func TestLocalConfigFeedsDashboards(t *testing.T) {
	root := lookouttest.RepoRoot()
	local, err := derive.Derive(context.Background(), derive.Options{RepoRoot: root, Config: "collector/config/local.yaml"})
	require.NoError(t, err)
	c, err := Load(filepath.Join(root, DefaultCatalog), DefaultCatalog)
	require.NoError(t, err)
	require.Equal(t, c.Metrics.SpanMetrics, local.SpanMetrics, "span metrics differ between the agent and local configs")
	require.Equal(t, c.Settings.Collector.Job, local.SelfScrapeJob)
	// The catalog checked against the local config's metrics instead of the agent's.
	lc := *c
	lc.Metrics = local
	known := func(s *catalog.Service) func(string) error {
		return func(name string) error { return lc.KnownMetric(s, name) }
	}

	files, err := dashboards.Render(c)
	require.NoError(t, err)
	checked := 0
	for p, b := range files {
		if strings.HasSuffix(p, "/nodes.json") {
			continue
		}
		qs, err := dashboards.Queries(b)
		require.NoError(t, err)
		for _, q := range qs {
			if q.Datasource != dashboards.TypePrometheus {
				continue
			}
			expr, err := q.PromQL(nil)
			require.NoError(t, err)
			var svc *catalog.Service
			if id, ok := strings.CutPrefix(q.Dashboard, "svc-"); ok {
				svc = c.ServiceByID(id)
			}
			require.NoError(t, querycheck.Check(expr, known(svc)), "%s %q", p, q.Panel)
			checked++
		}
	}
	rs, err := alerts.Build(c)
	require.NoError(t, err)
	records := rs.Records()
	for key, expr := range rs.Exprs() {
		if strings.HasPrefix(key, "node.yaml/") {
			continue
		}
		err := querycheck.Check(expr, func(name string) error {
			if records[name] {
				return nil
			}
			return local.Unconditional(name)
		})
		require.NoError(t, err, key)
		checked++
	}
	t.Logf("%d queries use only metrics the local config emits", checked)
}
