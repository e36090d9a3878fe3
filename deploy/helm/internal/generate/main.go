// Command generate rewrites the files generated for the Helm chart: its copies of the catalog's
// outputs, its README's values table and deploy/manifests. It installs helm first if needed
// (deploy/local/install.sh helm). Run it with `go generate ./deploy/helm` or `make generate`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/lookoutdev/lookout/deploy/helm"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "deploy/helm generate:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin, err := helm.FindHelm(ctx)
	if err != nil {
		return err
	}
	files, err := helm.Expected(ctx, bin)
	if err != nil {
		return err
	}
	return helm.Write(files)
}
