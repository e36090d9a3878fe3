// Package faultproxy puts a proxy that a test controls in front of a real backend: it passes
// requests through, or refuses connections, resets them, answers an error status (with
// Retry-After), delays or hangs. It counts what the backend accepted, item by item (numbered log
// lines, spans, metric samples), so that a test can tell lost from duplicated data, and records
// every attempt, so that it can check how the client retried.
//
// Two proxies: HTTP (Loki push, Prometheus remote write) and OTLP/gRPC traces.
package faultproxy

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"sync"
	"time"
)

// Kind is what the proxy does with a request.
type Kind int

const (
	// Pass forwards the request to the backend.
	Pass Kind = iota
	// Refuse closes the listening socket and every connection: connection refused.
	Refuse
	// Reset accepts the request and closes its connection without an answer.
	Reset
	// Status answers Fault.Status (HTTP) or the matching gRPC code without forwarding, with
	// Retry-After (or gRPC RetryInfo) when Fault.RetryAfter is set.
	Status
	// Delay waits Fault.Delay, then forwards.
	Delay
	// Hang holds the request until the fault changes or the client gives up.
	Hang
)

func (k Kind) String() string {
	switch k {
	case Pass:
		return "pass"
	case Refuse:
		return "refuse"
	case Reset:
		return "reset"
	case Status:
		return "status"
	case Delay:
		return "delay"
	case Hang:
		return "hang"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Fault is the proxy's current behaviour.
type Fault struct {
	Kind       Kind
	Status     int           // for Status: 429, 503, 400...
	RetryAfter time.Duration // for Status: sent as Retry-After (whole seconds, at least 1) when > 0
	Delay      time.Duration // for Delay
}

func (f Fault) String() string {
	switch f.Kind {
	case Status:
		if f.RetryAfter > 0 {
			return fmt.Sprintf("status %d, Retry-After %s", f.Status, f.RetryAfter)
		}
		return fmt.Sprintf("status %d", f.Status)
	case Delay:
		return fmt.Sprintf("delay %s", f.Delay)
	}
	return f.Kind.String()
}

// Attempt is one request the proxy saw.
type Attempt struct {
	At     time.Time
	Body   [32]byte // SHA-256 of the request's payload: the same batch sent again has the same one
	Status int      // what the client got (HTTP status; for gRPC, the HTTP status of the code)
	Fault  Kind
}

// Stats is what a proxy counted.
type Stats struct {
	Requests  int
	ByStatus  map[int]int    // answers the client got, by HTTP status (0: connection cut)
	Delivered map[string]int // items the backend accepted, by ID, with repeats
	Attempts  []Attempt
}

// Unique is the number of distinct items delivered.
func (s Stats) Unique() int { return len(s.Delivered) }

// Duplicates is the number of deliveries beyond the first of each item.
func (s Stats) Duplicates() int {
	n := 0
	for _, c := range s.Delivered {
		n += c - 1
	}
	return n
}

// Missing returns the IDs in want that were never delivered.
func (s Stats) Missing(want []string) []string {
	var out []string
	for _, w := range want {
		if s.Delivered[w] == 0 {
			out = append(out, w)
		}
	}
	return out
}

// recorder keeps the counts shared by both proxies.
type recorder struct {
	mu        sync.Mutex
	fault     Fault
	changed   chan struct{} // closed when the fault changes (wakes hanging requests)
	requests  int
	byStatus  map[int]int
	delivered map[string]int
	attempts  []Attempt
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}), byStatus: map[int]int{}, delivered: map[string]int{}}
}

func (r *recorder) get() (Fault, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fault, r.changed
}

func (r *recorder) set(f Fault) Fault {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.fault
	r.fault = f
	close(r.changed)
	r.changed = make(chan struct{})
	return old
}

func (r *recorder) record(body []byte, status int, kind Kind, items []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.byStatus[status]++
	r.attempts = append(r.attempts, Attempt{At: time.Now(), Body: sha256.Sum256(body), Status: status, Fault: kind})
	if status/100 == 2 {
		for _, id := range items {
			r.delivered[id]++
		}
	}
}

func (r *recorder) stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{
		Requests:  r.requests,
		ByStatus:  maps.Clone(r.byStatus),
		Delivered: maps.Clone(r.delivered),
		Attempts:  append([]Attempt(nil), r.attempts...),
	}
}

// uniqueCount is Stats().Unique() without copying the maps.
func (r *recorder) uniqueCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

// Retries groups the failed attempts by payload and returns, for every payload that was sent more
// than once, the gaps between its successive attempts (the client's backoff), in order.
func (s Stats) Retries() [][]time.Duration {
	last := map[[32]byte]time.Time{}
	gaps := map[[32]byte][]time.Duration{}
	var order [][32]byte
	for _, a := range s.Attempts {
		if prev, ok := last[a.Body]; ok {
			if _, seen := gaps[a.Body]; !seen {
				order = append(order, a.Body)
			}
			gaps[a.Body] = append(gaps[a.Body], a.At.Sub(prev))
		}
		last[a.Body] = a.At
	}
	out := make([][]time.Duration, 0, len(order))
	for _, b := range order {
		out = append(out, gaps[b])
	}
	return out
}

// Between returns the stats with only the attempts made between from and to.
func (s Stats) Between(from, to time.Time) Stats {
	out := s
	out.Attempts = nil
	for _, a := range s.Attempts {
		if !a.At.Before(from) && a.At.Before(to) {
			out.Attempts = append(out.Attempts, a)
		}
	}
	return out
}

// PerPayload groups the attempts by payload, each group in order, for payloads sent more than
// once.
func (s Stats) PerPayload() [][]Attempt {
	by := map[[32]byte][]Attempt{}
	var order [][32]byte
	for _, a := range s.Attempts {
		if _, ok := by[a.Body]; !ok {
			order = append(order, a.Body)
		}
		by[a.Body] = append(by[a.Body], a)
	}
	var out [][]Attempt
	for _, b := range order {
		if len(by[b]) > 1 {
			out = append(out, by[b])
		}
	}
	return out
}
