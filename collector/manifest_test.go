package collector

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"golang.org/x/mod/modfile"

	"github.com/lookoutdev/lookout/collector/internal/distgen"
)

func loadManifest(t *testing.T) *distgen.Manifest {
	t.Helper()
	m, err := distgen.Load("manifest.yaml")
	require.NoError(t, err)
	return m
}

// TestGeneratedFilesAreFresh fails when components.go or the README's component table has
// drifted from manifest.yaml.
func TestGeneratedFilesAreFresh(t *testing.T) {
	m := loadManifest(t)
	code, err := m.ComponentsGo()
	require.NoError(t, err)
	have, err := os.ReadFile("components.go")
	require.NoError(t, err)
	require.Equal(t, string(code), string(have), "components.go is stale: run `go generate ./collector`")

	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	want, err := distgen.ReplaceSection(readme, m.Table())
	require.NoError(t, err)
	require.Equal(t, string(want), string(readme), "README.md's component table is stale: run `go generate ./collector`")
}

// TestManifestNamesAreFactoryTypes checks that each manifest name is the type its factory
// registers, and that the distribution has nothing the manifest does not list.
func TestManifestNamesAreFactoryTypes(t *testing.T) {
	m := loadManifest(t)
	f, err := Components()
	require.NoError(t, err)
	built := map[string][]string{
		"receiver": types(f.Receivers), "processor": types(f.Processors), "connector": types(f.Connectors),
		"exporter": types(f.Exporters), "extension": types(f.Extensions),
	}
	for _, kind := range distgen.Kinds {
		var names []string
		for _, c := range m.ByKind(kind) {
			names = append(names, c.Name)
		}
		require.ElementsMatch(t, names, built[kind], "%ss: manifest names vs factory types", kind)
	}
}

// TestManifestVersionsAreGoModVersions checks that every gomod version in the manifest is the
// one go.mod requires, so that the README never claims a version that is not built.
func TestManifestVersionsAreGoModVersions(t *testing.T) {
	m := loadManifest(t)
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	require.NoError(t, err)
	mod, err := modfile.Parse("go.mod", b, nil)
	require.NoError(t, err)
	required := map[string]string{}
	for _, r := range mod.Require {
		required[r.Mod.Path] = r.Mod.Version
	}
	for _, r := range mod.Replace {
		if r.New.Version != "" {
			required[r.Old.Path] = r.New.Version
		}
	}
	for _, kind := range distgen.Kinds {
		for _, c := range m.ByKind(kind) {
			if c.GoMod == "" {
				continue
			}
			require.Equal(t, c.Version(), required[c.Module()], "%s %s: manifest says %s, go.mod requires %q", kind, c.Name, c.GoMod, required[c.Module()])
		}
	}
}

// types returns the types the factories register under their own names. (The map also holds
// them under deprecated aliases, such as filelog for file_log.)
func types[F component.Factory](m map[component.Type]F) []string {
	var ts []string
	for alias, f := range m {
		if alias == f.Type() {
			ts = append(ts, alias.String())
		}
	}
	return ts
}
