// Package lookouttest runs the real lookout binary in tests: it builds it once per test
// process, starts it on free loopback ports, and waits for it to be ready.
package lookouttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lookoutdev/lookout/internal/freeport"
)

// BinaryEnv names an environment variable holding the path of an already built lookout binary
// (`make test` sets it so that the binary is built once per run, not once per package).
const BinaryEnv = "LOOKOUT_BIN"

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Build returns the path of a lookout binary built from this checkout: $LOOKOUT_BIN when set,
// otherwise one built into dir. Call it from TestMain.
func Build(dir string) (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, p, err)
		}
		return p, nil
	}
	out := filepath.Join(dir, "lookout")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/lookout")
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/lookout: %w\n%s", err, b)
	}
	return out, nil
}

// Main is a TestMain for packages whose tests run the lookout binary: it builds it once (see
// Build) into a temporary directory, sets *bin to its path, runs the tests and exits.
func Main(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "lookout-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// FreeAddr returns a 127.0.0.1:port address that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// FreeAddrs returns n distinct loopback addresses, free when chosen (freeport.Addrs).
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs, err := freeport.Addrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// Process is a running lookout (or other) process whose output is kept for assertions.
type Process struct {
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
	err    error
}

// Start runs bin with args and extra environment variables; the process is stopped with SIGTERM
// when the test ends, and its output is logged if the test failed.
func Start(t testing.TB, bin string, args []string, env ...string) *Process {
	t.Helper()
	p := &Process{output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		crashed := p.Exited()
		p.Stop(10 * time.Second)
		if t.Failed() {
			p.keepOutput(t, bin, args, crashed)
		}
	})
	return p
}

// keepOutput writes the output of a failed test's process to a file that outlives the test
// and logs where it is, so that the test's own failure stays at the end of what `go test`
// prints; the last lines of a process that ended on its own are logged too.
func (p *Process) keepOutput(t testing.TB, bin string, args []string, crashed bool) {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "-" + filepath.Base(bin) + "-*.log"
	f, err := os.CreateTemp("", name)
	if err == nil {
		_, err = f.WriteString(p.Output())
		err = errors.Join(err, f.Close())
	}
	cmd := filepath.Base(bin) + " " + strings.Join(args, " ")
	switch {
	case err != nil:
		t.Logf("output of %s (not kept: %v):\n%s", cmd, err, p.Output())
	case crashed:
		t.Logf("output of %s, which exited (%v), in %s; its last lines:\n%s", cmd, p.err, f.Name(), lastLines(p.Output(), 10))
	default:
		t.Logf("output of %s in %s", cmd, f.Name())
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Output returns everything the process wrote so far.
func (p *Process) Output() string { return p.output.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to grace, then kills. It returns the process's exit error.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	return p.err
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// WaitHTTP polls url until it answers 200 or the timeout passes; it fails early if the process
// exits.
func (p *Process) WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	if err := WaitHTTP(context.Background(), url, timeout, p.Exited); err != nil {
		t.Fatalf("%v\noutput:\n%s", err, p.Output())
	}
}

// WaitHTTP polls url until it answers 200, the timeout passes or stop returns true.
func WaitHTTP(ctx context.Context, url string, timeout time.Duration, stop func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		if stop != nil && stop() {
			return fmt.Errorf("waiting for %s: the process exited (last: %v)", url, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", url, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Eventually polls cond every 100ms until it returns nil or the timeout passes, and then fails the
// test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var installs sync.Map // component -> *installResult

type installResult struct {
	once sync.Once
	err  error
}

// Tool returns the path of binary, a backend or tool that deploy/local/install.sh installs as
// component (e.g. Tool(t, "victorialogs", "victoria-logs")), running that script first: it is
// idempotent and quick once the tool is there.
func Tool(t testing.TB, component, binary string) string {
	t.Helper()
	v, _ := installs.LoadOrStore(component, &installResult{})
	r := v.(*installResult)
	r.once.Do(func() {
		cmd := exec.Command(filepath.Join(RepoRoot(), "deploy", "local", "install.sh"), component)
		if b, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("deploy/local/install.sh %s: %w\n%s", component, err, b)
		}
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if p := filepath.Join(RepoRoot(), ".lookout-run", "bin", binary); fileExists(p) {
		return p
	}
	p, err := exec.LookPath(binary)
	if err != nil {
		t.Fatalf("%s is not installed after deploy/local/install.sh %s: %v", binary, component, err)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
