// Package backends starts the real backends Lookout sends to — VictoriaLogs (Loki's push API),
// Prometheus (remote write) and Jaeger v2 (OTLP traces) — on free loopback ports for one test,
// and reads back what they stored through their own query APIs.
package backends

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

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

var client = &http.Client{Timeout: 2 * time.Minute}

func do(ctx context.Context, method, u string, form url.Values) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, firstLine(b))
	}
	return b, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// VictoriaLogs is a real VictoriaLogs server.
type VictoriaLogs struct {
	Addr string
	Proc *lookouttest.Process
}

// StartVictoriaLogs installs (deploy/local/install.sh) and starts VictoriaLogs with its data in a
// temporary directory; it stops when the test ends.
func StartVictoriaLogs(t testing.TB) *VictoriaLogs {
	t.Helper()
	bin := lookouttest.Tool(t, "victorialogs", "victoria-logs")
	v := &VictoriaLogs{Addr: lookouttest.FreeAddr(t)}
	v.Proc = lookouttest.Start(t, bin, []string{
		"-httpListenAddr=" + v.Addr,
		"-storageDataPath=" + t.TempDir(),
		"-retentionPeriod=100y",
		"-loggerLevel=WARN",
	})
	v.Proc.WaitHTTP(t, "http://"+v.Addr+"/health", time.Minute)
	return v
}

// PushPath is the path of VictoriaLogs' Loki push endpoint.
const PushPath = "/insert/loki/api/v1/push"

// Base is its base URL.
func (v *VictoriaLogs) Base() string { return "http://" + v.Addr }

// Query runs a LogsQL query and returns each entry's fields.
func (v *VictoriaLogs) Query(ctx context.Context, query string) ([]map[string]string, error) {
	b, err := do(ctx, http.MethodPost, v.Base()+"/select/logsql/query", url.Values{"query": {query}})
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		m := map[string]string{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("victorialogs query %q: %w", query, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// Tokens returns how many times each numbered token ("<<id>>") occurs in the messages of the
// entries that filter (a LogsQL filter) selects.
func (v *VictoriaLogs) Tokens(ctx context.Context, filter string, tokens func(string) []string) (map[string]int, error) {
	rows, err := v.Query(ctx, filter+" | fields _msg")
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range rows {
		for _, tok := range tokens(r["_msg"]) {
			out[tok]++
		}
	}
	return out, nil
}

// Prometheus is a real Prometheus server with its remote-write receiver on.
type Prometheus struct {
	Addr string
	Proc *lookouttest.Process
}

// StartPrometheus starts Prometheus (Debian's, installed by deploy/local/install.sh) with the
// remote-write receiver on, evaluating ruleFiles every second; it stops when the test ends.
func StartPrometheus(t testing.TB, ruleFiles ...string) *Prometheus {
	t.Helper()
	bin := lookouttest.Tool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 15s\n  evaluation_interval: 1s\nscrape_configs: []\n")
	if len(ruleFiles) > 0 {
		cfg.WriteString("rule_files:\n")
		for _, f := range ruleFiles {
			fmt.Fprintf(&cfg, "  - %q\n", f)
		}
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Prometheus{Addr: lookouttest.FreeAddr(t)}
	p.Proc = lookouttest.Start(t, bin, []string{
		"--config.file=" + cfgPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + p.Addr,
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	})
	p.Proc.WaitHTTP(t, "http://"+p.Addr+"/-/ready", time.Minute)
	return p
}

// WritePath is the path of Prometheus' remote-write receiver.
const WritePath = "/api/v1/write"

// Base is its base URL.
func (p *Prometheus) Base() string { return "http://" + p.Addr }

// Sample is one series of an instant vector.
type Sample struct {
	Metric map[string]string
	Value  float64
}

type promResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func (p *Prometheus) query(ctx context.Context, q string) (promResponse, error) {
	var r promResponse
	b, err := do(ctx, http.MethodPost, p.Base()+"/api/v1/query", url.Values{"query": {q}})
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("prometheus query %q: %w", q, err)
	}
	if r.Status != "success" {
		return r, fmt.Errorf("prometheus query %q: %s", q, r.Error)
	}
	return r, nil
}

// Query runs an instant query that returns a vector.
func (p *Prometheus) Query(ctx context.Context, q string) ([]Sample, error) {
	r, err := p.query(ctx, q)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(r.Data.Result, &raw); err != nil {
		return nil, fmt.Errorf("prometheus query %q: %s result: %w", q, r.Data.ResultType, err)
	}
	out := make([]Sample, 0, len(raw))
	for _, s := range raw {
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("prometheus query %q: value %v: %w", q, s.Value[1], err)
		}
		out = append(out, Sample{Metric: s.Metric, Value: v})
	}
	return out, nil
}

// RawValues returns every stored sample value of the series selector selects in the last
// window (a range query such as `x[1h]` evaluated now), keyed by the series' labels.
func (p *Prometheus) RawValues(ctx context.Context, selector string, window time.Duration) ([][]float64, error) {
	q := fmt.Sprintf("%s[%ds]", selector, int(window.Seconds()))
	r, err := p.query(ctx, q)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Values [][2]any `json:"values"`
	}
	if err := json.Unmarshal(r.Data.Result, &raw); err != nil {
		return nil, fmt.Errorf("prometheus query %q: %w", q, err)
	}
	out := make([][]float64, 0, len(raw))
	for _, s := range raw {
		vals := make([]float64, 0, len(s.Values))
		for _, v := range s.Values {
			str, _ := v[1].(string)
			f, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("prometheus query %q: value %v: %w", q, v[1], err)
			}
			vals = append(vals, f)
		}
		out = append(out, vals)
	}
	return out, nil
}

// Alert is one alert Prometheus' rules produced.
type Alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"` // pending or firing
}

// Alerts returns the alerts of the loaded rules that are pending or firing.
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	b, err := do(ctx, http.MethodGet, p.Base()+"/api/v1/alerts", nil)
	if err != nil {
		return nil, err
	}
	var r struct {
		Data struct {
			Alerts []Alert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("prometheus alerts: %w", err)
	}
	return r.Data.Alerts, nil
}

// Jaeger is a real Jaeger v2 (OTLP/gRPC in, query API out), standing in for Tempo.
type Jaeger struct {
	OTLPAddr, QueryAddr string
	Proc                *lookouttest.Process
}

// StartJaeger installs (deploy/local/install.sh) and starts Jaeger with the local stack's config
// (deploy/local/jaeger.yaml) on free ports and its data in a temporary directory; it stops when
// the test ends.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin := lookouttest.Tool(t, "jaeger", "jaeger")
	j := &Jaeger{OTLPAddr: lookouttest.FreeAddr(t), QueryAddr: lookouttest.FreeAddr(t)}
	j.Proc = lookouttest.Start(t, bin,
		[]string{"--config", filepath.Join(lookouttest.RepoRoot(), "deploy", "local", "jaeger.yaml")},
		"JAEGER_OTLP_GRPC_ADDR="+j.OTLPAddr,
		"JAEGER_QUERY_ADDR="+j.QueryAddr,
		"JAEGER_QUERY_GRPC_ADDR="+lookouttest.FreeAddr(t),
		"JAEGER_DATA_DIR="+t.TempDir(),
	)
	j.Proc.WaitHTTP(t, "http://"+j.QueryAddr+"/api/services", 2*time.Minute)
	return j
}

// SpanTags returns how many spans with each value of the tag key Jaeger has for service, among
// traces that started between from and to. It asks in slices of step, so that no answer is too
// large. Jaeger merges identical copies of a span, so duplicates are counted at the proxy, not
// here.
func (j *Jaeger) SpanTags(ctx context.Context, service, key string, from, to time.Time, step time.Duration) (map[string]int, error) {
	out := map[string]int{}
	seen := map[string]bool{} // a trace across two slices is in both answers
	for s := from; s.Before(to); s = s.Add(step) {
		e := s.Add(step)
		if e.After(to) {
			e = to
		}
		q := url.Values{
			"service":  {service},
			"start":    {strconv.FormatInt(s.UnixMicro(), 10)},
			"end":      {strconv.FormatInt(e.UnixMicro(), 10)},
			"limit":    {"100000"},
			"lookback": {"custom"},
		}
		b, err := do(ctx, http.MethodGet, "http://"+j.QueryAddr+"/api/traces?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var r struct {
			Data []struct {
				TraceID string `json:"traceID"`
				Spans   []struct {
					Tags []struct {
						Key   string `json:"key"`
						Value any    `json:"value"`
					} `json:"tags"`
				} `json:"spans"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("jaeger /api/traces: %w", err)
		}
		for _, tr := range r.Data {
			if seen[tr.TraceID] {
				continue
			}
			seen[tr.TraceID] = true
			for _, sp := range tr.Spans {
				for _, tag := range sp.Tags {
					if tag.Key == key {
						out[fmt.Sprint(tag.Value)]++
					}
				}
			}
		}
	}
	return out, nil
}
