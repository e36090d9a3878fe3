// Command gen writes internal/catalog/emitted/metrics.yaml (run by `go generate`).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lookoutdev/lookout/internal/catalog/emitted"
	"github.com/lookoutdev/lookout/internal/catalog/emitted/derive"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "emitted/gen:", err)
		os.Exit(1)
	}
}

func run() error {
	// go generate runs this in the package directory, internal/catalog/emitted.
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return err
	}
	l, err := derive.Derive(context.Background(), derive.Options{RepoRoot: root})
	if err != nil {
		return err
	}
	b, err := l.Encode()
	if err != nil {
		return err
	}
	return os.WriteFile(emitted.FileName, b, 0o644)
}
