#!/usr/bin/env bash
# Redis' own limit for one order's reservation: redis-benchmark running inventory-svc's real
# reserve script (lua/item_prelude.lua followed by lua/reserve.lua, the text inventory-svc loads,
# as inventory-svc/benches/reservations.rs does) with EVALSHA and the service's key and argument
# shape: one unit of an item with plenty of stock, a fresh reservation id per call (the
# benchmark's __rand_int__), and the stock_changed event the script appends to the item's outbox
# stream. Prints reservations/s on stdout (see scripts/bench/lib.sh).
#
# Its keys have a prefix of their own (sioms-bench-tool-<pid>:), never a stack's, and are
# deleted at the end. Knobs: BENCH_SECONDS (default 10), BENCH_REDIS_CLIENTS (default 50,
# redis-benchmark's default), REDIS_URL (default the stack's).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
bench_stack_env
need redis-benchmark redis-tools

seconds=${BENCH_SECONDS:-10}
clients=${BENCH_REDIS_CLIENTS:-50}
# redis://[user:password@]host:port[/db] -> host, port
hostport=${REDIS_URL#*://}
hostport=${hostport##*@}
hostport=${hostport%%/*}
host=${hostport%:*} port=${hostport##*:}
[ "$port" != "$host" ] || port=6379
cli() { redis-cli -h "$host" -p "$port" "$@"; }

prefix="sioms-bench-tool-$$:"
# All five keys carry the item's hash tag, as the service's do (one cluster slot).
item="${prefix}item:{bench}"
cleanup() { cli --scan --pattern "${prefix}*" | xargs -r redis-cli -h "$host" -p "$port" del >/dev/null || true; }
trap cleanup EXIT

sha=$(cat lua/item_prelude.lua lua/reserve.lua | cli -x script load)
cli hset "$item" name Bench stock 1000000000 held 0 sold 0 provisioned 1000000000 threshold 0 \
  low_armed 1 version 0 >/dev/null
now=$(date +%s%3N)
# KEYS: item, holds, expiry, done, outbox. ARGV: item id, now (ms), retention of final records
# (7 days), two event ids, reservation id, quantity, hold time (10 min), stock for an unknown
# item ('' = refuse), its threshold.
call=(EVALSHA "$sha" 5 "$item" "$item:holds" "$item:expiry" "$item:done" "$item:outbox"
  bench "$now" 604800000 0190a0a0-0000-7000-8000-000000000001 0190a0a0-0000-7000-8000-000000000002)
# One call by hand first: the script must answer "held" and append one event.
reply=$(cli "${call[@]}" check-0 1 600000 "" 0 | sed -n 2p)
[ "$reply" = held ] || { say "reserve.lua answered '$reply', not 'held'"; exit 1; }

run() { # requests: prints the rate
  redis-benchmark -h "$host" -p "$port" -c "$clients" -n "$1" -r 1000000000 --csv \
    "${call[@]}" "r:__rand_int__" 1 600000 "" 0 |
    awk -F'","' 'NR > 1 && $2 + 0 > 0 { print $2 + 0; exit }'
}
# A short run to warm up and to size the measured one to about BENCH_SECONDS.
warm=$(run 20000)
requests=$(awk -v r="$warm" -v s="$seconds" 'BEGIN { n = int(r * s); print (n < 20000 ? 20000 : n) }')
rate=$(run "$requests")
[ -n "$rate" ] || { say "no rate in redis-benchmark's output"; exit 1; }
events=$(cli xlen "$item:outbox")
say "redis-benchmark: reserve.lua by EVALSHA, $clients clients, $requests calls: $rate reservations/s ($events events appended in all)"
echo "$rate"
