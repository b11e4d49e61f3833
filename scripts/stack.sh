#!/usr/bin/env bash
# Starts and stops SIOMS natively: `scripts/stack.sh up|down|status|purge` (behind `make up`,
# `make down`, `make status`).
#
# up:     reuses Redis, Postgres and RabbitMQ when they already answer on their ports, otherwise
#         installs them from Debian's packages (as root) and starts them; creates the databases;
#         builds the services in release mode; starts each one (REPLICAS of each service)
#         unless already running; renders and starts the NGINX gateway; waits until every
#         /readyz answers; seeds a small demo catalog with prices. Running it twice is harmless.
# down:   stops what `up` started (services, gateway, and servers it had to start), nothing else.
# purge:  (after down) deletes the stack's data: its Redis keys, queues and databases (its empty
#         exchange stays; it is declared again on the next start anyway).
#
# Several stacks can live side by side: STACK=dev (default, gateway on :8080) is `make up`;
# STACK=e2e (gateway on :18080, its own key prefix, exchange, queues and databases) is what the
# end-to-end tests start. Logs: .stack/<STACK>/logs/<name>.log; pids: .stack/<STACK>/pids/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STACK=${STACK:-dev}
STATE=$ROOT/.stack/$STACK
LOGS=$STATE/logs
PIDS=$STATE/pids
mkdir -p "$LOGS" "$PIDS"

ENV_FILE=.env.example
[ -f .env ] && ENV_FILE=.env
set -a
# shellcheck disable=SC1090
source "$ENV_FILE"
set +a

REPLICAS=${REPLICAS:-1}
ORDER_RATE=${GATEWAY_ORDER_RATE:-200}
ORDER_BURST=${GATEWAY_ORDER_BURST:-400}
DB_USER=${SIOMS_DB_USER:-sioms}
DB_PASSWORD=${SIOMS_DB_PASSWORD:-sioms-local}
if [ "$STACK" = dev ]; then
  PORT_BASE=${PORT_BASE:-8080}
  export REDIS_KEY_PREFIX=${REDIS_KEY_PREFIX:-sioms:} EVENTS_EXCHANGE=${EVENTS_EXCHANGE:-sioms.events}
  QUEUE_PREFIX="" DB_PREFIX=sioms_
else
  PORT_BASE=${PORT_BASE:-18080}
  export REDIS_KEY_PREFIX="sioms-$STACK:" EVENTS_EXCHANGE="sioms-$STACK.events"
  QUEUE_PREFIX="$STACK." DB_PREFIX="sioms_${STACK}_"
fi
GATEWAY_PORT=$PORT_BASE
# The gateway's internal listeners, through which order-svc reaches every replica.
INTERNAL_INVENTORY_PORT=$((PORT_BASE + 11))
INTERNAL_PRICING_PORT=$((PORT_BASE + 13))

# name offset database queue: the services, in start order. Replica r of the service with
# offset i listens on PORT_BASE + i + 100 * r.
SERVICES=(
  "inventory-svc 1 - -"
  "pricing-svc 3 pricing -"
  "order-svc 2 orders -"
  "analytics-consumer 4 analytics analytics"
  "notifier-consumer 5 notifier notifier"
)

say() { printf '%s\n' "$*"; }
answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }
port_of() { echo $((PORT_BASE + $1 + 100 * $2)); } # offset replica

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    say "Need to install $* but not running as root: run 'sudo apt-get install -y $*' first." >&2
    exit 1
  fi
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  if answers 6379; then say "Redis: reusing the one on :6379"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$STATE/redis"
  # Our own Redis uses the shipped durable configuration (append-only file).
  redis-server "$ROOT/deploy/redis/redis.conf" --port 6379 --bind 127.0.0.1 \
    --dir "$STATE/redis" --daemonize yes --pidfile "$PIDS/redis.pid" \
    --logfile "$LOGS/redis.log"
  for _ in $(seq 50); do answers 6379 && break; sleep 0.2; done
  touch "$STATE/started-redis"
  say "Redis: started on :6379 (AOF in $STATE/redis)"
}

ensure_rabbitmq() {
  if answers 5672; then say "RabbitMQ: reusing the one on :5672"; return; fi
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  rabbitmq-server -detached
  for _ in $(seq 120); do answers 5672 && break; sleep 0.5; done
  answers 5672 || { say "RabbitMQ did not come up; see /var/log/rabbitmq/" >&2; exit 1; }
  touch "$STATE/started-rabbitmq"
  say "RabbitMQ: started on :5672"
}

# Runs SQL as a Postgres superuser: through the local socket as the postgres OS user (a fresh
# Debian install), else over TCP as postgres (machines with trust auth).
pg_admin() {
  if command -v runuser >/dev/null && runuser -u postgres -- psql -qAtX -c "SELECT 1" >/dev/null 2>&1; then
    runuser -u postgres -- psql -qAtX -v ON_ERROR_STOP=1 "$@"
  else
    psql -qAtX -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"
  fi
}

ensure_postgres() {
  if answers 5432; then
    say "Postgres: reusing the one on :5432"
  else
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
    pg_ctlcluster "$version" main start
    for _ in $(seq 60); do answers 5432 && break; sleep 0.5; done
    touch "$STATE/started-postgres"
    say "Postgres: started cluster $version/main on :5432"
  fi
  # The services connect as their own role, with a password (works with trust and scram alike).
  pg_admin -d postgres -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
        CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD';
      END IF; END \$\$;"
  for s in "${SERVICES[@]}"; do
    set -- $s
    [ "$3" = "-" ] && continue
    local db=$DB_PREFIX$3
    if [ -z "$(pg_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
      pg_admin -d postgres -c "CREATE DATABASE $db OWNER $DB_USER"
      say "Postgres: created database $db"
    fi
  done
}

wait_ready() { # instance port
  for _ in $(seq 150); do
    if curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return 0; fi
    alive "$1" || { say "$1 exited; last log lines:" >&2; tail -n 20 "$LOGS/$1.log" >&2; exit 1; }
    sleep 0.2
  done
  say "$1 did not become ready on :$2; see $LOGS/$1.log" >&2
  exit 1
}

upstream_servers() { # offset
  local out=""
  for r in $(seq 0 $((REPLICAS - 1))); do out+="server 127.0.0.1:$(port_of "$1" "$r"); "; done
  echo "$out"
}

# Swagger UI's files come from the swagger-ui-py wheel on PyPI (downloaded, not installed; this
# machine reaches no CDN); the page itself is the project's gateway/docs/index.html.
SWAGGER_UI_WHEEL=swagger-ui-py==25.7.1
install_docs() { # dir
  mkdir -p "$1"
  cp "$ROOT/gateway/docs/index.html" "$1/index.html"
  [ -f "$1/swagger-ui-bundle.js" ] && return 0
  command -v python3 >/dev/null || apt_install python3
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  local cache=$ROOT/.stack/cache
  mkdir -p "$cache"
  if ! ls "$cache"/swagger_ui_py-*.whl >/dev/null 2>&1; then
    python3 -m pip download -q --no-deps -d "$cache" "$SWAGGER_UI_WHEEL" ||
      { say "Swagger UI could not be downloaded; /docs/ will be empty (the API works)." >&2; return 0; }
  fi
  python3 - "$cache" "$1" <<'PY'
import glob, sys, zipfile
cache, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(sorted(glob.glob(f"{cache}/swagger_ui_py-*.whl"))[-1])
for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css",
             "favicon-32x32.png", "favicon-16x16.png"):
    with open(f"{dest}/{name}", "wb") as out:
        out.write(wheel.read(f"swagger_ui/static/{name}"))
PY
}

start_gateway() {
  command -v nginx >/dev/null || apt_install nginx-light
  local dir=$STATE/gateway
  mkdir -p "$dir/tmp"
  chmod 0777 "$dir/tmp"
  install_docs "$dir/docs"
  sed -e "s|@STATE@|$dir|g" -e "s|@ROOT@|$ROOT|g" -e "s|@LOGS@|$LOGS|g" -e "s|@GATEWAY_PORT@|$GATEWAY_PORT|g" \
      -e "s|@INTERNAL_INVENTORY_PORT@|$INTERNAL_INVENTORY_PORT|g" -e "s|@INTERNAL_PRICING_PORT@|$INTERNAL_PRICING_PORT|g" \
      -e "s|@ORDER_RATE@|$ORDER_RATE|g" -e "s|@ORDER_BURST@|$ORDER_BURST|g" \
      -e "s|@INVENTORY_SERVERS@|$(upstream_servers 1)|" -e "s|@ORDER_SERVERS@|$(upstream_servers 2)|" \
      -e "s|@PRICING_SERVERS@|$(upstream_servers 3)|" -e "s|@ANALYTICS_SERVERS@|$(upstream_servers 4)|" \
      -e "s|@NOTIFIER_SERVERS@|$(upstream_servers 5)|" \
      "$ROOT/gateway/nginx.conf.template" >"$dir/nginx.conf"
  nginx -t -q -p "$dir" -c "$dir/nginx.conf" -g "error_log $LOGS/gateway.error.log;"
  if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
    nginx -p "$dir" -c "$dir/nginx.conf" -s reload
    say "gateway: reloaded on :$GATEWAY_PORT"
    return
  fi
  if answers "$GATEWAY_PORT"; then say "Port $GATEWAY_PORT is taken by something else; free it for the gateway." >&2; exit 1; fi
  nginx -p "$dir" -c "$dir/nginx.conf"
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  say "gateway: ready on http://127.0.0.1:$GATEWAY_PORT"
}

seed_demo() {
  local gw=http://127.0.0.1:$GATEWAY_PORT auth="Authorization: Bearer $ADMIN_TOKEN" json='Content-Type: application/json'
  # An item that exists already answers 409 and is left as it is.
  for row in "widget Widget 100 1999" "gadget Gadget 40 4999" "gizmo Gizmo 12 750"; do
    set -- $row
    curl -s -o /dev/null -X POST "http://127.0.0.1:$(port_of 1 0)/items" -H "$auth" -H "$json" \
      -d "{\"id\":\"$1\",\"name\":\"$2\",\"stock\":$3}"
    curl -s -o /dev/null -X PUT "http://127.0.0.1:$(port_of 3 0)/price/$1" -H "$auth" -H "$json" \
      -d "{\"price_cents\":$4,\"currency\":\"EUR\"}"
  done
  say "demo catalog: widget, gadget, gizmo (with prices) — see $gw/items"
}

up() {
  command -v curl >/dev/null || apt_install curl
  command -v psql >/dev/null || apt_install postgresql-client
  ensure_redis
  ensure_postgres
  ensure_rabbitmq
  say "Building the services (release)..."
  cargo build --release --locked -q $(for s in "${SERVICES[@]}"; do set -- $s; printf -- '-p %s ' "$1"; done)
  # order-svc reaches inventory and pricing through the gateway's internal listeners (every
  # replica, never the public port).
  export INVENTORY_URL=http://127.0.0.1:$INTERNAL_INVENTORY_PORT PRICING_URL=http://127.0.0.1:$INTERNAL_PRICING_PORT
  for s in "${SERVICES[@]}"; do
    set -- $s
    local name=$1 offset=$2 db=$3 queue=$4
    for r in $(seq 0 $((REPLICAS - 1))); do
      local instance=$name port; port=$(port_of "$offset" "$r")
      [ "$r" -gt 0 ] && instance=$name-$r
      if alive "$instance"; then say "$instance: already running (pid $(cat "$PIDS/$instance.pid"))"; continue; fi
      if answers "$port"; then say "Port $port is taken by something else; free it for $instance." >&2; exit 1; fi
      local db_url="" queue_name=""
      [ "$db" != "-" ] && db_url="postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:5432/$DB_PREFIX$db"
      [ "$queue" != "-" ] && queue_name="$QUEUE_PREFIX$queue"
      PORT=$port DATABASE_URL=$db_url CONSUMER_QUEUE=$queue_name \
        nohup "$ROOT/target/release/$name" >>"$LOGS/$instance.log" 2>&1 &
      echo $! >"$PIDS/$instance.pid"
      wait_ready "$instance" "$port"
      say "$instance: ready on http://127.0.0.1:$port"
    done
  done
  start_gateway
  seed_demo
  local gw=http://127.0.0.1:$GATEWAY_PORT
  cat <<MSG

SIOMS ($STACK) is up behind the gateway at $gw. Logs: $LOGS/. Stop it with: make down
  Try:  curl -s $gw/items
        curl -s -X POST $gw/orders -H 'Content-Type: application/json' -d '{"item":"widget","quantity":1}'
        curl -s $gw/report/orders
        curl -s $gw/notifications
  Admin routes need: -H "Authorization: Bearer \$ADMIN_TOKEN"  (ADMIN_TOKEN is in $ENV_FILE)
  Services (internal, not routed): inventory :$(port_of 1 0), order :$(port_of 2 0), pricing :$(port_of 3 0), analytics :$(port_of 4 0), notifier :$(port_of 5 0)
MSG
}

stop_pid() { # name pidfile
  if [ -f "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then
    kill -TERM "$(cat "$2")"
    for _ in $(seq 100); do kill -0 "$(cat "$2")" 2>/dev/null || break; sleep 0.1; done
    say "$1: stopped"
  fi
  rm -f "$2"
}

down() {
  if [ -f "$STATE/gateway/nginx.pid" ]; then
    nginx -p "$STATE/gateway" -c "$STATE/gateway/nginx.conf" -s quit 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$STATE/gateway/nginx.pid" ] || break; sleep 0.1; done
    say "gateway: stopped"
  fi
  # Reverse start order: consumers and order-svc stop before what they call.
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    set -- ${SERVICES[$i]}
    for f in "$PIDS/$1".pid "$PIDS/$1"-*.pid; do
      [ -e "$f" ] || continue
      stop_pid "$(basename "$f" .pid)" "$f"
    done
  done
  if [ -f "$STATE/started-redis" ]; then
    redis-cli -p 6379 shutdown >/dev/null 2>&1 || true
    rm -f "$STATE/started-redis"; say "Redis: stopped (started by make up)"
  fi
  if [ -f "$STATE/started-postgres" ]; then
    pg_ctlcluster "$(ls /etc/postgresql | sort -V | tail -n 1)" main stop || true
    rm -f "$STATE/started-postgres"; say "Postgres: stopped (started by make up)"
  fi
  if [ -f "$STATE/started-rabbitmq" ]; then
    rabbitmqctl stop >/dev/null 2>&1 || true
    rm -f "$STATE/started-rabbitmq"; say "RabbitMQ: stopped (started by make up)"
  fi
}

purge() {
  redis-cli --scan --pattern "${REDIS_KEY_PREFIX}*" | xargs -r redis-cli del >/dev/null || true
  for s in "${SERVICES[@]}"; do
    set -- $s
    [ "$3" = "-" ] || pg_admin -d postgres -c "DROP DATABASE IF EXISTS $DB_PREFIX$3 WITH (FORCE)" || true
    if [ "$4" != "-" ]; then
      for q in "" .retry.1 .retry.2 .retry.3 .dead; do
        rabbitmqctl -q delete_queue "$QUEUE_PREFIX$4$q" >/dev/null 2>&1 || true
      done
    fi
  done
  say "$STACK: data purged (keys ${REDIS_KEY_PREFIX}*, databases ${DB_PREFIX}*, queues ${QUEUE_PREFIX:-}*)"
}

status() {
  for s in "${SERVICES[@]}"; do
    set -- $s
    local shown=0
    for r in $(seq 0 9); do
      local instance=$1 port; port=$(port_of "$2" "$r")
      [ "$r" -gt 0 ] && instance=$1-$r
      [ "$r" -gt 0 ] && [ ! -f "$PIDS/$instance.pid" ] && continue
      shown=1
      if alive "$instance" && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
        say "$instance: ready on :$port"
      elif alive "$instance"; then say "$instance: running, not ready"
      else say "$instance: not running"; fi
    done
    [ "$shown" -eq 1 ] || say "$1: not running"
  done
  if curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null 2>&1; then
    say "gateway: ready on :$GATEWAY_PORT"
  else
    say "gateway: not running"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  purge) purge ;;
  *) say "usage: $0 up|down|status|purge" >&2; exit 2 ;;
esac
