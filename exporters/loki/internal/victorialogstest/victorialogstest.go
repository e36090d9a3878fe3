// Package victorialogstest runs a real VictoriaLogs (Apache-2.0; it speaks Loki's push API) for
// tests of the loki exporter, and reads entries back with LogsQL.
package victorialogstest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

// Server is a real VictoriaLogs server (it speaks Loki's push API) started for one test.
type Server struct {
	base string // http://127.0.0.1:port
}

// PushURL is its Loki push endpoint.
func (v Server) PushURL() string { return v.base + "/insert/loki/api/v1/push" }

// PushURLOn is the Loki push endpoint of a server on addr, started or not.
func PushURLOn(addr string) string { return "http://" + addr + "/insert/loki/api/v1/push" }

// Start installs VictoriaLogs if needed (deploy/local/install.sh), starts it on a free loopback
// port with its data in t.TempDir(), waits until it is healthy and stops it when the test ends.
func Start(t *testing.T) Server {
	t.Helper()
	return StartOn(t, lookouttest.FreeAddr(t))
}

// StartOn is Start on a given loopback address (for tests that start the server late).
func StartOn(t *testing.T, addr string) Server {
	t.Helper()
	bin := lookouttest.Tool(t, "victorialogs", "victoria-logs")
	p := lookouttest.Start(t, bin, []string{
		"-httpListenAddr=" + addr,
		"-storageDataPath=" + t.TempDir(),
		"-retentionPeriod=100y", // keep whatever timestamps the tests send
		"-loggerLevel=WARN",
	})
	base := "http://" + addr
	p.WaitHTTP(t, base+"/health", 30*time.Second)
	return Server{base: base}
}

// Query runs a LogsQL query and returns the matching entries, each as its field map.
func (v Server) Query(ctx context.Context, query string) ([]map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/select/logsql/query",
		strings.NewReader(url.Values{"query": {query}}.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query %q: HTTP %s", query, resp.Status)
	}
	var out []map[string]string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		m := map[string]string{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("query %q: decode %q: %w", query, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// WaitCount polls query until it returns want entries, and returns them.
func (v Server) WaitCount(t *testing.T, query string, want int, timeout time.Duration) []map[string]string {
	t.Helper()
	var got []map[string]string
	lookouttest.Eventually(t, timeout, func() error {
		var err error
		got, err = v.Query(context.Background(), query)
		if err != nil {
			return err
		}
		if len(got) != want {
			return fmt.Errorf("query %q: %d entries, want %d", query, len(got), want)
		}
		return nil
	})
	return got
}
