#!/usr/bin/env bash
# Accord's main job, end to end on the real stack: install what is missing, bring the stack up, run the
# event archive, let agents publish a small commerce story, and print a report of what the platform saw.
# (The reference agents and owners of later issues will join this story.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ACCORD_ROOT"

bash scripts/setup.sh
source scripts/env.sh # again: setup.sh may just have installed Node 24 into .accord/node
bash scripts/accord up
accord() { bash scripts/accord "$@"; }

# The demo's own pipelines may hold checkpoints from an earlier stack (a broker with new storage, while
# Postgres kept its tables). Pipelines refuse such partitions; the demo rebinds its own, visibly and recorded.
for group in $(accord lag --json 2>/dev/null | node -e '
  const text = require("fs").readFileSync(0, "utf8");
  if (!text.trim()) { console.error("[demo] could not read the pipelines positions (accord lag): not rebinding"); process.exit(0); }
  const rows = JSON.parse(text);
  const mine = (g) => g === "accord-archive" || g.startsWith("features.");
  const stale = rows.filter((r) => mine(r.group) && (r.haltedReason || r.verdict === "identity-changed" || r.verdict === "out-of-range"));
  process.stdout.write([...new Set(stale.map((r) => r.group))].join(" "));
' || true); do
  echo "[demo] $group: checkpoints from another log; rebinding to this stack from earliest"
  accord checkpoints rebind "$group" --from earliest
done

mkdir -p .accord/demo
node --disable-warning=TimeoutNegativeWarning services/archive/dist/main.js > .accord/demo/archive.log 2>&1 &
archive=$!
node --disable-warning=TimeoutNegativeWarning services/features/dist/main.js > .accord/demo/features.log 2>&1 &
features=$!
trap 'kill -TERM $archive $features 2>/dev/null; wait $archive $features 2>/dev/null || true' EXIT

run="$(date +%s)"
orders=("demo-$run-1" "demo-$run-2" "demo-$run-3")
echo
echo "== agents publish a commerce story (3 orders, 4 events each) =="
for i in 0 1 2; do
  o="${orders[$i]}"
  accord publish commerce.order.events --type OrderPlaced --entity "$o" --producer checkout \
    --data "{\"orderId\":\"$o\",\"customerId\":\"c-$i\",\"lines\":[{\"sku\":\"sku-$i\",\"quantity\":1,\"unitPriceCents\":2500}],\"totalCents\":2500,\"currency\":\"EUR\"}"
  accord publish commerce.order.events --type DiscountApproved --entity "$o" --producer pricing-agent \
    --data "{\"orderId\":\"$o\",\"percent\":$((10 * (i + 1))),\"approvedBy\":\"pricing-agent\"}"
  accord publish commerce.stock_item.events --type StockReserved --entity "sku-$i" --producer inventory-owner \
    --data "{\"sku\":\"sku-$i\",\"orderId\":\"$o\",\"quantity\":1,\"onHandAfter\":9,\"reservedAfter\":1}"
  accord publish commerce.order.events --type OrderShipped --entity "$o" --producer fulfillment-agent \
    --data "{\"orderId\":\"$o\",\"carrier\":\"dhl\",\"trackingNumber\":\"trk-$i\"}"
done

echo
echo "== waiting for the archive to record them =="
for _ in $(seq 1 120); do
  n=$(accord events order "${orders[2]}" --json | node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(0,"utf8")).length))')
  # Every feature view version runs as its own group (features.<view>.v<version>).
  lag=$(accord lag --json 2>/dev/null | node -e 'const rows = JSON.parse(require("fs").readFileSync(0,"utf8")).filter((r) => r.group.startsWith("features.")); process.stdout.write(String(rows.length === 0 ? 1 : rows.reduce((s, r) => s + r.lag, 0)))' || echo 1)
  [ "$n" -ge 3 ] && [ "$lag" = 0 ] && break
  sleep 0.5
done

echo
echo "===================== Accord report ====================="
echo
echo "-- stack --"
accord status || true
echo
echo "-- history of ${orders[0]} (from the archive, oldest first) --"
accord events order "${orders[0]}"
echo
echo "-- history of stock item sku-0 --"
accord events stock_item sku-0 --limit 5
echo
echo "-- features every agent reads (value, event time, staleness) --"
node -e '
const { FeatureReader } = require("./packages/sdk/dist");
const { COMMERCE_VIEWS } = require("./packages/reference/dist");
(async () => {
  const reader = new FeatureReader({ views: COMMERCE_VIEWS });
  const show = (entity, id, names, f) => names.forEach((n) => {
    const v = f[n];
    console.log(`  ${entity} ${id} ${n.padEnd(22)} ${"missing" in v ? `missing (${v.reason})` : `${v.value}  as of ${new Date(v.asOf).toISOString()}  staleness ${(v.staleness / 1000).toFixed(1)}s`}`);
  });
  show("customer", "c-0", ["order_count", "lifetime_value_cents", "orders_last_hour", "risk_score"], await reader.get("customer", "c-0", ["order_count", "lifetime_value_cents", "orders_last_hour", "risk_score"]));
  show("stock_item", "sku-0", ["stock_available"], await reader.get("stock_item", "sku-0", ["stock_available"]));
  reader.close();
})();
'
echo
echo "-- pipeline positions (the archive's checkpoints) --"
accord lag accord-archive --stuck-after 600 | awk 'NR == 1 || $6 != "0"' || true
echo
echo "-- schemas in the registry --"
accord schemas list | grep -E '^(SUBJECT|accord\.commerce)' || true
echo
echo "The stack keeps running. Stop it with: scripts/accord down"
