// Command demo runs the demo microservices (storefront → orders → payments) and the load
// generator as pods of a pretend Kubernetes node: their logs in CRI format under
// $LOOKOUT_RUN_DIR/pods, their /metrics as a file_sd target in $LOOKOUT_RUN_DIR/targets/demo.json,
// their traces over OTLP to the agent. Ctrl-C (SIGINT or SIGTERM) stops them all.
//
//	demo -run-dir .lookout-run -rate 5
package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/lookoutdev/lookout/demo/launcher"
	"github.com/lookoutdev/lookout/demo/loadgen"
	"github.com/lookoutdev/lookout/demo/service"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type flags struct {
	runDir, namespace, binDir, otlp string
	addrs                           map[service.Role]*string
	rate                            float64
	duration                        time.Duration
	declineRatio                    float64
	logMaxSize                      int64
	logMaxFiles                     int
}

func run(args []string) error {
	var f flags
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&f.runDir, "run-dir", envOr("LOOKOUT_RUN_DIR", ".lookout-run"), "the agent's run directory (pods/ and targets/ go there)")
	fs.StringVar(&f.namespace, "namespace", "demo", "the pods' namespace")
	fs.StringVar(&f.binDir, "bin-dir", "", "directory of demo-service and loadgen (default: this program's directory)")
	fs.StringVar(&f.otlp, "otlp-endpoint", "127.0.0.1:4317", "OTLP gRPC host:port of the agent")
	f.addrs = map[service.Role]*string{}
	for i, r := range service.Roles() {
		f.addrs[r] = fs.String(string(r), "127.0.0.1:"+strconv.Itoa(8081+i), "loopback host:port of "+string(r))
	}
	fs.Float64Var(&f.rate, "rate", 5, "load: storefront requests per second (0: no load generator)")
	fs.DurationVar(&f.duration, "duration", 2*time.Hour, "load: how long it runs (at most 24h)")
	fs.Float64Var(&f.declineRatio, "decline-ratio", 0.02, "share of payments declined")
	fs.Int64Var(&f.logMaxSize, "log-max-size", 10<<20, "rotate a container log past this many bytes")
	fs.IntVar(&f.logMaxFiles, "log-max-files", 5, "container log files kept, the current one included")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if f.binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("-bin-dir: %w", err)
		}
		f.binDir = filepath.Dir(exe)
	}
	pods, err := f.pods()
	if err != nil {
		return err
	}

	log := service.NewLogger(os.Stderr, os.Stderr, zapcore.InfoLevel).With(zap.String("component", "demo"))
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	runDir, err := filepath.Abs(f.runDir)
	if err != nil {
		return fmt.Errorf("-run-dir: %w", err)
	}
	log.Info("starting the demo pods", zap.String("run_dir", runDir), zap.Int("pods", len(pods)))
	return launcher.Run(ctx, launcher.Options{
		RunDir: runDir, Pods: pods, LogMaxSize: f.logMaxSize, LogMaxFiles: f.logMaxFiles, LogCompress: true, Logger: log,
	})
}

// pods describes the three services and the load generator as pods.
func (f flags) pods() ([]launcher.Pod, error) {
	var errs []error
	for _, r := range service.Roles() {
		if err := service.CheckLoopback(*f.addrs[r]); err != nil {
			errs = append(errs, fmt.Errorf("-%s: %w", r, err))
		}
	}
	if err := service.CheckLoopback(f.otlp); err != nil {
		errs = append(errs, fmt.Errorf("-otlp-endpoint: %w", err))
	}
	if f.rate < 0 || f.rate > loadgen.MaxRate {
		errs = append(errs, fmt.Errorf("-rate: %v is outside [0, %d]", f.rate, loadgen.MaxRate))
	}
	if f.rate > 0 && (f.duration <= 0 || f.duration > loadgen.MaxDuration) {
		errs = append(errs, fmt.Errorf("-duration: %s is outside (0s, %s]", f.duration, loadgen.MaxDuration))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	var pods []launcher.Pod
	for _, r := range service.Roles() {
		name := podName(f.namespace, string(r))
		uid := launcher.PodUID(f.namespace, name)
		args := []string{filepath.Join(f.binDir, "demo-service"), "-service", string(r), "-listen", *f.addrs[r],
			"-otlp-endpoint", f.otlp}
		if d := r.Downstream(); d != "" {
			args = append(args, "-downstream", "http://"+*f.addrs[d])
		}
		if r == service.Payments {
			args = append(args, "-decline-ratio", strconv.FormatFloat(f.declineRatio, 'f', -1, 64))
		}
		pods = append(pods, launcher.Pod{
			Namespace: f.namespace, Name: name, UID: uid,
			Container: launcher.Container{Name: string(r), Command: args, Env: []string{
				// What a pod spec passes through the downward API.
				"OTEL_RESOURCE_ATTRIBUTES=" + strings.Join([]string{
					"k8s.namespace.name=" + f.namespace, "k8s.pod.name=" + name, "k8s.pod.uid=" + uid,
					"k8s.container.name=" + string(r), "service.namespace=" + f.namespace,
				}, ","),
			}},
			MetricsAddr:  *f.addrs[r],
			TargetLabels: map[string]string{"service_name": string(r)},
		})
	}
	if f.rate > 0 {
		name := podName(f.namespace, "loadgen")
		pods = append(pods, launcher.Pod{
			Namespace: f.namespace, Name: name, RestartPolicy: launcher.RestartOnFailure,
			Container: launcher.Container{Name: "loadgen", Command: []string{
				filepath.Join(f.binDir, "loadgen"), "-target", "http://" + *f.addrs[service.Storefront],
				"-rate", strconv.FormatFloat(f.rate, 'f', -1, 64), "-duration", f.duration.String(),
			}},
		})
	}
	return pods, nil
}

// podName makes a Deployment-style pod name, "<app>-<replicaset hash>-<suffix>", stable for a
// namespace and app so that a second run appends to the same log directory.
func podName(namespace, app string) string {
	h := sha1.Sum([]byte(namespace + "/" + app))
	s := hex.EncodeToString(h[:])
	return app + "-" + s[:10] + "-" + s[10:15]
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
