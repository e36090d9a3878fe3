package histogram

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestObserve(t *testing.T) {
	bounds := []float64{0.005, 0.01, 1}
	h := New(bounds)
	for _, v := range []float64{0, 0.005, 0.0050001, 0.01, 0.5, 1, 2, 100} {
		h.Observe(bounds, v)
	}
	dp := pmetric.NewHistogramDataPoint()
	h.CopyTo(dp, bounds)
	assert.Equal(t, []float64{0.005, 0.01, 1}, dp.ExplicitBounds().AsRaw())
	assert.Equal(t, []uint64{2, 2, 2, 2}, dp.BucketCounts().AsRaw(), "a value on a bound is in that bound's bucket")
	assert.Equal(t, uint64(8), dp.Count())
	assert.Equal(t, uint64(8), h.Count())
	assert.InDelta(t, 103.5200001, dp.Sum(), 1e-9)
}

func TestValidateBounds(t *testing.T) {
	for _, tc := range []struct {
		b    []time.Duration
		want string
	}{
		{[]time.Duration{time.Millisecond, time.Second}, ""},
		{nil, "k: must not be empty"},
		{[]time.Duration{0, time.Second}, "k[0]: 0s is not positive"},
		{[]time.Duration{time.Second, -time.Second}, "k[1]: -1s is not positive"},
		{[]time.Duration{time.Second, time.Second, time.Millisecond}, "k[1]: 1s is not above the bucket before it (1s)\nk[2]: 1ms is not above the bucket before it (1s)"},
	} {
		err := errors.Join(ValidateBounds("k", tc.b)...)
		if tc.want == "" {
			assert.NoError(t, err, "%v", tc.b)
			continue
		}
		assert.EqualError(t, err, tc.want, "%v", tc.b)
	}
}
