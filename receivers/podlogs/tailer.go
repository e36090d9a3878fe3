package podlogsreceiver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
)

// removedGrace is how long a path may be missing before the file read under it is finished: a
// rename rotation leaves the path missing until the runtime reopens its log.
const removedGrace = 5 * time.Second

// tailed is one tailed path and the file currently read for it: the file at the path, or, after
// a rotation, the rotated file (renamed or copied) until it is read to its end.
type tailed struct {
	key string // the path matched by include
	id  identity

	name     string   // path of the file being read
	f        *os.File // nil while closed (not yet opened, or closed to respect max_open_files)
	dev, ino uint64
	known    bool  // dev/ino are known (from storage or a stat)
	readOff  int64 // next byte to read; always just after a newline
	size     int64 // size of the file being read at its last fstat
	mtime    time.Time
	fp       []byte // the file's first bytes (up to fingerprint_size)
	format   format

	part [3]pending // a runtime-split line being joined, per stream
	ml   [3]pending // a multiline record being joined, per stream

	// The path, as of the last poll.
	pathExists       bool
	pathDev, pathIno uint64
	pathSize         int64

	// after and done describe the rotated files already read: a file read from its beginning after
	// a rotation must not be newer than an unread rotated file modified since after.
	after time.Time
	done  []fileKey

	rotatedAt time.Time // when the path was first seen pointing to another file
	goneAt    time.Time // when the path was first seen missing
	lastRead  time.Time // when new bytes were last read
	lastUse   int64

	active   bool // has something to do in the next round
	finished bool
	dirty    bool

	batchGen uint64
	records  plog.LogRecordSlice
}

// maxRotatedWrites bounds how long a renamed file may still be written to before it is finished.
const maxRotatedWrites = 10 * time.Second

// keepBuf is the largest buffer a file keeps for its next partial line or multiline record; a
// larger one is released once its record is out, so that thousands of idle files hold little.
const keepBuf = 2 << 10

// fileKey identifies a file across renames.
type fileKey struct{ dev, ino uint64 }

// maxDone bounds the finished files remembered per path.
const maxDone = 16

func (t *tailed) wasRead(dev, ino uint64) bool {
	for _, k := range t.done {
		if k.dev == dev && k.ino == ino {
			return true
		}
	}
	return false
}

// markRead records that the file being read was read to its end.
func (t *tailed) markRead() {
	if t.mtime.After(t.after) {
		t.after = t.mtime
	}
	if len(t.done) == maxDone {
		copy(t.done, t.done[1:])
		t.done = t.done[:maxDone-1]
	}
	t.done = append(t.done, fileKey{t.dev, t.ino})
}

// pending is a partial line or a multiline record not yet emitted; its bytes are not committed.
type pending struct {
	on     bool
	buf    []byte
	start  int64 // file offset of its first line
	ts     int64
	lines  int
	mode   mlMode
	stream stream
}

// onPath reports whether the file being read is the one at the path.
func (t *tailed) onPath() bool {
	return t.name == t.key && t.pathExists && t.pathDev == t.dev && t.pathIno == t.ino
}

func (t *tailed) hasPending() bool {
	for i := range t.part {
		if t.part[i].on || t.ml[i].on {
			return true
		}
	}
	return false
}

// commitOffset is the offset below which every byte is in an emitted record.
func (t *tailed) commitOffset() int64 {
	off := t.readOff
	for i := range t.part {
		if t.part[i].on && t.part[i].start < off {
			off = t.part[i].start
		}
		if t.ml[i].on && t.ml[i].start < off {
			off = t.ml[i].start
		}
	}
	return off
}

func (t *tailed) checkpoint() checkpoint {
	return checkpoint{name: t.name, dev: t.dev, ino: t.ino, offset: t.commitOffset(), format: t.format, fp: t.fp}
}

func (r *podlogsReceiver) statPath(t *tailed) {
	fi, err := os.Stat(t.key)
	if err != nil {
		t.pathExists = false
		if t.goneAt.IsZero() {
			t.goneAt = r.now
		}
		return
	}
	t.pathExists = true
	t.goneAt = time.Time{}
	t.pathDev, t.pathIno = fileID(fi)
	t.pathSize = fi.Size()
	if t.name == t.key && t.known && (t.pathDev != t.dev || t.pathIno != t.ino) && t.rotatedAt.IsZero() {
		t.rotatedAt = r.now
	}
}

// service gives t one turn: it opens the file if needed, checks it was not truncated, reads up to
// read_buffer_size bytes, and at the end of a rotated or removed file moves on. It reports whether
// anything happened.
func (r *podlogsReceiver) service(ctx context.Context, t *tailed) bool {
	r.setNow()
	if t.f == nil && !r.open(t) {
		if !t.pathExists && r.now.Sub(t.goneAt) >= r.removedGrace {
			// Removed, and nothing left to read under this path.
			r.flushPending(t)
			t.finished = true
			r.deletes = append(r.deletes, t.key)
		}
		t.active = false
		return false
	}
	r.clock++
	t.lastUse = r.clock
	fi, err := t.f.Stat()
	if err != nil {
		r.logger.Warn("podlogs: stat of an open file failed", zap.String("path", t.name), zap.Error(err))
		r.closeFile(t)
		t.active = false
		return false
	}
	t.size, t.mtime = fi.Size(), fi.ModTime()
	if t.size < t.readOff {
		r.truncated(t)
		return true
	}
	read := 0
	for read < r.cfg.ReadBufferSize && ctx.Err() == nil {
		n, eof, trunc := r.readChunk(ctx, t)
		if trunc {
			r.truncated(t)
			return true
		}
		read += n
		if eof {
			break
		}
	}
	if read > 0 {
		t.lastRead = r.now
	}
	if read >= r.cfg.ReadBufferSize {
		return true // more to read; come back next round
	}
	return r.atEOF(ctx, t) || read > 0
}

// readChunk reads once at readOff and processes the complete lines read. It reports the bytes
// consumed, whether the end of the file was reached, and whether the file turned out truncated
// or replaced (its first bytes changed), in which case nothing was consumed.
func (r *podlogsReceiver) readChunk(ctx context.Context, t *tailed) (int, bool, bool) {
	n, err := t.f.ReadAt(r.buf, t.readOff)
	if err != nil && !errors.Is(err, io.EOF) {
		r.logger.Warn("podlogs: read failed", zap.String("path", t.name), zap.Error(err))
		return 0, true, false
	}
	if n == 0 {
		return 0, true, false
	}
	data := r.buf[:n]
	// Checked after the read, so that a copytruncate racing with it is seen: the bytes just
	// read are then discarded and the rest is looked for in the rotated copy.
	if t.readOff > 0 && !r.prefixMatches(t) {
		return 0, false, true
	}
	if t.readOff == 0 && len(t.fp) == 0 && t.name == t.key && !t.after.IsZero() && r.readOlderFirst(t, data) {
		return 0, false, false
	}
	r.extendFingerprint(t, data)
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		if n < len(r.buf) {
			return 0, true, false // an unfinished line at the end of the file: wait for its newline
		}
		c, eof := r.longLine(ctx, t)
		return c, eof, false
	}
	r.processLines(ctx, t, data[:end+1])
	return end + 1, n < len(r.buf), false
}

// longLine handles a line longer than the read buffer: it reads it whole, up to max_log_size, and
// cuts it there if it is longer.
func (r *podlogsReceiver) longLine(ctx context.Context, t *tailed) (int, bool) {
	limit := r.cfg.MaxLogSize + 1
	for need := 2 * len(r.buf); ; need *= 2 {
		need = min(need, limit)
		if cap(r.big) < need {
			r.big = make([]byte, need)
		}
		big := r.big[:need]
		n, err := t.f.ReadAt(big, t.readOff)
		if err != nil && !errors.Is(err, io.EOF) {
			r.logger.Warn("podlogs: read failed", zap.String("path", t.name), zap.Error(err))
			return 0, true
		}
		if i := bytes.IndexByte(big[:n], '\n'); i >= 0 {
			r.processLines(ctx, t, big[:i+1])
			return i + 1, false
		}
		if n < need {
			return 0, true // unfinished
		}
		if need == limit {
			cut := r.cfg.MaxLogSize
			start := t.readOff
			t.readOff += int64(cut)
			r.nLines++
			r.nBytes += int64(cut)
			r.line(t, big[:cut], start)
			if r.batchFull() {
				_ = r.flush(ctx)
			}
			return cut, false
		}
	}
}

// processLines handles complete lines (chunk ends with '\n'), advancing readOff line by line so
// that a flush between two lines commits exactly what was emitted.
func (r *podlogsReceiver) processLines(ctx context.Context, t *tailed, chunk []byte) {
	r.nBytes += int64(len(chunk))
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		line := chunk[:i]
		start := t.readOff
		t.readOff += int64(i + 1)
		r.nLines++
		r.line(t, line, start)
		chunk = chunk[i+1:]
		if r.batchFull() {
			if r.flush(ctx) != nil {
				return
			}
		}
	}
}

// line parses one physical line and joins runtime-split lines.
func (r *podlogsReceiver) line(t *tailed, line []byte, start int64) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if t.format == formatUnknown {
		t.format = detectFormat(line)
		r.markDirty(t)
	}
	var e entry
	var err error
	if t.format == formatDocker {
		e, err = parseDocker(line, &r.unesc)
	} else {
		e, err = parseCRI(line)
	}
	if err != nil {
		r.m.PodlogsParseErrors.Add(context.Background(), 1, attrKind(t.format.String()))
		if r.logger.Core().Enabled(zap.DebugLevel) {
			r.logger.Debug("podlogs: line kept as raw text", zap.Error(lineError(err, t.name, start)))
		}
		e = entry{content: line}
	}
	maxSize := r.cfg.MaxLogSize
	p := &t.part[e.stream]
	if e.partial {
		if !p.on {
			p.on, p.start, p.ts, p.buf = true, start, e.ts, p.buf[:0]
		}
		content := e.content
		for len(p.buf)+len(content) > maxSize {
			room := maxSize - len(p.buf)
			p.buf = append(p.buf, content[:room]...)
			r.logical(t, e.stream, p.buf, p.ts, p.start)
			p.buf, p.start, p.ts = p.buf[:0], start, e.ts
			content = content[room:]
		}
		p.buf = append(p.buf, content...)
		return
	}
	content, ts, lstart := e.content, e.ts, start
	if p.on {
		p.on = false
		if len(p.buf)+len(content) > maxSize {
			r.logical(t, e.stream, p.buf, p.ts, p.start)
		} else {
			p.buf = append(p.buf, content...)
			content, ts, lstart = p.buf, p.ts, p.start
		}
	}
	r.logical(t, e.stream, content, ts, lstart)
	if cap(p.buf) > keepBuf && !p.on {
		p.buf = nil
	}
}

// logical handles one whole log line: it joins it to the record before it when a multiline rule
// says so, and emits records as they complete.
func (r *podlogsReceiver) logical(t *tailed, s stream, content []byte, ts, start int64) {
	if !r.joiner.enabled() {
		r.emit(t, s, ts, content)
		return
	}
	m := &t.ml[s]
	if m.on {
		if cont, mode := r.joiner.continues(m.mode, content); cont && m.lines < r.cfg.Multiline.MaxLines &&
			len(m.buf)+1+len(content) <= r.cfg.MaxLogSize {
			m.buf = append(m.buf, '\n')
			m.buf = append(m.buf, content...)
			m.lines++
			m.mode = mode
			return
		}
		r.emit(t, s, m.ts, m.buf)
		m.on = false
		if cap(m.buf) > keepBuf {
			m.buf = nil
		}
	}
	m.on, m.start, m.ts, m.lines, m.stream = true, start, ts, 1, s
	m.mode = r.joiner.startMode(content)
	m.buf = append(m.buf[:0], content...)
}

// flushPending emits every partial line and multiline record t holds.
func (r *podlogsReceiver) flushPending(t *tailed) {
	for s := range t.part {
		if p := &t.part[s]; p.on {
			p.on = false
			r.logical(t, stream(s), p.buf, p.ts, p.start)
		}
	}
	for s := range t.ml {
		if m := &t.ml[s]; m.on {
			m.on = false
			r.emit(t, stream(s), m.ts, m.buf)
		}
	}
	for s := range t.part {
		if cap(t.part[s].buf) > keepBuf {
			t.part[s].buf = nil
		}
		if cap(t.ml[s].buf) > keepBuf {
			t.ml[s].buf = nil
		}
	}
	r.markDirty(t)
}

// atEOF decides what to do when t's file is read to its end: nothing while it is the file at the
// path; otherwise (rotated or removed) finish it and move on to the next file.
func (r *podlogsReceiver) atEOF(ctx context.Context, t *tailed) bool {
	if t.onPath() {
		t.active = false
		return false
	}
	if !t.pathExists {
		if r.now.Sub(t.goneAt) < r.removedGrace {
			t.active = false
			return false
		}
		r.finishFile(ctx, t)
		r.m.PodlogsRotations.Add(context.Background(), 1, attrKind("removed"))
		t.finished = true
		t.active = false
		r.deletes = append(r.deletes, t.key)
		r.logger.Debug("podlogs: file removed and read to its end", zap.String("path", t.key))
		return true
	}
	// The path holds another file: this one was rotated away. Give the writer a poll interval to
	// finish with it, then read the rotated files written since (if the agent fell behind), then
	// the new file.
	if t.rotatedAt.IsZero() {
		t.rotatedAt = r.now
	}
	if t.name == t.key && r.now.Sub(t.rotatedAt) < r.cfg.PollInterval {
		t.active = false
		return false
	}
	// A rotated file still being written (the runtime before it reopened its log, logrotate
	// still copying) is not finished: wait until it was quiet for a poll interval.
	// (Bounded: a renamed file still written to 10 s after the new one appeared is finished
	// anyway, or the new file would never be read.)
	if r.now.Sub(t.mtime) < r.cfg.PollInterval && !(t.name == t.key && r.now.Sub(t.rotatedAt) > maxRotatedWrites) {
		t.active = false
		return false
	}
	r.m.PodlogsRotations.Add(context.Background(), 1, attrKind("rotated"))
	r.finishFile(ctx, t)
	t.markRead()
	if r.logger.Core().Enabled(zap.DebugLevel) {
		r.logger.Debug("podlogs: rotated file read to its end", zap.String("path", t.key), zap.String("file", t.name),
			zap.Int64("offset", t.readOff), zap.Time("mtime", t.mtime), zap.Uint64("ino", t.ino))
	}
	if name, f, fi := r.nextRotated(t, time.Time{}, nil); f != nil {
		r.switchTo(t, name, f, fi, 0, nil)
		return true
	}
	r.switchToPath(t)
	return true
}

// finishFile reads what is left of t's file, including a last line without newline, emits what
// t holds and closes the file.
func (r *podlogsReceiver) finishFile(ctx context.Context, t *tailed) {
	for t.f != nil && ctx.Err() == nil {
		for ctx.Err() == nil {
			n, eof, trunc := r.readChunk(ctx, t)
			if trunc {
				break
			}
			if eof || n == 0 {
				break
			}
		}
		// What is left has no newline: send it as the last line, in max_log_size pieces.
		if cap(r.big) < r.cfg.MaxLogSize {
			r.big = make([]byte, r.cfg.MaxLogSize)
		}
		tail := r.big[:r.cfg.MaxLogSize]
		n, _ := t.f.ReadAt(tail, t.readOff)
		if n <= 0 || !r.prefixMatches(t) {
			break
		}
		if bytes.IndexByte(tail[:n], '\n') >= 0 {
			continue // it grew meanwhile: lines first
		}
		start := t.readOff
		t.readOff += int64(n)
		r.nLines++
		r.nBytes += int64(n)
		r.line(t, tail[:n], start)
	}
	r.flushPending(t)
	r.closeFile(t)
}

// switchTo makes f (at name) the file read for t, from offset.
func (r *podlogsReceiver) switchTo(t *tailed, name string, f *os.File, fi os.FileInfo, offset int64, fp []byte) {
	if t.f != nil && t.f != f {
		r.closeFile(t)
	}
	t.name, t.f = name, f
	if f != nil {
		r.openCount++
	}
	t.dev, t.ino = fileID(fi)
	t.known = true
	t.size, t.mtime = fi.Size(), fi.ModTime()
	t.readOff, t.fp, t.format = offset, fp, formatUnknown
	if name == t.key {
		t.rotatedAt = time.Time{}
	}
	t.active = true
	r.markDirty(t)
	r.logger.Debug("podlogs: reading file", zap.String("path", t.key), zap.String("file", name), zap.Int64("offset", offset))
}

// switchToPath starts reading the file now at t's path from its beginning.
func (r *podlogsReceiver) switchToPath(t *tailed) {
	f, err := os.Open(t.key)
	if err != nil {
		// Gone in the meantime: wait for it (or for removedGrace) with the path's state.
		t.name, t.f, t.known, t.readOff, t.fp, t.format = t.key, nil, false, 0, nil, formatUnknown
		r.markDirty(t)
		return
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		t.name, t.known, t.readOff, t.fp = t.key, false, 0, nil
		return
	}
	r.switchTo(t, t.key, f, fi, 0, nil)
}

// truncated handles a file that is shorter than what was read, or whose first bytes changed:
// copytruncate (the rest is in a rotated copy with the same first bytes), or a plain truncation.
func (r *podlogsReceiver) truncated(t *tailed) {
	r.flushPending(t)
	if t.name == t.key && len(t.fp) > 0 {
		if name, f, fi := r.findCopy(t); f != nil {
			r.m.PodlogsRotations.Add(context.Background(), 1, attrKind("copytruncate"))
			r.switchTo(t, name, f, fi, t.readOff, t.fp)
			t.rotatedAt = r.now.Add(-r.cfg.PollInterval)
			return
		}
	}
	r.m.PodlogsRotations.Add(context.Background(), 1, attrKind("truncate"))
	r.logger.Info("podlogs: file truncated and no rotated copy found; reading it again from its start",
		zap.String("path", t.name), zap.Int64("offset", t.readOff))
	t.readOff, t.fp, t.format = 0, nil, formatUnknown
	r.markDirty(t)
}

// prefixMatches reports whether the file still starts with t's fingerprint.
func (r *podlogsReceiver) prefixMatches(t *tailed) bool {
	if len(t.fp) == 0 {
		return true
	}
	return r.fileStartsWith(t.f, t.fp)
}

func (r *podlogsReceiver) fileStartsWith(f *os.File, fp []byte) bool {
	if cap(r.fpBuf) < len(fp) {
		r.fpBuf = make([]byte, r.cfg.FingerprintSize)
	}
	b := r.fpBuf[:len(fp)]
	n, _ := f.ReadAt(b, 0)
	return n == len(fp) && bytes.Equal(b, fp)
}

// extendFingerprint records the file's first bytes as they are read.
func (r *podlogsReceiver) extendFingerprint(t *tailed, data []byte) {
	have := int64(len(t.fp))
	if have >= int64(r.cfg.FingerprintSize) || t.readOff > have {
		return
	}
	want := min(int64(r.cfg.FingerprintSize), t.readOff+int64(len(data)))
	if want <= have {
		return
	}
	t.fp = append(t.fp, data[have-t.readOff:want-t.readOff]...)
}

// captureFingerprint reads the first bytes of a file that is not read from its beginning.
func (r *podlogsReceiver) captureFingerprint(t *tailed) {
	f, err := os.Open(t.key)
	if err != nil {
		return
	}
	defer f.Close()
	fp := make([]byte, min(int64(r.cfg.FingerprintSize), t.readOff))
	n, _ := f.ReadAt(fp, 0)
	t.fp = fp[:n]
}

// open opens the file t reads, checking it is the same file; if it moved (renamed again, or
// rotated while closed or while the agent was down) it is looked for next to the path.
func (r *podlogsReceiver) open(t *tailed) bool {
	if r.openCount >= r.cfg.MaxOpenFiles && !r.evict() {
		return false
	}
	f, err := os.Open(t.name)
	if err == nil {
		fi, err := f.Stat()
		if err == nil {
			dev, ino := fileID(fi)
			if !t.known || (dev == t.dev && ino == t.ino) {
				t.f, t.dev, t.ino, t.known = f, dev, ino, true
				t.size, t.mtime = fi.Size(), fi.ModTime()
				r.openCount++
				return true
			}
		}
		_ = f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.logger.Warn("podlogs: open failed", zap.String("path", t.name), zap.Error(err))
		return false
	}
	if name, f, fi := r.findMoved(t); f != nil {
		offset, fp, format := t.readOff, t.fp, t.format
		r.switchTo(t, name, f, fi, offset, fp)
		t.format = format
		if name != t.key {
			t.rotatedAt = r.now.Add(-r.cfg.PollInterval)
		}
		return true
	}
	if t.readOff > 0 {
		r.m.PodlogsLostFiles.Add(context.Background(), 1)
		r.logger.Warn("podlogs: a file was rotated away and removed before it was read to its end; continuing with the current file",
			zap.String("path", t.key), zap.String("file", t.name), zap.Int64("offset", t.readOff))
	}
	t.name, t.known, t.readOff, t.fp, t.format = t.key, false, 0, nil, formatUnknown
	r.markDirty(t)
	f, err = os.Open(t.key)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return false
	}
	r.switchTo(t, t.key, f, fi, 0, nil)
	return true
}

// evict closes the least recently used open file that is the file at its path (it can be found
// again by path). It reports whether one was closed.
func (r *podlogsReceiver) evict() bool {
	var victim *tailed
	for _, t := range r.order {
		if t.f != nil && t.onPath() && (victim == nil || t.lastUse < victim.lastUse) {
			victim = t
		}
	}
	if victim == nil {
		return false
	}
	r.closeFile(victim)
	return true
}

func (r *podlogsReceiver) closeFile(t *tailed) {
	if t.f != nil {
		_ = t.f.Close()
		t.f = nil
		r.openCount--
	}
}

// rotatedSibling is a rotated file next to a tailed path: "<name>.<anything>", not compressed.
type rotatedSibling struct {
	path string
	fi   os.FileInfo
}

func (r *podlogsReceiver) siblings(t *tailed) []rotatedSibling {
	dir, base := filepath.Dir(t.key), filepath.Base(t.key)+"."
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []rotatedSibling
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) || strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".tmp") || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, rotatedSibling{path: filepath.Join(dir, name), fi: fi})
	}
	return out
}

func (r *podlogsReceiver) openSibling(s rotatedSibling) (*os.File, os.FileInfo) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil
	}
	return f, fi
}

// findMoved looks for t's file by its identity among the rotated files, then by its first bytes.
func (r *podlogsReceiver) findMoved(t *tailed) (string, *os.File, os.FileInfo) {
	sibs := r.siblings(t)
	if t.known {
		for _, s := range sibs {
			if dev, ino := fileID(s.fi); dev == t.dev && ino == t.ino {
				if f, fi := r.openSibling(s); f != nil {
					return s.path, f, fi
				}
			}
		}
	}
	if len(t.fp) == 0 {
		return "", nil, nil
	}
	return r.newestWithPrefix(sibs, t.fp, t.readOff)
}

// findCopy looks for the rotated copy of a file that was truncated: the newest rotated file that
// starts with the same bytes and holds at least what was read.
func (r *podlogsReceiver) findCopy(t *tailed) (string, *os.File, os.FileInfo) {
	sibs := r.siblings(t)
	kept := sibs[:0]
	for _, s := range sibs {
		if dev, ino := fileID(s.fi); dev != t.dev || ino != t.ino {
			kept = append(kept, s)
		}
	}
	return r.newestWithPrefix(kept, t.fp, t.readOff)
}

func (r *podlogsReceiver) newestWithPrefix(sibs []rotatedSibling, fp []byte, minSize int64) (string, *os.File, os.FileInfo) {
	var best rotatedSibling
	var bestF *os.File
	var bestFI os.FileInfo
	for _, s := range sibs {
		if s.fi.Size() < minSize || s.fi.Size() < int64(len(fp)) {
			continue
		}
		if bestF != nil && !s.fi.ModTime().After(best.fi.ModTime()) {
			continue
		}
		f, fi := r.openSibling(s)
		if f == nil {
			continue
		}
		if !r.fileStartsWith(f, fp) {
			_ = f.Close()
			continue
		}
		if bestF != nil {
			_ = bestF.Close()
		}
		best, bestF, bestFI = s, f, fi
	}
	return best.path, bestF, bestFI
}

// nextRotated finds the oldest rotated file not yet read that was modified since the last one
// read (the agent fell behind by more than one rotation), and not after notAfter, when that is
// not zero. Neither the file being read nor the one at the path is one of them.
//
// With ours set, a file that starts with (a prefix of) ours is a copy of the generation being
// read, made after it was read or still being made, not an older one: it is skipped.
func (r *podlogsReceiver) nextRotated(t *tailed, notAfter time.Time, ours []byte) (string, *os.File, os.FileInfo) {
	// The file at the path now (not as of the last poll: it may have been rotated since).
	var pathDev, pathIno uint64
	if pfi, err := os.Stat(t.key); err == nil {
		pathDev, pathIno = fileID(pfi)
	}
	var best *rotatedSibling
	sibs := r.siblings(t)
	for i, s := range sibs {
		dev, ino := fileID(s.fi)
		if t.wasRead(dev, ino) || (dev == t.dev && ino == t.ino) || (pathIno != 0 && dev == pathDev && ino == pathIno) {
			continue
		}
		mt := s.fi.ModTime()
		if mt.Before(t.after) || (!notAfter.IsZero() && mt.After(notAfter)) {
			continue
		}
		if ours != nil && r.startsLike(s, ours) {
			continue
		}
		if best == nil || olderSibling(s, *best) {
			best = &sibs[i]
		}
	}
	if best == nil {
		return "", nil, nil
	}
	f, fi := r.openSibling(*best)
	if f == nil {
		return "", nil, nil
	}
	return best.path, f, fi
}

// startsLike reports whether the file s starts with prefix, or with the part of it that fits in
// the file (an empty file starts like anything).
func (r *podlogsReceiver) startsLike(s rotatedSibling, prefix []byte) bool {
	n := min(int64(len(prefix)), s.fi.Size())
	if n == 0 {
		return true
	}
	f, err := os.Open(s.path)
	if err != nil {
		return false
	}
	defer f.Close()
	return r.fileStartsWith(f, prefix[:n])
}

// olderSibling orders rotated files by modification time; files modified within the same clock
// tick are ordered by name ("0.log.9" before "0.log.10", timestamps as written).
func olderSibling(a, b rotatedSibling) bool {
	if !a.fi.ModTime().Equal(b.fi.ModTime()) {
		return a.fi.ModTime().Before(b.fi.ModTime())
	}
	if len(a.path) != len(b.path) {
		return len(a.path) < len(b.path)
	}
	return a.path < b.path
}

// readOlderFirst is called when a file is about to be read from its beginning after a rotation,
// once its first bytes were read. A rotated file not read yet and modified at the latest when
// this one was last written holds an older generation (the path was rotated again between the
// end of the last rotated file read and the opening of this one, or, under copytruncate, this
// file was truncated before this read): that one is read first and this one after it. It
// reports whether it switched.
func (r *podlogsReceiver) readOlderFirst(t *tailed, data []byte) bool {
	fi, err := t.f.Stat()
	if err != nil {
		return false
	}
	name, f, sfi := r.nextRotated(t, fi.ModTime(), data[:min(len(data), r.cfg.FingerprintSize)])
	if r.logger.Core().Enabled(zap.DebugLevel) {
		r.logger.Debug("podlogs: first read after a rotation", zap.String("path", t.key), zap.Uint64("ino", t.ino),
			zap.Time("mtime", fi.ModTime()), zap.Time("after", t.after), zap.String("older", name))
	}
	if f == nil {
		return false
	}
	r.closeFile(t)
	r.switchTo(t, name, f, sfi, 0, nil)
	t.rotatedAt = r.now.Add(-r.cfg.PollInterval)
	return true
}

func validUTF8(b []byte) bool { return utf8.Valid(b) }

// appendValidUTF8 appends b with each run of invalid bytes replaced by U+FFFD.
func appendValidUTF8(dst, b []byte) []byte {
	return append(dst, bytes.ToValidUTF8(b, []byte("\uFFFD"))...)
}
