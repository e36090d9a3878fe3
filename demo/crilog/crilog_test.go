package crilog

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock returns a Now that advances one second per call, from a fixed start.
func clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 25, 9, 0, 0, 123456789, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// entry is one parsed CRI line.
type entry struct{ stream, tag, content string }

var criLine = regexp.MustCompile(`^(\S+) (stdout|stderr) ([PF]) (.*)$`)

func parse(t *testing.T, lines []string) []entry {
	t.Helper()
	var out []entry
	for _, l := range lines {
		m := criLine.FindStringSubmatch(l)
		require.NotNil(t, m, "not a CRI line: %q", l)
		_, err := time.Parse(time.RFC3339Nano, m[1])
		require.NoError(t, err, "timestamp of %q", l)
		out = append(out, entry{m[2], m[3], m[4]})
	}
	return out
}

func TestCopy(t *testing.T) {
	long := strings.Repeat("x", 25)
	tests := []struct {
		name  string
		input string
		want  []entry
	}{
		{"one line", "hello\n", []entry{{"stdout", "F", "hello"}}},
		{"two lines", "a\nb\n", []entry{{"stdout", "F", "a"}, {"stdout", "F", "b"}}},
		{"empty line kept", "a\n\nb\n", []entry{{"stdout", "F", "a"}, {"stdout", "F", ""}, {"stdout", "F", "b"}}},
		{"no final newline", "a\nb", []entry{{"stdout", "F", "a"}, {"stdout", "F", "b"}}},
		{"long line split into parts", long + "\n", []entry{
			{"stdout", "P", long[:10]}, {"stdout", "P", long[10:20]}, {"stdout", "F", long[20:]},
		}},
		{"line of exactly max line is whole", strings.Repeat("y", 10) + "\n", []entry{
			{"stdout", "F", strings.Repeat("y", 10)},
		}},
		{"one byte over max line", strings.Repeat("y", 11) + "\n", []entry{
			{"stdout", "P", strings.Repeat("y", 10)}, {"stdout", "F", "y"},
		}},
		{"very long line without newline", strings.Repeat("z", 45), []entry{
			{"stdout", "P", strings.Repeat("z", 10)}, {"stdout", "P", strings.Repeat("z", 10)},
			{"stdout", "P", strings.Repeat("z", 10)}, {"stdout", "P", strings.Repeat("z", 10)},
			{"stdout", "F", strings.Repeat("z", 5)},
		}},
		{"nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c", "0.log")
			w, err := Open(Options{Path: path, MaxLine: 10, Now: clock()})
			require.NoError(t, err)
			require.NoError(t, w.Copy(Stdout, strings.NewReader(tt.input)))
			require.NoError(t, w.Close())
			require.Equal(t, tt.want, parse(t, readLines(t, path)))
		})
	}
}

func TestWriteLineFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := Open(Options{Path: path, Now: clock()})
	require.NoError(t, err)
	require.NoError(t, w.WriteLine(Stderr, []byte(`{"level":"error","msg":"boom"}`)))
	require.NoError(t, w.Close())
	require.Equal(t, []string{`2026-11-25T09:00:01.123456789Z stderr F {"level":"error","msg":"boom"}`}, readLines(t, path))
	require.Error(t, w.WriteLine(Stdout, []byte("after close")))
}

func TestAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	for _, msg := range []string{"first run", "second run"} {
		w, err := Open(Options{Path: path, Now: clock()})
		require.NoError(t, err)
		require.NoError(t, w.WriteLine(Stdout, []byte(msg)))
		require.NoError(t, w.Close())
	}
	require.Equal(t, []entry{{"stdout", "F", "first run"}, {"stdout", "F", "second run"}}, parse(t, readLines(t, path)))
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name     string
		compress bool
	}{{"plain", false}, {"compressed", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "0.log")
			// Each entry is 51 bytes ("2026-...Z stdout F line-NNNN\n"); 200 bytes hold 3.
			w, err := Open(Options{Path: path, MaxSize: 200, MaxFiles: 3, Compress: tt.compress, Now: clock()})
			require.NoError(t, err)
			const n = 40
			for i := range n {
				require.NoError(t, w.WriteLine(Stdout, fmt.Appendf(nil, "line-%04d", i)))
			}
			require.NoError(t, w.Close())

			rotated, err := Rotated(path)
			require.NoError(t, err)
			require.Len(t, rotated, 2, "max files 3 keeps the current file and two rotated ones")
			for i, r := range rotated {
				require.Regexp(t, `/0\.log\.\d{8}-\d{6}(\.gz)?$`, r)
				wantGz := tt.compress && i < len(rotated)-1
				require.Equal(t, wantGz, strings.HasSuffix(r, ".gz"), "%s: only older rotated files are compressed", r)
			}

			// The kept files hold the newest lines, in order, with none missing between them.
			var all []entry
			for _, r := range append(rotated, path) {
				all = append(all, parse(t, gunzipLines(t, r))...)
			}
			require.NotEmpty(t, all)
			first := n - len(all)
			for i, e := range all {
				require.Equal(t, entry{"stdout", "F", fmt.Sprintf("line-%04d", first+i)}, e)
			}
			for _, f := range append(rotated, path) {
				st, err := os.Stat(f)
				require.NoError(t, err)
				if !strings.HasSuffix(f, ".gz") {
					require.LessOrEqual(t, st.Size(), int64(200), f)
				}
			}
		})
	}
}

func gunzipLines(t *testing.T, path string) []string {
	t.Helper()
	if !strings.HasSuffix(path, ".gz") {
		return readLines(t, path)
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestRotationNameCollision(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	fixed := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	w, err := Open(Options{Path: path, MaxSize: 60, MaxFiles: 10, Now: func() time.Time { return fixed }})
	require.NoError(t, err)
	for i := range 4 {
		require.NoError(t, w.WriteLine(Stdout, fmt.Appendf(nil, "line-%d-of-the-same-second", i)))
	}
	require.NoError(t, w.Close())
	rotated, err := Rotated(path)
	require.NoError(t, err)
	require.Equal(t, []string{
		path + ".20261125-090000", path + ".20261125-090000-1", path + ".20261125-090000-2",
	}, rotated)
}

func TestConcurrentStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := Open(Options{Path: path, MaxSize: 4 << 10, MaxFiles: 1000})
	require.NoError(t, err)
	var wg sync.WaitGroup
	const n = 500
	for _, s := range []Stream{Stdout, Stderr} {
		var in bytes.Buffer
		for i := range n {
			fmt.Fprintf(&in, "%s-%d\n", s, i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, w.Copy(s, &in))
		}()
	}
	wg.Wait()
	require.NoError(t, w.Close())
	rotated, err := Rotated(path)
	require.NoError(t, err)
	require.NotEmpty(t, rotated)
	seen := map[string]int{}
	for _, f := range append(rotated, path) {
		for _, e := range parse(t, readLines(t, f)) {
			require.True(t, strings.HasPrefix(e.content, e.stream+"-"), "line %q on stream %s", e.content, e.stream)
			seen[e.stream]++
		}
	}
	require.Equal(t, map[string]int{"stdout": n, "stderr": n}, seen)
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(Options{})
	require.ErrorContains(t, err, "empty path")
	_, err = Open(Options{Path: filepath.Join(t.TempDir(), "0.log"), MaxFiles: 1})
	require.ErrorContains(t, err, "at least 2")
}

func BenchmarkWriteLine(b *testing.B) {
	for _, size := range []int{100, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("line=%d", size), func(b *testing.B) {
			w, err := Open(Options{Path: filepath.Join(b.TempDir(), "0.log"), MaxSize: 64 << 20, Compress: true})
			require.NoError(b, err)
			defer w.Close()
			line := bytes.Repeat([]byte("a"), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WriteLine(Stdout, line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
