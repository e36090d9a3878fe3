// Package histogram is the explicit-bucket histogram the connectors keep for each series.
package histogram

import (
	"fmt"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// DefaultBuckets are contrib's default bucket bounds for span durations and call latencies
// (both connectors' default).
func DefaultBuckets() []time.Duration {
	return []time.Duration{
		2 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond, 8 * time.Millisecond,
		10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
		400 * time.Millisecond, 800 * time.Millisecond, time.Second, 1400 * time.Millisecond,
		2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
	}
}

// Histogram counts observations into buckets whose upper bounds (inclusive) are given to each
// call; the last bucket is above every bound.
type Histogram struct {
	count   uint64
	sum     float64
	buckets []uint64
}

// New returns an empty histogram for bounds.
func New(bounds []float64) Histogram {
	return Histogram{buckets: make([]uint64, len(bounds)+1)}
}

// Observe counts v.
func (h *Histogram) Observe(bounds []float64, v float64) {
	h.count++
	h.sum += v
	h.buckets[sort.SearchFloat64s(bounds, v)]++
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count }

// CopyTo writes the histogram, with bounds, into dp.
func (h *Histogram) CopyTo(dp pmetric.HistogramDataPoint, bounds []float64) {
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(h.buckets)
	dp.SetCount(h.count)
	dp.SetSum(h.sum)
}

// ValidateBounds returns an error, naming key and the index, for each bound of b that is not
// positive or not above the one before it, and one when b is empty.
func ValidateBounds(key string, b []time.Duration) []error {
	if len(b) == 0 {
		return []error{fmt.Errorf("%s: must not be empty", key)}
	}
	var errs []error
	for i, d := range b {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s[%d]: %v is not positive", key, i, d))
		} else if i > 0 && d <= b[i-1] {
			errs = append(errs, fmt.Errorf("%s[%d]: %v is not above the bucket before it (%v)", key, i, d, b[i-1]))
		}
	}
	return errs
}
