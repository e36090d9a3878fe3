package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/sli"
)

// GeneratedDir is where the dashboards go, relative to the repository root.
const GeneratedDir = "dashboards/generated"

// Build returns every dashboard of a catalog, keyed by file name.
func Build(c *catalog.Catalog) (map[string]dashboard.Dashboard, error) {
	q, err := sli.New(c)
	if err != nil {
		return nil, err
	}
	builders := map[string]*dashboard.DashboardBuilder{"overview.json": overview(c, q)}
	var errs []error
	for _, s := range c.Services {
		b, err := serviceDashboard(c, q, s)
		errs = append(errs, err)
		builders["service-"+s.ID+".json"] = b
	}
	nb, err := nodesDashboard(c)
	errs = append(errs, err)
	builders["nodes.json"] = nb
	cb, err := collectorDashboard(c)
	errs = append(errs, err)
	builders["collector.json"] = cb
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := map[string]dashboard.Dashboard{}
	for name, b := range builders {
		d, err := b.Build()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		out[name] = d
	}
	return out, errors.Join(errs...)
}

// Render returns the dashboards' JSON, keyed by path relative to the repository root.
func Render(c *catalog.Catalog) (map[string][]byte, error) {
	ds, err := Build(c)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	names := make([]string, 0, len(ds))
	for n := range ds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(ds[n]); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		out[path.Join(GeneratedDir, n)] = buf.Bytes()
	}
	return out, nil
}
