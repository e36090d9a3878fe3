#!/usr/bin/env bash
# Installs, idempotently, the real backends and tools that `make run` and the tests use.
# Go-built tools land in .lookout-run/bin; Debian packages come from apt.
#
#   deploy/local/install.sh [prometheus|alertmanager|victorialogs|jaeger|helm|govulncheck|all]...
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bin="$top/.lookout-run/bin"
mkdir -p "$bin"

# Pinned versions; docs/versions.md says why.
victorialogs_version=v1.52.1
jaeger_version=v1.76.0 # also in deploy/local/jaeger/go.mod
helm_version=v3.22.0
govulncheck_version=v1.9.0 # internal/tools/govulncheck.sh runs it against an offline database

log() { echo "install: $*" >&2; }

apt_install() { # apt_install <command> <package>
	if command -v "$1" >/dev/null 2>&1; then return; fi
	log "$2 (apt)"
	export DEBIAN_FRONTEND=noninteractive
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y -q "$2" >/dev/null 2>&1 || {
		$sudo apt-get update -q >/dev/null
		$sudo apt-get install -y -q "$2" >/dev/null
	}
}

go_install() { # go_install <binary> <package@version>
	if [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]; then return; fi
	log "$1 ($2)"
	GOBIN="$bin" GOFLAGS=-mod=mod go install "$2"
	echo "$2" >"$bin/.$1.version"
}

install_one() {
	case "$1" in
	prometheus) apt_install promtool prometheus ;;
	alertmanager) apt_install amtool prometheus-alertmanager ;;
	victorialogs) go_install victoria-logs "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$victorialogs_version" ;;
	helm) go_install helm "helm.sh/helm/v3/cmd/helm@$helm_version" ;;
	govulncheck) go_install govulncheck "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version" ;;
	jaeger)
		# Jaeger's go.mod carries a replace directive, so `go install pkg@version` refuses it;
		# a wrapper module (deploy/local/jaeger) pins it and the sarama version it needs.
		if [ -x "$bin/jaeger" ] && [ "$(cat "$bin/.jaeger.version" 2>/dev/null)" = "$jaeger_version" ]; then return; fi
		log "jaeger ($jaeger_version, a cold build takes ~6 minutes)"
		(cd "$top/deploy/local/jaeger" && go build -o "$bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger)
		echo "$jaeger_version" >"$bin/.jaeger.version"
		;;
	all) for c in prometheus alertmanager victorialogs jaeger helm; do install_one "$c"; done ;;
	*)
		echo "install: unknown component $1 (want prometheus, alertmanager, victorialogs, jaeger, helm, govulncheck or all)" >&2
		exit 2
		;;
	esac
}

[ $# -gt 0 ] || set -- all
for c in "$@"; do install_one "$c"; done
