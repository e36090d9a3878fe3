// Package launcher runs local processes as if they were pods on a Kubernetes node, for the demo:
// each container's stdout and stderr go, in the CRI log format, to
// <run dir>/pods/<namespace>_<pod>_<uid>/<container>/<restart count>.log (rotated like the
// kubelet rotates them), a container that exits is restarted with back-off into the next log
// file, and the pods' metrics endpoints are published as a Prometheus file_sd target file, so
// the agent finds logs and metrics exactly as it does on a node.
package launcher

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/lookoutdev/lookout/demo/crilog"
)

// Container is the one container of a demo pod.
type Container struct {
	// Name is the container's name, the directory of its logs.
	Name string
	// Command is the program and its arguments.
	Command []string
	// Env is added to the launcher's environment.
	Env []string
}

// Pod is a demo pod.
type Pod struct {
	Namespace string
	Name      string
	// UID defaults to one derived from the namespace and name, so that a second run writes to
	// the same directory.
	UID       string
	Container Container
	// MetricsAddr, when set, is the host:port of the container's /metrics, published as a
	// scrape target.
	MetricsAddr string
	// TargetLabels are added to the target's namespace, pod and container labels.
	TargetLabels map[string]string
	// RestartPolicy is Always (the default, a Deployment's pod) or OnFailure (a Job's).
	RestartPolicy RestartPolicy
}

// RestartPolicy says when an exited container is started again, as in a pod spec.
type RestartPolicy string

// The restart policies.
const (
	RestartAlways    RestartPolicy = "Always"
	RestartOnFailure RestartPolicy = "OnFailure"
)

// LogDir is the pod's log directory under runDir.
func (p Pod) LogDir(runDir string) string {
	return filepath.Join(runDir, "pods", p.Namespace+"_"+p.Name+"_"+p.UID)
}

// PodUID derives a stable, UUID-shaped pod UID from the namespace and name.
func PodUID(namespace, name string) string {
	h := sha1.Sum([]byte(namespace + "/" + name))
	h[6] = (h[6] & 0x0f) | 0x50 // version 5, name-based
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// dnsLabel is what Kubernetes accepts as a namespace, pod or container name here (a DNS-1123
// label, so no underscores, which separate the parts of a pod log directory).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Options configure Run.
type Options struct {
	// RunDir holds pods/ and targets/ (the agent's LOOKOUT_RUN_DIR).
	RunDir string
	Pods   []Pod
	// TargetsFile is the file_sd file written; default <RunDir>/targets/demo.json.
	TargetsFile string
	// Log rotation of every container log, see crilog.Options.
	LogMaxSize  int64
	LogMaxFiles int
	LogCompress bool
	// RestartBackoff is the first wait before restarting a container that exited; it doubles up
	// to MaxRestartBackoff, as the kubelet's CrashLoopBackOff does. Defaults 1s and 30s.
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// StopGrace is how long containers get to exit after SIGTERM. Default 10s.
	StopGrace time.Duration
	// Logger is the launcher's own log.
	Logger *zap.Logger
}

// Validate names what is wrong.
func (o *Options) Validate() error {
	var errs []error
	if o.RunDir == "" {
		errs = append(errs, errors.New("run dir: required"))
	}
	if len(o.Pods) == 0 {
		errs = append(errs, errors.New("pods: none"))
	}
	seen := map[string]bool{}
	for i, p := range o.Pods {
		for what, v := range map[string]string{"namespace": p.Namespace, "name": p.Name, "container.name": p.Container.Name} {
			if !dnsLabel.MatchString(v) {
				errs = append(errs, fmt.Errorf("pods[%d].%s: %q is not a DNS label (lower-case letters, digits and '-')", i, what, v))
			}
		}
		switch p.RestartPolicy {
		case "", RestartAlways, RestartOnFailure:
		default:
			errs = append(errs, fmt.Errorf("pods[%d].restart_policy: %q is not Always or OnFailure", i, p.RestartPolicy))
		}
		if len(p.Container.Command) == 0 {
			errs = append(errs, fmt.Errorf("pods[%d].container.command: empty", i))
		}
		if key := p.Namespace + "/" + p.Name; seen[key] {
			errs = append(errs, fmt.Errorf("pods[%d]: %s appears twice", i, key))
		} else {
			seen[key] = true
		}
	}
	return errors.Join(errs...)
}

// Run starts every pod, writes the target file, and supervises the containers until ctx ends;
// then it stops them (SIGTERM, then SIGKILL after StopGrace), removes the target file and
// returns.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	if o.TargetsFile == "" {
		o.TargetsFile = filepath.Join(o.RunDir, "targets", "demo.json")
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = time.Second
	}
	if o.MaxRestartBackoff <= 0 {
		o.MaxRestartBackoff = 30 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	for i := range o.Pods {
		if o.Pods[i].UID == "" {
			o.Pods[i].UID = PodUID(o.Pods[i].Namespace, o.Pods[i].Name)
		}
	}
	if err := WriteTargets(o.TargetsFile, o.Pods); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	defer func() {
		if err := os.Remove(o.TargetsFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			o.Logger.Warn("removing the target file", zap.Error(err))
		}
	}()

	var wg sync.WaitGroup
	errc := make(chan error, len(o.Pods))
	for _, p := range o.Pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.supervise(ctx, p); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// supervise runs one pod's container until ctx ends, restarting it when it exits.
func (o *Options) supervise(ctx context.Context, p Pod) error {
	log := o.Logger.With(zap.String("pod", p.Namespace+"/"+p.Name))
	backoff := o.RestartBackoff
	for restart := 0; ; restart++ {
		started := time.Now()
		err := o.runOnce(ctx, p, restart, log)
		if ctx.Err() != nil {
			return nil
		}
		var startErr *startError
		if errors.As(err, &startErr) {
			return fmt.Errorf("launcher: pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		if err == nil && p.RestartPolicy == RestartOnFailure {
			log.Info("container completed")
			return nil
		}
		if time.Since(started) > 2*o.MaxRestartBackoff {
			backoff = o.RestartBackoff // it ran fine for a while: start the back-off over
		}
		if err == nil {
			err = errors.New("exited with status 0")
		}
		log.Warn("container exited; restarting", zap.Error(err), zap.Int("restart", restart+1), zap.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, o.MaxRestartBackoff)
	}
}

type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// runOnce runs the container once, its output into <restart>.log, until it exits or ctx ends;
// nil means it exited with status 0.
func (o *Options) runOnce(ctx context.Context, p Pod, restart int, log *zap.Logger) error {
	path := filepath.Join(p.LogDir(o.RunDir), p.Container.Name, strconv.Itoa(restart)+".log")
	w, err := crilog.Open(crilog.Options{Path: path, MaxSize: o.LogMaxSize, MaxFiles: o.LogMaxFiles, Compress: o.LogCompress})
	if err != nil {
		return &startError{err}
	}
	defer w.Close()

	cmd := exec.Command(p.Container.Command[0], p.Container.Command[1:]...)
	cmd.Env = append(os.Environ(), p.Container.Env...)
	// Its own process group, so that a Ctrl-C in the terminal reaches the launcher only, which
	// then stops its containers in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return &startError{err}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return &startError{err}
	}
	if err := cmd.Start(); err != nil {
		return &startError{fmt.Errorf("start %s: %w", p.Container.Command[0], err)}
	}
	log.Info("container started", zap.Int("pid", cmd.Process.Pid), zap.String("log", path))

	var copies sync.WaitGroup
	for stream, r := range map[crilog.Stream]io.Reader{crilog.Stdout: stdout, crilog.Stderr: stderr} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			if err := w.Copy(stream, r); err != nil {
				log.Error("writing the container log", zap.String("stream", string(stream)), zap.Error(err))
				_, _ = io.Copy(io.Discard, r) // keep draining so the container never blocks
			}
		}()
	}
	waited := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-waited:
			case <-time.After(o.StopGrace):
				log.Warn("container did not stop in time; killing it", zap.Duration("grace", o.StopGrace))
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		case <-waited:
		}
	}()
	copies.Wait() // the pipes close when the process (and any child holding them) exits
	err = cmd.Wait()
	close(waited)
	if err != nil {
		return fmt.Errorf("container %s: %w", p.Container.Name, err)
	}
	return nil
}

// Target is one entry of a Prometheus file_sd file.
type Target struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Targets returns the file_sd entries of the pods that expose metrics.
func Targets(pods []Pod) []Target {
	out := []Target{}
	for _, p := range pods {
		if p.MetricsAddr == "" {
			continue
		}
		labels := map[string]string{"namespace": p.Namespace, "pod": p.Name, "container": p.Container.Name}
		for k, v := range p.TargetLabels {
			labels[k] = v
		}
		out = append(out, Target{Targets: []string{p.MetricsAddr}, Labels: labels})
	}
	return out
}

// WriteTargets writes the pods' file_sd file atomically (a reader never sees half a file).
func WriteTargets(path string, pods []Pod) error {
	b, err := json.MarshalIndent(Targets(pods), "", "  ")
	if err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	return nil
}
