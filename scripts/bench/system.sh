#!/usr/bin/env bash
# The whole system: POST /orders through the gateway of a running stack with wrk, at several
# concurrencies. Every order is for one unit of an item created for the run with stock for all of
# it (and a price), so every answer should be a 201.
#
# stdout: one line per concurrency, "connections orders/s p50 p90 p99 non-2xx errors busy
# io_some io_full" (latencies in ms, errors = wrk's socket errors, busy = % of the machine's cores
# busy meanwhile, wrk's own share included, io_some and io_full = % of the time in which some or
# every runnable task waited for the disk, "-" without /proc/pressure/io); stderr: what it does.
#
# Knobs: BENCH_SECONDS (default 10) per level, BENCH_LEVELS (default "8 16 32 64 128"), GATEWAY
# (default the stack's, from `scripts/stack.sh env`: STACK=dev is http://127.0.0.1:8080). The
# gateway's rate limit on POST /orders applies: start the stack with GATEWAY_ORDER_RATE and
# GATEWAY_ORDER_BURST high enough to measure past it (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
bench_stack_env
need wrk wrk
gw=${GATEWAY:-$GATEWAY_URL}
seconds=${BENCH_SECONDS:-10}
levels=${BENCH_LEVELS:-8 16 32 64 128}
curl -fsS "$gw/healthz" >/dev/null || { say "no gateway at $gw: start the stack first (make up)"; exit 1; }

item="bench-$(date +%s)"
bench_item "$gw" "$item"
script=$(mktemp --suffix=.lua)
trap 'rm -f "$script"' EXIT
wrk_order_script "$item" "$script"

say "POST /orders through the gateway ($gw), ${seconds}s per level: $levels"
wrk -t 2 -c 8 -d 2s -s "$script" "$gw/orders" >/dev/null # warm-up: connections, pools, caches
for c in $levels; do
  threads=$((c < 2 ? c : 2)) # wrk wants at least one connection per thread
  before=$(machine_mark)
  read -r rate p50 p90 p99 bad errors < <(wrk -t "$threads" -c "$c" -d "${seconds}s" --latency -s "$script" "$gw/orders" | wrk_figures)
  read -r busy io_some io_full <<<"$(machine_load "$before" "$(machine_mark)")"
  say "  $c connections: $rate orders/s, p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, $bad non-2xx, $errors socket errors, cores $busy % busy, I/O stalls some $io_some % full $io_full %"
  echo "$c $rate $p50 $p90 $p99 $bad $errors $busy $io_some $io_full"
done
