#!/usr/bin/env bash
# Checks the main module for known-vulnerable code that it calls, with govulncheck, offline.
#
# vuln.go.dev is not reachable from these machines, but the module proxy serves
# golang.org/x/vulndb, whose data/osv holds every Go vulnerability entry. This script downloads
# that module at a pinned version, turns it into the database layout govulncheck reads
# (internal/vulndb; built once per version under .lookout-run/vulndb/), and runs
# `govulncheck -db file://... ./...`. See docs/security.md.
#
#   internal/tools/govulncheck.sh [govulncheck arguments; default ./...]
#   GOVULNDB=https://vuln.go.dev internal/tools/govulncheck.sh   # the live database instead
#
# It exits 3 (govulncheck's code for it) when the code calls a vulnerable function that
# internal/tools/govulncheck-accepted.txt does not excuse, and 1 when an entry there is no longer
# needed: both fail `make test`. Vulnerable packages or modules whose vulnerable code is never
# called are counted, not failed (`govulncheck -show verbose` lists them).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

# The database's date is this pseudo-version's timestamp: bump it (a version the proxy serves,
# see docs/security.md) to learn of newer vulnerabilities.
vulndb_version=v0.0.0-20261105234957-e22db6528018

"$top/deploy/local/install.sh" govulncheck
govulncheck=$top/.lookout-run/bin/govulncheck

db=${GOVULNDB:-}
if [ -z "$db" ]; then
	dir=$top/.lookout-run/vulndb/$vulndb_version
	if [ ! -f "$dir/index/modules.json" ]; then
		# Outside the main module, so that its go.mod is not consulted or touched.
		tmp=$(mktemp -d)
		src=$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@$vulndb_version" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		rmdir "$tmp"
		[ -d "$src/data/osv" ] || {
			echo "govulncheck.sh: golang.org/x/vulndb@$vulndb_version has no data/osv (at '$src')" >&2
			exit 1
		}
		rm -rf "$dir.tmp"
		go run ./internal/vulndb/cmd/lookout-vulndb -src "$src" -version "$vulndb_version" -out "$dir.tmp"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
	fi
	db=file://$dir
fi

echo "govulncheck.sh: $("$govulncheck" -db "$db" -version 2>/dev/null | sed -n 's/^Scanner: //p' | head -1) against $db" >&2
[ $# -gt 0 ] || set -- ./...
out=$top/.lookout-run/govulncheck.json
"$govulncheck" -db "$db" -format json "$@" >"$out" || {
	echo "govulncheck.sh: govulncheck failed (exit $?)" >&2
	exit 1
}
rc=0
go run ./internal/vulndb/cmd/lookout-vulngate -accepted internal/tools/govulncheck-accepted.txt <"$out" || rc=$?
case $rc in
0) ;;
3) echo "govulncheck.sh: the code calls known-vulnerable functions (VULNERABLE above; every call path: $govulncheck -db $db -show traces $*): move the module to its fixed version, or, with a reason and an end date, add it to internal/tools/govulncheck-accepted.txt" >&2 ;;
*) echo "govulncheck.sh: see above (exit $rc)" >&2 ;;
esac
exit $rc
