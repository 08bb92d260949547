#!/usr/bin/env bash
# Accord's main job, end to end on the real stack: install what is missing, bring the stack up, run the
# archive, the feature service, the four owners and the log pipeline's three stages as services, deploy the
# commerce agent fleet from its manifests, run the commerce scenario (traffic that provokes the article's
# contradictions), let the independent auditor recount, ship the bundled log sample through the log
# pipeline, print the report, and leave the console running until Ctrl-C.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ACCORD_ROOT"

usage() {
  cat <<'EOF'
Usage: scripts/demo.sh [--duration <s>] [--rate <n>] [--seed <n>] [--keep] [--no-console]

Accord's main job: the stack, the reference commerce fleet (owners of orders, payments, stock items and
customers; agents fulfillment, pricing, risk, support, billing, inventory, personalization), a scenario
that provokes contradictions, an independent auditor, the log pipeline (parse → summarize → detect) over
the bundled sample, a report, and the console.

  --duration <s>   how long the traffic runs (default 60)
  --rate <n>       story steps per second (default 5)
  --seed <n>       the story's seed (default 42)
  --keep           leave the stack, the services and the agents running when it ends
  --no-console     do not start the console at the end (CI=true implies it)
  -h, --help       this help

Ctrl-C stops everything it started, cleanly. Logs: .accord/demo/; the HTML report: .accord/reports/commerce.html
EOF
}

duration=60 rate=5 seed=42 keep=no console=yes
[ "${CI:-}" = true ] && console=no
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="${2:?--duration needs seconds}"; shift 2 ;;
    --rate) rate="${2:?--rate needs a number}"; shift 2 ;;
    --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
    --keep) keep=yes; shift ;;
    --no-console) console=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

bash scripts/setup.sh
source scripts/env.sh # again: setup.sh may just have installed Node 24 into .accord/node
accord() { bash scripts/accord "$@"; }

stack_was_up=no
if accord status --json 2>/dev/null | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));process.exit(s.some(c=>c.component==="kafka"&&c.managedBy==="accord"&&c.healthy)?0:1)'; then
  stack_was_up=yes
fi
accord up

AGENTS=(fulfillment pricing risk support billing inventory personalization)
OWNERS=(order payment stock_item customer)
mkdir -p .accord/demo .accord/reports
pids=()
cleanup() {
  trap - EXIT INT TERM
  [ "$keep" = yes ] && { echo "[demo] --keep: the stack, services and agents keep running (scripts/accord stop ${AGENTS[*]}; scripts/accord down)"; return; }
  echo "[demo] stopping what it started"
  accord stop "${AGENTS[@]}" >/dev/null 2>&1 || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$stack_was_up" = no ] && accord down >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Pipelines of the demo may hold checkpoints from an earlier stack (a broker with new storage while
# Postgres kept its tables): they refuse such partitions; the demo rebinds its own, visibly and recorded.
for group in $(accord lag --json 2>/dev/null | node -e '
  const text = require("fs").readFileSync(0, "utf8");
  if (!text.trim()) process.exit(0);
  const mine = (g) => g === "accord-archive" || g.startsWith("features.") || g.startsWith("owner-") || g.startsWith("agent-") || g.startsWith("log-");
  const stale = JSON.parse(text).filter((r) => mine(r.group) && (r.haltedReason || r.verdict === "identity-changed" || r.verdict === "out-of-range"));
  process.stdout.write([...new Set(stale.map((r) => r.group))].join(" "));
' || true); do
  echo "[demo] $group: checkpoints from another log; rebinding to this stack from earliest"
  accord checkpoints rebind "$group" --from earliest
done

# Services run with Accord's service profile (bounded memory: packages/sdk/src/config/service-profile.ts);
# ACCORD_SERVICE_NODE_OPTIONS overrides it ("" for V8's defaults).
# The feature service has a heap profile of its own (SERVICE_HEAP_PROFILES).
flags_of() { node -e 'process.stdout.write(require("@accord/sdk").serviceNodeFlags(process.env, process.argv[1]).join(" "))' "$1"; }
start() { # name, service, then the command: runs it in the background with its log in .accord/demo/<name>.log
  local name="$1" service="$2"; shift 2
  local node_flags
  read -r -a node_flags <<< "$(flags_of "$service")"
  node --disable-warning=TimeoutNegativeWarning "${node_flags[@]}" "$@" > ".accord/demo/$name.log" 2>&1 &
  pids+=("$!")
}
start archive archive services/archive/dist/main.js
start features features services/features/dist/main.js
for e in "${OWNERS[@]}"; do start "owner-$e" "owner-$e" services/owners/dist/main.js --entity "$e"; done
for stage in parse summarize detect; do start "logs-$stage" "logs-$stage" services/logs/dist/main.js "$stage"; done
for name in archive features "${OWNERS[@]/#/owner-}" logs-parse logs-summarize logs-detect; do
  for _ in $(seq 1 120); do grep -q '"msg":"running"' ".accord/demo/$name.log" 2>/dev/null && break; sleep 0.5; done
  grep -q '"msg":"running"' ".accord/demo/$name.log" || { echo "[demo] $name did not start: see .accord/demo/$name.log" >&2; tail -5 ".accord/demo/$name.log" >&2; exit 1; }
done
echo "[demo] services running: archive, features, owners of ${OWNERS[*]}; the log pipeline (parse, summarize, detect)"

manifests=()
for a in "${AGENTS[@]}"; do manifests+=("packages/reference/manifests/commerce/$a.yaml"); done
accord deploy "${manifests[@]}"

status=0
node --disable-warning=TimeoutNegativeWarning services/commerce/dist/main.js \
  --duration "$duration" --rate "$rate" --seed "$seed" --html .accord/reports/commerce.html || status=$?

echo
echo "[demo] the log pipeline: shipping the bundled sample (once per stack), then its report"
logs_status=0
node --disable-warning=TimeoutNegativeWarning services/logs/dist/main.js ingest --once > /dev/null || logs_status=$?
echo
node --disable-warning=TimeoutNegativeWarning services/logs/dist/main.js report || logs_status=$?
[ "$status" -eq 0 ] && status=$logs_status

echo
accord ps || true
if [ "$status" -ne 0 ]; then echo "[demo] the auditor or the report found a problem (exit $status)" >&2; fi
if [ "$console" = yes ]; then
  echo
  echo "[demo] the console: Fleet, Conflicts, Lineage, Escalations… (Ctrl-C stops everything)"
  accord console --port "${ACCORD_CONSOLE_PORT:-8090}" || true
fi
exit "$status"
