# Shared by deploy/local/stack.sh and run.sh (sourced, not run): addresses of the local stack,
# the run directory, and helpers that start and stop processes by pid file, never by name.
# Every address can be overridden from the environment (the e2e test does, with free ports);
# every one must be on loopback.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export LOOKOUT_RUN_DIR=${LOOKOUT_RUN_DIR:-$top/.lookout-run}
mkdir -p "$LOOKOUT_RUN_DIR"
LOOKOUT_RUN_DIR=$(cd "$LOOKOUT_RUN_DIR" && pwd)
run=$LOOKOUT_RUN_DIR
# Tools that install.sh builds always land in the checkout's .lookout-run/bin.
tools_bin=$top/.lookout-run/bin

export PROMETHEUS_ADDR=${PROMETHEUS_ADDR:-127.0.0.1:9090}
export ALERTMANAGER_ADDR=${ALERTMANAGER_ADDR:-127.0.0.1:9093}
export VICTORIALOGS_ADDR=${VICTORIALOGS_ADDR:-127.0.0.1:9428}
export JAEGER_OTLP_GRPC_ADDR=${JAEGER_OTLP_GRPC_ADDR:-127.0.0.1:14317}
export JAEGER_QUERY_ADDR=${JAEGER_QUERY_ADDR:-127.0.0.1:16686}
export JAEGER_QUERY_GRPC_ADDR=${JAEGER_QUERY_GRPC_ADDR:-127.0.0.1:16685}
export SINK_ADDR=${SINK_ADDR:-127.0.0.1:9097}

say() { echo "$(basename "$0"): $*" >&2; }
die() {
	say "$*"
	exit 1
}

# check_loopback NAME ADDR: refuse anything but 127.0.0.0/8 or localhost.
check_loopback() {
	case "$2" in
	127.*:[0-9]* | localhost:[0-9]*) ;;
	*) die "$1=$2: not a loopback host:port (use 127.0.0.1:PORT)" ;;
	esac
}
for v in PROMETHEUS_ADDR ALERTMANAGER_ADDR VICTORIALOGS_ADDR JAEGER_OTLP_GRPC_ADDR JAEGER_QUERY_ADDR JAEGER_QUERY_GRPC_ADDR SINK_ADDR; do
	check_loopback "$v" "${!v}"
done

# port_busy ADDR: true when something accepts connections on ADDR.
port_busy() {
	(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

pidfile() { echo "$run/pids/$1.pid"; }

# alive PID: the process exists and is not a zombie (a child of this shell that exited).
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# running NAME EXE: prints the pid when NAME's pid file names a live process running EXE with
# this run directory in its arguments (so a recycled pid is never taken for ours).
running() {
	local f pid cmdline
	f=$(pidfile "$1")
	[ -f "$f" ] || return 1
	pid=$(cat "$f")
	[ -n "$pid" ] && alive "$pid" || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case "$cmdline" in *"$2"*"$run"*) ;; *) return 1 ;; esac
	echo "$pid"
}

# start_proc NAME HEALTH_URL EXE ARGS...: starts EXE with ARGS in its own session (a Ctrl-C in the terminal
# does not reach it; whoever started it stops it), logs to $run/logs/NAME.log, waits for
# HEALTH_URL. Prints NAME on stdout when it started it; nothing when it was already running.
start_proc() {
	local name=$1 health=$2 exe=$3 pid
	shift 3
	mkdir -p "$run/pids" "$run/logs"
	if pid=$(running "$name" "$exe"); then
		say "$name already running (pid $pid)"
		return 0
	fi
	rm -f "$(pidfile "$name")"
	setsid "$exe" "$@" >>"$run/logs/$name.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$(pidfile "$name")"
	if ! wait_http "$health" 60 "$pid"; then
		say "$name did not become ready at $health; the end of $run/logs/$name.log:"
		tail -n 20 "$run/logs/$name.log" >&2
		stop_proc "$name" "$exe"
		return 1
	fi
	say "$name started (pid $pid), log $run/logs/$name.log"
	echo "$name"
}

# wait_http URL SECONDS PID: polls URL until it answers 2xx; fails early if PID exits.
wait_http() {
	local i
	for ((i = 0; i < $2 * 5; i++)); do
		if curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; then return 0; fi
		alive "$3" || return 1
		sleep 0.2
	done
	return 1
}

# stop_proc NAME EXE: SIGTERM, up to 20 s, then SIGKILL; only the process in NAME's pid file, and
# only if it still runs EXE.
stop_proc() {
	local name=$1 exe=$2 pid i
	if ! pid=$(running "$name" "$exe"); then
		rm -f "$(pidfile "$name")"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.2
	done
	if alive "$pid"; then
		say "$name (pid $pid) ignored SIGTERM for 20s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$(pidfile "$name")"
	say "$name stopped"
}
