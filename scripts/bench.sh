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
#    BENCH_LEVELS, with orders/s, p50/p90/p99, non-2xx, and orders/s ÷ composite.
# 4. The figures as JSON in .stack/bench/<time>.json and a plot next to it (<time>.png: orders/s
#    and p99 against concurrency, the composite and 0.7 of it as lines); latest.json and
#    latest.png are copies of the last run. Then a table, and the command to reproduce it.
#
# Knobs: STACK (default dev) picks the stack; GATEWAY overrides its URL; BENCH_SECONDS (default
# 10) per measurement and per level; BENCH_LEVELS (default "8 16 32 64 128"); BENCH_OUT (default
# .stack/bench); the component scripts' own (BENCH_REDIS_CLIENTS, BENCH_PG_CLIENTS,
# BENCH_PUBLISH_BATCH, BENCH_PROXY_CONNECTIONS, …, in their headers).
# It installs what is missing (Debian: wrk, redis-tools, pgbench, nginx-light, python3-venv;
# matplotlib from PyPI into .stack/bench-tools) and builds the publish tool once.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
export STACK=${STACK:-dev}
bench_stack_env
export GATEWAY=${GATEWAY:-$GATEWAY_URL}
export BENCH_SECONDS=${BENCH_SECONDS:-10} BENCH_LEVELS=${BENCH_LEVELS:-8 16 32 64 128}
out=${BENCH_OUT:-.stack/bench}
tools=.stack/bench-tools
curl -fsS "$GATEWAY/healthz" >/dev/null 2>&1 ||
  { say "No gateway at $GATEWAY: start the stack first (make up, or STACK=… scripts/stack.sh up)."; exit 1; }

# Everything first, so a missing tool does not stop the run halfway.
need wrk wrk
need redis-benchmark redis-tools
need nginx nginx-light
need pg_dump postgresql-client
need_pgbench
if [ ! -x "$tools/bin/python" ] || ! "$tools/bin/python" -c 'import matplotlib' 2>/dev/null; then
  say "Installing matplotlib into $tools (first use)..."
  python3 -m venv "$tools" 2>/dev/null || { bench_apt_install python3-venv && python3 -m venv "$tools"; }
  "$tools/bin/pip" install -q matplotlib==3.10.8
fi
cargo build --release --locked -q -p sioms-bench --bin confirmed-publish

cores=$(nproc)
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cpu=${cpu:-unknown}
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
say "make bench on $cores cores ($cpu), stack $STACK, ${BENCH_SECONDS}s per measurement"

say "1/3 each component's own limit for one order's work"
redis=$(scripts/bench/redis.sh)
postgres=$(scripts/bench/postgres.sh)
rabbitmq=$(scripts/bench/rabbitmq.sh)
proxy=$(scripts/bench/proxy.sh)
composite=$(awk -v a="$redis" -v b="$postgres" -v c="$rabbitmq" -v d="$proxy" \
  'BEGIN { printf "%.1f", 1 / (1 / a + 1 / b + 1 / c + 1 / d) }')
say "2/3 composite limit: 1 / (1/$redis + 1/$postgres + 1/$rabbitmq + 1/$proxy) = $composite orders/s"

say "3/3 the whole system"
mapfile -t rows < <(scripts/bench/system.sh)
[ "${#rows[@]}" -gt 0 ] || { say "the whole-system run gave no figures"; exit 1; }

# The figures as JSON (numbers only, but for a few names).
json_str() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }
mkdir -p "$out"
json=$out/$stamp.json
{
  printf '{\n  "timestamp": %s,\n' "$(json_str "$stamp")"
  printf '  "revision": %s,\n' "$(json_str "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")"
  printf '  "machine": {"cores": %s, "cpu": %s},\n' "$cores" "$(json_str "$cpu")"
  printf '  "settings": {"stack": %s, "seconds": %s, "levels": [%s]},\n' "$(json_str "$STACK")" \
    "$BENCH_SECONDS" "$(echo "$BENCH_LEVELS" | xargs | tr ' ' ',')"
  printf '  "components": {\n'
  printf '    "redis_reserve": {"tool": "redis-benchmark", "work": "reserve.lua by EVALSHA", "unit": "reservations/s", "rate_per_s": %s},\n' "$redis"
  printf '    "postgres_order": {"tool": "pgbench", "work": "order row + outbox row, one synchronous transaction", "unit": "transactions/s", "rate_per_s": %s},\n' "$postgres"
  printf '    "rabbitmq_publish": {"tool": "confirmed-publish", "work": "persistent event-sized message, confirms per batch of 100", "unit": "messages/s", "rate_per_s": %s},\n' "$rabbitmq"
  printf '    "nginx_hop": {"tool": "wrk", "work": "one nginx proxy hop with upstream keepalive", "unit": "requests/s", "rate_per_s": %s}\n' "$proxy"
  printf '  },\n  "composite_per_s": %s,\n  "system": [\n' "$composite"
  sep=""
  for row in "${rows[@]}"; do
    read -r c rate p50 p90 p99 bad errors <<<"$row"
    ratio=$(awk -v r="$rate" -v k="$composite" 'BEGIN { printf "%.3f", r / k }')
    printf '%s    {"connections": %s, "orders_per_s": %s, "p50_ms": %s, "p90_ms": %s, "p99_ms": %s, "non_2xx": %s, "socket_errors": %s, "of_composite": %s}' \
      "$sep" "$c" "$rate" "$p50" "$p90" "$p99" "$bad" "$errors" "$ratio"
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
printf '  %11s %10s %9s %9s %9s %8s %7s %12s\n' connections orders/s "p50 ms" "p90 ms" "p99 ms" non-2xx errors "of composite"
for row in "${rows[@]}"; do
  read -r c rate p50 p90 p99 bad errors <<<"$row"
  printf '  %11s %10.0f %9.1f %9.1f %9.1f %8s %7s %11.1f%%\n' "$c" "$rate" "$p50" "$p90" "$p99" \
    "$bad" "$errors" "$(awk -v r="$rate" -v k="$composite" 'BEGIN { print 100 * r / k }')"
done
printf '  (errors: the socket errors wrk counted, e.g. timeouts)\n\n  figures: %s  plot: %s\n' "$json" "${json%.json}.png"
gateway_knob=""
[ "$GATEWAY" = "$GATEWAY_URL" ] || gateway_knob="GATEWAY=$GATEWAY "
printf '  reproduce: STACK=%s GATEWAY_ORDER_RATE=100000 GATEWAY_ORDER_BURST=100000 make up\n' "$STACK"
printf '             STACK=%s %sBENCH_SECONDS=%s BENCH_LEVELS="%s" make bench\n' "$STACK" "$gateway_knob" "$BENCH_SECONDS" "$BENCH_LEVELS"
