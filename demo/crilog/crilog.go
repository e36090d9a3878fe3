// Package crilog writes a container's output the way a CRI container runtime (containerd,
// CRI-O) does on a Kubernetes node, so that the demo services' logs look on disk exactly like a
// pod's logs under /var/log/pods:
//
//	2026-11-25T09:14:49.123456789Z stdout F {"level":"info","msg":"order created"}
//
// A line longer than MaxLine is split into parts tagged P, the last one tagged F. The file is
// rotated the way the kubelet does it: renamed to "<name>.<YYYYMMDD-hhmmss>", a new file opened
// in its place, the rotated files but the newest gzip-compressed, the oldest removed beyond
// MaxFiles.
package crilog

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Stream is the stream a line was written to.
type Stream string

// The two streams of a container.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Defaults, as the kubelet and containerd use them.
const (
	DefaultMaxSize  = 10 << 20 // kubelet containerLogMaxSize: 10Mi
	DefaultMaxFiles = 5        // kubelet containerLogMaxFiles
	DefaultMaxLine  = 16 << 10 // containerd splits lines at 16 KiB
)

// rotatedTimeLayout is the kubelet's suffix for rotated container logs.
const rotatedTimeLayout = "20060102-150405"

// Options configure a Writer. Zero fields get the defaults above.
type Options struct {
	// Path is the log file, e.g. ".../pods/<ns>_<pod>_<uid>/<container>/0.log". Its directory is
	// created if needed; an existing file is appended to.
	Path string
	// MaxSize is the size in bytes past which the file is rotated.
	MaxSize int64
	// MaxFiles is how many files are kept, the current one included (at least 2).
	MaxFiles int
	// MaxLine is the longest line part written as one entry; longer lines become P parts.
	MaxLine int
	// Compress gzips rotated files, all but the newest (which a tailer may still be reading).
	Compress bool
	// Now returns the time stamped on each entry; time.Now when nil.
	Now func() time.Time
}

// Writer writes CRI-formatted entries into one container log file. It is safe for concurrent
// use: stdout and stderr of one container share a Writer.
type Writer struct {
	opts Options

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// Open opens (or creates) the log file.
func Open(opts Options) (*Writer, error) {
	if opts.Path == "" {
		return nil, errors.New("crilog: empty path")
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxFiles <= 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.MaxFiles < 2 {
		return nil, fmt.Errorf("crilog: max files %d: want at least 2 (the current file and one rotated)", opts.MaxFiles)
	}
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o755); err != nil {
		return nil, fmt.Errorf("crilog: %w", err)
	}
	w := &Writer{opts: opts}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.opts.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("crilog: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("crilog: stat: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// WriteLine writes one line (without its newline) to stream, split into P parts and a final F
// part when it is longer than MaxLine.
func (w *Writer) WriteLine(stream Stream, line []byte) error {
	for len(line) > w.opts.MaxLine {
		if err := w.writeEntry(stream, 'P', line[:w.opts.MaxLine]); err != nil {
			return err
		}
		line = line[w.opts.MaxLine:]
	}
	return w.writeEntry(stream, 'F', line)
}

// Copy writes every line read from r to stream until r ends, as the runtime does with a
// container's stdout or stderr pipe. A last line without a newline is written as a full line.
// It returns at the first error; a caller reading a process's pipe should then drain r so that
// the process does not block.
func (w *Writer) Copy(stream Stream, r io.Reader) error {
	br := bufio.NewReaderSize(r, w.opts.MaxLine+1)
	var pending []byte // the start of a line longer than the reader's buffer
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			pending = append(pending, chunk[:len(chunk)-1]...)
			if werr := w.WriteLine(stream, pending); werr != nil {
				return werr
			}
			pending = pending[:0]
		case errors.Is(err, bufio.ErrBufferFull):
			pending = append(pending, chunk...)
			for len(pending) > w.opts.MaxLine {
				if werr := w.writeEntry(stream, 'P', pending[:w.opts.MaxLine]); werr != nil {
					return werr
				}
				pending = append(pending[:0], pending[w.opts.MaxLine:]...)
			}
		default:
			pending = append(pending, chunk...)
			var werr error
			if len(pending) > 0 {
				werr = w.WriteLine(stream, pending)
			}
			if errors.Is(err, io.EOF) {
				return werr
			}
			return errors.Join(werr, fmt.Errorf("crilog: read %s: %w", stream, err))
		}
	}
}

func (w *Writer) writeEntry(stream Stream, tag byte, content []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("crilog: writer closed")
	}
	b := w.buf[:0]
	b = w.opts.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ', tag, ' ')
	b = append(b, content...)
	b = append(b, '\n')
	w.buf = b
	var rotateErr error
	if w.size > 0 && w.size+int64(len(b)) > w.opts.MaxSize {
		// A failed rotation still leaves a file open when it can: the entry is written anyway
		// and the error reported, so a rotation problem loses no line.
		rotateErr = w.rotate()
		if w.f == nil {
			return rotateErr
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	if err != nil {
		return errors.Join(rotateErr, fmt.Errorf("crilog: write: %w", err))
	}
	return rotateErr
}

// rotate renames the current file, opens a new one, then compresses and prunes the rotated
// files. Called with w.mu held.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("crilog: close before rotation: %w", err)
	}
	w.f = nil
	stamp := w.opts.Now().UTC().Format(rotatedTimeLayout)
	target := w.opts.Path + "." + stamp
	for i := 1; exists(target) || exists(target+".gz"); i++ {
		target = fmt.Sprintf("%s.%s-%d", w.opts.Path, stamp, i)
	}
	renameErr := os.Rename(w.opts.Path, target)
	if err := w.open(); err != nil {
		return errors.Join(renameErr, err)
	}
	if renameErr != nil {
		// The old file is still in place and is appended to: nothing is lost.
		return fmt.Errorf("crilog: rotate: %w", renameErr)
	}
	w.size = 0
	return w.cleanup()
}

// Rotated lists the rotated files of the log at path, oldest first.
func Rotated(path string) ([]string, error) {
	matches, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, fmt.Errorf("crilog: %w", err)
	}
	var out []string
	for _, m := range matches {
		if strings.HasSuffix(m, ".tmp") {
			continue
		}
		out = append(out, m)
	}
	stem := func(s string) string { return strings.TrimSuffix(s, ".gz") }
	sort.Slice(out, func(i, j int) bool { return stem(out[i]) < stem(out[j]) })
	return out, nil
}

func (w *Writer) cleanup() error {
	rotated, err := Rotated(w.opts.Path)
	if err != nil {
		return err
	}
	var errs []error
	for len(rotated) > w.opts.MaxFiles-1 {
		if err := os.Remove(rotated[0]); err != nil {
			errs = append(errs, fmt.Errorf("crilog: remove old log: %w", err))
		}
		rotated = rotated[1:]
	}
	if w.opts.Compress {
		for _, r := range rotated[:max(len(rotated)-1, 0)] {
			if strings.HasSuffix(r, ".gz") {
				continue
			}
			if err := compress(r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// compress writes path+".gz" and removes path; on any error path is kept as it was.
func compress(path string) (err error) {
	in, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("crilog: compress: %w", err)
	}
	defer in.Close()
	tmp := path + ".gz.tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("crilog: compress: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	zw := gzip.NewWriter(out)
	if _, err = io.Copy(zw, in); err != nil {
		return fmt.Errorf("crilog: compress %s: %w", path, err)
	}
	if err = zw.Close(); err != nil {
		return fmt.Errorf("crilog: compress %s: %w", path, err)
	}
	if err = out.Close(); err != nil {
		return fmt.Errorf("crilog: compress %s: %w", path, err)
	}
	if err = os.Rename(tmp, path+".gz"); err != nil {
		return fmt.Errorf("crilog: compress %s: %w", path, err)
	}
	if err = os.Remove(path); err != nil {
		return fmt.Errorf("crilog: compress %s: %w", path, err)
	}
	return nil
}

// Close closes the file. Further writes fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("crilog: close: %w", err)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func globEscape(p string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(p)
}
