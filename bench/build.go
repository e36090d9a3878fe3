package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
)

// UpstreamBinaryEnv names an environment variable holding the path of an already built
// upstream reference collector (bench/cmd/upstream); TestQuick builds one when it is unset.
const UpstreamBinaryEnv = "LOOKOUT_UPSTREAM_BIN"

// RepoRoot is the repository's top directory (from this file's path at build time).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
}

// Build builds pkg (e.g. ./bench/cmd/upstream) into out, stripped as `make build` strips
// lookout, so that both binaries map the same kind of file.
func Build(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}
