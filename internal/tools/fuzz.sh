#!/usr/bin/env bash
# Runs every Fuzz* target of the main module for a short, fixed time each (bounded fuzzing, as
# `make test` does). Targets are found by grepping `^func Fuzz` in the module's test files, so a
# new one is run without being listed here.
#
#   internal/tools/fuzz.sh                  # every target; FUZZ_BUDGET seconds (default 60) shared
#                                           # among them, at least 3 s each
#   FUZZTIME=2m internal/tools/fuzz.sh FuzzParse   # only targets whose name matches, 2m each
#
# Each package is also compiled once with fuzzing instrumentation (~10-20 s a package, cached
# afterwards): with 10 targets in 5 packages `make test` spends about 2.5 minutes here.
#
# A target that fails (a panic or a broken property) fails the script. Go then has written the
# input into <package>/testdata/fuzz/<Target>/<hash>: the script names it. Commit it with the fix;
# from then on plain `go test` replays it as a regression case.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
only=${1:-}

# The module's package directories (nested modules such as internal/tools are not in ./...).
mapfile -t pkgdirs < <(go list -f '{{.Dir}}' ./...)
declare -A inmodule
for d in "${pkgdirs[@]}"; do inmodule[$d]=1; done

targets=()
while IFS=: read -r file _ line; do
	name=${line#func }
	name=${name%%(*}
	dir=$(cd "$(dirname "$file")" && pwd)
	[ -n "${inmodule[$dir]:-}" ] || continue
	[ -z "$only" ] || [[ $name =~ $only ]] || continue
	targets+=("${dir#"$top"/}:$name")
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '^\./\.lookout-run/' | sort)

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no Fuzz targets found${only:+ matching $only}" >&2
	exit 1
fi

fuzztime=${FUZZTIME:-}
if [ -z "$fuzztime" ]; then
	each=$((${FUZZ_BUDGET:-60} / ${#targets[@]}))
	fuzztime=$((each < 3 ? 3 : each))s
fi

failed=()
start=$SECONDS
for t in "${targets[@]}"; do
	dir=${t%%:*}
	name=${t##*:}
	before=$(ls "$dir/testdata/fuzz/$name" 2>/dev/null | sort || true)
	echo "fuzz: $name in ./$dir for $fuzztime" >&2
	if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "./$dir" >"/tmp/fuzz.$$.log" 2>&1; then
		cat "/tmp/fuzz.$$.log" >&2
		after=$(ls "$dir/testdata/fuzz/$name" 2>/dev/null | sort || true)
		new=$(comm -13 <(echo "$before") <(echo "$after") | sed "s|^|$dir/testdata/fuzz/$name/|")
		echo "fuzz: $name FAILED; the failing input: ${new:-(none written: see the log above)}" >&2
		failed+=("$name")
	else
		tail -n 3 "/tmp/fuzz.$$.log" | grep -E 'elapsed|^ok' >&2 || true
	fi
done
rm -f "/tmp/fuzz.$$.log"

echo "fuzz: ${#targets[@]} targets, $((SECONDS - start)) s" >&2
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}" >&2
	exit 1
fi
