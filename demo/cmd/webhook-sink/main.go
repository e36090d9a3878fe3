// Command webhook-sink records what Alertmanager sends to Slack and PagerDuty (and to plain
// webhooks) in local runs; see package demo/sink.
//
//	webhook-sink -listen 127.0.0.1:9097 -dir .lookout-run/sink
//	curl 127.0.0.1:9097/received?kind=pagerduty
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/lookoutdev/lookout/demo/service"
	"github.com/lookoutdev/lookout/demo/sink"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "webhook-sink:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("webhook-sink", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9097", "loopback host:port to serve on")
	dir := fs.String("dir", ".lookout-run/sink", "directory of the record file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := service.CheckLoopback(*listen); err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	log := service.NewLogger(os.Stdout, os.Stderr, zapcore.InfoLevel)
	defer func() { _ = log.Sync() }()
	s, err := sink.Open(sink.Options{Dir: *dir, Logger: log})
	if err != nil {
		return err
	}
	defer s.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", zap.String("address", ln.Addr().String()), zap.String("dir", *dir))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
