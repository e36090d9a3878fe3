#!/usr/bin/env bash
# `make run`: the lookout agent with its built-in local config, needing no backend.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
export LOOKOUT_RUN_DIR=${LOOKOUT_RUN_DIR:-$top/.lookout-run}
mkdir -p "$LOOKOUT_RUN_DIR"
echo "lookout: local agent; OTLP on 127.0.0.1:4317 (gRPC) and :4318 (HTTP), health on http://127.0.0.1:13133/, metrics on http://127.0.0.1:8888/metrics" >&2
exec "$top/bin/lookout" --config lookout:local "$@"
