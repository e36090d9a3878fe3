// Command demo-service runs one of the demo microservices (storefront, orders or payments):
// traces over OTLP to the agent, Prometheus metrics on /metrics, zap JSON logs on stdout and
// stderr, a fault switch on /fault.
//
//	demo-service -service orders -listen 127.0.0.1:8082 -downstream http://127.0.0.1:8083
//	curl -X PUT 127.0.0.1:8082/fault -d '{"error_ratio":0.3,"latency":"200ms"}'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/lookoutdev/lookout/demo/service"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demo-service:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("demo-service", flag.ContinueOnError)
	name := fs.String("service", "", "which service: storefront, orders or payments")
	listen := fs.String("listen", "", "loopback host:port to serve on")
	downstream := fs.String("downstream", "", "base URL of the next service (storefront and orders)")
	otlp := fs.String("otlp-endpoint", envOr("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4317"), "OTLP gRPC host:port of the agent")
	decline := fs.Float64("decline-ratio", 0.02, "share of payments declined (payments only)")
	level := zapcore.InfoLevel
	fs.Var(&level, "log-level", "lowest log level written (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	role, err := service.ParseRole(*name)
	if err != nil {
		return fmt.Errorf("-service: %w", err)
	}
	if err := service.CheckLoopback(*listen); err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	if err := service.CheckLoopback(strings.TrimPrefix(*otlp, "http://")); err != nil {
		return fmt.Errorf("-otlp-endpoint: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	log := service.NewLogger(os.Stdout, os.Stderr, level)
	defer func() { _ = log.Sync() }()
	// The SDK reports export failures through its global error handler: log them as JSON too.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("opentelemetry sdk", zap.Error(err)) }))

	tp, err := service.NewTracerProvider(ctx, service.TracingOptions{
		Endpoint: strings.TrimPrefix(*otlp, "http://"), ServiceName: string(role),
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			log.Warn("flushing traces at shutdown", zap.Error(err))
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svc, err := service.New(service.Options{
		Role: role, DownstreamURL: *downstream, Logger: log, TracerProvider: tp, Registerer: reg, DeclineRatio: *decline,
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/", svc.Handler())

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", zap.String("address", ln.Addr().String()), zap.String("downstream", *downstream),
		zap.String("otlp_endpoint", *otlp))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
