package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Clients of each backend's own query API: what a user (or Grafana) would ask.

var httpClient = &http.Client{Timeout: 15 * time.Second}

func get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return do(req)
}

func postForm(ctx context.Context, u string, form url.Values) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(req)
}

func newRequest(method, u, body string) (*http.Request, error) {
	return http.NewRequest(method, u, strings.NewReader(body))
}

func do(req *http.Request) ([]byte, error) {
	res, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", req.Method, req.URL, err)
	}
	if res.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL, res.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) String() string {
	keys := make([]string, 0, len(s.Metric))
	for k := range s.Metric {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Metric["__name__"] + "{")
	for i, k := range keys {
		if k == "__name__" {
			continue
		}
		if i > 0 && b.Len() > len(s.Metric["__name__"])+1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, s.Metric[k])
	}
	fmt.Fprintf(&b, "} %v", s.Value[1])
	return b.String()
}

// promQuery runs a PromQL instant query on Prometheus's /api/v1/query.
func promQuery(ctx context.Context, addr, query string) ([]promSample, error) {
	b, err := postForm(ctx, "http://"+addr+"/api/v1/query", url.Values{"query": {query}})
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("prometheus answer to %q: %w", query, err)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("prometheus query %q: %s", query, resp.Error)
	}
	return resp.Data.Result, nil
}

// logsQuery runs a LogsQL query on VictoriaLogs' /select/logsql/query: one JSON object per line.
func logsQuery(ctx context.Context, addr, query string, limit int) ([]map[string]string, error) {
	b, err := postForm(ctx, "http://"+addr+"/select/logsql/query", url.Values{"query": {query}, "limit": {fmt.Sprint(limit)}})
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var rec map[string]string
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("victorialogs answer to %q: %w (line %q)", query, err, sc.Text())
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// jaegerServices lists the services Jaeger has traces of (/api/services).
func jaegerServices(ctx context.Context, addr string) ([]string, error) {
	b, err := get(ctx, "http://"+addr+"/api/services")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("jaeger /api/services: %w", err)
	}
	return resp.Data, nil
}

// jaegerTrace is the part of /api/traces/{id} the test reads.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
		Tags        []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"processes"`
}

// services returns the services with spans in the trace, sorted.
func (t jaegerTrace) services() []string {
	seen := map[string]bool{}
	for _, s := range t.Spans {
		seen[t.Processes[s.ProcessID].ServiceName] = true
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// jaegerGetTrace fetches one trace by ID (/api/traces/{id}).
func jaegerGetTrace(ctx context.Context, addr, traceID string) (jaegerTrace, error) {
	b, err := get(ctx, "http://"+addr+"/api/traces/"+url.PathEscape(traceID))
	if err != nil {
		return jaegerTrace{}, err
	}
	var resp struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return jaegerTrace{}, fmt.Errorf("jaeger /api/traces/%s: %w", traceID, err)
	}
	if len(resp.Data) != 1 {
		return jaegerTrace{}, fmt.Errorf("jaeger /api/traces/%s: %d traces", traceID, len(resp.Data))
	}
	return resp.Data[0], nil
}

// sinkRecord is one notification the webhook sink recorded.
type sinkRecord struct {
	Kind string          `json:"kind"`
	Path string          `json:"path"`
	Body json.RawMessage `json:"body"`
}

func sinkReceived(ctx context.Context, addr string) ([]sinkRecord, error) {
	b, err := get(ctx, "http://"+addr+"/received")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Records []sinkRecord `json:"records"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("sink /received: %w", err)
	}
	return resp.Records, nil
}
