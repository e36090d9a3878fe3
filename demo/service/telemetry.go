package service

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a zap JSON logger writing info and warnings to stdout and errors to stderr,
// as a container does, with RFC 3339 timestamps.
func NewLogger(stdout, stderr io.Writer, level zapcore.Level) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	encoder := zapcore.NewJSONEncoder(enc)
	errs := zap.LevelEnablerFunc(func(l zapcore.Level) bool { return l >= zapcore.ErrorLevel && l >= level })
	rest := zap.LevelEnablerFunc(func(l zapcore.Level) bool { return l < zapcore.ErrorLevel && l >= level })
	return zap.New(zapcore.NewTee(
		zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(stdout)), rest),
		zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(stderr)), errs),
	), zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(stderr))))
}

// TracingOptions configure NewTracerProvider.
type TracingOptions struct {
	// Endpoint is the OTLP gRPC host:port of the agent, e.g. "127.0.0.1:4317" (plaintext).
	Endpoint string
	// ServiceName is the resource's service.name.
	ServiceName string
	// Attributes are further resource attributes (k8s.namespace.name, k8s.pod.name, ...), as
	// a pod's OTEL_RESOURCE_ATTRIBUTES would set them; OTEL_RESOURCE_ATTRIBUTES itself is read
	// too.
	Attributes map[string]string
}

// NewTracerProvider returns a tracer provider that samples every trace and exports it in
// batches over OTLP gRPC. Shut it down to flush.
func NewTracerProvider(ctx context.Context, opts TracingOptions) (*sdktrace.TracerProvider, error) {
	if _, _, err := net.SplitHostPort(opts.Endpoint); err != nil {
		return nil, fmt.Errorf("otlp endpoint %q: want host:port: %w", opts.Endpoint, err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", opts.ServiceName)}
	for k, v := range opts.Attributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(opts.Endpoint), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Second)),
	), nil
}

// CheckLoopback returns an error unless addr is a host:port on a loopback address: the demo
// only ever listens on and talks to this machine.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: not a loopback address (use 127.0.0.1)", addr)
	}
	return nil
}
