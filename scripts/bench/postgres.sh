#!/usr/bin/env bash
# Postgres' own limit for one order's transaction: pgbench running what order-svc's
# OrderStore::insert writes for a confirmed order (order-svc/src/store/mod.rs and
# platform/src/outbox.rs): the order row and its order_created outbox row, in one transaction,
# committed synchronously (synchronous_commit=on, the server's default, which the service
# keeps), as prepared statements (tokio-postgres prepares every statement too). Ids are
# time-ordered like the service's UUIDv7: the current millisecond, then pgbench random bits.
# Prints transactions/s on stdout (see scripts/bench/lib.sh).
#
# It runs on a scratch database (BENCH_PG_DB, default sioms_bench_pg) made from order-svc's real
# schema: `pg_dump --schema-only` of the running stack's orders database. The database is
# dropped at the end. Knobs: BENCH_SECONDS (default 10), BENCH_PG_CLIENTS (default 16: what one
# order-svc keeps in its pool).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
bench_stack_env
need psql postgresql-client
need pg_dump postgresql-client
need_pgbench

seconds=${BENCH_SECONDS:-10}
clients=${BENCH_PG_CLIENTS:-16}
db=${BENCH_PG_DB:-sioms_bench_pg}
[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || { say "BENCH_PG_DB must be a plain lower-case name"; exit 2; }
source_url=${ORDER_DATABASE_URL:?no orders database in scripts/stack.sh env}
# postgres://user:password@host:port/name -> the same server and user, the scratch database.
owner=${source_url#*://}
owner=${owner%%[:@]*}
scratch_url=${source_url%/*}/$db
dir=$(mktemp -d)
cleanup() {
  pg_admin -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

pg_admin -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
pg_admin -d postgres -c "CREATE DATABASE $db OWNER $owner" >/dev/null
# Tables, indexes and functions only: an extension an operator installed in the orders database
# (pg_stat_statements, say) needs a superuser to create and plays no part in an order.
pg_dump --schema-only --no-owner --no-privileges "$source_url" |
  sed -E '/^(CREATE|COMMENT ON) EXTENSION/d' >"$dir/schema.sql"
psql -qX -v ON_ERROR_STOP=1 -o /dev/null "$scratch_url" <"$dir/schema.sql"

# One confirmed order of one unit at 1.00 EUR, and its event, as the service writes them.
cat >"$dir/order.sql" <<'SQL'
\set hi random(0, 1048575)
\set lo random(0, 72057594037927935)
BEGIN;
INSERT INTO orders (id, item_id, quantity, status, unit_price_cents, total_cents, currency, reason, created_at, updated_at, stock)
  VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7' || lpad(to_hex(:hi::bigint), 5, '0') || lpad(to_hex(:lo::bigint), 14, '0'))::uuid,
          'bench-1700000000', 1, 'confirmed', 100, 100, 'EUR', NULL, now(), now(), 'pending_confirm');
INSERT INTO outbox (event_id, kind, occurred_at, source, data)
  VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7' || lpad(to_hex(:lo::bigint), 14, '0') || lpad(to_hex(:hi::bigint), 5, '0'))::uuid,
          'order_created', now(), 'order-svc',
          jsonb_build_object('order_id', gen_random_uuid(), 'item_id', 'bench-1700000000', 'quantity', 1,
            'status', 'confirmed', 'unit_price_cents', 100, 'total_cents', 100, 'currency', 'EUR',
            'reason', NULL, 'created_at', now()));
COMMIT;
SQL

run() { # seconds: pgbench's summary
  PGOPTIONS='-c synchronous_commit=on' pgbench -n -M prepared -c "$clients" -j 2 -T "$1" \
    -f "$dir/order.sql" "$scratch_url" 2>&1
}
run 2 >/dev/null # warm-up: connections, prepared statements, the tables' first pages
out=$(run "$seconds")
rate=$(awk '/^tps = / { printf "%.1f", $3; exit }' <<<"$out")
failed=$(awk '/failed transactions:/ { print $(NF-1); exit }' <<<"$out")
[ -n "$rate" ] || { say "no tps in pgbench's output:"; say "$out"; exit 1; }
say "pgbench: order + outbox rows per transaction, synchronous commit, $clients clients, ${seconds}s: $rate transactions/s (${failed:-0} failed)"
echo "$rate"
