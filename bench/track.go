package bench

import (
	"sync"
	"time"
)

// tracker records which numbered items arrived: items are numbered per stream (a pod's log
// file, the trace generator) from 0, so a bitmap per stream tells arrivals from duplicates and
// what is missing.
type tracker struct {
	mu      sync.Mutex
	streams [][]uint64
	count   int64 // arrivals, duplicates included
	dups    int64
	foreign int64 // items without a recognisable number
	first   time.Time
	last    time.Time
}

// mark records the arrival of item seq of stream; it returns false for a duplicate.
// The caller holds t.mu (see add).
func (t *tracker) mark(stream int, seq uint64) bool {
	for len(t.streams) <= stream {
		t.streams = append(t.streams, nil)
	}
	bm := t.streams[stream]
	w := int(seq / 64)
	if w >= len(bm) {
		n := max(2*len(bm), w+1, 1024)
		grown := make([]uint64, n)
		copy(grown, bm)
		bm = grown
		t.streams[stream] = bm
	}
	bit := uint64(1) << (seq % 64)
	t.count++
	if bm[w]&bit != 0 {
		t.dups++
		return false
	}
	bm[w] |= bit
	return true
}

// batch is what one request carried, marked under one lock.
type batch struct {
	ids     []itemID
	foreign int64
}

type itemID struct {
	stream int
	seq    uint64
}

func (t *tracker) add(b *batch) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first.IsZero() && (len(b.ids) > 0 || b.foreign > 0) {
		t.first = now
	}
	if len(b.ids) > 0 || b.foreign > 0 {
		t.last = now
	}
	for _, id := range b.ids {
		t.mark(id.stream, id.seq)
	}
	t.foreign += b.foreign
}

// trackerStats is a snapshot of a tracker.
type trackerStats struct {
	count, dups, foreign int64
	first, last          time.Time
}

func (t *tracker) stats() trackerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return trackerStats{count: t.count, dups: t.dups, foreign: t.foreign, first: t.first, last: t.last}
}

// distinct is the number of different items that arrived.
func (t *tracker) distinct() int64 {
	s := t.stats()
	return s.count - s.dups
}

// missing counts the items of stream in [from, to) that did not arrive.
func (t *tracker) missing(stream int, from, to uint64) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var bm []uint64
	if stream < len(t.streams) {
		bm = t.streams[stream]
	}
	var n int64
	for seq := from; seq < to; seq++ {
		w := int(seq / 64)
		if w >= len(bm) || bm[w]&(1<<(seq%64)) == 0 {
			n++
		}
	}
	return n
}

func (t *tracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.streams, t.count, t.dups, t.foreign = nil, 0, 0, 0
	t.first, t.last = time.Time{}, time.Time{}
}
