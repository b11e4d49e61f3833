#!/usr/bin/env bash
# The whole system at a fixed rate: POST /orders through the gateway of a running stack, sent on
# a schedule (open loop) at each rate given, for BENCH_SECONDS each, and the latency as a client
# sending at that rate sees it. Every order is for one unit of an item created for the run with
# stock for all of it (and a price), so every answer should be a 201.
#
# Why not wrk, as system.sh: wrk is a closed loop (a connection sends its next request only once
# the last is answered), so when the system stalls wrk sends less, and the stall counts once
# however many requests it held up (coordinated omission). It says what p99 is at a concurrency,
# not at a rate. Here order i is due at i / rate seconds from the start, whatever the answers do,
# and its latency runs from that scheduled time: waiting for a free connection or behind a stall
# counts. The tool is oha (crates.io), pinned below: -q for the rate, --latency-correction for
# the scheduled start, -n rate × BENCH_SECONDS orders rather than -z BENCH_SECONDS, so that every
# scheduled order is sent and counted, also those still queued or in flight at the end (-z would
# drop the queued ones and abort the others). Before the first rate, 2 s at that rate warm up the
# connections, pools and caches, unmeasured.
#
# Usage: scripts/bench/latency.sh RATE [RATE…]   orders/s, e.g. 300 or 150.5
#        scripts/bench/latency.sh --install     only install oha if missing (scripts/bench.sh)
# stdout: one line per rate, "target achieved p50 p90 p99 max non-2xx errors busy io_some
# io_full": target and achieved in orders/s (achieved: answers and errors over the run's whole
# time, so below target when the system fell behind), latencies in ms over the answered orders,
# errors = requests with no answer (connect, timeout, reset), busy = % of the machine's cores
# busy meanwhile (oha's own share included), io_some and io_full = % of the time in which some
# or every runnable task waited for the disk ("-" without /proc/pressure/io). stderr: what it
# does.
#
# Knobs: BENCH_SECONDS (default 10) per rate, BENCH_RATE_CONNECTIONS (default 64: connections
# oha may open; enough that at a rate the system keeps up with, an order never waits for one),
# BENCH_RATE_TIMEOUT (default 10s, oha's per-request timeout, so a lost answer cannot hang the
# run), GATEWAY (default the stack's, from `scripts/stack.sh env`). The gateway's rate limit on
# POST /orders applies, as for system.sh. Installs oha on first use (cargo install, a few
# minutes of compiling) into .stack/bench-tools, next to make bench's matplotlib.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh

oha_version=1.16.0
oha=.stack/bench-tools/bin/oha
if [ "$("$oha" --version 2>/dev/null)" != "oha $oha_version" ]; then
  say "Installing oha $oha_version into .stack/bench-tools (first use, a few minutes of compiling)..."
  cargo install --quiet --locked --root .stack/bench-tools oha --version "$oha_version"
fi
[ "${1:-}" != "--install" ] || exit 0

[ $# -gt 0 ] || { say "usage: $0 RATE [RATE…] (orders/s)"; exit 2; }
for rate in "$@"; do
  if ! [[ $rate =~ ^[0-9]+([.][0-9]+)?$ ]] || ! awk -v r="$rate" 'BEGIN { exit !(r > 0) }'; then
    say "not a rate in orders/s: $rate"
    exit 2
  fi
done
need jq jq
bench_stack_env
gw=${GATEWAY:-$GATEWAY_URL}
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_RATE_CONNECTIONS:-64}
timeout=${BENCH_RATE_TIMEOUT:-10s}
curl -fsS "$gw/healthz" >/dev/null || { say "no gateway at $gw: start the stack first (make up)"; exit 1; }

item="bench-rate-$(date +%s)"
bench_item "$gw" "$item"
report=$(mktemp --suffix=.json)
trap 'rm -f "$report"' EXIT

# oha sending `count` orders at `rate` per second on a schedule; extra arguments go to oha.
orders_at() { # rate count oha-args…
  local rate=$1 count=$2
  shift 2
  "$oha" --no-tui -q "$rate" --latency-correction -n "$count" -c "$connections" -t "$timeout" \
    -m POST -T application/json -d "{\"item_id\":\"$item\",\"quantity\":1}" "$@" "$gw/orders"
}
count_for() { awk -v r="$1" -v s="$2" 'BEGIN { n = int(r * s + 0.5); print (n < 1 ? 1 : n) }'; }

say "POST /orders through the gateway ($gw) on a schedule (oha $oha_version, open loop, $connections connections), ${seconds}s per rate: $*"
orders_at "$1" "$(count_for "$1" 2)" --output-format quiet # warm-up
for rate in "$@"; do
  before=$(machine_mark)
  orders_at "$rate" "$(count_for "$rate" "$seconds")" --output-format json -o "$report"
  read -r busy io_some io_full <<<"$(machine_load "$before" "$(machine_mark)")"
  # Seconds in oha's report; percentiles over the answered orders (null when none was).
  figures=$(jq -r '
    def ms: if . == null then null else . * 1000 end;
    [ .summary.requestsPerSec,
      (.latencyPercentiles | (.p50, .p90, .p99) | ms),
      (.summary.slowest | ms),
      ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0),
      ([.errorDistribution[]] | add // 0) ]
    | if any(.[]; . == null) then "none" else map(tostring) | join(" ") end' "$report")
  if [ "$figures" = none ]; then
    say "  $rate orders/s: no order was answered ($(jq -c .errorDistribution "$report"))"
    exit 1
  fi
  read -r achieved p50 p90 p99 max bad errors <<<"$figures"
  line=$(awk -v t="$rate" -v a="$achieved" -v p50="$p50" -v p90="$p90" -v p99="$p99" -v m="$max" \
    -v b="$bad" -v e="$errors" 'BEGIN { printf "%s %.1f %.2f %.2f %.2f %.2f %d %d", t + 0, a, p50, p90, p99, m, b, e }')
  read -r _ achieved p50 p90 p99 max _ _ <<<"$line"
  say "  $rate orders/s: achieved $achieved/s, p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, max $max ms, $bad non-2xx, $errors errors, cores $busy % busy, I/O stalls some $io_some % full $io_full %"
  [ "$errors" -eq 0 ] || say "    errors: $(jq -c .errorDistribution "$report")"
  echo "$line $busy $io_some $io_full"
done
