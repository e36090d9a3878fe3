package loadgen

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunSendsAtMostTheRateAndCountsEveryAnswer(t *testing.T) {
	var checkouts, listings atomic.Int64
	var mu sync.Mutex
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "POST /checkout":
			var body struct {
				Customer string `json:"customer"`
				Items    []struct {
					SKU      string `json:"sku"`
					Quantity int    `json:"quantity"`
				} `json:"items"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Items) == 0 || body.Customer == "" {
				mu.Lock()
				bad = append(bad, "bad checkout body")
				mu.Unlock()
			}
			if checkouts.Add(1)%2 == 0 {
				w.WriteHeader(http.StatusInternalServerError)
			}
		case "GET /products":
			listings.Add(1)
		default:
			mu.Lock()
			bad = append(bad, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	const rate, dur = 200.0, 500 * time.Millisecond
	stats, err := Run(context.Background(), Options{Target: srv.URL, Rate: rate, Duration: dur, Client: client})
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Positive(t, stats.Sent)
	require.LessOrEqual(t, stats.Sent, int64(rate*dur.Seconds())+1, "an open loop on a ticker never exceeds the rate")
	// Requests still in flight when the run ends are canceled, and may or may not have arrived.
	reached := checkouts.Load() + listings.Load()
	require.GreaterOrEqual(t, reached, stats.Sent-stats.ByCode["canceled"], "every request not canceled reached the server")
	require.LessOrEqual(t, reached, stats.Sent)
	var answered int64
	for _, n := range stats.ByCode {
		answered += n
	}
	require.Equal(t, stats.Sent, answered)
	require.InDelta(t, checkouts.Load()/2, stats.ByCode["500"], float64(stats.ByCode["canceled"]))
	require.Zero(t, stats.Skipped)
}

func TestRunSkipsTicksWhenTooManyInFlight(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	stats, err := Run(context.Background(), Options{Target: srv.URL, Rate: 100, Duration: 300 * time.Millisecond, MaxInFlight: 2, Client: client})
	require.NoError(t, err)
	require.Equal(t, int64(2), stats.Sent, "only MaxInFlight requests start while none returns")
	require.Positive(t, stats.Skipped)
	require.Equal(t, int64(2), stats.ByCode["canceled"], "the stuck requests end with the run")
}

func TestRunStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stats, err := Run(ctx, Options{Target: srv.URL, Rate: 10, Duration: time.Hour})
	require.NoError(t, err)
	require.Zero(t, stats.Sent)
}

func TestValidate(t *testing.T) {
	ok := Options{Target: "http://127.0.0.1:8081", Rate: 5, Duration: time.Minute}
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string
	}{
		{"valid", func(*Options) {}, ""},
		{"localhost", func(o *Options) { o.Target = "http://localhost:8081" }, ""},
		{"not loopback", func(o *Options) { o.Target = "http://10.0.0.1:8081" }, "not on a loopback address"},
		{"a name", func(o *Options) { o.Target = "http://example.com" }, "not on a loopback address"},
		{"no scheme", func(o *Options) { o.Target = "127.0.0.1:8081" }, "target:"},
		{"zero rate", func(o *Options) { o.Rate = 0 }, "rate: 0 is outside (0, 1000]"},
		{"rate too high", func(o *Options) { o.Rate = 5000 }, "rate: 5000 is outside"},
		{"no duration", func(o *Options) { o.Duration = 0 }, "duration: 0s is outside (0s, 24h0m0s]"},
		{"bad checkout ratio", func(o *Options) { o.CheckoutRatio = 2 }, "checkout ratio: 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.change(&o)
			err := o.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
