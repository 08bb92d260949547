#!/usr/bin/env bash
# Runs a benchmark from bench/ against the running stack (scripts/accord up first):
#   scripts/bench.sh pipeline-throughput [--events 50000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ACCORD_ROOT"
name="${1:-}"
if [ -z "$name" ] || [ ! -f "bench/$name.ts" ]; then
  echo "usage: scripts/bench.sh <name> [options]; benchmarks: $(ls bench/*.ts | xargs -n1 basename | sed 's/\.ts$//' | tr '\n' ' ')" >&2
  exit 2
fi
shift
exec node --disable-warning=TimeoutNegativeWarning --disable-warning=ExperimentalWarning --disable-warning=MODULE_TYPELESS_PACKAGE_JSON "bench/$name.ts" "$@"
