package segmentstorage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// dirSize is the size of the files in dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	des, err := os.ReadDir(dir)
	require.NoError(t, err)
	var n int64
	for _, de := range des {
		info, err := de.Info()
		require.NoError(t, err)
		n += info.Size()
	}
	return n
}

// queue drives a store as exporterhelper's persistent queue does: put, read and complete
// items, each Batch with a metadata update; it keeps what the store must hold.
type queue struct {
	t           *testing.T
	s           *store
	write, read int
	items       map[int][]byte // put, not completed
	meta        []byte
}

func newQueue(t *testing.T, s *store) *queue {
	return &queue{t: t, s: s, items: map[int][]byte{}}
}

func (q *queue) setMeta() *storage.Operation {
	q.meta = fmt.Appendf(nil, "w=%d r=%d dispatched=%d %s", q.write, q.read, len(q.items), strings.Repeat("m", 40))
	return storage.SetOperation("qmv0", q.meta)
}

func (q *queue) put(size int) error {
	v := value(fmt.Sprint(q.write), size)
	q.write++
	err := q.s.Batch(context.Background(), q.setMeta(), storage.SetOperation(fmt.Sprint(q.write-1), v))
	if err == nil {
		q.items[q.write-1] = v
	}
	return err
}

// next reads the next item and checks its value.
func (q *queue) next() int {
	q.t.Helper()
	i := q.read
	q.read++
	get := storage.GetOperation(fmt.Sprint(i))
	require.NoError(q.t, q.s.Batch(context.Background(), q.setMeta(), get))
	require.Equal(q.t, q.items[i], get.Value, "item %d", i)
	return i
}

func (q *queue) complete(i int) {
	q.t.Helper()
	delete(q.items, i)
	require.NoError(q.t, q.s.Batch(context.Background(), q.setMeta(), storage.DeleteOperation(fmt.Sprint(i))))
}

// live is the size of the keys and values the store must hold.
func (q *queue) live() int64 {
	n := int64(len("qmv0") + len(q.meta))
	for i, v := range q.items {
		n += int64(len(fmt.Sprint(i)) + len(v))
	}
	return n
}

// TestQueuePatternKeepsDiskBounded runs queue traffic of 100 KiB items on 1 MiB segments: a
// backlog that grows and shrinks, and one item held from start to end (as a request retried
// for long). The directory never holds more than the head segment and the live data with at
// most a segment (or a third of the live data, if more) of dead data.
func TestQueuePatternKeepsDiskBounded(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, nil)
	q := newQueue(t, s)
	require.NoError(t, q.put(100<<10))
	held := q.next()
	rng := rand.New(rand.NewPCG(3, 4))
	maxSize, maxBacklog := int64(0), 0
	for range 4000 {
		backlog := q.write - q.read
		if backlog == 0 || (backlog < 30 && rng.IntN(2) == 0) {
			require.NoError(t, q.put(50<<10+rng.IntN(100<<10)))
		} else {
			q.complete(q.next())
		}
		size := dirSize(t, dir)
		require.LessOrEqual(t, size, diskBound(q.live(), s.opts.segmentSize), "backlog %d", backlog)
		maxSize, maxBacklog = max(maxSize, size), max(maxBacklog, backlog)
	}
	t.Logf("wrote %d items, largest backlog %d, largest directory %d bytes", q.write, maxBacklog, maxSize)
	require.Equal(t, q.items[held], s.index[fmt.Sprint(held)].read(t))
	require.NotEqual(t, filepath.Join(dir, segmentName(1)), s.index[fmt.Sprint(held)].seg.path, "the held item was moved forward")

	require.NoError(t, s.Close(context.Background()))
	s, _ = openTestStore(t, dir, nil)
	for i, v := range q.items {
		got, err := s.Get(context.Background(), fmt.Sprint(i))
		require.NoError(t, err)
		require.Equal(t, v, got, "item %d", i)
	}
}

// diskBound is the most a store may hold for live bytes of live data: the head, and behind it
// the live data with at most a segment or a third of it dead (with 64 KiB for record headers).
func diskBound(live, segmentSize int64) int64 {
	return segmentSize + max(live+segmentSize, live*4/3) + 64<<10
}

// read reads the value of e, for tests.
func (e entry) read(t *testing.T) []byte {
	t.Helper()
	v := make([]byte, e.n)
	_, err := e.seg.f.ReadAt(v, e.off)
	require.NoError(t, err)
	return v
}

// TestOverwrittenKeysKeepDiskBounded overwrites a few small keys (queue metadata, receiver
// checkpoints) many times: the directory stays within two segments.
func TestOverwrittenKeysKeepDiskBounded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, nil)
	want := map[string][]byte{}
	keys := []string{"qmv0", "file_input.knownFiles0", "file_input.knownFiles1", "offset"}
	for i := range 30000 {
		k := keys[i%len(keys)]
		v := value(fmt.Sprint(i), 50+i%200)
		require.NoError(t, s.Set(ctx, k, v))
		want[k] = v
		if i%1000 == 0 {
			require.LessOrEqual(t, dirSize(t, dir), 2*s.opts.segmentSize)
		}
	}
	require.Greater(t, s.segments[0].path, filepath.Join(dir, segmentName(3)), "segments were written and deleted")
	require.NoError(t, s.Close(ctx))
	s, _ = openTestStore(t, dir, nil)
	requireState(t, s, keys, want)
}

// TestDiskFull fills a "disk" of three segments with queue items: the put that needs a fourth
// segment fails with a clear error while reads and completions still succeed, and puts work
// again once completed items have emptied a segment.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	allocate := func(f *os.File, size int64) error {
		segments, err := filepath.Glob(filepath.Join(dir, "*.seg"))
		if err != nil {
			return err
		}
		if len(segments) >= 3 {
			return syscall.ENOSPC
		}
		return preallocate(f, size)
	}
	s, _ := openTestStore(t, dir, func(o *storeOptions) { o.allocate = allocate })
	q := newQueue(t, s)
	var err error
	for range 100 {
		if err = q.put(100 << 10); err != nil {
			break
		}
	}
	require.EqualError(t, err, "segment_storage: no space for a new segment in "+dir+": no space left on device")
	require.ErrorIs(t, err, storage.ErrStorageFull)
	require.ErrorIs(t, err, syscall.ENOSPC)
	accepted := len(q.items)
	require.Equal(t, 27, accepted, "9 items of 100 KiB in each 1 MiB segment, with its 64 KiB reserve")
	require.Equal(t, q.write-1, q.read+accepted, "the refused item is not in the store")

	// The queue's bookkeeping goes on in the reserve: it reads (and skips the missing item it
	// counted), while further puts fail.
	var reading []int
	for range 20 {
		reading = append(reading, q.next())
		require.True(t, errors.Is(q.put(100<<10), storage.ErrStorageFull))
	}
	for range 200 { // retries of a dispatched item rewrite the metadata
		require.NoError(t, s.Set(context.Background(), "qmv0", q.setMeta().Value))
	}
	for _, i := range reading[:9] {
		q.complete(i)
	}
	require.Len(t, s.segments, 2, "the emptied oldest segment is deleted")
	require.NoError(t, q.put(100<<10), "space came back")
	for q.read < q.write {
		if i := q.next(); q.items[i] != nil {
			q.complete(i)
		}
	}
	for _, i := range reading[9:] {
		q.complete(i)
	}
	require.Empty(t, q.items)
}

// TestMinFreeSpace runs a queue on a "volume" of 6 MiB that keeps 2 MiB free: puts that need a
// segment from those 2 MiB are refused, however small, while metadata updates of any size (they
// replace a value) go on past the head's reserve, in segments of their own from the kept space.
func TestMinFreeSpace(t *testing.T) {
	const capacity, minFree = 6 * mib, 2 * mib
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, func(o *storeOptions) {
		o.minFree = minFree
		o.freeSpace = func(string) (int64, error) { return capacity - dirSize(t, dir), nil }
		o.allocate = func(f *os.File, size int64) error {
			if dirSize(t, dir)+size > capacity {
				return syscall.ENOSPC
			}
			return preallocate(f, size)
		}
	})
	q := newQueue(t, s)
	var err error
	for range 100 {
		if err = q.put(100 << 10); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, storage.ErrStorageFull)
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorContains(t, err, "segment_storage: no space for a new segment in "+dir+": ")
	require.ErrorContains(t, err, " bytes free, a segment takes 1048576 and min_free_space keeps 2097152 for the bookkeeping of queues")
	require.Len(t, q.items, 36, "four segments of 9 items: a fifth would leave less than 2 MiB")
	require.Greater(t, capacity-dirSize(t, dir), int64(minFree))

	big := bytes.Repeat([]byte("m"), 8<<10)
	for range 100 { // 800 KiB of metadata, the head's reserve is 64 KiB
		require.NoError(t, s.Set(context.Background(), "qmv0", big))
	}
	require.Greater(t, len(s.segments), 5, "the metadata went on in small segments")
	require.ErrorIs(t, q.put(100<<10), storage.ErrStorageFull)
	require.ErrorIs(t, q.put(100), storage.ErrStorageFull, "a small item is not bookkeeping")

	for q.read < q.write {
		if i := q.next(); q.items[i] != nil {
			q.complete(i)
		}
	}
	require.Empty(t, q.items)
	require.NoError(t, q.put(100<<10), "space came back")
}

// TestSmallLiveDataDoesNotPinASegment leaves a small item behind in the oldest segment (as
// exporterhelper leaves an item whose deletion failed) on a volume where no whole segment
// fits above min_free_space: once the queue has drained, the item is moved to the head and the
// segment given back, so that puts work again.
func TestSmallLiveDataDoesNotPinASegment(t *testing.T) {
	const capacity, minFree = 6 * mib, 2 * mib
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, func(o *storeOptions) {
		o.minFree = minFree
		o.freeSpace = func(string) (int64, error) { return capacity - dirSize(t, dir), nil }
	})
	ctx := context.Background()
	require.NoError(t, s.Set(ctx, "left-behind", value("left-behind", 100)))
	q := newQueue(t, s)
	for q.put(100<<10) == nil {
	}
	require.NotEmpty(t, q.items)
	for range 50 { // retries rewrite the metadata until the head is a segment of the kept space
		require.NoError(t, s.Set(ctx, "qmv0", bytes.Repeat([]byte("m"), 8<<10)))
	}
	for q.read < q.write {
		if i := q.next(); q.items[i] != nil {
			q.complete(i)
		}
	}
	require.NoError(t, q.put(100<<10), "space came back")
	require.NotEqual(t, filepath.Join(dir, segmentName(1)), s.segments[0].path, "the first segment was given back")
	requireState(t, s, []string{"left-behind"}, map[string][]byte{"left-behind": value("left-behind", 100)})
}

// TestDrainedQueuesGiveBackTheirSegments has two queues share a volume with room for neither to
// take a second segment above min_free_space. Both fill their head segment, are refused, and
// drain: each head is then all dead data but its metadata, and a put must still work (the head's
// metadata moves to a small segment and the head is given back), else each queue would wait for
// ever for the space the other keeps.
func TestDrainedQueuesGiveBackTheirSegments(t *testing.T) {
	const capacity, minFree = 4*mib + mib/2, 2 * mib
	a, b := t.TempDir(), t.TempDir()
	volume := func(o *storeOptions) {
		o.minFree = minFree
		o.freeSpace = func(string) (int64, error) { return capacity - dirSize(t, a) - dirSize(t, b), nil }
	}
	sa, _ := openTestStore(t, a, volume)
	sb, _ := openTestStore(t, b, volume)
	queues := []*queue{newQueue(t, sa), newQueue(t, sb)}
	for _, q := range queues {
		var err error
		for err == nil {
			err = q.put(100 << 10)
		}
		require.ErrorIs(t, err, storage.ErrStorageFull)
	}
	for _, q := range queues {
		for q.read < q.write {
			if i := q.next(); q.items[i] != nil {
				q.complete(i)
			}
		}
		require.Empty(t, q.items)
		require.Len(t, q.s.segments, 1)
	}
	for i, q := range queues {
		require.NoError(t, q.put(100<<10), "queue %d: a drained queue takes data again", i)
		requireState(t, q.s, []string{"qmv0", fmt.Sprint(q.write - 1)}, map[string][]byte{"qmv0": q.meta, fmt.Sprint(q.write - 1): q.items[q.write-1]})
	}
}
