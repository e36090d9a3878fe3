package segmentstorage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// openTestStore opens a store on dir with 1 MiB segments and a 64 KiB reserve, its logs
// observed; change adjusts the options.
func openTestStore(t *testing.T, dir string, change func(*storeOptions)) (*store, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	// A read cache smaller than what most tests write, so that they read values from it and
	// from the files.
	opts := storeOptions{dir: dir, segmentSize: mib, reserve: 64 << 10, cacheSize: 512 << 10, logger: zap.New(core)}
	if change != nil {
		change(&opts)
	}
	s, err := openStore(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	return s, logs
}

// value returns n bytes that tell key and n apart.
func value(key string, n int) []byte {
	v := make([]byte, n)
	seed := byte(n) ^ byte(len(key))
	for i := range v {
		v[i] = byte(i>>3) ^ seed
	}
	copy(v, key)
	return v
}

// requireState checks that s holds exactly want among keys.
func requireState(t *testing.T, s *store, keys []string, want map[string][]byte) {
	t.Helper()
	for _, k := range keys {
		got, err := s.Get(context.Background(), k)
		require.NoError(t, err)
		require.Equal(t, want[k], got, "key %q", k)
	}
}

func TestClientSemantics(t *testing.T) {
	tests := []struct {
		name   string
		before map[string]string
		ops    []*storage.Operation
		gets   map[int][]byte // op index → value a Get op must return
		after  map[string][]byte
	}{
		{
			name:  "get of a missing key is nil",
			ops:   []*storage.Operation{storage.GetOperation("nope")},
			gets:  map[int][]byte{0: nil},
			after: map[string][]byte{"nope": nil},
		},
		{
			name:  "set then get",
			ops:   []*storage.Operation{storage.SetOperation("a", []byte("1"))},
			after: map[string][]byte{"a": []byte("1")},
		},
		{
			name:   "set overwrites",
			before: map[string]string{"a": "1"},
			ops:    []*storage.Operation{storage.SetOperation("a", []byte("22"))},
			after:  map[string][]byte{"a": []byte("22")},
		},
		{
			name:  "empty value is not a missing key",
			ops:   []*storage.Operation{storage.SetOperation("a", nil)},
			after: map[string][]byte{"a": {}},
		},
		{
			name:   "delete",
			before: map[string]string{"a": "1", "b": "2"},
			ops:    []*storage.Operation{storage.DeleteOperation("a"), storage.DeleteOperation("missing")},
			after:  map[string][]byte{"a": nil, "b": []byte("2"), "missing": nil},
		},
		{
			name:   "gets in a batch see the writes before them",
			before: map[string]string{"meta": "0", "7": "item"},
			ops: []*storage.Operation{
				storage.GetOperation("meta"),
				storage.SetOperation("meta", []byte("1")),
				storage.GetOperation("meta"),
				storage.GetOperation("7"),
				storage.DeleteOperation("7"),
				storage.GetOperation("7"),
			},
			gets:  map[int][]byte{0: []byte("0"), 2: []byte("1"), 3: []byte("item"), 5: nil},
			after: map[string][]byte{"meta": []byte("1"), "7": nil},
		},
		{
			name:  "unicode and empty keys",
			ops:   []*storage.Operation{storage.SetOperation("", []byte("e")), storage.SetOperation("ключ/✓", []byte("k"))},
			after: map[string][]byte{"": []byte("e"), "ключ/✓": []byte("k")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s, _ := openTestStore(t, dir, nil)
			for k, v := range tt.before {
				require.NoError(t, s.Set(ctx, k, []byte(v)))
			}
			require.NoError(t, s.Batch(ctx, tt.ops...))
			for i, want := range tt.gets {
				require.Equal(t, want, tt.ops[i].Value, "op %d", i)
			}
			keys := make([]string, 0, len(tt.after))
			for k := range tt.after {
				keys = append(keys, k)
			}
			requireState(t, s, keys, tt.after)
			require.NoError(t, s.Close(ctx))
			reopened, _ := openTestStore(t, dir, nil)
			requireState(t, reopened, keys, tt.after)
		})
	}
}

func TestValuesAreCopies(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t, t.TempDir(), nil)
	v := []byte("original")
	require.NoError(t, s.Set(ctx, "k", v))
	copy(v, "CHANGED!")
	got, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, []byte("original"), got)
	copy(got, "CHANGED!")
	again, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, []byte("original"), again)
}

func TestBadUse(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t, t.TempDir(), nil)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, s.Set(canceled, "k", []byte("v")), context.Canceled)
	_, err := s.Get(canceled, "k")
	require.ErrorIs(t, err, context.Canceled)

	require.EqualError(t, s.Batch(ctx, storage.SetOperation("a", nil), nil), "segment_storage: nil operation in a batch")
	require.EqualError(t, s.Batch(ctx, &storage.Operation{Key: "a", Type: 42}), `segment_storage: unknown operation type 42 for key "a"`)
	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.Nil(t, got, "a refused batch writes nothing")

	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx), "a second Close does nothing")
	_, err = s.Get(ctx, "k")
	require.ErrorIs(t, err, errClosed)
	require.ErrorIs(t, s.Set(ctx, "k", nil), errClosed)
	require.ErrorIs(t, s.Delete(ctx, "k"), errClosed)
	require.ErrorIs(t, s.Batch(ctx, storage.GetOperation("k")), errClosed)
}

func TestDirectoryIsLocked(t *testing.T) {
	dir := t.TempDir()
	openTestStore(t, dir, nil)
	_, err := openStore(storeOptions{dir: dir, segmentSize: mib})
	require.ErrorContains(t, err, "segment_storage: "+dir+" is in use by another client or process: resource temporarily unavailable")
}

// TestReopenRandom runs random batches (values up to 300 KiB, 1 MiB segments, so that records
// span segments and compaction runs) against a map, reopening the store now and then.
func TestReopenRandom(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	s, _ := openTestStore(t, dir, nil)
	want := map[string][]byte{}
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprint(i))
	}
	for round := range 2000 {
		var ops []*storage.Operation
		for range 1 + rng.IntN(3) {
			k := keys[rng.IntN(len(keys))]
			switch rng.IntN(4) {
			case 0:
				ops = append(ops, storage.DeleteOperation(k))
				delete(want, k)
			case 1:
				ops = append(ops, storage.GetOperation(k))
			default:
				v := value(fmt.Sprint(round), rng.IntN(300<<10))
				ops = append(ops, storage.SetOperation(k, v))
				want[k] = v
			}
		}
		require.NoError(t, s.Batch(ctx, ops...))
		if round%500 == 499 {
			requireState(t, s, keys, want)
			require.NoError(t, s.Close(ctx))
			s, _ = openTestStore(t, dir, nil)
			requireState(t, s, keys, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t, t.TempDir(), nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				k := fmt.Sprintf("%d/%d", g, i%10)
				v := value(k, 1+i*37%(20<<10))
				if err := s.Batch(ctx, storage.SetOperation("meta", v[:1]), storage.SetOperation(k, v)); err != nil {
					t.Error(err)
					return
				}
				got, err := s.Get(ctx, k)
				if err != nil || string(got) != string(v) {
					t.Errorf("%s: got %d bytes, %v", k, len(got), err)
					return
				}
				if i%3 == 0 {
					if err := s.Delete(ctx, k); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// written is where a single-Set record went, for the recovery tests to damage it.
type written struct {
	key   string
	file  string
	start int64 // of the record
	value int64 // offset of the value
	end   int64
}

// writeKeys writes n keys of 100 KiB, one record each: three segments of 1 MiB.
func writeKeys(t *testing.T, s *store, n int) ([]written, map[string][]byte) {
	t.Helper()
	var out []written
	want := map[string][]byte{}
	for i := range n {
		k := fmt.Sprintf("k%02d", i)
		v := value(k, 100<<10)
		require.NoError(t, s.Set(context.Background(), k, v))
		want[k] = v
		e := s.index[k]
		rec, _ := appendSet(make([]byte, headerSize), k, v)
		out = append(out, written{key: k, file: e.seg.path, start: e.seg.used - int64(len(rec)), value: e.off, end: e.seg.used})
	}
	return out, want
}

func TestRecovery(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, w []written) // w: the records of k00..k29
		lost   func(w []written) []string      // keys lost
		level  zapcore.Level
		log    string
		at     func(w []written) written // the record the log must name
	}{
		{
			name: "last record cut by truncating the file",
			damage: func(t *testing.T, w []written) {
				last := w[len(w)-1]
				require.NoError(t, os.Truncate(last.file, last.end-3))
			},
			lost:  func(w []written) []string { return []string{w[len(w)-1].key} },
			level: zapcore.InfoLevel,
			log:   "segment_storage: truncating a torn record at the end of the last segment",
			at:    func(w []written) written { return w[len(w)-1] },
		},
		{
			name: "last record torn in a preallocated file",
			damage: func(t *testing.T, w []written) {
				last := w[len(w)-1]
				zero(t, last.file, last.start+(last.end-last.start)/2, last.end)
			},
			lost:  func(w []written) []string { return []string{w[len(w)-1].key} },
			level: zapcore.InfoLevel,
			log:   "segment_storage: truncating a torn record at the end of the last segment",
			at:    func(w []written) written { return w[len(w)-1] },
		},
		{
			name: "last record's header cut",
			damage: func(t *testing.T, w []written) {
				last := w[len(w)-1]
				require.NoError(t, os.Truncate(last.file, last.start+4))
			},
			lost:  func(w []written) []string { return []string{w[len(w)-1].key} },
			level: zapcore.InfoLevel,
			log:   "segment_storage: truncating a torn record at the end of the last segment",
			at:    func(w []written) written { return w[len(w)-1] },
		},
		{
			name:   "corrupt byte in the middle of the first segment",
			damage: func(t *testing.T, w []written) { flip(t, w[3].file, w[3].value+5000) },
			lost:   func(w []written) []string { return keysFrom(w, 3) },
			level:  zapcore.ErrorLevel,
			log:    "segment_storage: corrupt record, skipping the rest of the segment",
			at:     func(w []written) written { return w[3] },
		},
		{
			name: "corrupt length in the middle of the first segment",
			damage: func(t *testing.T, w []written) {
				f, err := os.OpenFile(w[2].file, os.O_RDWR, 0)
				require.NoError(t, err)
				var n [4]byte
				binary.LittleEndian.PutUint32(n[:], 7)
				_, err = f.WriteAt(n[:], w[2].start+4)
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			lost:  func(w []written) []string { return keysFrom(w, 2) },
			level: zapcore.ErrorLevel,
			log:   "segment_storage: corrupt record, skipping the rest of the segment",
			at:    func(w []written) written { return w[2] },
		},
		{
			name:   "zeroed record in the middle of the first segment",
			damage: func(t *testing.T, w []written) { zero(t, w[4].file, w[4].start, w[4].end) },
			lost:   func(w []written) []string { return keysFrom(w, 4) },
			level:  zapcore.ErrorLevel,
			log:    "segment_storage: corrupt record, skipping the rest of the segment",
			at:     func(w []written) written { return w[4] },
		},
		{
			name:   "zeroed record in the middle of the last segment",
			damage: func(t *testing.T, w []written) { zero(t, w[len(w)-2].file, w[len(w)-2].start, w[len(w)-2].end) },
			lost:   func(w []written) []string { return keysFrom(w, len(w)-2) },
			level:  zapcore.ErrorLevel,
			log:    "segment_storage: corrupt record in the last segment, discarding the rest of it",
			at:     func(w []written) written { return w[len(w)-2] },
		},
		{
			name:   "corrupt byte in the middle of the last segment",
			damage: func(t *testing.T, w []written) { flip(t, w[len(w)-3].file, w[len(w)-3].value+10) },
			lost:   func(w []written) []string { return keysFrom(w, len(w)-3) },
			level:  zapcore.ErrorLevel,
			log:    "segment_storage: corrupt record in the last segment, discarding the rest of it",
			at:     func(w []written) written { return w[len(w)-3] },
		},
		{
			name:   "segment header damaged",
			damage: func(t *testing.T, w []written) { flip(t, w[0].file, 0) },
			lost:   func(w []written) []string { return keysFrom(w, 0) },
			level:  zapcore.ErrorLevel,
			log:    "segment_storage: not a segment file, skipping it",
			at:     func(w []written) written { return written{file: w[0].file} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s, _ := openTestStore(t, dir, nil)
			w, want := writeKeys(t, s, 30)
			require.NotEqual(t, w[0].file, w[len(w)-1].file)
			keys := make([]string, 0, len(want))
			for k := range want {
				keys = append(keys, k)
			}
			require.NoError(t, s.Close(ctx))

			tt.damage(t, w)
			s, logs := openTestStore(t, dir, nil)
			for _, k := range tt.lost(w) {
				delete(want, k)
			}
			requireState(t, s, keys, want)
			found := logs.FilterMessage(tt.log).All()
			require.Len(t, found, 1, "logs: %v", logs.All())
			require.Equal(t, tt.level, found[0].Level)
			at := tt.at(w)
			require.Equal(t, at.file, found[0].ContextMap()["file"])
			if at.key != "" {
				require.Equal(t, at.start, found[0].ContextMap()["offset"])
			}

			// The store works on: new writes survive the next reopen, without new complaints
			// about the last segment.
			require.NoError(t, s.Set(ctx, "after", []byte("recovery")))
			want["after"] = []byte("recovery")
			keys = append(keys, "after")
			require.NoError(t, s.Close(ctx))
			s, logs = openTestStore(t, dir, nil)
			requireState(t, s, keys, want)
			require.Empty(t, logs.FilterMessage("segment_storage: truncating a torn record at the end of the last segment").All())
			require.Empty(t, logs.FilterMessage("segment_storage: corrupt record in the last segment, discarding the rest of it").All())
		})
	}
}

// keysFrom returns the key of w[i] and those after it in the same segment file.
func keysFrom(w []written, i int) []string {
	var keys []string
	for _, x := range w[i:] {
		if x.file == w[i].file {
			keys = append(keys, x.key)
		}
	}
	return keys
}

func flip(t *testing.T, file string, off int64) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x20
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func zero(t *testing.T, file string, from, to int64) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, to-from), from)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestHalfCreatedSegmentIsRemoved(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, segmentName(1)+".tmp")
	require.NoError(t, os.WriteFile(tmp, make([]byte, 100), 0o600))
	s, _ := openTestStore(t, dir, nil)
	require.NoFileExists(t, tmp)
	require.NoError(t, s.Set(context.Background(), "k", []byte("v")))
	require.FileExists(t, filepath.Join(dir, segmentName(1)))
}

// TestCleanReopen reopens a store whose old segment is still preallocated (the process
// stopped between starting a segment and trimming the one before): no complaint, and the
// zeros are given back.
func TestCleanReopen(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, nil)
	w, want := writeKeys(t, s, 12)
	require.NoError(t, s.Close(context.Background()))
	first := w[0].file
	info, err := os.Stat(first)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(first, mib))

	s, logs := openTestStore(t, dir, nil)
	require.Empty(t, logs.FilterLevelExact(zapcore.InfoLevel).All())
	require.Empty(t, logs.FilterLevelExact(zapcore.ErrorLevel).All())
	require.Empty(t, logs.FilterLevelExact(zapcore.WarnLevel).All())
	after, err := os.Stat(first)
	require.NoError(t, err)
	require.Equal(t, info.Size(), after.Size())
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	requireState(t, s, keys, want)
}

// TestReadCache checks that values of 4 KiB or more are read from memory while the cache has
// room for them, once: the bytes of the files are changed under the store, and only values
// read from them show the change.
func TestReadCache(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t, t.TempDir(), func(o *storeOptions) { o.cacheSize = 12 << 10 })
	tamper := func(key string) []byte {
		t.Helper()
		e := s.index[key]
		changed := bytes.Repeat([]byte{'x'}, e.n)
		_, err := e.seg.f.WriteAt(changed, e.off)
		require.NoError(t, err)
		return changed
	}
	get := func(key string) []byte {
		t.Helper()
		v, err := s.Get(ctx, key)
		require.NoError(t, err)
		return v
	}

	a, b, small := value("a", 8<<10), value("b", 8<<10), value("small", 100)
	written := slices.Clone(a)
	require.NoError(t, s.Batch(ctx, storage.SetOperation("a", written), storage.SetOperation("b", b), storage.SetOperation("small", small)))
	copy(written, "changed by the caller after Set")
	require.Equal(t, 8<<10, s.cached, "a is cached; b does not fit beside it, small is too small")
	onDiskA, onDiskB, onDiskSmall := tamper("a"), tamper("b"), tamper("small")
	got := get("a")
	require.Equal(t, a, got, "a comes from the cache")
	require.Equal(t, onDiskB, get("b"))
	require.Equal(t, onDiskSmall, get("small"))
	copy(got, "changed by the caller after Get")
	require.Equal(t, onDiskA, get("a"), "the cache handed a over: now it is read from the file")
	require.Zero(t, s.cached)

	// Replaced and deleted values leave the cache; a Get in the batch of a Set takes its value.
	require.NoError(t, s.Set(ctx, "c", value("c", 5<<10)))
	require.NoError(t, s.Set(ctx, "c", value("c2", 6<<10)))
	require.Equal(t, 6<<10, s.cached)
	require.NoError(t, s.Delete(ctx, "c"))
	require.Zero(t, s.cached)
	require.Nil(t, get("c"))
	op := storage.GetOperation("d")
	require.NoError(t, s.Batch(ctx, storage.SetOperation("d", value("d", 4<<10)), op))
	require.Equal(t, value("d", 4<<10), op.Value)
	require.Zero(t, s.cached)
}

// TestGivenValues checks that under GiveValues the read cache keeps the caller's value itself
// (no copy: a change after Batch shows, which a caller of GiveValues promises not to make),
// that the file holds what was written, and that the record buffer is kept for the next write.
func TestGivenValues(t *testing.T) {
	s, _ := openTestStore(t, t.TempDir(), nil)
	given := value("given", 8<<10)
	require.NoError(t, s.Batch(GiveValues(context.Background()), storage.SetOperation("k", given), storage.SetOperation("small", value("small", 100))))
	require.Equal(t, 8<<10, s.cached)
	require.NotZero(t, cap(s.buf), "the record buffer is kept: the cache does not point into it")
	onDisk, err := s.read("k")
	require.NoError(t, err)
	require.Equal(t, value("given", 8<<10), onDisk)

	got, err := s.Get(context.Background(), "k")
	require.NoError(t, err)
	require.Same(t, &given[0], &got[0], "the cache hands back the given value, not a copy")
	require.Equal(t, len(given), cap(got), "a cached value cannot be appended to in place")
	require.Zero(t, s.cached)
}
