#!/usr/bin/env bash
# `make bench`: drives POST /orders through the gateway of a running stack (`make up` first)
# with wrk, and prints confirmed orders/s and latency percentiles at a few concurrencies.
# Knobs: BENCH_SECONDS (default 10), BENCH_LEVELS (default "16 64"), GATEWAY (default the one
# `make up` starts, from `scripts/stack.sh env`: http://127.0.0.1:8080 unless STACK or PORT_BASE
# say otherwise). Every order is for one unit of an item with stock for the whole run,
# so every answer should be a 201; the script says so if not. The gateway's rate limit on
# POST /orders applies: start the stack with a higher GATEWAY_ORDER_RATE to measure past it.
set -euo pipefail
cd "$(dirname "$0")/.."
gw=${GATEWAY:-$(scripts/stack.sh env | sed -n 's/^GATEWAY_URL=//p')}
seconds=${BENCH_SECONDS:-10}
levels=${BENCH_LEVELS:-16 64}
set -a
# shellcheck disable=SC1090
source "$([ -f .env ] && echo .env || echo .env.example)"
set +a
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
curl -fsS "$gw/healthz" >/dev/null || { echo "no gateway at $gw: run make up first" >&2; exit 1; }

item="bench-$(date +%s)"
curl -fsS -o /dev/null -X POST "$gw/items" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d "{\"id\":\"$item\",\"name\":\"Bench\",\"stock\":1000000000,\"low_stock_threshold\":0}"
curl -fsS -o /dev/null -X PUT "$gw/price/$item" -H "Authorization: Bearer $ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d '{"price_cents":100,"currency":"EUR"}'
script=$(mktemp --suffix=.lua)
trap 'rm -f "$script"' EXIT
cat >"$script" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"item_id":"$item","quantity":1}'
LUA

echo "POST /orders through the gateway ($gw), ${seconds}s per level, $(nproc) cores"
printf '  %11s  %10s  %9s  %9s  %9s  %s\n' connections orders/s p50 p90 p99 "non-2xx"
for c in $levels; do
  out=$(wrk -t 2 -c "$c" -d "${seconds}s" --latency -s "$script" "$gw/orders")
  rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out"); p90=$(awk '$1 == "90%" {print $2}' <<<"$out"); p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '  %11s  %10s  %9s  %9s  %9s  %s\n' "$c" "$rate" "$p50" "$p90" "$p99" "${bad:-0}"
done
echo "  reproduce: make up && make bench   (BENCH_SECONDS, BENCH_LEVELS, GATEWAY)"
