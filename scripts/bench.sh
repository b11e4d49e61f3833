#!/usr/bin/env bash
# `make bench`: the machine's own limit for one order, and the whole system against it, in one
# run on a running stack (`make up` first). docs/benchmarks.md explains the figures.
#
# 1. Each component's own tool on the work one order needs from it (scripts/bench/*.sh):
#      redis.sh     redis-benchmark: inventory's reserve script (EVALSHA)      reservations/s
#      postgres.sh  pgbench: the order row + its outbox row, one transaction    transactions/s
#      rabbitmq.sh  confirmed-publish: persistent event-sized messages,
#                   confirms per batch of 100 (bench/src/bin/)                  messages/s
#      proxy.sh     wrk through one throwaway nginx proxy hop (keepalive)       requests/s
# 2. The composite limit: one order needs one of each, so 1 / Σ(1/rate_i).
# 3. The whole system (system.sh): POST /orders through the gateway with wrk at each of
#    BENCH_LEVELS, with orders/s, p50/p90/p99, non-2xx, orders/s ÷ composite, how busy the
#    machine's cores were meanwhile and how long its disk stalled every task (PSI). wrk is a
#    closed loop: it says what latency is at a concurrency, not at a rate.
# 4. The whole system at fixed rates (latency.sh): POST /orders sent on a schedule (open loop,
#    oha), latency from each order's scheduled send, at BENCH_RATE_FRACTIONS of the highest
#    orders/s step 3 measured (its peak), or at BENCH_RATES orders/s; achieved orders/s,
#    p50/p90/p99/max, non-2xx, errors, how busy the cores were and how long the disk stalled,
#    against the performance goal: p99 ≤ 25 ms at half the peak.
# 5. The figures as JSON in .stack/bench/<time>.json and a plot next to it (<time>.png: orders/s
#    and p99 against concurrency, the composite and 0.7 of it as lines; and, beside it, the
#    fixed rates' latencies against orders/s with the 25 ms goal); latest.json and latest.png
#    are copies of the last run. Then a table, and the command to reproduce it.
#
# Knobs: STACK (default dev) picks the stack; GATEWAY overrides its URL; BENCH_SECONDS (default
# 10) per measurement, per level and per rate; BENCH_LEVELS (default "8 16 32 64 128");
# BENCH_RATE_FRACTIONS (default "0.25 0.5", of the peak; empty: no step 4) or BENCH_RATES
# (orders/s, instead: the same rates from run to run); BENCH_OUT (default .stack/bench); the measurement scripts' own
# (BENCH_REDIS_CLIENTS, BENCH_PG_CLIENTS, BENCH_PUBLISH_BATCH, BENCH_PROXY_CONNECTIONS,
# BENCH_RATE_CONNECTIONS, …, in their headers).
# It installs what is missing (Debian: wrk, redis-tools, pgbench, nginx-light, python3-venv, jq;
# matplotlib from PyPI and oha from crates.io into .stack/bench-tools) and builds the publish
# tool once.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
export STACK=${STACK:-dev}
bench_stack_env
export GATEWAY=${GATEWAY:-$GATEWAY_URL}
export BENCH_SECONDS=${BENCH_SECONDS:-10} BENCH_LEVELS=${BENCH_LEVELS:-8 16 32 64 128}
# Numbers, checked now rather than after the sweep, and written as JSON takes them (.5 -> 0.5).
numbers() { # knob
  local v values
  read -ra values <<<"${!1}"
  for v in "${values[@]}"; do
    [[ $v =~ ^([0-9]+|[0-9]*[.][0-9]+)$ ]] || { say "$1 takes numbers, not $v"; exit 2; }
  done
  awk -v s="${!1}" 'BEGIN { n = split(s, x, " "); for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? " " : ""), x[i] + 0 }'
}
BENCH_RATE_FRACTIONS=${BENCH_RATE_FRACTIONS-0.25 0.5} BENCH_RATES=${BENCH_RATES:-}
BENCH_RATE_FRACTIONS=$(numbers BENCH_RATE_FRACTIONS)
BENCH_RATES=$(numbers BENCH_RATES)
rate_connections=${BENCH_RATE_CONNECTIONS:-64}
# The performance issue's goal for POST /orders: p99 at most this at half the peak rate.
p99_goal_ms=25
out=${BENCH_OUT:-.stack/bench}
tools=.stack/bench-tools
curl -fsS "$GATEWAY/healthz" >/dev/null 2>&1 ||
  { say "No gateway at $GATEWAY: start the stack first (make up, or STACK=… scripts/stack.sh up)."; exit 1; }

# Everything first, so a missing tool does not stop the run halfway.
need wrk wrk
need redis-benchmark redis-tools
need nginx nginx-light
need pg_dump postgresql-client
need jq jq
need_pgbench
if [ ! -x "$tools/bin/python" ] || ! "$tools/bin/python" -c 'import matplotlib' 2>/dev/null; then
  say "Installing matplotlib into $tools (first use)..."
  python3 -m venv "$tools" 2>/dev/null || { bench_apt_install python3-venv && python3 -m venv "$tools"; }
  "$tools/bin/pip" install -q matplotlib==3.10.8
fi
cargo build --release --locked -q -p sioms-bench --bin confirmed-publish
scripts/bench/latency.sh --install # oha

cores=$(nproc)
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cpu=${cpu:-unknown}
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
say "make bench on $cores cores ($cpu), stack $STACK, ${BENCH_SECONDS}s per measurement"

say "1/4 each component's own limit for one order's work"
redis=$(scripts/bench/redis.sh)
postgres=$(scripts/bench/postgres.sh)
rabbitmq=$(scripts/bench/rabbitmq.sh)
proxy=$(scripts/bench/proxy.sh)
composite=$(awk -v a="$redis" -v b="$postgres" -v c="$rabbitmq" -v d="$proxy" \
  'BEGIN { printf "%.1f", 1 / (1 / a + 1 / b + 1 / c + 1 / d) }')
say "2/4 composite limit: 1 / (1/$redis + 1/$postgres + 1/$rabbitmq + 1/$proxy) = $composite orders/s"

say "3/4 the whole system"
mapfile -t rows < <(scripts/bench/system.sh)
[ "${#rows[@]}" -gt 0 ] || { say "the whole-system run gave no figures"; exit 1; }

peak=$(printf '%s\n' "${rows[@]}" | awk 'NR == 1 || $2 > peak { peak = $2 } END { printf "%.1f", peak }')
if [ -n "$BENCH_RATES" ]; then
  read -ra rates <<<"$BENCH_RATES"
else
  read -ra rates <<<"$(awk -v p="$peak" -v f="$BENCH_RATE_FRACTIONS" 'BEGIN {
    n = split(f, x, " ")
    for (i = 1; i <= n; i++) { r = p * x[i]; printf "%s%.0f", (i > 1 ? " " : ""), (r < 1 ? 1 : r) } }')"
fi
fixed=()
if [ "${#rates[@]}" -eq 0 ]; then
  say "4/4 the whole system at fixed rates: none asked for (BENCH_RATE_FRACTIONS and BENCH_RATES empty)"
else
  say "4/4 the whole system at fixed rates: ${rates[*]} orders/s (the peak of 3/4: $peak orders/s)"
  mapfile -t fixed < <(scripts/bench/latency.sh "${rates[@]}")
  [ "${#fixed[@]}" -eq "${#rates[@]}" ] ||
    say "the fixed-rate run gave figures for ${#fixed[@]} of ${#rates[@]} rates (above: why); the rest of the run goes on"
fi

# The figures as JSON (numbers only, but for a few names).
json_str() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }
json_num() { if [ "$1" = - ]; then printf null; else printf '%s' "$1"; fi; } # "-": none
# A share in percent for the tables, "-" for none.
pct() { if [ "$1" = - ]; then printf -- -; else printf '%.0f%%' "$1"; fi; }
mkdir -p "$out"
json=$out/$stamp.json
{
  printf '{\n  "timestamp": %s,\n' "$(json_str "$stamp")"
  printf '  "revision": %s,\n' "$(json_str "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")"
  printf '  "machine": {"cores": %s, "cpu": %s},\n' "$cores" "$(json_str "$cpu")"
  if [ -n "$BENCH_RATES" ]; then
    rate_setting="\"rates\": [${BENCH_RATES// /,}]"
  else
    rate_setting="\"rate_fractions\": [${BENCH_RATE_FRACTIONS// /,}]"
  fi
  printf '  "settings": {"stack": %s, "seconds": %s, "levels": [%s], %s, "rate_connections": %s},\n' \
    "$(json_str "$STACK")" "$BENCH_SECONDS" "$(echo "$BENCH_LEVELS" | xargs | tr ' ' ',')" \
    "$rate_setting" "$rate_connections"
  printf '  "components": {\n'
  printf '    "redis_reserve": {"tool": "redis-benchmark", "work": "reserve.lua by EVALSHA", "unit": "reservations/s", "rate_per_s": %s},\n' "$redis"
  printf '    "postgres_order": {"tool": "pgbench", "work": "order row + outbox row, one synchronous transaction", "unit": "transactions/s", "rate_per_s": %s},\n' "$postgres"
  printf '    "rabbitmq_publish": {"tool": "confirmed-publish", "work": "persistent event-sized message, confirms per batch of 100", "unit": "messages/s", "rate_per_s": %s},\n' "$rabbitmq"
  printf '    "nginx_hop": {"tool": "wrk", "work": "one nginx proxy hop with upstream keepalive", "unit": "requests/s", "rate_per_s": %s}\n' "$proxy"
  printf '  },\n  "composite_per_s": %s,\n  "system": [\n' "$composite"
  sep=""
  for row in "${rows[@]}"; do
    read -r c rate p50 p90 p99 bad errors busy io_some io_full <<<"$row"
    ratio=$(awk -v r="$rate" -v k="$composite" 'BEGIN { printf "%.3f", r / k }')
    printf '%s    {"connections": %s, "orders_per_s": %s, "p50_ms": %s, "p90_ms": %s, "p99_ms": %s, "non_2xx": %s, "socket_errors": %s, "of_composite": %s, "cores_busy_percent": %s, "io_some_percent": %s, "io_full_percent": %s}' \
      "$sep" "$c" "$rate" "$p50" "$p90" "$p99" "$bad" "$errors" "$ratio" "$busy" "$(json_num "$io_some")" "$(json_num "$io_full")"
    sep=$',\n'
  done
  printf '\n  ],\n  "peak_orders_per_s": %s,\n  "p99_goal_ms": %s,\n  "fixed_rate": [\n' "$peak" "$p99_goal_ms"
  sep=""
  for row in "${fixed[@]}"; do
    read -r target achieved p50 p90 p99 max bad errors busy io_some io_full <<<"$row"
    of_peak=$(awk -v t="$target" -v p="$peak" 'BEGIN { printf "%.3f", t / p }')
    printf '%s    {"target_per_s": %s, "of_peak": %s, "achieved_per_s": %s, "p50_ms": %s, "p90_ms": %s, "p99_ms": %s, "max_ms": %s, "non_2xx": %s, "errors": %s, "cores_busy_percent": %s, "io_some_percent": %s, "io_full_percent": %s}' \
      "$sep" "$target" "$of_peak" "$achieved" "$p50" "$p90" "$p99" "$max" "$bad" "$errors" "$busy" "$(json_num "$io_some")" "$(json_num "$io_full")"
    sep=$',\n'
  done
  printf '\n  ]\n}\n'
} >"$json"
"$tools/bin/python" -c 'import json, sys; json.load(open(sys.argv[1]))' "$json"
"$tools/bin/python" scripts/bench/plot.py "$json" "${json%.json}.png"
cp "$json" "$out/latest.json"
cp "${json%.json}.png" "$out/latest.png"

printf '\nSIOMS make bench: %s cores (%s), stack %s, %ss per measurement\n\n' "$cores" "$cpu" "$STACK" "$BENCH_SECONDS"
printf '  %-48s %12s\n' "component (its own tool, one order's work)" "per second"
printf '  %-48s %12.0f\n' "Redis: reserve.lua (redis-benchmark)" "$redis" \
  "Postgres: order + outbox transaction (pgbench)" "$postgres" \
  "RabbitMQ: confirmed publish, batches of 100" "$rabbitmq" \
  "NGINX: one proxy hop (wrk)" "$proxy"
printf '  %-48s %12.0f\n\n' "composite limit: 1 / sum(1/rate)" "$composite"
printf '  %11s %10s %9s %9s %9s %8s %7s %12s %6s %9s\n' connections orders/s "p50 ms" "p90 ms" "p99 ms" non-2xx errors "of composite" busy "io stall"
for row in "${rows[@]}"; do
  read -r c rate p50 p90 p99 bad errors busy io_some io_full <<<"$row"
  printf '  %11s %10.0f %9.1f %9.1f %9.1f %8s %7s %11.1f%% %5.0f%% %9s\n' "$c" "$rate" "$p50" "$p90" "$p99" \
    "$bad" "$errors" "$(awk -v r="$rate" -v k="$composite" 'BEGIN { print 100 * r / k }')" "$busy" "$(pct "$io_full")"
done
printf '  (errors: the socket errors wrk counted, e.g. timeouts; busy: the share of all cores busy\n'
printf '   meanwhile, the load generator included; io stall: the share of the time in which every\n'
printf '   task that could run waited for the disk, /proc/pressure/io "full")\n\n'
if [ "${#fixed[@]}" -gt 0 ]; then
  printf "  open loop at fixed rates (oha, %s connections), latency from each order's scheduled send\n" \
    "$rate_connections"
  printf '  %7s %9s %10s %9s %9s %9s %9s %8s %7s %6s %9s %13s\n' "of peak" target/s achieved/s "p50 ms" "p90 ms" "p99 ms" "max ms" \
    non-2xx errors busy "io stall" "p99 <= $p99_goal_ms ms"
  for row in "${fixed[@]}"; do
    read -r target achieved p50 p90 p99 max bad errors busy io_some io_full <<<"$row"
    printf '  %6.1f%% %9s %10.1f %9.1f %9.1f %9.1f %9.1f %8s %7s %5.0f%% %9s %13s\n' \
      "$(awk -v t="$target" -v p="$peak" 'BEGIN { print 100 * t / p }')" "$target" "$achieved" "$p50" "$p90" \
      "$p99" "$max" "$bad" "$errors" "$busy" "$(pct "$io_full")" "$(awk -v v="$p99" -v g="$p99_goal_ms" 'BEGIN { print (v <= g ? "yes" : "no") }')"
  done
  printf '  (peak: the highest orders/s above, %s; goal: p99 <= %s ms at 50%% of it; achieved below\n' "$peak" "$p99_goal_ms"
  printf '   target: the system fell behind, and the latencies count the wait; errors: no answer)\n\n'
fi
printf '  figures: %s  plot: %s\n' "$json" "${json%.json}.png"
gateway_knob=""
[ "$GATEWAY" = "$GATEWAY_URL" ] || gateway_knob="GATEWAY=$GATEWAY "
rate_knob="BENCH_RATE_FRACTIONS=\"$BENCH_RATE_FRACTIONS\""
[ -z "$BENCH_RATES" ] || rate_knob="BENCH_RATES=\"$BENCH_RATES\""
[ -z "${BENCH_RATE_CONNECTIONS:-}" ] || rate_knob+=" BENCH_RATE_CONNECTIONS=$BENCH_RATE_CONNECTIONS"
printf '  reproduce: STACK=%s GATEWAY_ORDER_RATE=100000 GATEWAY_ORDER_BURST=100000 make up\n' "$STACK"
printf '             STACK=%s %sBENCH_SECONDS=%s BENCH_LEVELS="%s" %s make bench\n' "$STACK" "$gateway_knob" \
  "$BENCH_SECONDS" "$BENCH_LEVELS" "$rate_knob"
