package launcher

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary doubles as a container: LAUNCHER_TEST_CONTAINER=<mode> makes it one.
func TestMain(m *testing.M) {
	if mode := os.Getenv("LAUNCHER_TEST_CONTAINER"); mode != "" {
		os.Exit(container(mode))
	}
	goleak.VerifyTestMain(m)
}

func container(mode string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Println(`{"level":"info","msg":"started"}`)
	fmt.Fprintln(os.Stderr, `{"level":"error","msg":"something on stderr"}`)
	fmt.Println(strings.Repeat("L", 40000))
	if mode == "done" {
		return 0
	}
	if mode == "crash" {
		fmt.Println("crashing")
		return 3
	}
	<-term
	fmt.Println("stopping on SIGTERM")
	return 0
}

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return exe
}

func TestRunWritesPodLogsAndTargets(t *testing.T) {
	dir := t.TempDir()
	pods := []Pod{
		{
			Namespace: "demo", Name: "storefront-abc12", MetricsAddr: "127.0.0.1:18081",
			TargetLabels: map[string]string{"service_name": "storefront"},
			Container:    Container{Name: "storefront", Command: []string{self(t)}, Env: []string{"LAUNCHER_TEST_CONTAINER=serve"}},
		},
		{
			Namespace: "demo", Name: "loadgen-xyz89",
			Container: Container{Name: "loadgen", Command: []string{self(t)}, Env: []string{"LAUNCHER_TEST_CONTAINER=crash"}},
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{RunDir: dir, Pods: pods, RestartBackoff: 10 * time.Millisecond, MaxRestartBackoff: 20 * time.Millisecond})
	}()

	uid := PodUID("demo", "storefront-abc12")
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, uid)
	sfLog := filepath.Join(dir, "pods", "demo_storefront-abc12_"+uid, "storefront", "0.log")
	lgDir := filepath.Join(dir, "pods", "demo_loadgen-xyz89_"+PodUID("demo", "loadgen-xyz89"), "loadgen")

	// The crashing container is restarted, each run into the next <restart>.log.
	waitFor(t, func() bool { return fileHas(filepath.Join(lgDir, "2.log"), "crashing") })
	waitFor(t, func() bool { return fileHas(sfLog, "L\n") })

	b, err := os.ReadFile(filepath.Join(dir, "targets", "demo.json"))
	require.NoError(t, err)
	var targets []Target
	require.NoError(t, json.Unmarshal(b, &targets))
	require.Equal(t, []Target{{
		Targets: []string{"127.0.0.1:18081"},
		Labels:  map[string]string{"namespace": "demo", "pod": "storefront-abc12", "container": "storefront", "service_name": "storefront"},
	}}, targets)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	_, err = os.Stat(filepath.Join(dir, "targets", "demo.json"))
	require.ErrorIs(t, err, os.ErrNotExist, "the targets disappear with the pods")

	lines := strings.Split(strings.TrimSuffix(readFile(t, sfLog), "\n"), "\n")
	var stdout, stderr []string
	for _, l := range lines {
		f := strings.SplitN(l, " ", 4)
		require.Len(t, f, 4, l)
		_, err := time.Parse(time.RFC3339Nano, f[0])
		require.NoError(t, err)
		switch f[1] {
		case "stdout":
			stdout = append(stdout, f[2]+" "+f[3][:min(len(f[3]), 40)])
		case "stderr":
			stderr = append(stderr, f[2]+" "+f[3])
		}
	}
	require.Equal(t, []string{`F {"level":"error","msg":"something on stderr"}`}, stderr)
	require.Equal(t, []string{
		`F {"level":"info","msg":"started"}`,
		"P " + strings.Repeat("L", 40), "P " + strings.Repeat("L", 40), "F " + strings.Repeat("L", 40),
		"F stopping on SIGTERM",
	}, stdout, "a 40000-byte line is two 16 KiB parts and the rest; SIGTERM reached the container")
}

func TestOnFailurePodCompletes(t *testing.T) {
	dir := t.TempDir()
	pod := func(name, mode string) Pod {
		return Pod{Namespace: "demo", Name: name, RestartPolicy: RestartOnFailure,
			Container: Container{Name: "job", Command: []string{self(t)}, Env: []string{"LAUNCHER_TEST_CONTAINER=" + mode}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{RunDir: dir, Pods: []Pod{pod("ok", "done")}, RestartBackoff: 10 * time.Millisecond})
	}()
	select {
	case err := <-done:
		require.NoError(t, err, "a completed job ends Run when it is the only pod")
	case <-time.After(20 * time.Second):
		t.Fatal("an OnFailure pod that exited 0 was restarted")
	}
	logDir := filepath.Join(dir, "pods", "demo_ok_"+PodUID("demo", "ok"), "job")
	require.FileExists(t, filepath.Join(logDir, "0.log"))
	require.NoFileExists(t, filepath.Join(logDir, "1.log"))

	// A failing one is restarted.
	go func() {
		done <- Run(ctx, Options{RunDir: dir, Pods: []Pod{pod("bad", "crash")}, RestartBackoff: 10 * time.Millisecond})
	}()
	waitFor(t, func() bool {
		return fileHas(filepath.Join(dir, "pods", "demo_bad_"+PodUID("demo", "bad"), "job", "1.log"), "crashing")
	})
	cancel()
	require.NoError(t, <-done)
}

func TestValidate(t *testing.T) {
	good := Pod{Namespace: "demo", Name: "a", Container: Container{Name: "a", Command: []string{"true"}}}
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"no run dir", Options{Pods: []Pod{good}}, "run dir: required"},
		{"no pods", Options{RunDir: "x"}, "pods: none"},
		{"underscore in name", Options{RunDir: "x", Pods: []Pod{{Namespace: "demo", Name: "a_b", Container: good.Container}}},
			`pods[0].name: "a_b" is not a DNS label`},
		{"no command", Options{RunDir: "x", Pods: []Pod{{Namespace: "demo", Name: "a", Container: Container{Name: "a"}}}},
			"pods[0].container.command: empty"},
		{"twice", Options{RunDir: "x", Pods: []Pod{good, good}}, "pods[1]: demo/a appears twice"},
		{"bad restart policy", Options{RunDir: "x", Pods: []Pod{{Namespace: "demo", Name: "a", RestartPolicy: "Never", Container: good.Container}}},
			`pods[0].restart_policy: "Never" is not Always or OnFailure`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), tt.opts)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestMissingProgramFailsRun(t *testing.T) {
	err := Run(context.Background(), Options{RunDir: t.TempDir(), Pods: []Pod{{
		Namespace: "demo", Name: "a", Container: Container{Name: "a", Command: []string{"/nonexistent/demo-service"}},
	}}})
	require.ErrorContains(t, err, "pod demo/a: start /nonexistent/demo-service")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), s)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
