package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// benchMetricPrefix starts the name of every series the scrape targets expose.
const benchMetricPrefix = "bench_"

// benchFamilies is how many metric families a target's series are spread over: half counters,
// half gauges.
const benchFamilies = 10

// scrapeTargets are Prometheus targets on loopback, each exposing the same number of series
// (text format) whose values change every scrape, and counting the scrapes they answered.
type scrapeTargets struct {
	series  int
	addrs   []string
	servers []*http.Server
	served  []atomic.Int64
	down    atomic.Bool
	bufs    sync.Pool
}

func startTargets(n, series int) (*scrapeTargets, error) {
	if n < 1 || series < benchFamilies || series%benchFamilies != 0 {
		return nil, fmt.Errorf("scrape targets: want at least one target and a multiple of %d series, got %d targets of %d series", benchFamilies, n, series)
	}
	t := &scrapeTargets{series: series, served: make([]atomic.Int64, n)}
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.close()
			return nil, fmt.Errorf("scrape target %d: listen: %w", i, err)
		}
		t.addrs = append(t.addrs, l.Addr().String())
		srv := &http.Server{Handler: t.handler(i), ReadHeaderTimeout: 10 * time.Second}
		t.servers = append(t.servers, srv)
		go func() { _ = srv.Serve(l) }()
	}
	return t, nil
}

func (t *scrapeTargets) handler(i int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.down.Load() {
			http.Error(w, "the benchmark is over", http.StatusServiceUnavailable)
			return
		}
		buf, _ := t.bufs.Get().(*bytes.Buffer)
		if buf == nil {
			buf = &bytes.Buffer{}
		}
		defer t.bufs.Put(buf)
		buf.Reset()
		scrape := t.served[i].Load() + 1
		t.expose(buf, scrape)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if _, err := w.Write(buf.Bytes()); err == nil {
			t.served[i].Add(1)
		}
	})
}

// expose writes the target's series for its scrape-th scrape.
func (t *scrapeTargets) expose(buf *bytes.Buffer, scrape int64) {
	per := t.series / benchFamilies
	var num []byte
	for f := range benchFamilies {
		counter := f < benchFamilies/2
		name := fmt.Sprintf("%sgauge_%d", benchMetricPrefix, f)
		typ := "gauge"
		if counter {
			name = fmt.Sprintf("%srequests_%d_total", benchMetricPrefix, f)
			typ = "counter"
		}
		fmt.Fprintf(buf, "# HELP %s A benchmark series.\n# TYPE %s %s\n", name, name, typ)
		for s := range per {
			buf.WriteString(name)
			buf.WriteString(`{route="/api/v1/r`)
			num = strconv.AppendInt(num[:0], int64(s%20), 10)
			buf.Write(num)
			buf.WriteString(`",series="`)
			num = strconv.AppendInt(num[:0], int64(f*per+s), 10)
			buf.Write(num)
			buf.WriteString(`"} `)
			v := float64(scrape * int64(s+1))
			if !counter {
				v = float64((scrape*7+int64(s))%1000) / 10
			}
			num = strconv.AppendFloat(num[:0], v, 'g', -1, 64)
			buf.Write(num)
			buf.WriteByte('\n')
		}
	}
}

// writeFileSD writes the targets as a Prometheus file_sd file; service_name names the job in
// both collectors' configs.
func (t *scrapeTargets) writeFileSD(path string) error {
	groups := []map[string]any{{
		"targets": t.addrs,
		"labels":  map[string]string{"service_name": "bench-targets"},
	}}
	b, err := json.Marshal(groups)
	if err != nil {
		return fmt.Errorf("file_sd: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write file_sd: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write file_sd: %w", err)
	}
	return nil
}

// totalServed is the number of scrapes answered, and per target address.
func (t *scrapeTargets) totalServed() (int64, map[string]int) {
	per := make(map[string]int, len(t.addrs))
	var total int64
	for i, a := range t.addrs {
		n := t.served[i].Load()
		per[a] = int(n)
		total += n
	}
	return total, per
}

// resetCounts starts counting scrapes again (for the next collector).
func (t *scrapeTargets) resetCounts() {
	for i := range t.served {
		t.served[i].Store(0)
	}
	t.down.Store(false)
}

func (t *scrapeTargets) close() {
	for _, s := range t.servers {
		_ = s.Close()
	}
}
