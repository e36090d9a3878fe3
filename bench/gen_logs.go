package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Pod log lines are CRI lines whose message starts with an item number, "L<pod>-<seq> ", so
// that the sinks can tell which lines arrived, followed by logfmt fields whose values vary as a
// service's do (IDs, durations, paths), so that compression sees realistic data:
//
//	2026-01-02T03:04:05.000000123Z stdout F L007-000000123 level=info msg="handled request" method=GET path=/api/v1/orders/482913 ...
const (
	logNamespace = "bench"
	logContainer = "app"
	idLen        = len("L000-000000000")
	// logFormat changes when the generated lines do, so that kept data sets are made again.
	logFormat = "2"
)

var (
	logLevels   = []string{"info", "info", "info", "info", "debug", "debug", "warn", "error"}
	logMessages = []string{"handled request", "cache miss", "query executed", "upstream call", "retrying request", "order created", "payment authorised", "session refreshed"}
	logPaths    = []string{"/api/v1/orders/", "/api/v1/cart/", "/api/v1/users/", "/api/v1/search?q=", "/api/v1/payments/"}
	logWords    = strings.Fields(`the order cart user payment session token cache database query row table index shard
		replica primary leader follower timeout retry backoff request response header body status code
		latency duration bytes queue worker pool connection socket stream batch commit rollback lock
		mutex channel goroutine thread process memory heap stack allocation garbage collector pause
		region zone cluster node pod container image registry deploy release version feature flag
		tenant account customer invoice price discount coupon shipping address country currency`)
)

// logSet names a set of pod log files: lines spread evenly over pods, each line about size
// bytes long (time stamp, stream, tag and newline included).
type logSet struct {
	Pods, Lines, Size int
}

func (s logSet) String() string {
	return fmt.Sprintf("%d lines of %d B in %d pods", s.Lines, s.Size, s.Pods)
}

// perPod is how many lines pod p has.
func (s logSet) perPod(p int) int {
	n := s.Lines / s.Pods
	if p < s.Lines%s.Pods {
		n++
	}
	return n
}

// write creates the files under dir/pods (once: a marker file records a complete set) and
// returns the total size in bytes.
func (s logSet) write(dir string) (int64, error) {
	if s.Pods < 1 || s.Pods > 999 || s.Lines < s.Pods || s.Size < 64 {
		return 0, fmt.Errorf("log set %s: want 1-999 pods, at least a line per pod, lines of at least 64 B", s)
	}
	marker := filepath.Join(dir, "complete")
	if b, err := os.ReadFile(marker); err == nil {
		if v, ok := strings.CutPrefix(string(b), "format="+logFormat+" bytes="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n, nil
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return 0, fmt.Errorf("clear %s: %w", dir, err)
	}
	var total int64
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for p := range s.Pods {
		path := s.file(dir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return 0, fmt.Errorf("create pod directory: %w", err)
		}
		n, err := writeLogFile(path, p, s.perPod(p), s.Size, base)
		if err != nil {
			return 0, err
		}
		total += n
	}
	if err := os.WriteFile(marker, []byte("format="+logFormat+" bytes="+strconv.FormatInt(total, 10)), 0o644); err != nil {
		return 0, fmt.Errorf("write %s: %w", marker, err)
	}
	return total, nil
}

// file is pod p's log file, laid out as the kubelet does: pods/<ns>_<pod>_<uid>/<container>/0.log.
func (s logSet) file(dir string, p int) string {
	pod := fmt.Sprintf("svc%d-7d9f8b6c5-%05d", p%5, p)
	uid := fmt.Sprintf("0b8e3f3a-1c2d-4e5f-8a9b-%012d", p)
	return filepath.Join(dir, "pods", fmt.Sprintf("%s_%s_%s", logNamespace, pod, uid), logContainer, "0.log")
}

func writeLogFile(path string, pod, lines, size int, base time.Time) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("create log file: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(uint64(pod), 42))
	var total int64
	line := make([]byte, 0, size+64)
	for i := range lines {
		line = base.Add(time.Duration(i)*time.Microsecond).AppendFormat(line[:0], "2006-01-02T15:04:05.000000000Z07:00")
		line = append(line, " stdout F "...)
		line = appendLineID(line, pod, i)
		line = appendFields(line, rng, size-1)
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			f.Close()
			return 0, fmt.Errorf("write %s: %w", path, err)
		}
		total += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", path, err)
	}
	return total, nil
}

// appendFields appends logfmt fields to b until it is n bytes long (cutting the last one).
func appendFields(b []byte, rng *rand.Rand, n int) []byte {
	const hex = "0123456789abcdef"
	b = append(b, " level="...)
	b = append(b, logLevels[rng.IntN(len(logLevels))]...)
	b = append(b, ` msg="`...)
	b = append(b, logMessages[rng.IntN(len(logMessages))]...)
	b = append(b, `" method=GET path=`...)
	b = append(b, logPaths[rng.IntN(len(logPaths))]...)
	b = strconv.AppendInt(b, int64(rng.IntN(1_000_000)), 10)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64([]int{200, 200, 200, 201, 204, 404, 500}[rng.IntN(7)]), 10)
	b = append(b, " duration_ms="...)
	b = strconv.AppendFloat(b, float64(rng.IntN(100_000))/100, 'f', 2, 64)
	b = append(b, " user=u"...)
	b = strconv.AppendInt(b, int64(rng.IntN(50_000)), 10)
	b = append(b, " trace_id="...)
	for range 32 {
		b = append(b, hex[rng.IntN(16)])
	}
	b = append(b, " span_id="...)
	for range 16 {
		b = append(b, hex[rng.IntN(16)])
	}
	if len(b) < n {
		b = append(b, ` detail="`...)
		for len(b) < n {
			b = append(b, logWords[rng.IntN(len(logWords))]...)
			b = append(b, ' ')
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	for len(b) < n {
		b = append(b, ' ')
	}
	return b
}

func appendLineID(b []byte, pod, seq int) []byte {
	b = append(b, 'L')
	b = appendPadded(b, uint64(pod), 3)
	b = append(b, '-')
	return appendPadded(b, uint64(seq), 9)
}

func appendPadded(b []byte, v uint64, width int) []byte {
	start := len(b)
	for range width {
		b = append(b, '0')
	}
	for i := len(b) - 1; i >= start && v > 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// parseLineID reads the item number at the start of a log body.
func parseLineID(body []byte) (itemID, bool) {
	if len(body) < idLen || body[0] != 'L' || body[4] != '-' {
		return itemID{}, false
	}
	pod, ok1 := parseDigits(body[1:4])
	seq, ok2 := parseDigits(body[5:idLen])
	if !ok1 || !ok2 {
		return itemID{}, false
	}
	return itemID{stream: int(pod), seq: seq}, true
}

func parseDigits(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// warm reads the set's files once, so that the reader measured next finds them in the page
// cache, as a node's agent finds the lines the kubelet has just written. This VM drops file pages
// it has not touched for a while: a 1 KiB set (2 GiB) read from disk instead cost cat 0.87 CPU-s
// against 0.27, and a collector as much more, by however much of the set was still cached.
func warm(ctx context.Context, s logSet, dir string) error {
	for p := range s.Pods {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(s.file(dir, p))
		if err != nil {
			return fmt.Errorf("warm the log files: %w", err)
		}
		_, err = io.Copy(io.Discard, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("warm the log files: %w", err)
		}
	}
	return nil
}

// catFloor reads the set's files with cat(1) and returns its CPU time, the least a reader of
// these files can spend, and its resource usage.
func catFloor(ctx context.Context, s logSet, dir string) (time.Duration, any, error) {
	args := make([]string, 0, s.Pods)
	for p := range s.Pods {
		args = append(args, s.file(dir, p))
	}
	cmd := exec.CommandContext(ctx, "cat", args...)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, nil, errors.Join(fmt.Errorf("cat the log files: %w", err), errors.New(stderr.String()))
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), cmd.ProcessState.SysUsage(), nil
}
