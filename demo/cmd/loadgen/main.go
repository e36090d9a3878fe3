// Command loadgen drives the demo storefront at a steady rate for a bounded time:
//
//	loadgen -target http://127.0.0.1:8081 -rate 5 -duration 1h
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/lookoutdev/lookout/demo/loadgen"
	"github.com/lookoutdev/lookout/demo/service"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var o loadgen.Options
	fs.StringVar(&o.Target, "target", "http://127.0.0.1:8081", "the storefront's base URL (loopback only)")
	fs.Float64Var(&o.Rate, "rate", 5, "requests per second")
	fs.DurationVar(&o.Duration, "duration", time.Hour, "how long to run (at most 24h)")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", 50, "most requests pending at once")
	fs.DurationVar(&o.ReportEvery, "report-every", 10*time.Second, "how often to log progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o.Logger = service.NewLogger(os.Stdout, os.Stderr, zapcore.InfoLevel)
	defer func() { _ = o.Logger.Sync() }()
	_, err := loadgen.Run(ctx, o)
	return err
}
