// Package outagelog turns exporters' per-retry log lines into one clear warning per backend
// outage. An exporter that cannot reach its backend logs every retry; with no backend running
// (a laptop, say) that is a line every few seconds per exporter, and the one thing a user needs to
// know, which backend is unreachable, drowns. The core that this package wraps around the
// collector's logger lets the first retry of an outage through as a warning that names the
// exporter and the error, and keeps the following ones at debug level until the exporter has been
// quiet for a while.
package outagelog

import (
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// retryMessages are the log messages with which exporters report a failed attempt that they will
// retry: exporterhelper's retry sender, and the remote-write exporter's own retry loop.
var retryMessages = map[string]bool{
	"Exporting failed. Will retry the request after interval.": true,
	"remote write request failed, retrying":                    true,
}

// Message is the warning that opens an outage.
const Message = "Cannot reach the backend of this exporter; its data is kept and retried, and further failures are logged at debug level until it recovers"

// DefaultQuiet is how long an exporter must log no retry before its next one opens a new outage.
const DefaultQuiet = 5 * time.Minute

// Option returns the zap option that installs the core.
func Option(quiet time.Duration) zap.Option {
	t := &tracker{quiet: quiet, last: map[string]time.Time{}, now: time.Now}
	return zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &core{Core: c, t: t} })
}

type tracker struct {
	quiet time.Duration
	now   func() time.Time
	mu    sync.Mutex
	last  map[string]time.Time // exporter ID -> time of its last retry message
}

// opens records a retry of exporter id and reports whether it opens an outage.
func (t *tracker) opens(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	last, seen := t.last[id]
	t.last[id] = now
	return !seen || now.Sub(last) >= t.quiet
}

// grpcConnectFailure is in every message of gRPC's own logger about a failed connection attempt,
// which it repeats at warning level on every reconnect.
const grpcConnectFailure = "createTransport failed to connect"

type core struct {
	zapcore.Core
	t        *tracker
	exporter string // the ID of the exporter this logger belongs to, if it does
	grpc     bool   // whether this is gRPC's own logger
}

func (c *core) With(fields []zapcore.Field) zapcore.Core {
	nc := *c
	nc.Core = c.Core.With(fields)
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	if enc.Fields["otelcol.component.kind"] == "exporter" {
		nc.exporter, _ = enc.Fields["otelcol.component.id"].(string)
	}
	if enc.Fields["grpc_log"] == true {
		nc.grpc = true
	}
	return &nc
}

// Enabled lets exporters' debug-level retry messages reach Check even when the level is higher.
// (The collector adds a component's identity to its logger as one inline field; With encodes the
// fields to read it.)
func (c *core) Enabled(l zapcore.Level) bool {
	return c.Core.Enabled(l) || c.exporter != ""
}

func (c *core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.exporter != "" && retryMessages[e.Message] {
		return ce.AddCore(e, c)
	}
	if c.grpc && strings.Contains(e.Message, grpcConnectFailure) {
		// The exporter that owns the connection says it once, by name, when it fails to send.
		e.Level = zapcore.DebugLevel
	}
	if !c.Core.Enabled(e.Level) {
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c *core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if c.t.opens(c.exporter) {
		e.Level = zapcore.WarnLevel
		fields = append(fields, zap.String("retry_message", e.Message))
		e.Message = Message
	} else {
		e.Level = zapcore.DebugLevel
	}
	if !c.Core.Enabled(e.Level) {
		return nil
	}
	return c.Core.Write(e, fields)
}
