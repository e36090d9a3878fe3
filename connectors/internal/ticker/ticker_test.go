package ticker

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTicker(t *testing.T) {
	var n atomic.Int64
	var tk Ticker
	assert.False(t, tk.Stop(), "not started")
	tk.Start(time.Millisecond, func() { n.Add(1) })
	require.Eventually(t, func() bool { return n.Load() >= 3 }, 10*time.Second, time.Millisecond)
	assert.True(t, tk.Stop())
	after := n.Load()
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, after, n.Load(), "no call after Stop returns")
	assert.False(t, tk.Stop(), "stopped twice")
}

func TestNonPositiveIntervalStartsNothing(t *testing.T) {
	var tk Ticker
	tk.Start(0, func() { t.Error("called") })
	assert.False(t, tk.Stop())
}
