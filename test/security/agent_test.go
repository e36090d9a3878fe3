package security

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// The probe: one log line, one gauge sample and one span, each marked with the run's ID.
const (
	probeMetric = "lookout_security_probe"
	probeValue  = 7
	probeSpan   = "security-probe"
)

func probeBody(run string) string    { return "security probe " + run }
func probeService(run string) string { return "probe-" + run }

// newRun returns a run ID of lower-case letters (nothing the masking processor would mask).
func newRun() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = 'a' + b[i]%26
	}
	return string(b)
}

// agent is the real lookout binary on its built-in local config plus overlays, on free ports.
type agent struct {
	*lookouttest.Process
	otlp string
}

// agentConfig is how a test runs the agent.
type agentConfig struct {
	overlays []string // files in testdata/, merged over lookout:local in order
	env      []string // more environment (the overlays' variables)
	args     []string // more arguments, after the port settings
}

// startAgent runs `lookout --config lookout:local --config file:<overlay>...` with the backends'
// targets in the environment the local config reads (PROMETHEUS_URL, LOKI_URL, TEMPO_ENDPOINT)
// and cfg's, and waits until it is healthy.
func startAgent(t *testing.T, backends []*backend, cfg agentConfig) *agent {
	t.Helper()
	a := &agent{otlp: lookouttest.FreeAddr(t)}
	health := lookouttest.FreeAddr(t)
	_, metricsPort, _ := strings.Cut(lookouttest.FreeAddr(t), ":")
	args := []string{"--config", "lookout:local"}
	for _, o := range cfg.overlays {
		args = append(args, "--config", "file:"+filepath.Join("testdata", o))
	}
	args = append(args,
		"--set=receivers::otlp::protocols::grpc::endpoint="+a.otlp,
		"--set=receivers::otlp::protocols::http::endpoint="+lookouttest.FreeAddr(t),
		"--set=extensions::health_check::endpoint="+health,
		"--set=extensions::pprof::endpoint="+lookouttest.FreeAddr(t),
		"--set=extensions::zpages::endpoint="+lookouttest.FreeAddr(t),
	)
	args = append(args, cfg.args...)
	vars := map[string]string{"prometheus": "PROMETHEUS_URL", "loki": "LOKI_URL", "tempo": "TEMPO_ENDPOINT"}
	env := append([]string{
		"LOOKOUT_RUN_DIR=" + t.TempDir(),
		"LOOKOUT_METRICS_PORT=" + metricsPort,
		"K8S_CLUSTER_NAME=security",
		"K8S_NODE_NAME=security-node",
	}, cfg.env...)
	for _, b := range backends {
		env = append(env, vars[b.name]+"="+b.target)
	}
	a.Process = lookouttest.Start(t, lookoutBin, args, env...)
	a.WaitHTTP(t, "http://"+health+"/", 90*time.Second)
	return a
}

// sendProbe sends the probe's log line, gauge and span to the agent over OTLP/gRPC.
func (a *agent) sendProbe(t *testing.T, run string) {
	t.Helper()
	conn, err := grpc.NewClient(a.otlp, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := pcommon.NewTimestampFromTime(time.Now())

	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", probeService(run))
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(now)
	lr.SetObservedTimestamp(now)
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.Body().SetStr(probeBody(run))
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(logs))
	require.NoError(t, err, "send the probe's log line")

	metrics := pmetric.NewMetrics()
	rm := metrics.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", probeService(run))
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(probeMetric)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(now)
	dp.SetIntValue(probeValue)
	dp.Attributes().PutStr("run", run)
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(metrics))
	require.NoError(t, err, "send the probe's gauge")

	traces := ptrace.NewTraces()
	rs := traces.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", probeService(run))
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var tid pcommon.TraceID
	var sid pcommon.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetName(probeSpan)
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-10 * time.Millisecond)))
	sp.SetEndTimestamp(now)
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(traces))
	require.NoError(t, err, "send the probe's span")
}

// exporterOf names the exporter that sends to each backend in the local config.
var exporterOf = map[string]string{"prometheus": "prometheus_remote_write", "loki": "loki", "tempo": "otlp_grpc/tempo"}

// logLine is one line of the agent's JSON log.
type logLine struct {
	raw    string
	fields map[string]any
}

func (l logLine) str(key string) string { s, _ := l.fields[key].(string); return s }

// lines returns the agent's log lines of exporter id at one of levels.
func (a *agent) lines(id string, levels ...string) []logLine {
	var out []logLine
	for _, raw := range strings.Split(a.Output(), "\n") {
		if !strings.HasPrefix(raw, "{") {
			continue
		}
		l := logLine{raw: raw}
		if json.Unmarshal([]byte(raw), &l.fields) != nil {
			continue
		}
		if l.str("otelcol.component.id") != id {
			continue
		}
		if slices.Contains(levels, l.str("level")) {
			out = append(out, l)
		}
	}
	return out
}

// warnLevels are the levels a user sees with the built-in configs (info level).
var warnLevels = []string{"warn", "error"}

// waitLog waits until exporter id logs, at one of levels, a line that contains every one of want
// (case-insensitive; "a|b" matches either), and returns it.
func (a *agent) waitLog(t *testing.T, id string, timeout time.Duration, levels []string, want ...string) logLine {
	t.Helper()
	var found logLine
	lookouttest.Eventually(t, timeout, func() error {
		for _, l := range a.lines(id, levels...) {
			if containsAll(l.raw, want) {
				found = l
				return nil
			}
		}
		return fmt.Errorf("no %v line of %s containing %q in the agent's log; its lines: %v", levels, id, want, a.lines(id, levels...))
	})
	return found
}

// containsAll reports whether text contains each of want, case-insensitively; an element "a|b"
// is met by either.
func containsAll(text string, want []string) bool {
	text = strings.ToLower(text)
	for _, w := range want {
		ok := false
		for _, alt := range strings.Split(w, "|") {
			ok = ok || strings.Contains(text, strings.ToLower(alt))
		}
		if !ok {
			return false
		}
	}
	return true
}

// requireNoSecret fails if the agent wrote any of secrets to its log.
func (a *agent) requireNoSecret(t *testing.T, secrets ...string) {
	t.Helper()
	out := a.Output()
	for _, s := range secrets {
		require.NotContains(t, out, s, "the agent logged a secret")
	}
}

// writeSecret writes a credential file (no trailing newline, as a Kubernetes Secret mounts it).
func writeSecret(t *testing.T, dir, name, value string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600))
}
