package podlogsreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"
)

// podlogsReceiver tails container log files. One goroutine does everything: it polls the include
// patterns, reads files in turn, builds a batch and hands it to the next consumer synchronously;
// only once that returned nil are the files' offsets committed to storage. While the consumer
// refuses data, the goroutine retries and reads nothing (backpressure).
type podlogsReceiver struct {
	set    receiver.Settings
	cfg    *Config
	next   consumer.Logs
	logger *zap.Logger
	obs    *receiverhelper.ObsReport
	m      *metrics
	joiner *joiner

	client storage.Client // nil without storage
	// removedGrace is how long a path may be missing before the file read under it is finished.
	removedGrace time.Duration
	cancel       context.CancelFunc
	done         chan struct{}

	// Everything below belongs to the run goroutine.
	files     map[string]*tailed
	order     []*tailed
	rr        int
	openCount int
	clock     int64
	now       time.Time
	nowTS     pcommon.Timestamp
	buf       []byte // one read
	big       []byte // a line longer than buf
	unesc     []byte // docker's unescaped "log" value
	utf8Buf   []byte
	fpBuf     []byte

	batch plog.Logs
	// arena holds the bodies of the batch's records, back to back; the records' strings share
	// its bytes (setBodies). Each batch starts a new one, sized like the one before
	// (arenaHint), unless cfg.ReuseBuffers lets it write over the last one.
	arena      []byte
	arenaHint  int
	bodies     []bodyRef // which record gets which part of arena
	batchGen   uint64
	batchRecs  int
	batchBytes int
	dirty      []*tailed
	deletes    []string

	// Counters added to the metrics once per read, not per line.
	nLines, nBytes int64
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) (*podlogsReceiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	j, err := newJoiner(cfg.Multiline)
	if err != nil {
		return nil, err
	}
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "file", ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, fmt.Errorf("podlogs: obsreport: %w", err)
	}
	m, err := newMetrics(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("podlogs: metrics: %w", err)
	}
	return &podlogsReceiver{
		set: set, cfg: cfg, next: next, logger: set.Logger, obs: obs, m: m, joiner: j,
		files:        map[string]*tailed{},
		removedGrace: removedGrace,
		buf:          make([]byte, cfg.ReadBufferSize),
		batch:        plog.NewLogs(),
		batchGen:     1,
	}, nil
}

// Start opens the storage client and starts the reading goroutine.
func (r *podlogsReceiver) Start(ctx context.Context, host component.Host) error {
	if r.cfg.Storage != nil {
		ext, ok := host.GetExtensions()[*r.cfg.Storage]
		if !ok {
			return fmt.Errorf("podlogs: storage: extension %q not found", r.cfg.Storage)
		}
		se, ok := ext.(storage.Extension)
		if !ok {
			return fmt.Errorf("podlogs: storage: extension %q is not a storage extension", r.cfg.Storage)
		}
		client, err := se.GetClient(ctx, component.KindReceiver, r.set.ID, "")
		if err != nil {
			return fmt.Errorf("podlogs: storage: %w", err)
		}
		r.client = client
	} else {
		r.logger.Warn("podlogs: no storage configured; offsets are kept in memory only, and a restart reads files again according to start_at")
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	go r.run(runCtx)
	return nil
}

// Shutdown stops reading. Data read but not yet accepted is not committed, so it is read again
// after a restart.
func (r *podlogsReceiver) Shutdown(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	for _, t := range r.order {
		r.closeFile(t)
	}
	var err error
	if r.client != nil {
		err = r.client.Close(ctx)
	}
	r.m.shutdown()
	return err
}

func (r *podlogsReceiver) run(ctx context.Context) {
	defer close(r.done)
	r.poll(ctx, true)
	r.adoptStored(ctx)
	lastPoll := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		progressed := r.round(ctx)
		if ctx.Err() != nil {
			return
		}
		if !progressed {
			// Caught up: hand over what is batched, then wait for the next poll.
			if err := r.flush(ctx); err != nil {
				return
			}
			if wait := r.cfg.PollInterval - time.Since(lastPoll); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
		if !progressed || time.Since(lastPoll) >= r.cfg.PollInterval {
			r.poll(ctx, false)
			lastPoll = time.Now()
		}
	}
}

// round gives every active file one turn of at most read_buffer_size bytes.
func (r *podlogsReceiver) round(ctx context.Context) bool {
	progressed := false
	n := len(r.order)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t := r.order[(r.rr+i)%n]
		if t.active && !t.finished && r.service(ctx, t) {
			progressed = true
		}
	}
	r.rr++
	r.addCounts(ctx)
	return progressed
}

func (r *podlogsReceiver) addCounts(ctx context.Context) {
	if r.nLines > 0 {
		r.m.PodlogsLinesRead.Add(ctx, r.nLines)
		r.m.PodlogsRead.Add(ctx, r.nBytes)
		r.nLines, r.nBytes = 0, 0
	}
}

// poll globs the include patterns, starts tailing new files, stats every tailed path and marks
// the files with something to do as active.
func (r *podlogsReceiver) poll(ctx context.Context, first bool) {
	r.setNow()
	for _, pattern := range r.cfg.Include {
		matches, _ := filepath.Glob(pattern) // the pattern was validated
		for _, path := range matches {
			if _, ok := r.files[path]; ok || r.excluded(path) {
				continue
			}
			r.track(ctx, path, first)
		}
	}
	kept := r.order[:0]
	for _, t := range r.order {
		if t.finished {
			delete(r.files, t.key)
			continue
		}
		kept = append(kept, t)
		r.statPath(t)
		if !t.onPath() || t.pathSize != t.readOff {
			t.active = true
		}
		if t.hasPending() && r.now.Sub(t.lastRead) >= r.cfg.FlushTimeout {
			r.flushPending(t)
		}
	}
	clear(r.order[len(kept):])
	r.order = kept
	r.updateGauges()
}

func (r *podlogsReceiver) excluded(path string) bool {
	if strings.HasSuffix(path, ".gz") {
		return true
	}
	for _, p := range r.cfg.Exclude {
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
	}
	return false
}

// track starts tailing path, from its committed offset if storage has one.
func (r *podlogsReceiver) track(ctx context.Context, path string, first bool) *tailed {
	t := &tailed{key: path, id: parseIdentity(path), name: path, lastRead: r.now, active: true}
	if cp, ok := r.loadCheckpoint(ctx, path); ok {
		t.name, t.dev, t.ino, t.readOff, t.format, t.fp = cp.name, cp.dev, cp.ino, cp.offset, cp.format, cp.fp
		t.known = cp.ino != 0
		if t.name != t.key {
			// It was a rotated file: the ones rotated after it must be read too.
			t.after = time.Unix(0, 1)
		}
	} else if fi, err := os.Stat(path); err == nil {
		// Pin the file now: if it is rotated before it is opened, it is found by its identity.
		t.dev, t.ino = fileID(fi)
		t.known = true
		if first && r.cfg.StartAt == StartAtEnd {
			t.readOff = fi.Size()
			r.captureFingerprint(t)
		}
	}
	if t.readOff == 0 && t.name == t.key {
		// Rotated files next to the path that are modified after this are unread, and read
		// before it: for a path that appeared while running, all of them; at start-up, those
		// rotated from now on (the margin covers the file system's coarse clock).
		t.after = time.Unix(0, 1)
		if first {
			t.after = r.now.Add(-20 * time.Millisecond)
		}
	}
	r.files[path] = t
	r.order = append(r.order, t)
	return t
}

// adoptStored tails paths that storage has offsets for but that the include patterns no longer
// match (the pod was deleted while the agent was down): their rotated files are read to the end
// if they can be found, and their keys are then deleted.
func (r *podlogsReceiver) adoptStored(ctx context.Context) {
	w, ok := r.client.(storage.Walker)
	if !ok || r.client == nil {
		return
	}
	var keys []string
	err := w.Walk(ctx, func(key string, _ []byte) ([]*storage.Operation, error) {
		if path, ok := strings.CutPrefix(key, checkpointPrefix); ok {
			if _, tracked := r.files[path]; !tracked {
				keys = append(keys, path)
			}
		}
		return nil, nil
	})
	if err != nil {
		r.logger.Warn("podlogs: listing stored offsets", zap.Error(err))
		return
	}
	for _, path := range keys {
		r.statPath(r.track(ctx, path, false))
	}
}

func (r *podlogsReceiver) loadCheckpoint(ctx context.Context, path string) (checkpoint, bool) {
	if r.client == nil {
		return checkpoint{}, false
	}
	b, err := r.client.Get(ctx, checkpointPrefix+path)
	if err != nil {
		r.logger.Warn("podlogs: reading stored offset; reading the file from its beginning", zap.String("path", path), zap.Error(err))
		return checkpoint{}, false
	}
	if b == nil {
		return checkpoint{}, false
	}
	cp, err := unmarshalCheckpoint(b)
	if err != nil {
		r.logger.Warn("podlogs: bad stored offset; reading the file from its beginning", zap.String("path", path), zap.Error(err))
		return checkpoint{}, false
	}
	return cp, true
}

func (r *podlogsReceiver) setNow() {
	r.now = time.Now()
	r.nowTS = pcommon.NewTimestampFromTime(r.now)
}

// emit appends one log record for t to the batch.
func (r *podlogsReceiver) emit(t *tailed, s stream, ts int64, body []byte) {
	if t.batchGen != r.batchGen {
		rl := r.batch.ResourceLogs().AppendEmpty()
		t.id.fill(rl.Resource().Attributes(), t.key)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/lookoutdev/lookout/receivers/podlogs")
		t.records = sl.LogRecords()
		t.batchGen = r.batchGen
	}
	lr := t.records.AppendEmpty()
	lr.SetObservedTimestamp(r.nowTS)
	if ts != 0 {
		lr.SetTimestamp(pcommon.Timestamp(ts))
	}
	if !validUTF8(body) {
		r.utf8Buf = appendValidUTF8(r.utf8Buf[:0], body)
		body = r.utf8Buf
	}
	parsed := false
	if r.cfg.JSON.Enabled && looksLikeJSONObject(body) {
		if err := applyJSONBody(lr, body); err == nil {
			parsed = true
		} else {
			r.m.PodlogsParseErrors.Add(context.Background(), 1, attrKind("json"))
		}
	}
	if !parsed {
		// The body's bytes go to the batch's arena; the record gets its string when the batch
		// is handed over (one allocation per batch instead of one per record).
		if r.arena == nil {
			r.arena = make([]byte, 0, max(r.arenaHint, len(body)))
		}
		r.bodies = append(r.bodies, bodyRef{lr: lr, off: len(r.arena), n: len(body)})
		r.arena = append(r.arena, body...)
	}
	if s != streamUnknown || r.cfg.IncludeFilePath {
		attrs := lr.Attributes()
		if s != streamUnknown {
			attrs.PutStr(attrIOStream, s.String())
		}
		if r.cfg.IncludeFilePath {
			attrs.PutStr(attrFilePath, t.name)
		}
	}
	r.batchRecs++
	r.batchBytes += len(body)
	r.markDirty(t)
}

// bodyRef is a record whose body is arena[off:off+n].
type bodyRef struct {
	lr     plog.LogRecord
	off, n int
}

// setBodies gives the batch's records their bodies: strings that share the arena's bytes. Those
// bytes must not change while anything holds the strings: releaseArena, once the batch has been
// handed over, lets the next batch write over them only when cfg.ReuseBuffers says that nothing
// downstream keeps them.
func (r *podlogsReceiver) setBodies() {
	if len(r.bodies) == 0 {
		return
	}
	all := unsafe.String(unsafe.SliceData(r.arena), len(r.arena))
	for _, b := range r.bodies {
		b.lr.Body().SetStr(all[b.off : b.off+b.n])
	}
	clear(r.bodies)
	r.bodies = r.bodies[:0]
}

// releaseArena is called once the next consumer has returned from the batch whose bodies are in
// the arena. Without cfg.ReuseBuffers the next batch gets a new arena, a sixteenth larger than
// this one was full, so that a batch like this one fits without growing it; with it, the next
// batch writes over this one's bodies (half of what the receiver allocates, and of the garbage
// collections that follow: receivers/podlogs/README.md).
func (r *podlogsReceiver) releaseArena() {
	if r.cfg.ReuseBuffers {
		r.arena = r.arena[:0]
		return
	}
	if r.arena != nil {
		r.arenaHint = min(len(r.arena)+len(r.arena)/16, r.cfg.Batch.MaxBytes+r.cfg.MaxLogSize)
		r.arena = nil
	}
}

func (r *podlogsReceiver) markDirty(t *tailed) {
	if !t.dirty {
		t.dirty = true
		r.dirty = append(r.dirty, t)
	}
}

func (r *podlogsReceiver) batchFull() bool {
	return r.batchRecs >= r.cfg.Batch.MaxRecords || r.batchBytes >= r.cfg.Batch.MaxBytes
}

// flush hands the batch to the next consumer and, once it accepted it, commits the offsets of
// every file that contributed. A retryable error pauses everything and retries the same batch
// with backoff; a permanent one drops the batch, counted and logged. It returns an error only
// when ctx ends, and then commits nothing.
func (r *podlogsReceiver) flush(ctx context.Context) error {
	r.addCounts(ctx)
	if r.batchRecs > 0 {
		r.setBodies()
		backoff := r.cfg.Retry.InitialInterval
		for attempt := 1; ; attempt++ {
			octx := r.obs.StartLogsOp(ctx)
			err := r.next.ConsumeLogs(octx, r.batch)
			r.obs.EndLogsOp(octx, typeStr.String(), r.batchRecs, err)
			if err == nil {
				r.m.PodlogsRecords.Add(ctx, int64(r.batchRecs))
				break
			}
			if consumererror.IsPermanent(err) {
				r.m.PodlogsDroppedRecords.Add(ctx, int64(r.batchRecs))
				r.logger.Error("podlogs: the next consumer rejected a batch with a permanent error; dropping it and moving on",
					zap.Int("records", r.batchRecs), zap.Error(err))
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.m.PodlogsRefusedBatches.Add(ctx, 1)
			if attempt == 1 || attempt%20 == 0 {
				r.logger.Warn("podlogs: the next consumer refused a batch; pausing reading and retrying",
					zap.Int("records", r.batchRecs), zap.Int("attempt", attempt), zap.Duration("backoff", backoff), zap.Error(err))
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			backoff = min(2*backoff, r.cfg.Retry.MaxInterval)
		}
		r.releaseArena()
		// The batch is the consumer's now; a file's records would hold it until the file is
		// next read (every file that contributed is dirty).
		for _, t := range r.dirty {
			t.records = plog.LogRecordSlice{}
		}
		r.batch = plog.NewLogs()
		r.batchGen++
		r.batchRecs, r.batchBytes = 0, 0
	}
	r.commit(ctx)
	return nil
}

// commit stores the offsets of the files that changed since the last commit.
func (r *podlogsReceiver) commit(ctx context.Context) {
	if len(r.dirty) == 0 && len(r.deletes) == 0 {
		return
	}
	if r.client == nil {
		for _, t := range r.dirty {
			t.dirty = false
		}
		r.dirty, r.deletes = r.dirty[:0], r.deletes[:0]
		return
	}
	ops := make([]*storage.Operation, 0, len(r.dirty)+len(r.deletes))
	for _, t := range r.dirty {
		if !t.finished {
			ops = append(ops, storage.SetOperation(checkpointPrefix+t.key, t.checkpoint().marshal()))
		}
	}
	for _, k := range r.deletes {
		if t, ok := r.files[k]; ok && !t.finished {
			continue // the path came back and is tailed again: its new offset was just set
		}
		ops = append(ops, storage.DeleteOperation(checkpointPrefix+k))
	}
	if err := r.client.Batch(ctx, ops...); err != nil {
		// The data was accepted; only the offsets are not saved: a restart would read it again.
		r.logger.Error("podlogs: storing offsets failed; will retry with the next batch", zap.Error(err))
		return
	}
	for _, t := range r.dirty {
		t.dirty = false
	}
	r.dirty, r.deletes = r.dirty[:0], r.deletes[:0]
}

func (r *podlogsReceiver) updateGauges() {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	r.m.filesOpen = int64(r.openCount)
	r.m.tracked = int64(len(r.order))
	clear(r.m.lag)
	for _, t := range r.order {
		var l lagSnapshot
		if t.pathExists {
			l.statOnRead = true
			l.pathSize, l.dev, l.ino = t.pathSize, t.pathDev, t.pathIno
			if t.onPath() {
				l.sub = t.commitOffset()
			}
		}
		if !t.onPath() {
			l.rest = max(0, t.size-t.commitOffset())
		}
		r.m.lag[t.key] = l
	}
}

// flushAllPending emits every held partial line and multiline record (for benchmarks and tests).
func (r *podlogsReceiver) flushAllPending() {
	for _, t := range r.order {
		if t.hasPending() {
			r.flushPending(t)
		}
	}
}
