package derive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Packages whose telemetry every component of a kind reports through (when the component
// depends on them), and packages the pipeline brings in on its own.
const (
	pkgReceiverHelper  = "go.opentelemetry.io/collector/receiver/receiverhelper"
	pkgScraperHelper   = "go.opentelemetry.io/collector/scraper/scraperhelper"
	pkgProcessorHelper = "go.opentelemetry.io/collector/processor/processorhelper"
	pkgExporterHelper  = "go.opentelemetry.io/collector/exporter/exporterhelper"
	pkgService         = "go.opentelemetry.io/collector/service"
	pkgFileConsumer    = "github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/fileconsumer"
	pkgPromScrape      = "github.com/prometheus/prometheus/scrape"
	pkgGoCollectors    = "github.com/prometheus/client_golang/prometheus/collectors"
	pkgPromHTTP        = "github.com/prometheus/client_golang/prometheus/promhttp"
)

var helperPackages = []string{pkgReceiverHelper, pkgScraperHelper, pkgProcessorHelper, pkgExporterHelper, pkgService, pkgFileConsumer, pkgPromScrape, pkgGoCollectors, pkgPromHTTP}

// component is a Go package of the distribution that has a metadata.yaml.
type component struct {
	Type    string
	Package string
	Version string
	Dir     string
	Deps    map[string]bool
	meta    metadata
}

func (c component) source() string {
	if c.Version == "" {
		return c.Package
	}
	return c.Package + "@" + c.Version
}

type components struct {
	byType  map[string]component
	helpers map[string]component // by import path
}

type listedPackage struct {
	ImportPath string
	Dir        string
	Deps       []string
	Module     *struct {
		Path    string
		Version string
	}
}

// loadComponents maps the component types of the distribution (collector/components.go) to their
// packages, and checks that every component the pipeline uses is among them.
func loadComponents(ctx context.Context, opts Options, p *pipeline) (*components, error) {
	imports, err := componentImports(filepath.Join(opts.RepoRoot, ComponentsFile))
	if err != nil {
		return nil, err
	}
	pkgs, err := goList(ctx, opts, append(imports, helperPackages...))
	if err != nil {
		return nil, err
	}
	cs := &components{byType: map[string]component{}, helpers: map[string]component{}}
	for _, lp := range pkgs {
		c := component{Package: lp.ImportPath, Dir: lp.Dir, Deps: map[string]bool{}}
		if lp.Module != nil {
			c.Version = lp.Module.Version
		}
		for _, d := range lp.Deps {
			c.Deps[d] = true
		}
		if md, err := readMetadata(filepath.Join(lp.Dir, "metadata.yaml")); err == nil {
			c.meta = md
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if isHelper(lp.ImportPath) {
			cs.helpers[lp.ImportPath] = c
			continue
		}
		if c.meta.Type == "" {
			continue
		}
		c.Type = c.meta.Type
		cs.byType[c.meta.Type] = c
		if c.meta.DeprecatedType != "" {
			cs.byType[c.meta.DeprecatedType] = c
		}
	}
	var errs []error
	for _, kind := range []string{kindReceiver, kindProcessor, kindExporter, kindConnector} {
		for _, id := range p.used[kind] {
			if _, ok := cs.byType[typeOf(id)]; !ok {
				errs = append(errs, fmt.Errorf("%s: %s::%s: no component of type %q in %s", p.path, kind, id, typeOf(id), ComponentsFile))
			}
		}
	}
	return cs, errors.Join(errs...)
}

func isHelper(path string) bool {
	for _, h := range helperPackages {
		if h == path {
			return true
		}
	}
	return false
}

// componentImports returns the import paths of the Go file that registers the components.
func componentImports(path string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		return nil, fmt.Errorf("read component list: %w", err)
	}
	var out []string
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// goList runs `go list -json` in the repository, so that packages resolve at go.mod's versions.
func goList(ctx context.Context, opts Options, pkgs []string) ([]listedPackage, error) {
	args := append([]string{"list", "-json=ImportPath,Dir,Deps,Module"}, pkgs...)
	cmd := exec.CommandContext(ctx, opts.Go, args...)
	cmd.Dir = opts.RepoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, stderr.String())
	}
	return decodeJSONStream[listedPackage](out)
}

// telemetryName is the instrument name mdatagen gives a telemetry metric; it is checked against
// the component's code (mdatagen's generated_telemetry.go, or for a component that creates its
// instruments by hand, its own Go files), so that a change of that rule fails here.
func telemetryName(c component, key string, m mdMetric) (string, error) {
	name := "otelcol_" + key
	if m.Prefix != "" {
		name = m.Prefix + key
	}
	// A component that names its instruments by hand may write the full name as the key.
	candidates := []string{name}
	if strings.HasPrefix(key, "otelcol_") {
		candidates = append(candidates, key)
	}
	files := []string{filepath.Join(c.Dir, "internal", "metadata", "generated_telemetry.go")}
	if _, err := os.Stat(files[0]); err != nil {
		files, _ = filepath.Glob(filepath.Join(c.Dir, "*.go"))
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s: %w", c.source(), err)
		}
		for _, n := range candidates {
			if bytes.Contains(b, []byte(strconv.Quote(n))) {
				return n, nil
			}
		}
	}
	return "", fmt.Errorf("%s: telemetry metric %s: no instrument %q in its code (%s)", c.source(), key, name, strings.Join(files, ", "))
}

func signalOf(name string) string {
	switch {
	case strings.HasSuffix(name, "_spans"):
		return "traces"
	case strings.HasSuffix(name, "_metric_points"):
		return "metrics"
	case strings.HasSuffix(name, "_log_records"):
		return "logs"
	case strings.HasSuffix(name, "_profile_samples"):
		return "profiles"
	}
	return ""
}
