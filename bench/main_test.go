package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// The binaries TestQuick runs; built once in TestMain unless -short.
var lookoutBin, upstreamBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "lookout-bench-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !testing.Short() {
		if lookoutBin, err = lookouttest.Build(dir); err == nil {
			upstreamBin = os.Getenv(UpstreamBinaryEnv)
			if upstreamBin == "" {
				upstreamBin = filepath.Join(dir, "upstream")
				err = Build(context.Background(), "./bench/cmd/upstream", upstreamBin)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			_ = os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
