package segmentstorage

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

const (
	// maxKeptBuffer is the largest record buffer a store keeps between writes.
	maxKeptBuffer = 8 * mib
	// entryOverhead is what a Set costs on disk besides its key and value, about: the type, two
	// lengths, a share of the record header.
	entryOverhead = 8
	// minCached is the smallest value the read cache keeps: smaller ones are bookkeeping (a
	// queue's indexes, a receiver's offsets), read back only at a restart, and a pread of a few
	// bytes costs little.
	minCached = 4 << 10
)

// errClosed is returned by a client used after Close.
var errClosed = errors.New("segment_storage: the client is closed")

// storeOptions are the settings of one store; nil functions get the defaults.
type storeOptions struct {
	dir         string
	segmentSize int64
	reserve     int64
	minFree     int64 // free space of the volume that only bookkeeping may take
	fsync       bool
	cacheSize   int // bytes of values written and not yet read that are kept in memory too
	logger      *zap.Logger
	onClose     func(*store)
	// allocate preallocates a new segment file (default preallocate); tests make it fail.
	allocate func(f *os.File, size int64) error
	// freeSpace returns the free space of the volume of a directory (default freeSpace).
	freeSpace func(dir string) (int64, error)
}

// segment is one segment file.
type segment struct {
	path string
	f    *os.File
	size int64 // bytes that may be written to the file
	used int64 // end of the last record
	live int64 // bytes of the keys and values the index points to here
}

// entry is where the value of a key is.
type entry struct {
	seg *segment
	off int64 // of the value in the file
	n   int   // length of the value
}

func (e entry) liveSize(key string) int64 { return int64(len(key) + e.n + entryOverhead) }

// store is one client's storage: a directory of segment files, oldest first, and an index of
// the keys. It implements storage.Client; one mutex serializes its use.
type store struct {
	opts storeOptions
	lock *os.File

	mu       sync.Mutex
	closed   bool
	segments []*segment // oldest first
	head     *segment   // the last segment, written to; nil until a write creates one, and after a failed write
	nextSeq  uint64     // of the next segment file
	index    map[string]entry
	// cache holds values of at least minCached bytes written by this process and not yet read
	// or replaced, up to opts.cacheSize bytes in all, so that the read that follows a write
	// (a queue's consumer takes what its producer put) is not a pread(2) of what was just
	// written: each is a slice of a record buffer that the store no longer writes to, and a
	// Get hands it over to the caller.
	cache  map[string][]byte
	cached int        // bytes in cache
	buf    []byte     // record buffer, kept between writes
	offs   []int      // offset of each Set's value in buf
	ops    []recordOp // decoded ops, kept between records at recovery
}

var (
	_ storage.Client = (*store)(nil)
	_ storage.Walker = (*store)(nil)
)

// fullError is a write refused for want of disk space: errors.Is finds both
// storage.ErrStorageFull and the cause (syscall.ENOSPC).
type fullError struct {
	msg string
	err error
}

func (e *fullError) Error() string   { return e.msg + ": " + e.err.Error() }
func (e *fullError) Unwrap() []error { return []error{storage.ErrStorageFull, e.err} }

// openStore locks the directory, replays its segments and returns the store, ready to use.
func openStore(opts storeOptions) (*store, error) {
	if opts.allocate == nil {
		opts.allocate = preallocate
	}
	if opts.freeSpace == nil {
		opts.freeSpace = freeSpace
	}
	if opts.logger == nil {
		opts.logger = zap.NewNop()
	}
	if opts.onClose == nil {
		opts.onClose = func(*store) {}
	}
	lock, err := os.OpenFile(filepath.Join(opts.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("segment_storage: %w", err)
	}
	if err := lockFile(lock); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("segment_storage: %s is in use by another client or process: %w", opts.dir, err)
	}
	s := &store{opts: opts, lock: lock, index: map[string]entry{}, cache: map[string][]byte{}, nextSeq: 1}
	if err := s.recover(); err != nil {
		_ = s.closeFiles()
		return nil, err
	}
	s.keepBuffer(s.buf)
	s.ops = nil
	s.compact()
	return s, nil
}

func segmentName(seq uint64) string { return fmt.Sprintf("%016x.seg", seq) }

// recover removes the segments left half-created and replays the others in order.
func (s *store) recover() error {
	des, err := os.ReadDir(s.opts.dir) // sorted by name: by sequence number
	if err != nil {
		return fmt.Errorf("segment_storage: %w", err)
	}
	var seqs []uint64
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, ".seg.tmp") {
			if err := os.Remove(filepath.Join(s.opts.dir, name)); err != nil {
				return fmt.Errorf("segment_storage: removing a segment left half-created: %w", err)
			}
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 16, 64)
		if err == nil && name == segmentName(seq) {
			seqs = append(seqs, seq)
		}
	}
	for i, seq := range seqs {
		seg, err := s.load(filepath.Join(s.opts.dir, segmentName(seq)), i == len(seqs)-1)
		if err != nil {
			return err
		}
		s.segments = append(s.segments, seg)
		s.nextSeq = seq + 1
	}
	return nil
}

// load opens and replays one segment. The last one becomes the head again, cut after its
// last good record; a bad record elsewhere loses the rest of its segment.
func (s *store) load(path string, last bool) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("segment_storage: %w", err)
	}
	seg, err := s.loadFile(f, path, last)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return seg, nil
}

func (s *store) loadFile(f *os.File, path string, last bool) (*segment, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("segment_storage: %w", err)
	}
	fileSize := info.Size()
	seg := &segment{path: path, f: f, size: max(fileSize, s.opts.segmentSize)}
	end, badEnd, problem, err := s.replay(seg, fileSize)
	if err != nil {
		return nil, err
	}
	seg.used = end
	log := s.opts.logger
	if end == 0 {
		log.Error("segment_storage: not a segment file, skipping it", zap.String("file", path), zap.String("problem", problem))
		seg.size = 0
		return seg, nil
	}
	// Only zeros may follow the records (or the bad record, if it was torn by a crash).
	tail := badEnd
	if badEnd < fileSize {
		if tail, err = lastNonZero(f, badEnd, fileSize); err != nil {
			return nil, fmt.Errorf("segment_storage: reading %s: %w", path, err)
		}
	}
	if problem == "" && tail > end {
		problem = "zeros where a record should start"
	}
	torn := last && problem != "" && tail <= badEnd
	switch {
	case torn:
		log.Info("segment_storage: truncating a torn record at the end of the last segment",
			zap.String("file", path), zap.Int64("offset", end), zap.String("problem", problem), zap.Int64("bytes", badEnd-end))
	case last && problem != "":
		log.Error("segment_storage: corrupt record in the last segment, discarding the rest of it",
			zap.String("file", path), zap.Int64("offset", end), zap.String("problem", problem), zap.Int64("bytes", tail-end))
	case problem != "":
		log.Error("segment_storage: corrupt record, skipping the rest of the segment",
			zap.String("file", path), zap.Int64("offset", end), zap.String("problem", problem), zap.Int64("skipped_bytes", tail-end))
	}
	if !last {
		if problem == "" && fileSize > end {
			// Still preallocated: the process stopped before the next segment was started.
			if err := f.Truncate(end); err != nil {
				log.Warn("segment_storage: cannot give back the unused end of a segment", zap.String("file", path), zap.Error(err))
			}
		}
		seg.size = seg.used
		return seg, nil
	}
	if problem != "" {
		// Cut the file after the last good record: nothing stale may follow the records written
		// next.
		if err := f.Truncate(end); err != nil {
			return nil, fmt.Errorf("segment_storage: truncating %s: %w", path, err)
		}
	}
	if err := s.opts.allocate(f, seg.size); err != nil {
		log.Warn("segment_storage: cannot allocate the last segment again, writing to a new one", zap.String("file", path), zap.Error(err))
		seg.size = seg.used
		return seg, nil
	}
	s.head = seg
	return seg, nil
}

// replay indexes the records of seg. It returns the end of the last good record and, when it
// stopped at a bad one, the end that record claims (or the end of the file) and what is wrong
// with it. end is 0 if the file does not start with segmentMagic.
func (s *store) replay(seg *segment, fileSize int64) (end, badEnd int64, problem string, err error) {
	if fileSize < magicSize {
		return 0, fileSize, "shorter than the segment header", nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(seg.f, 0, fileSize), 1<<20)
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:magicSize]); err != nil {
		return 0, 0, "", fmt.Errorf("segment_storage: reading %s: %w", seg.path, err)
	}
	if string(hdr[:magicSize]) != segmentMagic {
		return 0, fileSize, "unknown segment header", nil
	}
	off := magicSize
	for {
		if off == fileSize {
			return off, off, "", nil
		}
		if fileSize-off < headerSize {
			return off, fileSize, "record header cut short", nil
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, 0, "", fmt.Errorf("segment_storage: reading %s: %w", seg.path, err)
		}
		sum, n := binary.LittleEndian.Uint32(hdr[0:4]), int64(binary.LittleEndian.Uint32(hdr[4:8]))
		if sum == 0 && n == 0 {
			return off, off, "", nil // the zeros after the last record
		}
		if n == 0 || n > fileSize-off-headerSize {
			return off, fileSize, "record length past the end of the file", nil
		}
		s.buf = slices.Grow(s.buf[:0], int(n))[:n]
		if _, err := io.ReadFull(r, s.buf); err != nil {
			return 0, 0, "", fmt.Errorf("segment_storage: reading %s: %w", seg.path, err)
		}
		if crc32.Update(crc32.Checksum(hdr[4:8], castagnoli), castagnoli, s.buf) != sum {
			return off, off + headerSize + n, "checksum mismatch", nil
		}
		ops, err := decodeRecord(s.buf, s.ops)
		if err != nil {
			return off, off + headerSize + n, err.Error(), nil
		}
		s.ops = ops
		for _, op := range ops {
			if op.typ == opSet {
				s.put(op.key, entry{seg: seg, off: off + headerSize + int64(op.valueOff), n: op.valueLen})
			} else {
				s.remove(op.key)
			}
		}
		off += headerSize + n
	}
}

// lastNonZero returns the offset after the last byte of f in [from, to) that is not zero, or
// from if they all are.
func lastNonZero(f *os.File, from, to int64) (int64, error) {
	last := from
	buf := make([]byte, min(to-from, 1<<20))
	for off := from; off < to; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), to-off)], off)
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				last = off + int64(i) + 1
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	return last, nil
}

// Get returns a copy of the value of key, or nil if there is none.
func (s *store) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := s.Batch(ctx, op)
	return op.Value, err
}

// Set sets the value of key.
func (s *store) Set(ctx context.Context, key string, value []byte) error {
	return s.Batch(ctx, storage.SetOperation(key, value))
}

// Delete deletes key; deleting a missing key is not an error.
func (s *store) Delete(ctx context.Context, key string) error {
	return s.Batch(ctx, storage.DeleteOperation(key))
}

// givenKey marks a context under which Batch takes the values of its Sets (GiveValues).
type givenKey struct{}

// GiveValues returns a context under which a client's Batch takes the values of its Sets as its
// own: the caller neither reads nor changes them once Batch returns, so the read cache keeps
// them as they are rather than a copy. A caller that reuses its buffers must not use it.
func GiveValues(ctx context.Context) context.Context {
	return context.WithValue(ctx, givenKey{}, true)
}

// Batch runs ops in order, atomically: their Sets and Deletes are one record, written with one
// write(2), and each Get sees the writes before it.
func (s *store) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return s.batch(ops, ctx.Value(givenKey{}) != nil)
}

// batch runs ops as Batch does, given saying whether their values are the store's (GiveValues);
// s.mu is held.
func (s *store) batch(ops []*storage.Operation, given bool) error {
	// Values the cache takes are slices of the record, unless they were given, and a record
	// the cache points into is not reused: it gets a buffer of its own.
	caching, size := false, headerSize
	room := s.opts.cacheSize - s.cached
	for _, op := range ops {
		if op != nil && op.Type == storage.Set {
			size += maxSetSize(op.Key, op.Value)
			if !given && cacheable(len(op.Value), room) {
				caching = true
				room -= len(op.Value)
			}
		}
	}
	var rec []byte
	if caching {
		rec = make([]byte, headerSize, size)
	} else {
		rec = s.newRecord()
	}
	offs := s.offs[:0]
	writes, adds := 0, false
	for _, op := range ops {
		if op == nil {
			return errors.New("segment_storage: nil operation in a batch")
		}
		off := 0
		switch op.Type {
		case storage.Set:
			rec, off = appendSet(rec, op.Key, op.Value)
			writes++
			if _, ok := s.index[op.Key]; !ok {
				adds = true
			}
		case storage.Delete:
			rec = appendDelete(rec, op.Key)
			writes++
		case storage.Get:
		default:
			return fmt.Errorf("segment_storage: unknown operation type %d for key %q", op.Type, op.Key)
		}
		offs = append(offs, off)
	}
	s.offs = offs
	var seg *segment
	var at int64
	if writes > 0 {
		if len(rec)-headerSize > math.MaxUint32 {
			return fmt.Errorf("segment_storage: a batch of %d bytes is over the 4 GiB limit of a record", len(rec))
		}
		sealRecord(rec)
		var err error
		// A batch that adds no key is bookkeeping: a queue's reads, completions and metadata,
		// a receiver's offsets. It replaces or deletes data, so the space it takes comes back.
		if seg, at, err = s.append(rec, !adds); err != nil {
			return err
		}
	}
	if !caching {
		s.keepBuffer(rec)
	}
	for i, op := range ops {
		switch op.Type {
		case storage.Set:
			s.uncache(op.Key)
			n := len(op.Value)
			s.put(op.Key, entry{seg: seg, off: at + int64(offs[i]), n: n})
			if (given || caching) && cacheable(n, s.opts.cacheSize-s.cached) {
				v := op.Value
				if !given {
					v = rec[offs[i]:]
				}
				s.cache[op.Key] = v[:n:n]
				s.cached += n
			}
		case storage.Delete:
			s.uncache(op.Key)
			s.remove(op.Key)
		case storage.Get:
			if v, ok := s.uncache(op.Key); ok {
				op.Value = v
				continue
			}
			v, err := s.read(op.Key)
			if err != nil {
				return err
			}
			op.Value = v
		}
	}
	if writes > 0 {
		s.compact()
	}
	return nil
}

// Walk calls fn with a copy of the value of every key, in key order, and applies the
// operations fn returns in one Batch when the walk ends, or when fn returns storage.SkipAll.
// Any other error from fn stops the walk and is returned wrapped; nothing is applied then. The
// client is locked during the walk: fn must not use it (as with file_storage, whose walk is a
// bbolt transaction).
func (s *store) Walk(ctx context.Context, fn storage.WalkFunc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	keys := slices.Sorted(maps.Keys(s.index))
	var ops []*storage.Operation
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("segment_storage: walk: %w", err)
		}
		v, err := s.read(key)
		if err != nil {
			return err
		}
		more, err := fn(key, v)
		ops = append(ops, more...)
		if errors.Is(err, storage.SkipAll) {
			break
		}
		if err != nil {
			return fmt.Errorf("segment_storage: walk stopped at key %q: %w", key, err)
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if err := s.batch(ops, false); err != nil {
		return fmt.Errorf("segment_storage: walk: applying the operations: %w", err)
	}
	return nil
}

// newRecord returns the record buffer, empty but for room for the header.
func (s *store) newRecord() []byte {
	return append(s.buf[:0], make([]byte, headerSize)...)
}

// keepBuffer keeps rec's array for the next record, unless it is large.
func (s *store) keepBuffer(rec []byte) {
	if cap(rec) > maxKeptBuffer {
		rec = nil
	}
	s.buf = rec[:0]
}

func (s *store) put(key string, e entry) {
	s.remove(key)
	s.index[key] = e
	e.seg.live += e.liveSize(key)
}

// cacheable reports whether the read cache takes a value of n bytes when it has room bytes left.
func cacheable(n, room int) bool { return n >= minCached && n <= room }

// uncache drops the cached value of key and returns it, if there was one.
func (s *store) uncache(key string) ([]byte, bool) {
	v, ok := s.cache[key]
	if ok {
		s.cached -= len(v)
		delete(s.cache, key)
	}
	return v, ok
}

func (s *store) remove(key string) {
	if e, ok := s.index[key]; ok {
		e.seg.live -= e.liveSize(key)
		delete(s.index, key)
	}
}

// read returns a copy of the value of key, or nil.
func (s *store) read(key string) ([]byte, error) {
	e, ok := s.index[key]
	if !ok {
		return nil, nil
	}
	v := make([]byte, e.n)
	if _, err := e.seg.f.ReadAt(v, e.off); err != nil {
		return nil, fmt.Errorf("segment_storage: reading key %q from %s: %w", key, e.seg.path, err)
	}
	return v, nil
}

// append writes a sealed record to the head, starting a new segment if it does not fit, and
// returns where it went. Only bookkeeping may use the last opts.reserve bytes of a segment.
func (s *store) append(rec []byte, bookkeeping bool) (*segment, int64, error) {
	need := int64(len(rec))
	h := s.head
	if h == nil || !s.fits(h, need, bookkeeping) {
		var err error
		h, err = s.roll(need, bookkeeping)
		if errors.Is(err, storage.ErrStorageFull) && s.reclaim() {
			h, err = s.roll(need, bookkeeping)
		}
		if err != nil {
			return nil, 0, err
		}
	}
	at := h.used
	if _, err := h.f.WriteAt(rec, at); err != nil {
		return nil, 0, s.failed(h, err)
	}
	if s.opts.fsync {
		if err := h.f.Sync(); err != nil {
			return nil, 0, s.failed(h, err)
		}
	}
	h.used += need
	return h, at, nil
}

func (s *store) fits(h *segment, need int64, bookkeeping bool) bool {
	limit := h.size
	if !bookkeeping {
		limit -= s.opts.reserve
	}
	return h.used+need <= limit
}

// failed seals the head after a failed write: whatever part of the record reached the file is
// cut off, and the next write starts a new segment.
func (s *store) failed(h *segment, err error) error {
	if terr := h.f.Truncate(h.used); terr != nil {
		s.opts.logger.Error("segment_storage: cannot cut a failed write off", zap.String("file", h.path), zap.Error(terr))
	}
	h.size = h.used
	s.head = nil
	if errors.Is(err, syscall.ENOSPC) {
		return &fullError{msg: "segment_storage: no space to write to " + h.path, err: err}
	}
	return fmt.Errorf("segment_storage: writing %s: %w", h.path, err)
}

// roll starts a new head segment with room for need bytes, and cuts the old head's file after
// its last record to give back the space it did not use. A segment may not take the volume's
// last opts.minFree bytes; bookkeeping that cannot have a whole segment gets one just large
// enough for it and a reserve, from those bytes if it must.
func (s *store) roll(need int64, bookkeeping bool) (*segment, error) {
	size := max(s.opts.segmentSize, magicSize+need+s.opts.reserve)
	err := s.leavesFree(size)
	var seg *segment
	if err == nil {
		seg, err = s.create(size)
	}
	if err != nil && bookkeeping && errors.Is(err, storage.ErrStorageFull) {
		seg, err = s.create(magicSize + need + s.opts.reserve)
	}
	if err != nil {
		return nil, err
	}
	if h := s.head; h != nil {
		if err := h.f.Truncate(h.used); err != nil {
			s.opts.logger.Warn("segment_storage: cannot give back the unused end of a segment", zap.String("file", h.path), zap.Error(err))
		}
		h.size = h.used
	}
	s.segments = append(s.segments, seg)
	s.head = seg
	return seg, nil
}

// reclaim gives back the only segment of a client that holds almost no live data (a drained
// queue's full head) when no new segment can be had: its live entries move to a small segment,
// as bookkeeping, and it is deleted. Without it, drained queues that share a full volume each
// keep a segment of dead data and wait for ever for the space the others keep. It reports
// whether it gave one back; it does not when that would give back less than twice the reserve.
func (s *store) reclaim() bool {
	if len(s.segments) != 1 {
		return false
	}
	old := s.segments[0]
	if old.live > s.opts.reserve/4 || old.size-old.live <= 2*s.opts.reserve {
		return false
	}
	if _, err := s.roll(old.live, true); err != nil {
		return false
	}
	if err := s.moveLive(old); err != nil {
		s.opts.logger.Debug("segment_storage: cannot reclaim a segment", zap.String("file", old.path), zap.Error(err))
		return false
	}
	s.compact()
	return s.segments[0] != old
}

// leavesFree returns a fullError if a new segment of size bytes would leave less than
// opts.minFree bytes free on the volume.
func (s *store) leavesFree(size int64) error {
	if s.opts.minFree == 0 {
		return nil
	}
	free, err := s.opts.freeSpace(s.opts.dir)
	if err != nil {
		return fmt.Errorf("segment_storage: reading the free space of %s: %w", s.opts.dir, err)
	}
	if free-size < s.opts.minFree {
		return &fullError{
			msg: fmt.Sprintf("segment_storage: no space for a new segment in %s: %d bytes free, a segment takes %d and min_free_space keeps %d for the bookkeeping of queues",
				s.opts.dir, free, size, s.opts.minFree),
			err: syscall.ENOSPC,
		}
	}
	return nil
}

// create makes the next segment file: preallocated and headed under a temporary name, then
// renamed, so that a crash never leaves a segment file without its header.
func (s *store) create(size int64) (*segment, error) {
	path := filepath.Join(s.opts.dir, segmentName(s.nextSeq))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("segment_storage: creating a segment: %w", err)
	}
	fail := func(err error) (*segment, error) {
		_ = f.Close()
		_ = os.Remove(tmp)
		if errors.Is(err, syscall.ENOSPC) {
			return nil, &fullError{msg: "segment_storage: no space for a new segment in " + s.opts.dir, err: err}
		}
		return nil, fmt.Errorf("segment_storage: creating segment %s: %w", path, err)
	}
	if err := s.opts.allocate(f, size); err != nil {
		return fail(err)
	}
	if _, err := f.WriteAt([]byte(segmentMagic), 0); err != nil {
		return fail(err)
	}
	if s.opts.fsync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if s.opts.fsync {
		if err := syncDir(s.opts.dir); err != nil {
			return nil, fmt.Errorf("segment_storage: creating segment %s: %w", path, err)
		}
	}
	s.nextSeq++
	return &segment{path: path, f: f, size: size, used: magicSize}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// compact deletes the oldest segment while it holds no live data. When the segments behind
// the head hold more dead data than both a segment and a quarter of their size, it first moves
// the live data of the oldest segment to the head. It does not move data sooner: the live
// items of a queue's oldest segment are usually the next ones to be read and deleted. Moving
// at most a quarter of the reserve is bookkeeping: it gives a segment back, so it may use the
// reserve (an item the queue lost track of must not pin a segment on a full disk).
// Segments go oldest first only: a Delete in a newer segment must outlive the Sets it hides in
// older ones, and going in order guarantees it without tracking which Delete hides what.
func (s *store) compact() {
	for range len(s.segments) {
		old := s.segments[0]
		if old == s.head {
			return
		}
		if old.live > 0 {
			if dead, used := s.dead(); dead <= s.opts.segmentSize || dead*4 <= used {
				return
			}
			if err := s.moveLive(old); err != nil {
				s.opts.logger.Debug("segment_storage: compaction postponed", zap.String("file", old.path), zap.Error(err))
				return
			}
		}
		if err := old.f.Close(); err != nil {
			s.opts.logger.Warn("segment_storage: closing a segment", zap.String("file", old.path), zap.Error(err))
		}
		if err := os.Remove(old.path); err != nil {
			// Harmless if it comes back at the next start: all its records are outdated.
			s.opts.logger.Error("segment_storage: deleting a segment", zap.String("file", old.path), zap.Error(err))
		}
		s.segments = slices.Delete(s.segments, 0, 1)
	}
}

// dead returns the bytes of the segments behind the head that hold no live data, and their
// size.
func (s *store) dead() (dead, used int64) {
	for _, seg := range s.segments {
		if seg != s.head {
			dead += seg.used - seg.live
			used += seg.used
		}
	}
	return dead, used
}

// moveLive copies the live entries of old to the head, in records of about 1 MiB. Its buffers
// are its own, not the store's: reclaim runs it while a batch's record waits in those.
func (s *store) moveLive(old *segment) error {
	var keys []string
	for k, e := range s.index {
		if e.seg == old {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(s.index[a].off, s.index[b].off) })
	for len(keys) > 0 {
		rec := make([]byte, headerSize)
		var offs []int
		n := 0
		for ; n < len(keys) && (n == 0 || len(rec) < mib); n++ {
			v, ok := s.cache[keys[n]]
			if !ok {
				var err error
				if v, err = s.read(keys[n]); err != nil {
					return err
				}
			}
			var off int
			rec, off = appendSet(rec, keys[n], v)
			offs = append(offs, off)
		}
		sealRecord(rec)
		seg, at, err := s.append(rec, old.live <= s.opts.reserve/4)
		if err != nil {
			return err
		}
		for i, k := range keys[:n] {
			s.put(k, entry{seg: seg, off: at + int64(offs[i]), n: s.index[k].n})
		}
		keys = keys[n:]
	}
	return nil
}

// Close syncs the head segment to disk and closes the files. Using the client afterwards is
// an error; closing it again does nothing.
func (s *store) Close(context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var errs []error
	if s.head != nil {
		errs = append(errs, s.head.f.Sync())
	}
	errs = append(errs, s.closeFiles())
	s.index, s.cache, s.segments, s.head, s.buf, s.offs = nil, nil, nil, nil, nil, nil
	s.mu.Unlock()
	s.opts.onClose(s)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("segment_storage: closing %s: %w", s.opts.dir, err)
	}
	return nil
}

func (s *store) closeFiles() error {
	var errs []error
	for _, seg := range s.segments {
		errs = append(errs, seg.f.Close())
	}
	return errors.Join(append(errs, s.lock.Close())...)
}
