// Package helm keeps Lookout's Helm chart (deploy/helm/lookout) and what is generated from it or
// for it: the chart's copies of the repository catalog's dashboards and alerts (Helm reads files
// only from inside the chart; they are generated from demo/catalog.yaml exactly as
// dashboards/generated and alerts/generated are), the values table of the chart's README (from the comments in
// values.yaml), and the plain manifests in deploy/manifests (`helm template` with the default
// values).
//
// `go generate ./deploy/helm` (or `make generate`) rewrites them all; the package's tests fail
// when any is stale, and check the chart itself: `helm lint`, `helm template` for the default
// values, every ci/*.yaml and every preset combination, strict decoding of every object into its
// Kubernetes type, policy checks, and `lookout validate` on the config the agent would run.
package helm

//go:generate go run ./internal/generate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/lookoutdev/lookout/internal/catalog/generate"
)

const (
	// Release and Namespace are the release name and namespace of the rendered manifests.
	Release   = "lookout"
	Namespace = "lookout"
	// KubeVersion is the Kubernetes version `helm template` renders for. A helm built with
	// `go install` (as deploy/local/install.sh builds it) assumes v1.20 otherwise, below the
	// chart's kubeVersion.
	KubeVersion = "1.34.0"
)

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ChartDir returns the chart's directory.
func ChartDir() string { return filepath.Join(RepoRoot(), "deploy", "helm", "lookout") }

// ManifestsFile returns the path of the rendered default manifests.
func ManifestsFile() string {
	return filepath.Join(RepoRoot(), "deploy", "manifests", "lookout.yaml")
}

// FindHelm returns the path of the helm binary, installing it first with
// `deploy/local/install.sh helm` (idempotent: quick once it is there). $HELM overrides both.
func FindHelm(ctx context.Context) (string, error) {
	if p := os.Getenv("HELM"); p != "" {
		return p, nil
	}
	cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "deploy", "local", "install.sh"), "helm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("deploy/local/install.sh helm: %w\n%s", err, out)
	}
	p := filepath.Join(RepoRoot(), ".lookout-run", "bin", "helm")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	p, err := exec.LookPath("helm")
	if err != nil {
		return "", fmt.Errorf("helm is not installed after deploy/local/install.sh helm: %w", err)
	}
	return p, nil
}

// Options are the values of one `helm template` or `helm lint` run.
type Options struct {
	// ValuesFiles are passed as -f, in order.
	ValuesFiles []string
	// Set are passed as --set key=value, in order.
	Set []string
}

func (o Options) args() []string {
	var args []string
	for _, f := range o.ValuesFiles {
		args = append(args, "--values", f)
	}
	for _, s := range o.Set {
		args = append(args, "--set", s)
	}
	return args
}

// Template renders the chart with `helm template` as release Release in namespace Namespace.
func Template(ctx context.Context, helm string, o Options) ([]byte, error) {
	args := append([]string{"template", Release, ChartDir(), "--namespace", Namespace, "--kube-version", KubeVersion}, o.args()...)
	return run(ctx, helm, args)
}

// Lint runs `helm lint --strict` on the chart.
func Lint(ctx context.Context, helm string, o Options) ([]byte, error) {
	args := append([]string{"lint", ChartDir(), "--strict", "--namespace", Namespace, "--kube-version", KubeVersion}, o.args()...)
	return run(ctx, helm, args)
}

func run(ctx context.Context, helm string, args []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.Bytes(), stdout.Bytes())
	}
	return stdout.Bytes(), nil
}

// File is one generated file: its path (relative to the repository) and content.
type File struct {
	Path    string
	Content []byte
}

// catalogCopies are the catalog outputs the chart ships: a pattern of the catalog generator's
// output paths, and the chart directory the matches are copied to.
var catalogCopies = []struct{ pattern, dir string }{
	{"dashboards/generated/*.json", "files/dashboards"},
	{"alerts/generated/prometheusrule.yaml", "files/alerts"},
	{"alerts/generated/alertmanager.yaml", "files/alerts"},
	{"alerts/generated/templates/lookout.tmpl", "files/alerts"},
}

// catalogOutputs generates the repository catalog's outputs in memory, as
// `go generate ./internal/catalog/generate` writes them (so that the chart's copies do not depend
// on which of the two generators `go generate ./...` runs first).
func catalogOutputs() (map[string][]byte, error) {
	c, err := generate.Load(filepath.Join(RepoRoot(), generate.DefaultCatalog), generate.DefaultCatalog)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", generate.DefaultCatalog, err)
	}
	files, err := generate.Files(c)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", generate.DefaultCatalog, err)
	}
	return files, nil
}

// generatedDirs are the chart directories whose every file is generated (a file there that is not
// generated any more is stale).
var generatedDirs = []string{"files/dashboards", "files/alerts"}

// Expected returns every generated file as it should be: the catalog copies, the chart's README
// (with its values table from values.yaml) and the rendered manifests.
func Expected(ctx context.Context, helm string) ([]File, error) {
	root := RepoRoot()
	chartRel, err := filepath.Rel(root, ChartDir())
	if err != nil {
		return nil, err
	}
	outputs, err := catalogOutputs()
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(outputs))
	for p := range outputs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var files []File
	for _, c := range catalogCopies {
		n := 0
		for _, p := range paths {
			if ok, _ := path.Match(c.pattern, p); ok {
				files = append(files, File{Path: filepath.Join(chartRel, c.dir, path.Base(p)), Content: outputs[p]})
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("the catalog generator writes no %s", c.pattern)
		}
	}

	readme, err := Readme()
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: filepath.Join(chartRel, "README.md"), Content: readme})

	// The manifests render the chart as it will be once the files above are written: render a
	// copy of the chart that has them.
	manifests, err := renderWith(ctx, helm, files)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(root, ManifestsFile())
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: rel, Content: manifests})
	return files, nil
}

// manifestsHeader heads deploy/manifests/lookout.yaml.
const manifestsHeader = `# Code generated by ` + "`go generate ./deploy/helm`" + ` from the Helm chart in deploy/helm/lookout; DO NOT EDIT.
#
# The chart rendered with its default values as release "` + Release + `" in namespace "` + Namespace + `":
#   helm template ` + Release + ` deploy/helm/lookout --namespace ` + Namespace + ` --kube-version ` + KubeVersion + `
# Apply with: kubectl create namespace ` + Namespace + ` && kubectl apply -f deploy/manifests/lookout.yaml
# Backends (PROMETHEUS_URL, LOKI_URL, TEMPO_ENDPOINT) are the chart's defaults; change them in the
# DaemonSet's environment, or install the chart with your values instead.
`

// renderWith renders the default values of a copy of the chart in which the given chart files
// replace what is on disk.
func renderWith(ctx context.Context, helm string, files []File) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "lookout-chart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	chartCopy := filepath.Join(tmp, "lookout")
	if err := copyDir(ChartDir(), chartCopy); err != nil {
		return nil, fmt.Errorf("copy the chart: %w", err)
	}
	chartRel, _ := filepath.Rel(RepoRoot(), ChartDir())
	for _, d := range generatedDirs {
		if err := os.RemoveAll(filepath.Join(chartCopy, d)); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		inChart, err := filepath.Rel(chartRel, f.Path)
		if err != nil || strings.HasPrefix(inChart, "..") {
			continue
		}
		p := filepath.Join(chartCopy, inChart)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return nil, err
		}
	}
	args := []string{"template", Release, chartCopy, "--namespace", Namespace, "--kube-version", KubeVersion}
	out, err := run(ctx, helm, args)
	if err != nil {
		return nil, err
	}
	return append([]byte(manifestsHeader), out...), nil
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// Stale compares the generated files with what is on disk and returns one line per difference
// (nil when everything is fresh), including files left in the chart's generated directories
// that nothing generates any more.
func Stale(files []File) ([]string, error) {
	root := RepoRoot()
	var stale []string
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		got, err := os.ReadFile(filepath.Join(root, f.Path))
		switch {
		case errors.Is(err, os.ErrNotExist):
			stale = append(stale, f.Path+": missing")
		case err != nil:
			return nil, err
		case !bytes.Equal(got, f.Content):
			stale = append(stale, f.Path+": differs")
		}
	}
	extra, err := extraFiles(want)
	if err != nil {
		return nil, err
	}
	for _, p := range extra {
		stale = append(stale, p+": no longer generated")
	}
	return stale, nil
}

// Write writes the generated files and removes the chart's generated files that nothing
// generates any more.
func Write(files []File) error {
	root := RepoRoot()
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		p := filepath.Join(root, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Content, 0o644); err != nil {
			return err
		}
	}
	extra, err := extraFiles(want)
	if err != nil {
		return err
	}
	for _, p := range extra {
		if err := os.Remove(filepath.Join(root, p)); err != nil {
			return err
		}
	}
	return nil
}

func extraFiles(want map[string]bool) ([]string, error) {
	root := RepoRoot()
	chartRel, _ := filepath.Rel(root, ChartDir())
	var extra []string
	for _, d := range generatedDirs {
		entries, err := os.ReadDir(filepath.Join(ChartDir(), d))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			p := filepath.Join(chartRel, d, e.Name())
			if !want[p] {
				extra = append(extra, p)
			}
		}
	}
	return extra, nil
}
