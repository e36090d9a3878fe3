package security

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/lookoutdev/lookout/internal/lookouttest"
	"github.com/lookoutdev/lookout/test/fault/faultproxy"
)

// serverAuth is what a backend (or the proxy in front of it) requires of its clients.
type serverAuth struct {
	tls    *pki   // serve TLS with this PKI's server certificate; nil: plain text
	mutual bool   // also require a client certificate signed by the PKI's CA
	user   string // basic auth user, with password; empty: none
	pass   string
	token  string // bearer token; empty: none
}

// querier reads back what a backend stored, as the test's own client: over TLS with the client
// certificate when the backend serves TLS, with basic auth when it asks for it.
type querier struct {
	base       string // scheme://host:port
	client     *http.Client
	user, pass string
}

func newQuerier(base string, p *pki, user, pass string) *querier {
	tr := &http.Transport{}
	if p != nil {
		tr.TLSClientConfig = p.clientTLS()
	}
	return &querier{base: base, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, user: user, pass: pass}
}

func (q *querier) do(ctx context.Context, method, path string, form url.Values) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, q.base+path, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.user != "" {
		req.SetBasicAuth(q.user, q.pass)
	}
	resp, err := q.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %.300s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// waitReady polls path until it answers 2xx, failing early if proc exits.
func (q *querier) waitReady(t *testing.T, proc *lookouttest.Process, path string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := q.do(ctx, http.MethodGet, path, nil)
		cancel()
		if err == nil {
			return
		}
		if proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("waiting for %s%s: %v\noutput:\n%s", q.base, path, err, proc.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// backend is one running backend: where the agent sends to, and how the test finds what arrived.
type backend struct {
	name string // prometheus, loki or tempo: the backend the agent's config names
	// target is what the agent is given: a URL (PROMETHEUS_URL, LOKI_URL) or host:port
	// (TEMPO_ENDPOINT).
	target string
	// has returns nil once the backend holds what the probe with this run ID sent.
	has  func(ctx context.Context, run string) error
	proc *lookouttest.Process
}

// startPrometheus starts Debian's Prometheus with the remote-write receiver and a web config
// (--web.config.file) for TLS, client certificates and basic auth (bcrypt hashes). Prometheus
// has no bearer-token check of its own: with auth.token set, it serves plain text behind the
// proxy (see behindProxy).
func startPrometheus(t *testing.T, auth serverAuth) *backend {
	t.Helper()
	bin := lookouttest.Tool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\nscrape_configs: []\n"), 0o600))
	addr := lookouttest.FreeAddr(t)
	args := []string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	}
	var web strings.Builder
	if auth.tls != nil && auth.token == "" {
		fmt.Fprintf(&web, "tls_server_config:\n  cert_file: %q\n  key_file: %q\n", auth.tls.ServerCert, auth.tls.ServerKey)
		if auth.mutual {
			fmt.Fprintf(&web, "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %q\n", auth.tls.CAFile)
		}
	}
	if auth.user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(auth.pass), bcrypt.MinCost)
		require.NoError(t, err)
		fmt.Fprintf(&web, "basic_auth_users:\n  %q: %q\n", auth.user, hash)
	}
	q := newQuerier("http://"+addr, nil, auth.user, auth.pass)
	if web.Len() > 0 {
		webFile := filepath.Join(dir, "web.yml")
		require.NoError(t, os.WriteFile(webFile, []byte(web.String()), 0o600))
		args = append(args, "--web.config.file="+webFile)
	}
	if auth.tls != nil && auth.token == "" {
		q = newQuerier("https://"+addr, auth.tls, auth.user, auth.pass)
	}
	proc := lookouttest.Start(t, bin, args)
	q.waitReady(t, proc, "/-/ready")
	b := &backend{name: "prometheus", target: q.base + "/api/v1/write", proc: proc}
	b.has = func(ctx context.Context, run string) error {
		return promHas(ctx, q, run)
	}
	if auth.token != "" {
		b.target = behindProxy(t, "http://"+addr, auth) + "/api/v1/write"
	}
	return b
}

// promHas is nil once Prometheus has the probe's gauge.
func promHas(ctx context.Context, q *querier, run string) error {
	query := fmt.Sprintf(`%s{run=%q}`, probeMetric, run)
	b, err := q.do(ctx, http.MethodPost, "/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("prometheus query %s: %w", query, err)
	}
	if len(r.Data.Result) == 0 {
		return fmt.Errorf("prometheus has no %s yet", query)
	}
	if v, _ := r.Data.Result[0].Value[1].(string); v != strconv.Itoa(probeValue) {
		return fmt.Errorf("prometheus: %s = %v, want %d", query, r.Data.Result[0].Value[1], probeValue)
	}
	return nil
}

// startVictoriaLogs starts VictoriaLogs (Loki's push API). Its open-source build serves TLS
// (-tls) and checks basic auth (-httpAuth.*) itself, with the password read from a file; it
// cannot require client certificates (-mtls is in its enterprise build) or bearer tokens, so for
// those it serves plain text behind the proxy (see behindProxy).
func startVictoriaLogs(t *testing.T, auth serverAuth) *backend {
	t.Helper()
	bin := lookouttest.Tool(t, "victorialogs", "victoria-logs")
	addr := lookouttest.FreeAddr(t)
	args := []string{
		"-httpListenAddr=" + addr,
		"-storageDataPath=" + t.TempDir(),
		"-retentionPeriod=100y",
		"-loggerLevel=WARN",
	}
	proxied := auth.mutual || auth.token != ""
	q := newQuerier("http://"+addr, nil, "", "")
	if auth.tls != nil && !proxied {
		args = append(args, "-tls", "-tlsCertFile="+auth.tls.ServerCert, "-tlsKeyFile="+auth.tls.ServerKey)
		q = newQuerier("https://"+addr, auth.tls, "", "")
	}
	if auth.user != "" {
		passFile := filepath.Join(t.TempDir(), "password")
		require.NoError(t, os.WriteFile(passFile, []byte(auth.pass), 0o600))
		args = append(args, "-httpAuth.username="+auth.user, "-httpAuth.password=file://"+passFile)
		q.user, q.pass = auth.user, auth.pass
	}
	proc := lookouttest.Start(t, bin, args)
	q.waitReady(t, proc, "/health")
	b := &backend{name: "loki", target: q.base + "/insert/loki/api/v1/push", proc: proc}
	b.has = func(ctx context.Context, run string) error {
		return logsHas(ctx, q, run)
	}
	if proxied {
		b.target = behindProxy(t, "http://"+addr, auth) + "/insert/loki/api/v1/push"
	}
	return b
}

// logsHas is nil once VictoriaLogs has the probe's log line.
func logsHas(ctx context.Context, q *querier, run string) error {
	query := fmt.Sprintf("%q", probeBody(run))
	b, err := q.do(ctx, http.MethodPost, "/select/logsql/query", url.Values{"query": {query}})
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return fmt.Errorf("victorialogs query %s: %w", query, err)
		}
		if row["_msg"] == probeBody(run) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return fmt.Errorf("victorialogs has no %s yet", query)
}

// startJaeger starts Jaeger v2 (standing in for Tempo) with an in-memory store and its OTLP/gRPC
// receiver configured for TLS (tls.cert_file, key_file, client_ca_file for mutual TLS) and basic
// auth (its basicauth extension with an inline htpasswd). Jaeger has no bearer-token
// authenticator: with auth.token set, it serves plain text behind the proxy. Its query API stays
// plain HTTP on loopback.
func startJaeger(t *testing.T, auth serverAuth) *backend {
	t.Helper()
	bin := lookouttest.Tool(t, "jaeger", "jaeger")
	otlp, query := lookouttest.FreeAddr(t), lookouttest.FreeAddr(t)
	var grpcCfg, extCfg strings.Builder
	extensions := "[jaeger_storage, jaeger_query]"
	if auth.tls != nil && auth.token == "" {
		fmt.Fprintf(&grpcCfg, "        tls:\n          cert_file: %q\n          key_file: %q\n", auth.tls.ServerCert, auth.tls.ServerKey)
		if auth.mutual {
			fmt.Fprintf(&grpcCfg, "          client_ca_file: %q\n", auth.tls.CAFile)
		}
	}
	if auth.user != "" {
		grpcCfg.WriteString("        auth:\n          authenticator: basicauth/otlp\n")
		fmt.Fprintf(&extCfg, "  basicauth/otlp:\n    htpasswd:\n      inline: %q\n", auth.user+":"+auth.pass)
		extensions = "[jaeger_storage, jaeger_query, basicauth/otlp]"
	}
	cfg := fmt.Sprintf(`# Written by test/security: Jaeger v2 on loopback, in memory.
service:
  extensions: %s
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    enable_tracing: false
    storage:
      traces: mem
    http:
      endpoint: %s
    grpc:
      endpoint: %s
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
%sreceivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
%sexporters:
  jaeger_storage_exporter:
    trace_storage: mem
`, extensions, query, lookouttest.FreeAddr(t), extCfg.String(), otlp, grpcCfg.String())
	file := filepath.Join(t.TempDir(), "jaeger.yaml")
	require.NoError(t, os.WriteFile(file, []byte(cfg), 0o600))
	proc := lookouttest.Start(t, bin, []string{"--config", file})
	q := newQuerier("http://"+query, nil, "", "")
	q.waitReady(t, proc, "/api/services")
	b := &backend{name: "tempo", target: otlp, proc: proc}
	b.has = func(ctx context.Context, run string) error {
		return tracesHas(ctx, q, run)
	}
	if auth.token != "" {
		b.target = behindGRPCProxy(t, otlp, auth)
	}
	return b
}

// tracesHas is nil once Jaeger has the probe's span.
func tracesHas(ctx context.Context, q *querier, run string) error {
	service := probeService(run)
	b, err := q.do(ctx, http.MethodGet, "/api/traces?"+url.Values{"service": {service}, "limit": {"10"}}.Encode(), nil)
	if err != nil {
		if strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "service not found") {
			return fmt.Errorf("jaeger has no service %s yet", service)
		}
		return err
	}
	var r struct {
		Data []struct {
			Spans []struct {
				OperationName string `json:"operationName"`
			} `json:"spans"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("jaeger /api/traces: %w", err)
	}
	for _, tr := range r.Data {
		for _, s := range tr.Spans {
			if s.OperationName == probeSpan {
				return nil
			}
		}
	}
	return fmt.Errorf("jaeger has no span %s of service %s yet", probeSpan, service)
}

// behindProxy puts the test's TLS-terminating proxy (test/fault/faultproxy) in front of a plain
// HTTP backend, for what the backend cannot check itself: a client certificate (mutual TLS) or a
// bearer token. It returns the proxy's base URL.
func behindProxy(t *testing.T, target string, auth serverAuth) string {
	t.Helper()
	opts := faultproxy.HTTPOptions{Target: target}
	if auth.tls != nil {
		opts.TLS = auth.tls.serverTLS(auth.mutual)
	}
	if auth.token != "" {
		opts.Authorization = "Bearer " + auth.token
	}
	p, err := faultproxy.StartHTTP(opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p.URL()
}

// behindGRPCProxy is behindProxy for an OTLP/gRPC traces backend; it returns host:port.
func behindGRPCProxy(t *testing.T, target string, auth serverAuth) string {
	t.Helper()
	opts := faultproxy.TracesOptions{Target: target}
	if auth.tls != nil {
		opts.TLS = auth.tls.serverTLS(auth.mutual)
	}
	if auth.token != "" {
		opts.Authorization = "Bearer " + auth.token
	}
	p, err := faultproxy.StartTraces(opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p.Addr()
}

// startBackends starts Prometheus, VictoriaLogs and Jaeger, each requiring auth.
func startBackends(t *testing.T, auth serverAuth) []*backend {
	t.Helper()
	return []*backend{startPrometheus(t, auth), startVictoriaLogs(t, auth), startJaeger(t, auth)}
}
