// Command bench runs Lookout and the upstream reference collector (bench/cmd/upstream) through
// the same workloads, prints one table, and with -out writes it into docs/benchmarks.md.
//
//	go run ./bench/cmd/bench -lookout bin/lookout -out docs/benchmarks.md   # make bench
//	go run ./bench/cmd/bench -quick                                          # a minute and a half
//	go run ./bench/cmd/bench -only 'traces' -profile                         # CPU profiles in -work
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/lookoutdev/lookout/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		lookout    = flag.String("lookout", "", "the lookout binary (default: built into -work)")
		upstream   = flag.String("upstream", "", "the upstream reference binary (default: built from ./bench/cmd/upstream into -work)")
		work       = flag.String("work", filepath.Join(os.TempDir(), "lookout-bench"), "directory for generated data (kept and reused), run directories and profiles")
		out        = flag.String("out", "", "benchmarks document to update (docs/benchmarks.md); empty: print only")
		quick      = flag.Bool("quick", false, "the quick scenarios (to see that everything works, not to judge speed)")
		only       = flag.String("only", "", "run only the scenarios whose name matches this regular expression")
		collectors = flag.String("collectors", strings.Join(bench.Collectors, ","), "collectors to run, comma-separated (upstream-matched runs in all scenarios but idle)")
		profile    = flag.Bool("profile", false, "take CPU profiles of each collector in each measured window (into -work/profiles)")
		commit     = flag.String("commit", "", "the commit being measured, for the report")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if *quick && *out != "" {
		return errors.New("-quick results are not for the benchmarks document: drop -out")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	scenarios := bench.FullScenarios()
	if *quick {
		scenarios = bench.QuickScenarios()
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		var keep []bench.Scenario
		for _, s := range scenarios {
			if re.MatchString(s.Name) {
				keep = append(keep, s)
			}
		}
		if len(keep) == 0 {
			return fmt.Errorf("-only %q matches no scenario", *only)
		}
		scenarios = keep
	}
	if err := os.MkdirAll(filepath.Join(*work, "bin"), 0o755); err != nil {
		return err
	}
	cols := strings.Split(*collectors, ",")
	// uses reports whether the run has any of the named collectors: a binary that none of
	// them runs is not built.
	uses := func(names ...string) bool {
		return slices.ContainsFunc(cols, func(c string) bool { return slices.Contains(names, c) })
	}
	if *lookout == "" && uses(bench.Lookout) {
		*lookout = filepath.Join(*work, "bin", "lookout")
		fmt.Fprintln(os.Stderr, "building lookout …")
		if err := bench.Build(ctx, "./cmd/lookout", *lookout); err != nil {
			return err
		}
	}
	if *upstream == "" && uses(bench.Upstream, bench.UpstreamMatched) {
		*upstream = filepath.Join(*work, "bin", "upstream")
		fmt.Fprintln(os.Stderr, "building the upstream reference collector …")
		if err := bench.Build(ctx, "./bench/cmd/upstream", *upstream); err != nil {
			return err
		}
	}
	rep, err := bench.Run(ctx, bench.Options{
		Lookout:    *lookout,
		Upstream:   *upstream,
		Work:       *work,
		Scenarios:  scenarios,
		Collectors: cols,
		Profile:    *profile,
		Log:        os.Stderr,
	})
	if rep != nil {
		rep.Commit = *commit
		rep.Quick = *quick
		fmt.Println(rep.Markdown())
	}
	if err != nil {
		return err
	}
	if *out != "" {
		if failed := rep.Failed(); len(failed) > 0 {
			return fmt.Errorf("%d runs failed; %s not updated", len(failed), *out)
		}
		if err := bench.UpdateDoc(*out, rep); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return fmt.Errorf("%d runs failed", len(failed))
	}
	return nil
}
