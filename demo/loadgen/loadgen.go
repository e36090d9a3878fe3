// Package loadgen drives the demo storefront at a steady rate: an open loop (requests start on a
// ticker, not when the previous one ends), bounded in rate, in-flight requests and time, aimed
// only at loopback addresses.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Limits that keep a load generator from becoming a flood.
const (
	MaxRate     = 1000
	MaxDuration = 24 * time.Hour
)

// Options configure Run.
type Options struct {
	// Target is the storefront's base URL; it must be on a loopback address.
	Target string
	// Rate is requests started per second.
	Rate float64
	// Duration bounds the run; Run returns when it has passed.
	Duration time.Duration
	// MaxInFlight bounds concurrent requests; a tick finding that many in flight is skipped and
	// counted. Default 50.
	MaxInFlight int
	// CheckoutRatio is the share of requests that are checkouts; the rest list products.
	// Default 0.8.
	CheckoutRatio float64
	// ReportEvery is how often progress is logged. Default 10s.
	ReportEvery time.Duration
	Logger      *zap.Logger
	Client      *http.Client
	// Float64 returns a random number in [0, 1); rand.Float64 when nil.
	Float64 func() float64
}

// Validate names each bad option.
func (o Options) Validate() error {
	var errs []error
	u, err := url.Parse(o.Target)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("target: %w", err))
	case u.Scheme != "http" || u.Host == "":
		errs = append(errs, fmt.Errorf("target: %q is not an http://host:port URL", o.Target))
	default:
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			errs = append(errs, fmt.Errorf("target: %q is not on a loopback address; the load generator only drives this machine", o.Target))
		}
	}
	if !(o.Rate > 0 && o.Rate <= MaxRate) {
		errs = append(errs, fmt.Errorf("rate: %v is outside (0, %d] requests per second", o.Rate, MaxRate))
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration: %s is outside (0s, %s]", o.Duration, MaxDuration))
	}
	if o.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("max in flight: %d is negative", o.MaxInFlight))
	}
	if o.CheckoutRatio < 0 || o.CheckoutRatio > 1 {
		errs = append(errs, fmt.Errorf("checkout ratio: %v is outside [0, 1]", o.CheckoutRatio))
	}
	return errors.Join(errs...)
}

// Stats count what a run did.
type Stats struct {
	Sent    int64            `json:"sent"`
	Skipped int64            `json:"skipped"` // ticks dropped because MaxInFlight requests were pending
	ByCode  map[string]int64 `json:"by_code"` // HTTP status, or "error" for transport errors
}

type counter struct {
	mu sync.Mutex
	s  Stats
}

func (c *counter) add(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.ByCode[code]++
}

func (c *counter) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.s
	out.ByCode = make(map[string]int64, len(c.s.ByCode))
	for k, v := range c.s.ByCode {
		out.ByCode[k] = v
	}
	return out
}

// Run sends requests until Duration has passed or ctx ends, then waits for those in flight.
func Run(ctx context.Context, o Options) (Stats, error) {
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 50
	}
	if o.CheckoutRatio == 0 {
		o.CheckoutRatio = 0.8
	}
	if err := o.Validate(); err != nil {
		return Stats{}, fmt.Errorf("loadgen: %w", err)
	}
	if o.ReportEvery <= 0 {
		o.ReportEvery = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Float64 == nil {
		o.Float64 = rand.Float64
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	c := &counter{s: Stats{ByCode: map[string]int64{}}}
	sem := make(chan struct{}, o.MaxInFlight)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	report := time.NewTicker(o.ReportEvery)
	defer report.Stop()
	o.Logger.Info("load started", zap.String("target", o.Target), zap.Float64("rate", o.Rate), zap.Duration("duration", o.Duration))
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			s := c.snapshot()
			o.Logger.Info("load finished", zap.Any("stats", s))
			return s, nil
		case <-report.C:
			o.Logger.Info("load progress", zap.Any("stats", c.snapshot()))
		case <-tick.C:
			if ctx.Err() != nil {
				continue // the run is over; select may pick a tick before Done
			}
			select {
			case sem <- struct{}{}:
			default:
				c.mu.Lock()
				c.s.Skipped++
				c.mu.Unlock()
				continue
			}
			c.mu.Lock()
			c.s.Sent++
			c.mu.Unlock()
			req := o.request(ctx)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c.add(o.send(req))
			}()
		}
	}
}

// request builds the next request: a checkout of a random cart, or a product listing.
func (o Options) request(ctx context.Context) *http.Request {
	if o.Float64() >= o.CheckoutRatio {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.Target+"/products", nil)
		return req
	}
	skus := []string{"tele-01", "lens-02", "map-03", "lamp-04"}
	type item struct {
		SKU      string `json:"sku"`
		Quantity int    `json:"quantity"`
	}
	var items []item
	for range 1 + int(o.Float64()*3) {
		items = append(items, item{SKU: skus[int(o.Float64()*float64(len(skus)))], Quantity: 1 + int(o.Float64()*3)})
	}
	body, _ := json.Marshal(map[string]any{"customer": "c-" + strconv.Itoa(int(o.Float64()*500)), "items": items})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.Target+"/checkout", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func (o Options) send(req *http.Request) string {
	res, err := o.Client.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return "canceled"
		}
		return "error"
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return strconv.Itoa(res.StatusCode)
}
