#!/usr/bin/env bash
# The whole test suite, from a fresh clone: install (Node 24, npm packages, Kafka jars), build, lint,
# type-check the tests, then unit + integration + e2e tests against the real stack, then the short fault suite.
# A broker this run started is stopped at the end; one that was already running is left alone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ACCORD_ROOT"

bash scripts/setup.sh
source scripts/env.sh

echo "[test] lint (biome) and type-check the tests"
npx biome check .
npx tsc -p tsconfig.tests.json

kafka_was_running=no
if bash scripts/accord status --json 2>/dev/null \
  | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));process.exit(s.some(c=>c.component==="kafka"&&c.managedBy==="accord"&&c.healthy)?0:1)'; then
  kafka_was_running=yes
fi
stop_stack() {
  if [ "$kafka_was_running" = no ]; then bash scripts/accord down || true; fi
}
trap stop_stack EXIT

bash scripts/accord up
export NODE_OPTIONS="--disable-warning=TimeoutNegativeWarning ${NODE_OPTIONS:-}"
# Two test files at a time (ACCORD_TEST_WORKERS): most of a test's time is waiting on Kafka and Postgres,
# and every test is isolated by its own topics, groups, schema and prefix. The fault suites then run on
# three-broker clusters of their own (scripts/test-faults.sh: the broker-killing ones alone, the others two
# files at a time; about 9 minutes one at a time here, about 6.5 this way).
status=0
echo "[test] jest: unit, integration, e2e"
npx jest --ci --maxWorkers="${ACCORD_TEST_WORKERS:-2}" "$@" --selectProjects unit integration e2e || status=$?
echo "[test] jest: faults (short; ACCORD_FAULTS=full for the long run)"
bash scripts/test-faults.sh "$@" || status=$?
exit "$status"
