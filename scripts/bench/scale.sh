#!/usr/bin/env bash
# `make bench-scale`: does throughput hold up with a large catalog and a long order history?
# POST /orders through the gateway of a running stack, with wrk, first on the data as it is
# ("small"), then again after bulk-loading SCALE_ITEMS items with stock and prices and
# SCALE_ORDERS stored orders ("large"); the ratio of the two is the figure the goal is about
# (1M items and 10M orders: at least 90 % of the small-data throughput).
#
# Steps (SCALE_STEPS, default "small load large clean"; each also runs alone):
#   small  creates SCALE_SMALL_ITEMS items with a price through the API (bench-scale-small-<run>-
#          0001.., stock for the whole run), then wrk at each of SCALE_LEVELS, every request one unit
#          of an item picked at random among them (scripts/bench/scale.lua);
#   load   writes straight into the stack's own stores, in the shapes the services write:
#            orders     SCALE_ORDERS rows (INSERT ... SELECT generate_series), spread evenly over
#                       the last SCALE_DAYS days, ids UUIDv7 of their creation time, items drawn
#                       uniformly; 92 % confirmed (stock committed), 5 % rejected (insufficient
#                       stock, nothing taken), 3 % cancelled by request (stock returned, up to
#                       two days later); 1-4 units, mostly 1, at the item's price. No outbox
#                       rows: the relay would publish them as events;
#            Redis      per item the hash that item_create.lua writes, with the counters these
#                       orders leave (sold, provisioned = stock + sold, version = 1 + one per
#                       reservation and per cancellation), its catalog index entry (ZADD
#                       <prefix>items 0 <id>, as StockStore::create_item does first), and for the
#                       orders settled within RESERVATION_RECORD_RETENTION (SCALE_RETENTION_DAYS)
#                       their final reservation records ("<state>:<qty>" in item:{id}:holds, the
#                       closing time in item:{id}:done), by redis-cli --pipe;
#            pricing    one price per item (prices, version 1) and its price_history row;
#            analytics  the read side those items' and prices' events would have built: items
#                       (stock, threshold, version as in Redis) and prices;
#          then VACUUM (ANALYZE) of every table it filled: the statistics for the planner, and
#          the visibility map and hint bits written now rather than by an autovacuum in the
#          middle of the measurement; and a CHECKPOINT, so the load's dirty pages are not
#          written back during it. Then checks through the API that a loaded item, price and
#          order look exactly like API-made ones (same fields, same Redis hash), that the
#          ledger adds up, and that an order on a loaded item succeeds and can be cancelled;
#   large  the same wrk runs, picking among the SCALE_ITEMS loaded items (bench-scale-0000001..);
#          then, when the small step ran, once more among the small step's items ("hot"): the
#          same access pattern as small, so large data is all that differs, whereas "large"
#          also spreads the orders over a million items (no cache holds them all: order-svc's
#          price book keeps 100,000 prices, Postgres' shared_buffers are 128 MB);
#   clean  removes what was loaded and the small items (the API-made orders of the runs stay,
#          like make bench's, so the read side still adds up). SCALE_KEEP=1 skips it; run
#          `SCALE_STEPS=clean scripts/bench/scale.sh` later. If a step fails, clean runs anyway.
#
# Not loaded, because their size does not change the work of an order: the consumers'
# daily_orders and daily_revenue (one row per day, however many orders), processed_events and
# notifications (append-only, keyed by time-ordered ids, so an insert costs the same at 10M rows;
# loading them would double the load's time and disk). While loaded data is kept, `make audit`
# therefore reports the loaded orders under `analytics` and `notifications` (the read side never
# saw their events); its conservation, sold = orders, pending and outbox checks hold.
#
# stdout, one record per line, fields separated by spaces (latencies in ms):
#   small|large <connections> <orders/s> <p50> <p90> <p99> <non-2xx> <socket errors>
#   data small|large <items in the catalog> <orders stored> <orders table bytes, with its
#        indexes and TOAST (pg_total_relation_size)> <Redis used_memory bytes>
#   load <items> <orders> <seconds>
#   ratio <connections> <large/small orders/s> <large/small p99>     (when both ran)
#   ratio-hot <connections> <hot/small orders/s> <hot/small p99>     (the same items, large data)
#   clean <seconds>
# stderr: what it does, the load's parts with their times, and a summary.
#
# Knobs: SCALE_ITEMS (1000000), SCALE_ORDERS (10000000), SCALE_DAYS (90), SCALE_SMALL_ITEMS
# (1000), SCALE_LEVELS (connections, default "16 64"), BENCH_SECONDS (10 per level),
# SCALE_WARMUP (5 s of wrk before each phase), SCALE_STEPS, SCALE_KEEP, SCALE_RETENTION_DAYS (7,
# inventory's default RESERVATION_RECORD_RETENTION), SCALE_CHUNK (orders per INSERT statement,
# 1000000), STACK and GATEWAY as for the other benchmarks. It needs a single Redis (not a
# cluster: --pipe talks to one server) and the stack's database URLs from `scripts/stack.sh env`;
# it installs wrk, redis-tools, postgresql-client and jq when missing.
set -euo pipefail
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
bench_stack_env
need wrk wrk
need redis-cli redis-tools
need psql postgresql-client
need jq jq

gw=${GATEWAY:-$GATEWAY_URL}
items=${SCALE_ITEMS:-1000000}
orders=${SCALE_ORDERS:-10000000}
days=${SCALE_DAYS:-90}
small_items=${SCALE_SMALL_ITEMS:-1000}
levels=${SCALE_LEVELS:-16 64}
seconds=${BENCH_SECONDS:-10}
warmup=${SCALE_WARMUP:-5}
retention_days=${SCALE_RETENTION_DAYS:-7}
chunk=${SCALE_CHUNK:-1000000}
steps=${SCALE_STEPS:-small load large clean}
[ "${SCALE_KEEP:-0}" = 1 ] && steps=${steps//clean/}
for n in "$items" "$orders" "$days" "$small_items" "$seconds" "$warmup" "$retention_days" "$chunk"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { say "SCALE_* counts and BENCH_SECONDS must be positive integers (got '$n')"; exit 2; }
done
for s in $steps; do
  [[ " small load large clean " == *" $s "* ]] || { say "unknown step '$s' in SCALE_STEPS (small load large clean)"; exit 2; }
done
want() { [[ " $steps " == *" $1 "* ]]; }
[ "$small_items" -le 9999 ] || { say "SCALE_SMALL_ITEMS is at most 9999 (four-digit ids)"; exit 2; }
curl -fsS "$gw/healthz" >/dev/null || { say "no gateway at $gw: start the stack first (make up)"; exit 1; }

# Item ids. Loaded: bench-scale-<number, at least 7 digits>; API-made for the small run:
# bench-scale-small-<this run's start, epoch seconds>-<4 digits>, new ids every run, because
# an item deleted and created again under the same id would have its old orders counted against
# its new counters (audit/README.md). Every loaded id sorts in ["bench-scale-0",
# "bench-scale-:") (':' follows '9'), which a B-tree or ZRANGEBYLEX reads as a range; the small
# ones in ["bench-scale-small-", "bench-scale-small."), and both in ["bench-scale-",
# "bench-scale.").
LOADED_MIN=bench-scale-0 LOADED_MAX=bench-scale-: ALL_MIN=bench-scale- ALL_MAX=bench-scale.
SMALL_MIN=bench-scale-small- SMALL_MAX=bench-scale-small.
SMALL_PREFIX=$SMALL_MIN$(date +%s)-
width=$((${#items} > 7 ? ${#items} : 7))
threshold=10 # the services' default low-stock threshold; every item's stock stays above it
prefix=$REDIS_KEY_PREFIX
index="${prefix}items"
state=$STACK_STATE/bench-scale.loaded # when the load ran: what clean needs to tell its orders apart

rcli() { redis-cli -u "$REDIS_URL" "$@"; }
pipe() { # RESP on stdin -> Redis; fails on any error reply
  local out
  out=$(redis-cli -u "$REDIS_URL" --pipe 2>&1) || { say "$out"; return 1; }
  grep -q '^errors: 0,' <<<"$out" || { say "$out"; return 1; }
}
# psql, retried for up to a minute while the server has no connection slot free (max_connections
# is shared with every stack and test on the server): a refused connection ran nothing, and psql
# reads its stdin only once connected, so the retry gets the same input.
sql() { # database-url, then psql arguments
  local url=$1 attempt rc
  shift
  for attempt in $(seq 30); do
    rc=0
    PGOPTIONS='-c work_mem=256MB' psql "$url" -qAtX -v ON_ERROR_STOP=1 "$@" 2>"$tmp/psql.err" || rc=$?
    if [ "$rc" -eq 2 ] && grep -Eq 'too many clients|connection slots are reserved' "$tmp/psql.err"; then
      [ "$attempt" -gt 1 ] || say "  Postgres has no connection slot free; retrying for up to a minute"
      sleep 2
      continue
    fi
    cat "$tmp/psql.err" >&2
    return "$rc"
  done
  cat "$tmp/psql.err" >&2
  return 2
}
# Commands as Redis' protocol (RESP), from awk: put(n) sends a[1..n]. LC_ALL=C so that length()
# counts bytes.
RESP_AWK='function put(n,   i, s) {
  s = "*" n "\r\n"
  for (i = 1; i <= n; i++) s = s "$" length(a[i]) "\r\n" a[i] "\r\n"
  printf "%s", s
}'
now_us() { date +%s%6N; }
elapsed() { awk -v a="$1" -v b="$(now_us)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
price_of() { echo $((100 + ($1 * 7919) % 99900)); } # cents; the same formula in SQL below

# --- waiting for the system to be at rest ------------------------------------------------------

# Until nothing waits in the outboxes, no order's stock is pending and the consumers' queues
# are empty (their consumer_queue_depth gauge, refreshed every 2 s), so that a measurement does
# not pay for the previous one's tail, and clean does not race events still on their way.
settle() {
  local i busy url n
  for i in $(seq 60); do
    # One assignment per figure: a failure in $(...) inside $((...)) would not stop the script.
    busy=$(sql "$ORDER_DATABASE_URL" -c "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM orders WHERE stock IN ('pending_confirm', 'pending_return'))")
    n=$(sql "$PRICING_DATABASE_URL" -c "SELECT count(*) FROM outbox")
    busy=$((busy + n))
    for url in "$ANALYTICS_URL" "$NOTIFIER_URL"; do
      n=$(curl -fsS "$url/metrics" | awk '/^consumer_queue_depth/ { n += $2 } END { printf "%d", n }')
      busy=$((busy + n))
    done
    if [ "$busy" -eq 0 ]; then
      [ "$i" -eq 1 ] || sleep 2 # one more gauge refresh: what was just taken is being applied
      return 0
    fi
    sleep 1
  done
  say "  still $busy events or pending orders after 60 s; going on"
}

# --- measuring ---------------------------------------------------------------------------------

declare -A figures
measure() { # phase prefix count width
  local phase=$1 pfx=$2 count=$3 w=$4 c threads out rate p50 p90 p99 bad errors
  local args=(-s scripts/bench/scale.lua "$gw/orders" -- "$pfx" "$count" "$w")
  settle
  say "$phase: POST /orders through $gw, one unit of a random one of $count items, ${seconds}s per level: $levels"
  wrk -t 2 -c 8 -d "${warmup}s" "${args[@]}" >/dev/null # connections, pools, caches
  for c in $levels; do
    threads=$((c < 2 ? c : 2)) # wrk wants at least one connection per thread
    out=$(wrk -t "$threads" -c "$c" -d "${seconds}s" --latency "${args[@]}") || { say "$out"; return 1; }
    read -r rate p50 p90 p99 bad errors < <(wrk_figures <<<"$out")
    say "  $c connections: $rate orders/s, p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, $bad non-2xx, $errors socket errors"
    echo "$phase $c $rate $p50 $p90 $p99 $bad $errors"
    figures[$phase:$c]="$rate $p99 $bad"
  done
  data_sizes "$phase"
}

data_sizes() { # phase
  local n_items n_orders table_bytes redis_bytes
  n_items=$(rcli zcard "$index")
  n_orders=$(sql "$ORDER_DATABASE_URL" -c "SELECT count(*) FROM orders")
  table_bytes=$(sql "$ORDER_DATABASE_URL" -c "SELECT pg_total_relation_size('orders')")
  redis_bytes=$(rcli info memory | awk -F: '/^used_memory:/ { printf "%d", $2 }')
  say "  data: $n_items items in the catalog, $n_orders orders, orders table $((table_bytes / 1048576)) MiB, Redis used_memory $((redis_bytes / 1048576)) MiB"
  echo "data $1 $n_items $n_orders $table_bytes $redis_bytes"
  figures[data:$1]="$n_items $n_orders $table_bytes $redis_bytes"
}

# --- the small run's items, through the API ----------------------------------------------------

# Creates <SMALL_PREFIX>0001..<n> with a price, eight requests at a time; an item that
# already exists (409) is kept as it is.
create_small_items() { # n
  local n=$1 i id requests=$tmp/small.requests
  for i in $(seq "$n"); do
    id=$(printf '%s%04d' "$SMALL_PREFIX" "$i")
    printf 'POST\t/items\t{"id":"%s","name":"Small bench item %04d","stock":1000000000,"low_stock_threshold":%s}\n' \
      "$id" "$i" "$threshold"
  done >"$requests"
  api_batch "$requests" '201|409' "create $n items"
  for i in $(seq "$n"); do
    printf 'PUT\t/price/%s%04d\t{"price_cents":%s,"currency":"EUR"}\n' "$SMALL_PREFIX" "$i" "$(price_of "$i")"
  done >"$requests"
  api_batch "$requests" '200|201' "price $n items"
}

# Sends admin requests through the gateway, eight at a time (one curl, --parallel), and fails
# unless every answer has one of the accepted statuses. Each transfer of a curl config carries
# its own options: `next` starts the next one afresh.
api_batch() { # requests-file accepted-statuses what; a request a line: method<TAB>path<TAB>body
  local codes
  awk -F'\t' -v gw="$gw" -v token="$ADMIN_TOKEN" '
    NR > 1 { print "next" }
    {
      printf "url = \"%s%s\"\nrequest = \"%s\"\noutput = \"/dev/null\"\n", gw, $2, $1
      printf "write-out = \"%%{http_code}\\n\"\nheader = \"Authorization: Bearer %s\"\n", token
      if ($3 != "") {
        gsub(/["\\]/, "\\\\&", $3)
        printf "header = \"Content-Type: application/json\"\ndata = \"%s\"\n", $3
      }
    }' "$1" >"$1.curl"
  codes=$(curl -sS --no-progress-meter --parallel --parallel-max 8 -K "$1.curl" | sort | uniq -c)
  if grep -Ev "^ *[0-9]+ ($2)$" <<<"$codes" | grep -q .; then
    say "could not $3 through the API; statuses (count status):"
    say "$codes"
    return 1
  fi
}

small_count() { rcli zlexcount "$index" "[$SMALL_MIN" "($SMALL_MAX"; }

# --- the load ----------------------------------------------------------------------------------

load() {
  local started t0_us span_us lo hi part
  if [ -f "$state" ] || [ "$(rcli zlexcount "$index" "[$LOADED_MIN" "($LOADED_MAX")" -gt 0 ] ||
    [ "$(sql "$PRICING_DATABASE_URL" -c "SELECT count(*) FROM (SELECT 1 FROM prices WHERE item_id >= '$LOADED_MIN' AND item_id < '$LOADED_MAX' LIMIT 1) p")" -gt 0 ]; then
    say "a load's data is already there (SCALE_KEEP=1, or a clean that failed): SCALE_STEPS=clean $0 removes it"
    return 1
  fi
  started=$(now_us)
  t0_us=$started
  span_us=$((days * 86400 * 1000000))
  printf 't0_us=%s\nitems=%s\norders=%s\nwidth=%s\n' "$t0_us" "$items" "$orders" "$width" >"$state"
  say "load: $items items, $orders orders over $days days, into the $STACK stack's stores"
  local vars=(-v "width=$width" -v "items=$items" -v "orders=$orders" -v "t0_us=$t0_us" -v "span_us=$span_us"
    -v "threshold=$threshold" -v "retention_ms=$((retention_days * 86400 * 1000))")

  part=$(now_us)
  for ((lo = 1; lo <= orders; lo += chunk)); do
    hi=$((lo + chunk - 1 < orders ? lo + chunk - 1 : orders))
    # The random draws in a fenced subquery (OFFSET 0) so that each is made once per row
    # however often the outer query uses it.
    sql "$ORDER_DATABASE_URL" "${vars[@]}" -v "lo=$lo" -v "hi=$hi" <<'SQL'
INSERT INTO orders (id, item_id, quantity, status, unit_price_cents, total_cents, currency, reason,
                    stock, created_at, updated_at)
SELECT (lpad(to_hex(t_us / 1000), 12, '0') || '7' || substr(h, 1, 3) || substr('89ab', variant, 1)
        || substr(h, 4, 15))::uuid,
       'bench-scale-' || lpad(item::text, :width, '0'),
       qty, status, price, price * qty, 'EUR',
       CASE status WHEN 'rejected' THEN format('insufficient stock: %s requested, %s available', qty, floor(r_available * qty))
                   WHEN 'cancelled' THEN 'cancelled by request' END,
       CASE status WHEN 'confirmed' THEN 'committed' WHEN 'rejected' THEN 'none' ELSE 'returned' END,
       timestamptz 'epoch' + t_us * interval '1 microsecond',
       timestamptz 'epoch' + CASE WHEN status = 'cancelled'
                                  THEN least(t_us + (r_cancel * 172800e6)::bigint, :t0_us)
                                  ELSE t_us END * interval '1 microsecond'
FROM (SELECT :t0_us - :span_us + ((n - 1)::float8 * :span_us / :orders)::bigint AS t_us,
             item, 100 + (item::bigint * 7919) % 99900 AS price,
             CASE WHEN r_status < 0.92 THEN 'confirmed' WHEN r_status < 0.97 THEN 'rejected' ELSE 'cancelled' END AS status,
             1 + floor(4 * r_qty ^ 3)::int AS qty,
             r_available, r_cancel, h, variant
      FROM (SELECT n, 1 + floor(random() * :items)::int AS item, random() AS r_status,
                   random() AS r_qty, random() AS r_available, random() AS r_cancel,
                   md5(random()::text) AS h, 1 + floor(random() * 4)::int AS variant
            FROM generate_series(:lo, :hi) AS n OFFSET 0) AS draws) AS o;
SQL
    say "  orders $hi/$orders ($(elapsed "$part") s)"
  done
  say "  orders: $(elapsed "$part") s"

  # Each item's ledger, from its orders (and any older API order of the same id, so that sold
  # always equals the confirmed orders): id, name, stock, sold, provisioned, version.
  part=$(now_us)
  sql "$ORDER_DATABASE_URL" "${vars[@]}" >"$tmp/ledger.tsv" <<'SQL'
COPY (
  SELECT id, 'Scale item ' || lpad(i::text, :width, '0'), stock, coalesce(sold, 0),
         stock + coalesce(sold, 0), 1 + coalesce(changes, 0)
  FROM (SELECT i, 'bench-scale-' || lpad(i::text, :width, '0') AS id, 100 + (i::bigint * 104729) % 9901 AS stock
        FROM generate_series(1, :items) AS i) AS item
  LEFT JOIN (SELECT item_id,
                    coalesce(sum(quantity) FILTER (WHERE status = 'confirmed'), 0) AS sold,
                    count(*) FILTER (WHERE status = 'confirmed') + 2 * count(*) FILTER (WHERE status = 'cancelled') AS changes
             FROM orders WHERE item_id >= 'bench-scale-0' AND item_id < 'bench-scale-:'
             GROUP BY item_id) AS o ON o.item_id = item.id
  ORDER BY i
) TO STDOUT
SQL
  # The final reservation records still within the retention: confirmed orders (closed when
  # confirmed, a few ms after they were placed) and cancelled ones (closed when cancelled).
  sql "$ORDER_DATABASE_URL" "${vars[@]}" >"$tmp/records.tsv" <<'SQL'
COPY (
  SELECT item_id, id, record, closed_ms FROM (
    SELECT item_id, id, status || ':' || quantity AS record,
           CASE status WHEN 'confirmed' THEN (extract(epoch FROM created_at) * 1000)::bigint + 5
                       ELSE (extract(epoch FROM updated_at) * 1000)::bigint END AS closed_ms
    FROM orders
    WHERE item_id >= 'bench-scale-0' AND item_id < 'bench-scale-:' AND status IN ('confirmed', 'cancelled')
  ) AS r WHERE closed_ms >= :t0_us / 1000 - :retention_ms
) TO STDOUT
SQL
  say "  ledgers of $(wc -l <"$tmp/ledger.tsv") items and $(wc -l <"$tmp/records.tsv") reservation records from the orders: $(elapsed "$part") s"

  # Redis: the index entry first, as StockStore::create_item adds it before the item, then the
  # item hash with item_create.lua's fields in its order; then the records.
  part=$(now_us)
  LC_ALL=C awk -F'\t' -v p="$prefix" -v idx="$index" -v th="$threshold" "$RESP_AWK"'
    {
      a[1] = "ZADD"; a[2] = idx; a[3] = "0"; a[4] = $1; put(4)
      a[1] = "HSET"; a[2] = p "item:{" $1 "}"; a[3] = "name"; a[4] = $2; a[5] = "stock"; a[6] = $3
      a[7] = "held"; a[8] = "0"; a[9] = "sold"; a[10] = $4; a[11] = "provisioned"; a[12] = $5
      a[13] = "threshold"; a[14] = th; a[15] = "low_armed"; a[16] = "1"; a[17] = "version"; a[18] = $6
      put(18)
    }' "$tmp/ledger.tsv" | pipe
  LC_ALL=C awk -F'\t' -v p="$prefix" "$RESP_AWK"'
    {
      a[1] = "HSET"; a[2] = p "item:{" $1 "}:holds"; a[3] = $2; a[4] = $3; put(4)
      a[1] = "ZADD"; a[2] = p "item:{" $1 "}:done"; a[3] = $4; a[4] = $2; put(4)
    }' "$tmp/records.tsv" | pipe
  say "  Redis: $(elapsed "$part") s"

  part=$(now_us)
  sql "$PRICING_DATABASE_URL" "${vars[@]}" <<'SQL'
INSERT INTO prices (item_id, price_cents, currency, version, updated_at)
SELECT 'bench-scale-' || lpad(i::text, :width, '0'), 100 + (i::bigint * 7919) % 99900, 'EUR', 1,
       timestamptz 'epoch' + (:t0_us - :span_us - 86400000000 + i * 1000) * interval '1 microsecond'
FROM generate_series(1, :items) AS i;
INSERT INTO price_history (item_id, price_cents, currency, version, changed_at)
SELECT item_id, price_cents, currency, version, updated_at FROM prices
WHERE item_id >= 'bench-scale-0' AND item_id < 'bench-scale-:' ORDER BY item_id;
SQL
  say "  pricing: $(elapsed "$part") s"

  part=$(now_us)
  awk -F'\t' -v OFS='\t' -v th="$threshold" '{ print $1, $2, $3, th, $6 }' "$tmp/ledger.tsv" |
    sql "$ANALYTICS_DATABASE_URL" -c "COPY items (item_id, name, stock, threshold, version) FROM STDIN"
  sql "$ANALYTICS_DATABASE_URL" "${vars[@]}" <<'SQL'
INSERT INTO prices (item_id, price_cents, currency, version)
SELECT 'bench-scale-' || lpad(i::text, :width, '0'), 100 + (i::bigint * 7919) % 99900, 'EUR', 1
FROM generate_series(1, :items) AS i;
SQL
  say "  analytics read side: $(elapsed "$part") s"

  part=$(now_us)
  sql "$ORDER_DATABASE_URL" -c "VACUUM (ANALYZE) orders"
  sql "$PRICING_DATABASE_URL" -c "VACUUM (ANALYZE) prices" -c "VACUUM (ANALYZE) price_history"
  sql "$ANALYTICS_DATABASE_URL" -c "VACUUM (ANALYZE) items" -c "VACUUM (ANALYZE) prices"
  say "  VACUUM (ANALYZE): $(elapsed "$part") s"
  # The load dirtied gigabytes of pages within minutes; a history that grew over SCALE_DAYS
  # would have been written out by checkpoints long ago. Writing them now keeps the load's
  # write-back out of the measurement. CHECKPOINT needs a superuser (or pg_checkpoint), which
  # the stack's role is not: it runs as the local server's, as scripts/stack.sh creates the
  # databases. Where there is none (a remote Postgres), the figures include that cost.
  part=$(now_us)
  if pg_admin -d postgres -c "CHECKPOINT" 2>/dev/null; then
    say "  CHECKPOINT: $(elapsed "$part") s"
  else
    say "  no superuser for a CHECKPOINT: the large phases include the load's write-back"
  fi
  local total
  total=$(elapsed "$started")
  say "  loaded in $total s"
  echo "load $items $orders $total"
  verify_loaded
}

# --- are loaded items, prices and orders indistinguishable from API-made ones? -----------------

shape() { jq -c 'to_entries | map([.key, (.value | type)]) | sort'; }
same_shape() { # what url-a url-b
  local a b
  a=$(curl -fsS "$2" | shape) b=$(curl -fsS "$3" | shape)
  [ "$a" = "$b" ] || { say "verify: $1 differ: $2 gives $a, $3 gives $b"; return 1; }
}
ledger_of() { curl -fsS "$INVENTORY_URL/ledger/$1" | jq -r '"\(.stock) \(.reserved) \(.sold) \(.provisioned) \(.version)"'; }

verify_loaded() {
  local t0_us order item qty ref stock reserved sold provisioned version confirmed record
  # shellcheck disable=SC1090
  t0_us=$(source "$state" && echo "$t0_us")
  # The newest loaded confirmed order: its item has reservation records in Redis.
  read -r order item qty < <(sql "$ORDER_DATABASE_URL" -F ' ' -c "SELECT id, item_id, quantity FROM orders
    WHERE item_id >= '$LOADED_MIN' AND item_id < '$LOADED_MAX' AND status = 'confirmed'
      AND created_at <= timestamptz 'epoch' + $t0_us * interval '1 microsecond'
    ORDER BY id DESC LIMIT 1")
  [ -n "${order:-}" ] || { say "verify: no loaded confirmed order"; return 1; }
  create_small_items 1 # an API-made item to compare with
  ref=${SMALL_PREFIX}0001
  say "verify: loaded item $item and its order $order against API-made $ref"
  same_shape "GET /items" "$gw/items/$ref" "$gw/items/$item"
  same_shape "GET /price" "$gw/price/$ref" "$gw/price/$item"
  [ "$(rcli hkeys "${prefix}item:{$ref}")" = "$(rcli hkeys "${prefix}item:{$item}")" ] ||
    { say "verify: the Redis hashes of $ref and $item have different fields"; return 1; }
  [ "$(rcli zscore "$index" "$item")" = 0 ] || { say "verify: $item is not in the catalog index"; return 1; }
  read -r stock reserved sold provisioned version < <(ledger_of "$item")
  confirmed=$(sql "$ORDER_DATABASE_URL" -c "SELECT coalesce(sum(quantity), 0) FROM orders WHERE item_id = '$item' AND status = 'confirmed'")
  ((stock + reserved + sold == provisioned && sold == confirmed)) ||
    { say "verify: $item's ledger ($stock + $reserved + $sold = $provisioned?) or sold = $confirmed confirmed units fails"; return 1; }
  [ "$(sql "$ANALYTICS_DATABASE_URL" -c "SELECT stock || ' ' || version FROM items WHERE item_id = '$item'")" = "$stock $version" ] ||
    { say "verify: analytics' row of $item is not stock $stock version $version"; return 1; }
  [ "$(rcli hget "${prefix}item:{$item}:holds" "$order")" = "confirmed:$qty" ] ||
    { say "verify: no reservation record confirmed:$qty of $order"; return 1; }

  # An order on the loaded item through the API, then its cancellation: reserve, confirm and
  # cancel run on the loaded hash and next to the loaded records.
  local body new price
  body=$(curl -fsS -X POST "$gw/orders" -H 'Content-Type: application/json' -d "{\"item_id\":\"$item\",\"quantity\":1}")
  new=$(jq -r .id <<<"$body")
  price=$(curl -fsS "$gw/price/$item" | jq .price_cents)
  [ "$(jq -r '"\(.status) \(.unit_price_cents)"' <<<"$body")" = "confirmed $price" ] ||
    { say "verify: the order on $item answered $body"; return 1; }
  same_shape "GET /orders/{id}" "$gw/orders/$new" "$gw/orders/$order"
  [ "$(ledger_of "$item")" = "$((stock - 1)) $reserved $((sold + 1)) $provisioned $((version + 1))" ] ||
    { say "verify: $item's ledger after one order is $(ledger_of "$item")"; return 1; }
  record=$(rcli hget "${prefix}item:{$item}:holds" "$new")
  [ "$record" = "confirmed:1" ] || { say "verify: the API order's record is '$record'"; return 1; }
  curl -fsS -o /dev/null -X POST "$gw/orders/$new/cancel"
  [ "$(ledger_of "$item")" = "$stock $reserved $sold $provisioned $((version + 2))" ] ||
    { say "verify: $item's ledger after the cancellation is $(ledger_of "$item")"; return 1; }
  say "verify: same fields in GET /items, /price, /orders and in Redis; ledger adds up; an order and its cancellation on $item worked"
}

# --- clean -------------------------------------------------------------------------------------

clean() {
  local started n t0_us="" min page
  started=$(now_us)
  say "clean: removing the loaded data and the small run's items"
  n=$(small_count)
  if [ "$n" -gt 0 ]; then # through the API: the read side forgets them by their item_removed
    rcli zrangebylex "$index" "[$SMALL_MIN" "($SMALL_MAX" |
      awk '{ printf "DELETE\t/items/%s\t\n", $1 }' >"$tmp/delete.requests"
    api_batch "$tmp/delete.requests" '204|404' "delete $n items"
  fi
  settle
  # Redis: every key of each loaded item, in pages of the index, then the index entries.
  min="[$LOADED_MIN"
  while :; do
    page=$(rcli zrangebylex "$index" "$min" "($LOADED_MAX" LIMIT 0 50000)
    [ -n "$page" ] || break
    LC_ALL=C awk -v p="$prefix" "$RESP_AWK"'
      {
        k = p "item:{" $1 "}"
        a[1] = "UNLINK"; a[2] = k; a[3] = k ":holds"; a[4] = k ":expiry"; a[5] = k ":done"; a[6] = k ":outbox"
        put(6)
      }' <<<"$page" | pipe
    min="(${page##*$'\n'}"
  done
  rcli zremrangebylex "$index" "[$LOADED_MIN" "($LOADED_MAX" >/dev/null
  # Orders: the loaded ones only (placed before the load ended); the API-made orders of the runs
  # stay, as make bench's do, because the read side has counted them.
  if [ -f "$state" ]; then
    # shellcheck disable=SC1090
    t0_us=$(source "$state" && echo "$t0_us")
  fi
  if [ -n "$t0_us" ]; then
    sql "$ORDER_DATABASE_URL" -c "DELETE FROM orders WHERE item_id >= '$LOADED_MIN' AND item_id < '$LOADED_MAX'
      AND created_at <= timestamptz 'epoch' + $t0_us * interval '1 microsecond'"
  else
    say "  no $state: removing every order of a loaded item id"
    sql "$ORDER_DATABASE_URL" -c "DELETE FROM orders WHERE item_id >= '$LOADED_MIN' AND item_id < '$LOADED_MAX'"
  fi
  sql "$PRICING_DATABASE_URL" -c "DELETE FROM prices WHERE item_id >= '$ALL_MIN' AND item_id < '$ALL_MAX'" \
    -c "DELETE FROM price_history WHERE item_id >= '$ALL_MIN' AND item_id < '$ALL_MAX'"
  # The read side last, twice: an event still on its way when the first delete ran writes its
  # item's row again.
  for _ in 1 2; do
    sql "$ANALYTICS_DATABASE_URL" -c "DELETE FROM items WHERE item_id >= '$ALL_MIN' AND item_id < '$ALL_MAX'" \
      -c "DELETE FROM prices WHERE item_id >= '$ALL_MIN' AND item_id < '$ALL_MAX'"
    settle
  done
  compact "$ORDER_DATABASE_URL" orders
  compact "$PRICING_DATABASE_URL" prices price_history
  compact "$ANALYTICS_DATABASE_URL" items prices
  rm -f "$state"
  cleaned=1
  local total
  total=$(elapsed "$started")
  say "  cleaned in $total s"
  echo "clean $total"
}

# Gives the space back: VACUUM FULL rewrites what is left (the stack's own rows, few on a bench
# stack) but needs an exclusive lock; when it has none within 2 s (a service is busy with the
# table), a plain VACUUM instead.
compact() { # database-url table...
  local url=$1 table
  shift
  for table in "$@"; do
    PGOPTIONS='-c lock_timeout=2s' psql "$url" -qAtX -c "VACUUM (FULL, ANALYZE) $table" 2>/dev/null ||
      sql "$url" -c "VACUUM (ANALYZE) $table"
  done
}

# When a step fails, clean runs as a process of its own: here, in a trap, `set -e` would not
# stop it at its first failure (and it keeps the load's record, $state, until it succeeds). That
# process, if it fails, only says so.
cleaned=0
on_exit() {
  local rc=$?
  rm -rf "$tmp"
  if [ "$rc" -ne 0 ] && [ "$cleaned" = 0 ] && want clean && [ -z "${SCALE_CLEANING_UP:-}" ]; then
    say "a step failed: cleaning up what was loaded"
    SCALE_CLEANING_UP=1 SCALE_STEPS=clean SCALE_KEEP=0 "$self" >/dev/null ||
      say "cleaning up failed too: run SCALE_STEPS=clean $0 when the cause is fixed"
  fi
  exit "$rc"
}
trap on_exit EXIT

# --- the run -----------------------------------------------------------------------------------

if want small; then
  say "small: $small_items items through the API"
  create_small_items "$small_items"
  measure small "$SMALL_PREFIX" "$small_items" 4
fi
if want load; then load; fi
if want large; then
  loaded=$(rcli zlexcount "$index" "[$LOADED_MIN" "($LOADED_MAX")
  [ "$loaded" -gt 0 ] || { say "large: no loaded items (run the load step first)"; exit 1; }
  first=$(rcli zrangebylex "$index" "[$LOADED_MIN" "($LOADED_MAX" LIMIT 0 1)
  measure large bench-scale- "$loaded" $((${#first} - ${#ALL_MIN}))
  if want small; then measure hot "$SMALL_PREFIX" "$small_items" 4; fi
fi
if want small && want large; then
  for c in $levels; do
    read -r rs ps _ <<<"${figures[small:$c]}"
    for phase in large hot; do
      read -r rl pl _ <<<"${figures[$phase:$c]}"
      label=ratio
      if [ "$phase" = hot ]; then label=ratio-hot; fi
      echo "$label $c $(awk -v a="$rl" -v b="$rs" -v c="$pl" -v d="$ps" 'BEGIN { printf "%.3f %.3f", a / b, c / d }')"
    done
  done
fi
if want clean; then clean; fi

# The summary.
if want small || want large; then
  printf '\nSIOMS bench-scale: stack %s, %ss per level\n' "$STACK" "$seconds" >&2
  printf '  %-6s %11s %10s %9s %8s\n' phase connections orders/s "p99 ms" non-2xx >&2
  for phase in small large hot; do
    for c in $levels; do
      [ -n "${figures[$phase:$c]:-}" ] || continue
      read -r r p b <<<"${figures[$phase:$c]}"
      printf '  %-6s %11s %10.0f %9.1f %8s\n' "$phase" "$c" "$r" "$p" "$b" >&2
    done
  done
  if want small && want large; then
    for c in $levels; do
      read -r rs ps _ <<<"${figures[small:$c]}"
      for phase in large hot; do
        read -r rl pl _ <<<"${figures[$phase:$c]}"
        printf '  %s/small at %s connections: %.1f %% of the orders/s, p99 x %.2f\n' "$phase" "$c" \
          "$(awk -v a="$rl" -v b="$rs" 'BEGIN { print 100 * a / b }')" "$(awk -v a="$pl" -v b="$ps" 'BEGIN { print a / b }')" >&2
      done
    done
  fi
  for phase in small large; do
    [ -n "${figures[data:$phase]:-}" ] || continue
    read -r i o t r <<<"${figures[data:$phase]}"
    printf '  %s data: %s items, %s orders; orders table %s MiB, Redis used_memory %s MiB\n' \
      "$phase" "$i" "$o" "$((t / 1048576))" "$((r / 1048576))" >&2
  done
  printf '  reproduce: STACK=%s SCALE_ITEMS=%s SCALE_ORDERS=%s SCALE_LEVELS="%s" BENCH_SECONDS=%s make bench-scale\n' \
    "$STACK" "$items" "$orders" "$levels" "$seconds" >&2
fi
