package generate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// TestCommittedFilesAreFresh regenerates everything from demo/catalog.yaml in memory and compares
// it with the committed files.
func TestCommittedFilesAreFresh(t *testing.T) {
	root := lookouttest.RepoRoot()
	c, err := Load(filepath.Join(root, DefaultCatalog), DefaultCatalog)
	require.NoError(t, err)
	files, err := Files(c)
	require.NoError(t, err)
	changes, err := Diff(root, files)
	require.NoError(t, err)
	if len(changes) > 0 {
		var b strings.Builder
		for _, ch := range changes {
			b.WriteString("  " + ch.String() + "\n")
		}
		t.Fatalf("generated files are stale; run `go generate ./internal/catalog/generate` (or `lookout catalog generate`) and commit:\n%s", b.String())
	}
}

// TestDeterministic generates twice and compares the bytes.
func TestDeterministic(t *testing.T) {
	root := lookouttest.RepoRoot()
	var last map[string][]byte
	for i := 0; i < 3; i++ {
		c, err := Load(filepath.Join(root, DefaultCatalog), DefaultCatalog)
		require.NoError(t, err)
		files, err := Files(c)
		require.NoError(t, err)
		if last != nil {
			require.Equal(t, len(last), len(files))
			for p, b := range files {
				require.True(t, bytes.Equal(last[p], b), "%s differs between runs", p)
			}
		}
		last = files
	}
}

func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestGenerateAndCheckCommands(t *testing.T) {
	root := lookouttest.RepoRoot()
	out := t.TempDir()
	catalogFile := filepath.Join(out, "demo", "catalog.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(catalogFile), 0o755))
	b, err := os.ReadFile(filepath.Join(root, DefaultCatalog))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(catalogFile, b, 0o644))

	// A stale file of an owned kind and a README that is not ours.
	stale := filepath.Join(out, "docs", "runbooks", "OldAlert.md")
	readme := filepath.Join(out, "docs", "runbooks", "README.md")
	require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o755))
	require.NoError(t, os.WriteFile(stale, []byte("old"), 0o644))
	require.NoError(t, os.WriteFile(readme, []byte("keep"), 0o644))

	text, err := runCommand(t, "check", "--catalog", catalogFile, "--out", out)
	require.ErrorContains(t, err, "generated files are out of date")
	require.Contains(t, text, "new alerts/generated/alertmanager.yaml")
	require.Contains(t, text, "stale docs/runbooks/OldAlert.md")

	text, err = runCommand(t, "generate", "--catalog", catalogFile, "--out", out)
	require.NoError(t, err, text)
	require.Contains(t, text, "demo/catalog.yaml: 3 teams, 3 services")
	require.NoFileExists(t, stale)
	require.FileExists(t, readme)
	// The output names the catalog relative to the output root, as the committed files do.
	got, err := os.ReadFile(filepath.Join(out, "alerts", "generated", "alertmanager.yaml"))
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(root, "alerts", "generated", "alertmanager.yaml"))
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))

	text, err = runCommand(t, "check", "--catalog", catalogFile, "--out", out)
	require.NoError(t, err, text)
	require.Contains(t, text, "up to date")

	dash := filepath.Join(out, "dashboards", "generated", "overview.json")
	require.NoError(t, os.WriteFile(dash, []byte("{}"), 0o644))
	text, err = runCommand(t, "check", "--catalog", catalogFile, "--out", out)
	require.Error(t, err)
	require.Contains(t, text, "changed dashboards/generated/overview.json")

	// A bad catalog fails with the file, line and field.
	require.NoError(t, os.WriteFile(catalogFile, []byte(strings.Replace(string(b), "availability: 99.5", "availability: 100.5", 1)), 0o644))
	_, err = runCommand(t, "generate", "--catalog", catalogFile, "--out", out)
	require.ErrorContains(t, err, "demo/catalog.yaml:")
	require.ErrorContains(t, err, "services.storefront.slos.availability: must be above 0 and below 100, got 100.5")
}

func TestWriteSecrets(t *testing.T) {
	root := lookouttest.RepoRoot()
	c, err := Load(filepath.Join(root, DefaultCatalog), DefaultCatalog)
	require.NoError(t, err)
	dir := t.TempDir()
	env := map[string]string{"CHECKOUT_PAGERDUTY_ROUTING_KEY": " key-1\n"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	written, err := WriteSecrets(c, dir, lookup)
	// platform's variable is unset: an error naming it; checkout's file is still written.
	require.ErrorContains(t, err, "team platform: environment variable PLATFORM_PAGERDUTY_ROUTING_KEY (pagerduty.routing_key_env) is not set")
	require.Equal(t, []string{filepath.Join(dir, "pagerduty-checkout.key")}, written)
	b, err := os.ReadFile(written[0])
	require.NoError(t, err)
	require.Equal(t, "key-1", string(b))
	fi, err := os.Stat(written[0])
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	env["PLATFORM_PAGERDUTY_ROUTING_KEY"] = "key-2"
	written, err = WriteSecrets(c, dir, lookup)
	require.NoError(t, err)
	require.Len(t, written, 2) // web uses routing_key_file: nothing to write
}
