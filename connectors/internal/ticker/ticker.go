// Package ticker runs a connector's periodic work (flushes, expiry) on a goroutine of its own
// until the connector shuts down.
package ticker

import "time"

// Ticker calls a function at a fixed interval between Start and Stop.
type Ticker struct {
	stop chan struct{}
	done chan struct{}
}

// Start calls f every interval, on a goroutine of its own, until Stop. A non-positive interval
// starts nothing.
func (t *Ticker) Start(interval time.Duration, f func()) {
	if interval <= 0 {
		return
	}
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(t.done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tk.C:
				f()
			}
		}
	}()
}

// Stop ends the calls and waits for one under way to return. It reports whether the ticker
// was running.
func (t *Ticker) Stop() bool {
	if t.stop == nil {
		return false
	}
	close(t.stop)
	<-t.done
	t.stop = nil
	return true
}
