package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"
)

// MaxFaultLatency bounds the latency a fault may add, so that a typo cannot hang the demo.
const MaxFaultLatency = time.Minute

// FaultSettings are what the fault switch injects into every business request.
type FaultSettings struct {
	// ErrorRatio is the share of requests answered with HTTP 500, from 0 to 1.
	ErrorRatio float64 `json:"error_ratio"`
	// Latency is added before each request is handled.
	Latency time.Duration `json:"-"`
}

type faultJSON struct {
	ErrorRatio *float64 `json:"error_ratio"`
	Latency    *string  `json:"latency"`
}

// MarshalJSON writes the latency as a Go duration string ("150ms").
func (f FaultSettings) MarshalJSON() ([]byte, error) {
	lat := f.Latency.String()
	return json.Marshal(faultJSON{ErrorRatio: &f.ErrorRatio, Latency: &lat})
}

// Validate reports, by JSON key, what is out of range.
func (f FaultSettings) Validate() error {
	var errs []error
	if math.IsNaN(f.ErrorRatio) || f.ErrorRatio < 0 || f.ErrorRatio > 1 {
		errs = append(errs, fmt.Errorf("error_ratio: %v is outside [0, 1]", f.ErrorRatio))
	}
	if f.Latency < 0 || f.Latency > MaxFaultLatency {
		errs = append(errs, fmt.Errorf("latency: %s is outside [0s, %s]", f.Latency, MaxFaultLatency))
	}
	return errors.Join(errs...)
}

// ParseFaultSettings decodes a fault switch request body: a JSON object with "error_ratio" (a
// number from 0 to 1) and "latency" (a Go duration such as "250ms"). A key left out keeps its
// value from current; unknown keys are rejected.
func ParseFaultSettings(body []byte, current FaultSettings) (FaultSettings, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var in faultJSON
	if err := dec.Decode(&in); err != nil {
		return current, fmt.Errorf("fault settings: want a JSON object like {\"error_ratio\":0.2,\"latency\":\"150ms\"}: %w", err)
	}
	if dec.More() {
		return current, errors.New("fault settings: trailing data after the JSON object")
	}
	out := current
	if in.ErrorRatio != nil {
		out.ErrorRatio = *in.ErrorRatio
	}
	if in.Latency != nil {
		d, err := time.ParseDuration(*in.Latency)
		if err != nil {
			return current, fmt.Errorf("fault settings: latency: %w", err)
		}
		out.Latency = d
	}
	if err := out.Validate(); err != nil {
		return current, fmt.Errorf("fault settings: %w", err)
	}
	return out, nil
}

// Fault is a service's fault switch, changed at run time over HTTP.
type Fault struct {
	mu       sync.RWMutex
	settings FaultSettings
	onChange func(FaultSettings)
}

// Get returns the current settings.
func (f *Fault) Get() FaultSettings {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.settings
}

// Set replaces the settings after validating them.
func (f *Fault) Set(s FaultSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	f.settings = s
	cb := f.onChange
	f.mu.Unlock()
	if cb != nil {
		cb(s)
	}
	return nil
}

// ServeHTTP serves the switch: GET shows it, PUT or POST changes it (keys left out are kept),
// DELETE turns every fault off.
func (f *Fault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut, http.MethodPost:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
		if err != nil {
			http.Error(w, fmt.Sprintf("fault settings: read body: %v", err), http.StatusBadRequest)
			return
		}
		s, err := ParseFaultSettings(body, f.Get())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := f.Set(s); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	case http.MethodDelete:
		_ = f.Set(FaultSettings{})
	default:
		w.Header().Set("Allow", "GET, PUT, POST, DELETE")
		http.Error(w, "fault: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f.Get())
}
