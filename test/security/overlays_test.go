package security

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// overlays are the files docs/security-backends.md documents; shown says whether it shows the
// file's whole text.
var overlays = []struct {
	file  string
	shown bool
}{
	{"tls.yaml", true},
	{"basicauth-files.yaml", true},
	{"basicauth-env.yaml", false},
	{"bearertoken-files.yaml", false},
	{"bearertoken-env.yaml", false},
}

// TestOverlays: every overlay, with tls.yaml, is a valid config over lookout:local and
// lookout:agent, and docs/security-backends.md names each and shows the text of those it quotes.
func TestOverlays(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(lookouttest.RepoRoot(), "docs", "security-backends.md"))
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, len(overlays), "an overlay in testdata/ that this test does not know")

	env := append(os.Environ(),
		"PROMETHEUS_URL=https://prometheus.example:9090/api/v1/write",
		"LOKI_URL=https://loki.example/loki/api/v1/push",
		"TEMPO_ENDPOINT=tempo.example:4317",
		"K8S_NODE_NAME=node", "LOOKOUT_KUBELET_AUTH=none",
		"LOOKOUT_STATE_DIR="+t.TempDir(), "LOOKOUT_RUN_DIR="+t.TempDir(),
	)
	for _, b := range []string{"PROMETHEUS", "LOKI", "TEMPO"} {
		env = append(env, b+"_USERNAME=u", b+"_PASSWORD=p", b+"_TOKEN=t")
	}
	for _, o := range overlays {
		t.Run(o.file, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("testdata", o.file))
			require.NoError(t, err)
			require.Contains(t, string(doc), "`"+o.file+"`", "docs/security-backends.md does not name it")
			if o.shown {
				require.Contains(t, string(doc), "```yaml\n"+string(text)+"```",
					"docs/security-backends.md shows another text than testdata/%s", o.file)
			}
			for _, base := range []string{"lookout:local", "lookout:agent"} {
				args := []string{"validate", "--config", base, "--config", "file:" + filepath.Join("testdata", "tls.yaml")}
				if o.file != "tls.yaml" {
					args = append(args, "--config", "file:"+filepath.Join("testdata", o.file))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				cmd := exec.CommandContext(ctx, lookoutBin, args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				cancel()
				require.NoError(t, err, "lookout %s:\n%s", strings.Join(args, " "), out)
			}
		})
	}
}
