package prometheusremotewriteexporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/lookoutdev/lookout/exporters/prometheusremotewrite/internal/metadata"
)

// server is a remote-write endpoint that decodes what it is sent and answers with the next
// status of its script (then 204).
type server struct {
	*httptest.Server
	mu       sync.Mutex
	script   []int
	requests []prompb.WriteRequest
	sizes    []int // each request's size before snappy
	seen     int   // requests received, kept or not
}

func newServer(t *testing.T, script ...int) *server {
	s := &server{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Encoding") != "snappy" || r.Header.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" {
			t.Errorf("headers %v", r.Header)
		}
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			t.Errorf("body is not snappy: %v", err)
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			t.Errorf("body is not a WriteRequest: %v", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.seen++
		status := http.StatusNoContent
		if len(s.script) > 0 {
			status, s.script = s.script[0], s.script[1:]
		}
		if status/100 == 2 {
			s.requests = append(s.requests, req)
			s.sizes = append(s.sizes, len(raw))
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "out of order sample\n")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) samples() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		for _, ts := range r.Timeseries {
			n += len(ts.Samples)
		}
	}
	return n
}

func startExporter(t *testing.T, cfg *Config) *remoteWrite {
	t.Helper()
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return e
}

func TestPushSplitsRequests(t *testing.T) {
	srv := newServer(t)
	cfg := agentConfig()
	cfg.Endpoint = srv.URL
	cfg.MaxBatchSizeBytes = 4 << 10
	md := pmetric.NewMetrics()
	scrape(md, "10.0.0.1:8080", 100)
	e := startExporter(t, cfg)
	if err := e.push(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	want := 100 + 100 + 6 + 6
	if got := srv.samples(); got != want {
		t.Errorf("server has %d samples, want %d", got, want)
	}
	if len(srv.sizes) < 5 {
		t.Errorf("%d requests, want the ~60 KiB split into several of 4 KiB", len(srv.sizes))
	}
	for i, n := range srv.sizes {
		if n > cfg.MaxBatchSizeBytes {
			t.Errorf("request %d: %d bytes, more than max_batch_size_bytes %d", i, n, cfg.MaxBatchSizeBytes)
		}
	}
}

func TestPushErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    []int
		permanent bool
		throttle  bool
		rest      bool // the requests after the refused one are sent
	}{
		{"server error is retried", []int{http.StatusServiceUnavailable}, false, false, false},
		{"too many requests is retried after Retry-After", []int{http.StatusTooManyRequests}, false, true, false},
		{"bad request is permanent, the rest is sent", []int{http.StatusBadRequest}, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.script...)
			cfg := agentConfig()
			cfg.Endpoint = srv.URL
			cfg.MaxBatchSizeBytes = 2 << 10
			md := pmetric.NewMetrics()
			scrape(md, "10.0.0.1:8080", 10)
			e := startExporter(t, cfg)
			err := e.push(context.Background(), md)
			if err == nil {
				t.Fatal("no error")
			}
			if consumererror.IsPermanent(err) != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", consumererror.IsPermanent(err), tc.permanent, err)
			}
			if !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d %s", tc.script[0], http.StatusText(tc.script[0]))) || !strings.Contains(err.Error(), "out of order sample") {
				t.Errorf("error %q does not name the endpoint, the status and the server's reason", err)
			}
			if tc.throttle && !strings.Contains(err.Error(), "Throttle (7s)") {
				t.Errorf("error %q does not carry the 7 s of Retry-After", err)
			}
			// Retryable: the push stops at the first request (and is sent again whole).
			seen, kept := 1, 0
			if tc.rest {
				seen = max(srv.seen, 3)
				kept = seen - 1
			}
			if srv.seen != seen || len(srv.requests) != kept {
				t.Errorf("server received %d requests and kept %d, want %d and %d", srv.seen, len(srv.requests), seen, kept)
			}
		})
	}

	t.Run("no server", func(t *testing.T) {
		srv := newServer(t)
		cfg := agentConfig()
		cfg.Endpoint = srv.URL
		e := startExporter(t, cfg)
		srv.Close()
		md := pmetric.NewMetrics()
		scrape(md, "10.0.0.1:8080", 1)
		err := e.push(context.Background(), md)
		if err == nil || consumererror.IsPermanent(err) {
			t.Errorf("got %v, want a retryable error", err)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 5, 15, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Sat, 05 Dec 2026 15:01:00 GMT": time.Minute,
		"Sat, 05 Dec 2026 14:59:00 GMT": 0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", h, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"defaults with an endpoint", func(*Config) {}, ""},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "endpoint is empty"},
		{"batch size", func(c *Config) { c.MaxBatchSizeBytes = 0 }, "max_batch_size_bytes must be positive"},
		{"queue size", func(c *Config) { c.RemoteWriteQueue.QueueSize = 0 }, "remote_write_queue::queue_size"},
		{"consumers", func(c *Config) { c.RemoteWriteQueue.NumConsumers = 0 }, "remote_write_queue::num_consumers"},
		{"queue off", func(c *Config) { c.RemoteWriteQueue = RemoteWriteQueue{} }, ""},
		{"empty external label", func(c *Config) { c.ExternalLabels = map[string]string{"cluster": ""} }, `external_labels: "cluster"=""`},
		{"pattern", func(c *Config) { c.ResourceConstantLabels.Included = []string{"k8s.*"} }, `"k8s.*": list resource attribute keys`},
		{"target_info", func(c *Config) { c.TargetInfo.Enabled = true }, "writes no target_info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultConfig().(*Config)
			c.Endpoint = "http://prometheus:9090/api/v1/write"
			tc.change(c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	if _, err := newExporter(&Config{ExternalLabels: map[string]string{"": "x"}}, exportertest.NewNopSettings(metadata.Type)); err == nil {
		t.Error("an external label without a name is accepted")
	} else if !strings.Contains(err.Error(), "external_labels") {
		t.Errorf("error %v does not name external_labels", err)
	}
}
