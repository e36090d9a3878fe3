// Command webhook-sink records what Alertmanager sends to Slack and PagerDuty (and to plain
// webhooks) in local runs; see package demo/sink.
//
//	webhook-sink -listen 127.0.0.1:9097 -dir .lookout-run/sink
//	curl 127.0.0.1:9097/received?kind=pagerduty
//
// Its localize-alertmanager subcommand rewrites a generated Alertmanager config for a local run,
// every notification to the sink (see sink.LocalizeAlertmanagerConfig):
//
//	webhook-sink localize-alertmanager -in alerts/generated/alertmanager.yaml \
//	    -out .lookout-run/alertmanager/alertmanager.yml -secrets .lookout-run/alertmanager/secrets \
//	    -sink-url http://127.0.0.1:9097
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
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
	if len(args) > 0 && args[0] == "localize-alertmanager" {
		return localize(args[1:])
	}
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

func localize(args []string) error {
	fs := flag.NewFlagSet("webhook-sink localize-alertmanager", flag.ContinueOnError)
	in := fs.String("in", "", "the generated Alertmanager config")
	out := fs.String("out", "", "where the local config goes")
	secrets := fs.String("secrets", "", "directory for the secret files it reads")
	sinkURL := fs.String("sink-url", "http://127.0.0.1:9097", "the sink's base URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || *secrets == "" {
		return fmt.Errorf("localize-alertmanager: -in, -out and -secrets are required")
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return fmt.Errorf("localize-alertmanager: %w", err)
	}
	inDir, err := filepath.Abs(filepath.Dir(*in))
	if err != nil {
		return fmt.Errorf("localize-alertmanager: %w", err)
	}
	secretsDir, err := filepath.Abs(*secrets)
	if err != nil {
		return fmt.Errorf("localize-alertmanager: -secrets: %w", err)
	}
	l, err := sink.LocalizeAlertmanagerConfig(b, sink.LocalizeOptions{SinkURL: *sinkURL, SecretsDir: secretsDir, ConfigDir: inDir})
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if err := os.MkdirAll(secretsDir, 0o700); err != nil {
		return fmt.Errorf("localize-alertmanager: %w", err)
	}
	for p, c := range l.Secrets {
		if err := os.WriteFile(p, []byte(c+"\n"), 0o600); err != nil {
			return fmt.Errorf("localize-alertmanager: %w", err)
		}
	}
	if err := os.WriteFile(*out, l.Config, 0o644); err != nil {
		return fmt.Errorf("localize-alertmanager: %w", err)
	}
	return nil
}
