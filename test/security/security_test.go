package security

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// Timeouts: data normally arrives within a few seconds (batches flush after 1 s), and an
// exporter reports its first failure as soon as it tries to send.
const (
	deliverTimeout = 90 * time.Second
	errorTimeout   = 60 * time.Second
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real lookout binary and backends")
	}
}

// tlsEnv is the environment tls.yaml reads: the CA for every backend and, when p is given, the
// client certificate and key.
func tlsEnv(ca string, client *pki) []string {
	var env []string
	for _, b := range []string{"PROMETHEUS", "LOKI", "TEMPO"} {
		env = append(env, b+"_CA_FILE="+ca)
		if client != nil {
			env = append(env, b+"_CERT_FILE="+client.ClientCert, b+"_KEY_FILE="+client.ClientKey)
		}
	}
	return env
}

// requireDelivered sends the probe through the agent and waits until every backend has it.
func requireDelivered(t *testing.T, a *agent, backends []*backend) {
	t.Helper()
	run := newRun()
	a.sendProbe(t, run)
	for _, b := range backends {
		lookouttest.Eventually(t, deliverTimeout, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if a.Exited() {
				return fmt.Errorf("the agent exited")
			}
			if err := b.has(ctx, run); err != nil {
				return fmt.Errorf("%s: %w", b.name, err)
			}
			return nil
		})
	}
}

// requireRefused sends the probe through the agent and waits until each backend's exporter has
// logged a warning or an error containing all of want[backend] (see containsAll); the backend
// must not have the probe then.
func requireRefused(t *testing.T, a *agent, backends []*backend, want map[string][]string) {
	t.Helper()
	run := newRun()
	a.sendProbe(t, run)
	for _, b := range backends {
		id := exporterOf[b.name]
		l := a.waitLog(t, id, errorTimeout, warnLevels, want[b.name]...)
		t.Logf("%s: %s", b.name, l.raw)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.Error(t, b.has(ctx, run), "%s has the probe although the agent's exporter failed", b.name)
		cancel()
	}
	require.False(t, a.Exited(), "the agent exited")
}

// hostOf is the host:port of a backend's target, which the HTTP exporters' errors name.
func hostOf(b *backend) string {
	s := strings.TrimPrefix(strings.TrimPrefix(b.target, "https://"), "http://")
	host, _, _ := strings.Cut(s, "/")
	return host
}

// TestTLS: every backend serves TLS with a certificate from the test's CA. With that CA
// (tls.yaml's <BACKEND>_CA_FILE) every signal arrives; with another CA each exporter logs that it
// cannot verify the backend's certificate.
func TestTLS(t *testing.T) {
	skipShort(t)
	p := newPKI(t, "backends")
	backends := startBackends(t, serverAuth{tls: p})

	t.Run("delivered", func(t *testing.T) {
		a := startAgent(t, backends, agentConfig{env: tlsEnv(p.CAFile, nil), overlays: []string{"tls.yaml"}})
		requireDelivered(t, a, backends)
	})
	t.Run("wrong CA", func(t *testing.T) {
		other := newPKI(t, "other")
		a := startAgent(t, backends, agentConfig{env: tlsEnv(other.CAFile, nil), overlays: []string{"tls.yaml"}})
		want := map[string][]string{}
		for _, b := range backends {
			want[b.name] = []string{"x509: certificate signed by unknown authority"}
			if b.name != "tempo" {
				want[b.name] = append(want[b.name], hostOf(b))
			}
		}
		requireRefused(t, a, backends, want)
	})
}

// TestMutualTLS: every backend requires a client certificate signed by the test's CA:
// Prometheus (client_auth_type RequireAndVerifyClientCert) and Jaeger (client_ca_file) check it
// themselves, VictoriaLogs through the test's proxy. With the agent's certificate
// (<BACKEND>_CERT_FILE, <BACKEND>_KEY_FILE) every signal arrives; without one each backend
// refuses the connection and each exporter says so.
func TestMutualTLS(t *testing.T) {
	skipShort(t)
	p := newPKI(t, "backends")
	backends := startBackends(t, serverAuth{tls: p, mutual: true})

	t.Run("delivered", func(t *testing.T) {
		a := startAgent(t, backends, agentConfig{env: tlsEnv(p.CAFile, p), overlays: []string{"tls.yaml"}})
		requireDelivered(t, a, backends)
	})
	t.Run("no client certificate", func(t *testing.T) {
		// At debug level, so that the retries after the first failure are in the log too.
		a := startAgent(t, backends, agentConfig{
			env: tlsEnv(p.CAFile, nil), overlays: []string{"tls.yaml"},
			args: []string{
				"--set=service::telemetry::logs::level=debug",
				// Retries every second or two (5 s, growing, by default), so that the test is short.
				"--set=exporters::otlp_grpc/tempo::retry_on_failure::initial_interval=1s",
				"--set=exporters::otlp_grpc/tempo::retry_on_failure::max_interval=2s",
				"--set=exporters::loki::retry_on_failure::initial_interval=1s",
				"--set=exporters::loki::retry_on_failure::max_interval=2s",
			},
		})
		// With TLS 1.3 the client's side of the handshake is over before the server checks its
		// certificate; the server's refusal (alert "certificate required", or "bad certificate"
		// from Prometheus 2.42's TLS stack) comes with the first request, and the request's write
		// or read can fail first, in as many words as there are races: "connection reset by
		// peer", "broken pipe", "use of closed network connection", and over HTTP/2 (remote write)
		// "http2: client conn could not be established", where Go's transport loses the cause.
		// So the one warning an outage gets (internal/outagelog) must name the exporter, the HTTP
		// exporters' the URL, and gRPC's status; the retries, at debug level, must name the cause.
		want := map[string][]string{}
		for _, b := range backends {
			want[b.name] = []string{hostOf(b)}
			if b.name == "tempo" {
				want[b.name] = []string{"code = Unavailable"}
			}
		}
		requireRefused(t, a, backends, want)
		// The retries, at debug level, say why.
		for _, b := range backends {
			l := a.waitLog(t, exporterOf[b.name], errorTimeout, []string{"debug", "info", "warn", "error"}, clientCertRefused)
			t.Logf("%s, the reason: %s", b.name, l.raw)
		}
	})
}

// clientCertRefused is what a TLS client sees when the server refuses it for its (missing)
// certificate: TLS 1.3's alert, or TLS 1.2's.
const clientCertRefused = "tls: certificate required|tls: bad certificate"

// authEnv is the environment of basicauth-env.yaml or bearertoken-env.yaml.
func authEnv(kind, user, secret string) []string {
	var env []string
	for _, b := range []string{"PROMETHEUS", "LOKI", "TEMPO"} {
		if kind == "basic" {
			env = append(env, b+"_USERNAME="+user, b+"_PASSWORD="+secret)
		} else {
			env = append(env, b+"_TOKEN="+secret)
		}
	}
	return env
}

// secretsDir writes the files of basicauth-files.yaml or bearertoken-files.yaml, laid out as the
// Helm chart mounts its Secrets, into dir (a new one when empty), and returns
// LOOKOUT_SECRETS_DIR=<dir>.
func secretsDir(t *testing.T, dir, kind, user, secret string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	for _, b := range []string{"prometheus", "loki", "tempo"} {
		if kind == "basic" {
			writeSecret(t, filepath.Join(dir, b), "username", user)
			writeSecret(t, filepath.Join(dir, b), "password", secret)
		} else {
			writeSecret(t, filepath.Join(dir, b), "token", secret)
		}
	}
	return "LOOKOUT_SECRETS_DIR=" + dir
}

// unauthorized is what each exporter's log says when its backend refuses the credentials.
var unauthorized = map[string][]string{
	"prometheus": {"401 Unauthorized"},
	"loki":       {"Loki refused log entries", `"status":401`, "unauthorized"},
	"tempo":      {"Unauthenticated"},
}

// TestBasicAuth: every backend serves TLS and requires basic auth: Prometheus (basic_auth_users,
// bcrypt), VictoriaLogs (-httpAuth.*) and Jaeger (basicauth extension) check it themselves. The
// credentials come from files (basicauth-files.yaml) or environment variables
// (basicauth-env.yaml); a wrong password is refused and logged, and no password reaches the log.
func TestBasicAuth(t *testing.T) {
	skipShort(t)
	p := newPKI(t, "backends")
	const user, pass, wrong = "lookout", "S3cret-pa55:word", "not-the-password"
	backends := startBackends(t, serverAuth{tls: p, user: user, pass: pass})

	t.Run("from files", func(t *testing.T) {
		env := append(tlsEnv(p.CAFile, nil), secretsDir(t, "", "basic", user, pass))
		a := startAgent(t, backends, agentConfig{env: env, overlays: []string{"tls.yaml", "basicauth-files.yaml"}})
		requireDelivered(t, a, backends)
		a.requireNoSecret(t, pass)
	})
	t.Run("from environment", func(t *testing.T) {
		env := append(tlsEnv(p.CAFile, nil), authEnv("basic", user, pass)...)
		a := startAgent(t, backends, agentConfig{env: env, overlays: []string{"tls.yaml", "basicauth-env.yaml"}})
		requireDelivered(t, a, backends)
		a.requireNoSecret(t, pass)
	})
	t.Run("wrong password, then fixed", func(t *testing.T) {
		dir := t.TempDir()
		env := append(tlsEnv(p.CAFile, nil), secretsDir(t, dir, "basic", user, wrong))
		a := startAgent(t, backends, agentConfig{env: env, overlays: []string{"tls.yaml", "basicauth-files.yaml"}})
		requireRefused(t, a, backends, unauthorized)
		// The password files are watched: the right password is used without a restart.
		secretsDir(t, dir, "basic", user, pass)
		requireDelivered(t, a, backends)
		a.requireNoSecret(t, pass, wrong)
	})
}

// TestBearerToken: every backend sits behind the test's TLS proxy, which requires
// "Authorization: Bearer <token>" (none of the three checks bearer tokens itself). The token
// comes from a file (bearertoken-files.yaml) or an environment variable (bearertoken-env.yaml); a
// wrong one is refused and logged, and no token reaches the log.
func TestBearerToken(t *testing.T) {
	skipShort(t)
	p := newPKI(t, "backends")
	const token, wrong = "tok-4f9a1c7e2b", "tok-wrong"
	backends := startBackends(t, serverAuth{tls: p, token: token})

	t.Run("from files", func(t *testing.T) {
		env := append(tlsEnv(p.CAFile, nil), secretsDir(t, "", "bearer", "", token))
		a := startAgent(t, backends, agentConfig{env: env, overlays: []string{"tls.yaml", "bearertoken-files.yaml"}})
		requireDelivered(t, a, backends)
		a.requireNoSecret(t, token)
	})
	t.Run("from environment", func(t *testing.T) {
		env := append(tlsEnv(p.CAFile, nil), authEnv("bearer", "", token)...)
		a := startAgent(t, backends, agentConfig{env: env, overlays: []string{"tls.yaml", "bearertoken-env.yaml"}})
		requireDelivered(t, a, backends)
		a.requireNoSecret(t, token)
	})
	t.Run("wrong token, then fixed", func(t *testing.T) {
		dir := t.TempDir()
		env := append(tlsEnv(p.CAFile, nil), secretsDir(t, dir, "bearer", "", wrong))
		a := startAgent(t, backends, agentConfig{env: env, overlays: []string{"tls.yaml", "bearertoken-files.yaml"}})
		requireRefused(t, a, backends, unauthorized)
		// The token files are watched: the right token is used without a restart.
		secretsDir(t, dir, "bearer", "", token)
		requireDelivered(t, a, backends)
		a.requireNoSecret(t, token, wrong)
	})
}
