// Package generate turns a service catalog into every artifact Lookout commits: Grafana
// dashboards (dashboards/generated), Prometheus rules, their promtool tests, a PrometheusRule
// manifest and the Alertmanager config (alerts/generated), and runbooks (docs/runbooks). Output
// is deterministic: the same catalog and metric list give the same bytes.
//
// `lookout catalog generate` and `go generate ./internal/catalog/generate` both call it; the
// latter does not need the collector distribution built.
package generate

//go:generate go run ../cmd/catalog generate --catalog ../../../demo/catalog.yaml --out ../../..

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lookoutdev/lookout/alerts"
	"github.com/lookoutdev/lookout/dashboards"
	"github.com/lookoutdev/lookout/internal/catalog"
	"github.com/lookoutdev/lookout/internal/catalog/emitted"
)

// DefaultCatalog is the demo's catalog, relative to the repository root.
const DefaultCatalog = "demo/catalog.yaml"

// OwnedDirs returns the directories whose files the generator owns: files there that it does not
// generate are stale and removed by Write.
func OwnedDirs() []string {
	return []string{alerts.GeneratedDir, dashboards.GeneratedDir, alerts.RunbookDir}
}

// Load reads and validates a catalog; name is how generated files and errors refer to it.
func Load(path, name string) (*catalog.Catalog, error) {
	metrics, err := emitted.Default()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return catalog.Parse(name, b, metrics)
}

// Files generates every artifact of a catalog, keyed by slash-separated path relative to the
// output root.
func Files(c *catalog.Catalog) (map[string][]byte, error) {
	rs, err := alerts.Build(c)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	out := map[string][]byte{}
	add := func(files map[string][]byte, err error) error {
		if err != nil {
			return err
		}
		for p, b := range files {
			if _, dup := out[p]; dup {
				return fmt.Errorf("%s generated twice", p)
			}
			out[p] = b
		}
		return nil
	}
	if err := add(alerts.Render(c, rs)); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	if err := add(alerts.Runbooks(c, rs)); err != nil {
		return nil, fmt.Errorf("runbooks: %w", err)
	}
	if err := add(dashboards.Render(c)); err != nil {
		return nil, fmt.Errorf("dashboards: %w", err)
	}
	return out, nil
}

// Change is one difference between generated files and what is on disk.
type Change struct {
	Path string
	// Kind is "new", "changed" or "stale" (on disk in an owned directory, no longer generated).
	Kind string
}

func (c Change) String() string { return c.Kind + " " + c.Path }

// Diff compares generated files with the files under root.
func Diff(root string, files map[string][]byte) ([]Change, error) {
	var out []Change
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			out = append(out, Change{p, "new"})
		case err != nil:
			return nil, err
		case !bytes.Equal(got, want):
			out = append(out, Change{p, "changed"})
		}
	}
	for _, dir := range OwnedDirs() {
		err := filepath.WalkDir(filepath.Join(root, filepath.FromSlash(dir)), func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if _, ok := files[rel]; !ok && generatedName(rel) {
				out = append(out, Change{rel, "stale"})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// generatedName reports whether a file in an owned directory is of a kind the generator writes
// (so that a README someone adds there is left alone).
func generatedName(p string) bool {
	for _, ext := range []string{".yaml", ".json", ".md", ".tmpl"} {
		if strings.HasSuffix(p, ext) && !strings.HasSuffix(p, "/README.md") {
			return true
		}
	}
	return false
}

// Write brings root in line with files: writes new and changed files, removes stale ones.
func Write(root string, files map[string][]byte) ([]Change, error) {
	changes, err := Diff(root, files)
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		path := filepath.Join(root, filepath.FromSlash(c.Path))
		if c.Kind == "stale" {
			if err := os.Remove(path); err != nil {
				return nil, err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, files[c.Path], 0o644); err != nil {
			return nil, err
		}
	}
	return changes, nil
}
