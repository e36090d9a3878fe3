#!/usr/bin/env bash
# `make run`: the whole product on one machine. Installs the backends (first time only), starts
# the local stack (Prometheus, Alertmanager, VictoriaLogs, Jaeger, the webhook sink), the demo
# services with their load, and the lookout agent with its built-in local config; prints where
# to look. Ctrl-C stops everything this run started, and nothing else: a backend that was
# already running (from `make stack`, say) is left running.
#
# Extra arguments go to lookout (e.g. --set=...). Addresses come from the environment, with the
# defaults of deploy/local/lib.sh; also DEMO_STOREFRONT_ADDR, DEMO_ORDERS_ADDR,
# DEMO_PAYMENTS_ADDR (default 127.0.0.1:8081-8083), DEMO_RATE (requests/s, default 5),
# LOOKOUT_BIN (default bin/lookout), LOOKOUT_DEMO_BIN (a directory with the demo's programs
# already built). PROMETHEUS_URL, LOKI_URL, LOKI_OTLP_URL and TEMPO_ENDPOINT, when set, send the
# agent's data elsewhere than the local stack.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$top"
t0=$(date +%s)

lookout_bin=${LOOKOUT_BIN:-$top/bin/lookout}
export DEMO_STOREFRONT_ADDR=${DEMO_STOREFRONT_ADDR:-127.0.0.1:8081}
export DEMO_ORDERS_ADDR=${DEMO_ORDERS_ADDR:-127.0.0.1:8082}
export DEMO_PAYMENTS_ADDR=${DEMO_PAYMENTS_ADDR:-127.0.0.1:8083}
DEMO_RATE=${DEMO_RATE:-5}
for v in DEMO_STOREFRONT_ADDR DEMO_ORDERS_ADDR DEMO_PAYMENTS_ADDR; do check_loopback "$v" "${!v}"; done

# What the agent sends where: the local stack unless told otherwise.
export PROMETHEUS_URL=${PROMETHEUS_URL:-http://$PROMETHEUS_ADDR/api/v1/write}
# VictoriaLogs parses a JSON log line into fields; _msg_field names the one holding the message
# (zap and most JSON loggers write "msg", others "message").
export LOKI_URL=${LOKI_URL:-http://$VICTORIALOGS_ADDR/insert/loki/api/v1/push?_msg_field=msg,message}
export LOKI_OTLP_URL=${LOKI_OTLP_URL:-http://$VICTORIALOGS_ADDR/insert/opentelemetry/v1/logs}
export TEMPO_ENDPOINT=${TEMPO_ENDPOINT:-$JAEGER_OTLP_GRPC_ADDR}
# The agent's own listeners (collector/config/local.yaml), overridable with --set arguments.
agent_otlp=127.0.0.1:4317
agent_health=127.0.0.1:13133
for a in "$@"; do
	case "$a" in
	--set=receivers::otlp::protocols::grpc::endpoint=*) agent_otlp=${a##*=} ;;
	--set=extensions::health_check::endpoint=*) agent_health=${a##*=} ;;
	esac
done

# --- 1. install (idempotent: quick once everything is there) and build ---
"$top/deploy/local/install.sh" prometheus alertmanager victorialogs jaeger
demo_bin=${LOOKOUT_DEMO_BIN:-$tools_bin}
if [ -z "${LOOKOUT_DEMO_BIN:-}" ]; then
	say "building the demo (demo/cmd/...)"
	go build -o "$tools_bin/" ./demo/cmd/... || die "go build ./demo/cmd/... failed"
fi
[ -x "$lookout_bin" ] || die "$lookout_bin is missing: run 'make build' (or set LOOKOUT_BIN)"
for p in demo demo-service loadgen webhook-sink; do
	[ -x "$demo_bin/$p" ] || die "$demo_bin/$p is missing"
done

# Refuse early, and clearly, when another process holds one of our ports.
for a in "$DEMO_STOREFRONT_ADDR" "$DEMO_ORDERS_ADDR" "$DEMO_PAYMENTS_ADDR" "$agent_otlp" "$agent_health"; do
	if port_busy "$a"; then
		die "$a is already in use by another process (another 'make run'?); stop it, or set the address (see the top of deploy/local/run.sh)"
	fi
done

# --- 2. stop what we start, in order, on Ctrl-C, on TERM and on any failure ---
started_stack=""
demo_pid=""
agent_pid=""
stopping=""
stop_all() {
	[ -z "$stopping" ] || return 0
	stopping=1
	trap '' INT TERM
	echo >&2
	say "stopping what this run started"
	# The demo first (its services flush their last spans to the agent), then the agent (it
	# flushes to the backends), then the backends this run started.
	stop_pid demo "$demo_pid"
	stop_pid lookout "$agent_pid"
	if [ -n "$started_stack" ]; then
		# shellcheck disable=SC2086
		"$top/deploy/local/stack.sh" stop $started_stack || true
	fi
	say "stopped"
}
stop_pid() { # stop_pid NAME PID: SIGTERM our own child, SIGKILL after 20 s
	local i
	[ -n "$2" ] && alive "$2" || return 0
	kill -TERM "$2" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$2" || break
		sleep 0.2
	done
	if alive "$2"; then
		say "$1 (pid $2) ignored SIGTERM for 20s; killing it"
		kill -KILL "$2" 2>/dev/null || true
	fi
	wait "$2" 2>/dev/null || true
	say "$1 stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

# --- 3. the backends ---
started_stack=$(LOOKOUT_DEMO_BIN=$demo_bin "$top/deploy/local/stack.sh" start | tr '\n' ' ')

# --- 4. the demo pods and the agent, each in its own session (Ctrl-C reaches this script,
# which stops them in order) ---
mkdir -p "$run/logs"
setsid "$demo_bin/demo" -run-dir "$run" -otlp-endpoint "$agent_otlp" -rate "$DEMO_RATE" \
	-storefront "$DEMO_STOREFRONT_ADDR" -orders "$DEMO_ORDERS_ADDR" -payments "$DEMO_PAYMENTS_ADDR" \
	>>"$run/logs/demo.log" 2>&1 </dev/null &
demo_pid=$!
setsid "$lookout_bin" --config lookout:local "$@" >>"$run/logs/lookout.log" 2>&1 </dev/null &
agent_pid=$!
if ! wait_http "http://$agent_health/" 120 "$agent_pid"; then
	say "lookout did not become healthy at http://$agent_health/; the end of $run/logs/lookout.log:"
	tail -n 30 "$run/logs/lookout.log" >&2
	exit 1
fi
alive "$demo_pid" || {
	tail -n 30 "$run/logs/demo.log" >&2
	die "the demo exited at once; see above"
}

# --- 5. where to look ---
cat <<EOF

Lookout is running (ready in $(($(date +%s) - t0)) s). Everything listens on loopback; data and logs are in $run.

  Prometheus      http://$PROMETHEUS_ADDR/graph       (UI and API; remote write from the agent, rules from alerts/generated/)
  Alertmanager    http://$ALERTMANAGER_ADDR/api/v2/alerts  (API only: Debian's package has no web UI; or amtool --alertmanager.url=http://$ALERTMANAGER_ADDR alert)
  Logs            http://$VICTORIALOGS_ADDR/select/vmui/  (VictoriaLogs UI; query API /select/logsql/query)
  Traces          http://$JAEGER_QUERY_ADDR/api/services  (Jaeger's API only: a Go-built Jaeger has no UI assets)
  Webhook sink    http://$SINK_ADDR/received         (what Alertmanager sent to "Slack" and "PagerDuty")
  Agent           health http://$agent_health/  OTLP $agent_otlp  log $run/logs/lookout.log
  Demo            storefront http://$DEMO_STOREFRONT_ADDR  orders http://$DEMO_ORDERS_ADDR  payments http://$DEMO_PAYMENTS_ADDR
                  load: $DEMO_RATE checkouts/s; pod logs under $run/pods, scrape targets in $run/targets/demo.json

Try:
  curl -s 'http://$PROMETHEUS_ADDR/api/v1/query' --data-urlencode 'query=sum by (service_name, code) (rate(http_requests_total[1m]))'
  curl -s 'http://$PROMETHEUS_ADDR/api/v1/query' --data-urlencode 'query=sum by (service_name) (rate({__name__=~"traces_span_metrics_calls(_total)?"}[1m]))'
  curl -s 'http://$VICTORIALOGS_ADDR/select/logsql/query' --data-urlencode 'query=_time:5m service_name:payments "payment charged"' --data-urlencode 'limit=3'
  curl -s 'http://$VICTORIALOGS_ADDR/select/logsql/query' --data-urlencode 'query=_time:5m level:error | stats by (service_name) count()'
  curl -s 'http://$JAEGER_QUERY_ADDR/api/services'
  curl -s 'http://$JAEGER_QUERY_ADDR/api/traces?service=storefront&limit=1'
  # make payments fail 30% of requests, 200ms slower, then watch the error rate and the alerts:
  curl -s -X PUT 'http://$DEMO_PAYMENTS_ADDR/fault' -d '{"error_ratio":0.3,"latency":"200ms"}'
  curl -s -X DELETE 'http://$DEMO_PAYMENTS_ADDR/fault'
  curl -s 'http://$SINK_ADDR/received?kind=pagerduty'

Ctrl-C stops everything this run started.
EOF
say "ready"

# --- 6. until Ctrl-C, or until the agent or the demo ends on its own ---
while alive "$agent_pid" && alive "$demo_pid"; do
	sleep 1 &
	wait $! || true
done
for p in "lookout $agent_pid lookout.log" "demo $demo_pid demo.log"; do
	set -- $p
	if ! alive "$2"; then
		say "$1 exited on its own; the end of $run/logs/$3:"
		tail -n 20 "$run/logs/$3" >&2
	fi
done
exit 1
