package outagelog

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestOneWarningPerOutage(t *testing.T) {
	now := time.Unix(0, 0)
	obsCore, logs := observer.New(zapcore.InfoLevel)
	tr := &tracker{quiet: time.Minute, last: map[string]time.Time{}, now: func() time.Time { return now }}
	root := zap.New(&core{Core: obsCore, t: tr})

	exporter := func(id string) *zap.Logger {
		return root.With(zap.String("otelcol.component.kind", "exporter"), zap.String("otelcol.component.id", id))
	}
	tempo, prw := exporter("otlp_grpc/tempo"), exporter("prometheus_remote_write")
	receiver := root.With(zap.String("otelcol.component.kind", "receiver"), zap.String("otelcol.component.id", "otlp"))
	retry := "Exporting failed. Will retry the request after interval."

	for range 5 { // one outage: five retries, ten seconds apart
		tempo.Info(retry, zap.Error(errors.New("connection refused")))
		prw.Debug("remote write request failed, retrying", zap.Error(errors.New("connection refused")))
		now = now.Add(10 * time.Second)
	}
	receiver.Info(retry)            // not an exporter: passed through as it is
	tempo.Info("Starting exporter") // other messages are untouched
	tempo.Debug("below the level")  // and still filtered by level

	now = now.Add(2 * time.Minute) // quiet for longer than a minute: the next failure opens a new outage
	tempo.Info(retry, zap.Error(errors.New("connection refused")))

	type line struct {
		level     zapcore.Level
		msg, from string
	}
	var got []line
	for _, e := range logs.All() {
		got = append(got, line{e.Level, e.Message, e.ContextMap()["otelcol.component.id"].(string)})
	}
	require.Equal(t, []line{
		{zapcore.WarnLevel, Message, "otlp_grpc/tempo"},
		{zapcore.WarnLevel, Message, "prometheus_remote_write"},
		{zapcore.InfoLevel, retry, "otlp"},
		{zapcore.InfoLevel, "Starting exporter", "otlp_grpc/tempo"},
		{zapcore.WarnLevel, Message, "otlp_grpc/tempo"},
	}, got)
	first := logs.All()[0].ContextMap()
	require.Equal(t, "connection refused", first["error"])
	require.Equal(t, retry, first["retry_message"])
}

func TestDebugLevelKeepsEveryRetry(t *testing.T) {
	obsCore, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(obsCore, Option(time.Hour)).With(
		zap.String("otelcol.component.kind", "exporter"), zap.String("otelcol.component.id", "otlp_http"))
	for range 3 {
		log.Info("Exporting failed. Will retry the request after interval.")
	}
	levels := []zapcore.Level{}
	for _, e := range logs.All() {
		levels = append(levels, e.Level)
	}
	require.Equal(t, []zapcore.Level{zapcore.WarnLevel, zapcore.DebugLevel, zapcore.DebugLevel}, levels)
}

func TestGRPCConnectFailuresAreDebug(t *testing.T) {
	obsCore, logs := observer.New(zapcore.InfoLevel)
	grpcLog := zap.New(obsCore, Option(time.Hour)).With(zap.Bool("grpc_log", true))
	grpcLog.Warn(`[core] [Channel #1 SubChannel #2] grpc: addrConn.createTransport failed to connect to {Addr: "127.0.0.1:14317"}`)
	grpcLog.Warn("[core] something else")
	require.Equal(t, 1, logs.Len())
	require.Equal(t, "[core] something else", logs.All()[0].Message)
}
