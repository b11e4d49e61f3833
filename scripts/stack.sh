#!/usr/bin/env bash
# Starts and stops SIOMS natively: `scripts/stack.sh up|down|status` (behind `make up`, `make down`,
# `make status`).
#
# up:   reuses Redis and RabbitMQ when they already answer on their ports, otherwise installs
#       them from Debian's packages (as root) and starts them; builds the services in release
#       mode; starts each one unless it is already running; waits until every /readyz answers.
#       Running it twice is harmless.
# down: stops what `up` started (services, and servers it had to start itself), nothing else.
#
# Everything it starts writes its log to .stack/logs/<name>.log; pids are in .stack/pids/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=$ROOT/.stack
LOGS=$STATE/logs
PIDS=$STATE/pids
mkdir -p "$LOGS" "$PIDS"

# Settings: .env when present, else the committed example.
ENV_FILE=.env.example
[ -f .env ] && ENV_FILE=.env
set -a
# shellcheck disable=SC1090
source "$ENV_FILE"
set +a

# name port database: the services this stack runs, in start order ("-" = no database).
SERVICES=(
  "inventory-svc 8081 -"
  "pricing-svc 8083 sioms_pricing"
  "order-svc 8082 sioms_orders"
  "analytics-consumer 8084 sioms_analytics"
  "notifier-consumer 8085 sioms_notifier"
)
DB_USER=${SIOMS_DB_USER:-sioms}
DB_PASSWORD=${SIOMS_DB_PASSWORD:-sioms-local}

say() { printf '%s\n' "$*"; }
answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
alive() { [ -f "$PIDS/$1.pid" ] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

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
  say "Redis: started on :6379 (AOF in .stack/redis)"
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
    if [ -z "$(pg_admin -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$3'")" ]; then
      pg_admin -d postgres -c "CREATE DATABASE $3 OWNER $DB_USER"
      say "Postgres: created database $3"
    fi
  done
}

wait_ready() { # name port
  for _ in $(seq 100); do
    if curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then return 0; fi
    alive "$1" || { say "$1 exited; last log lines:" >&2; tail -n 20 "$LOGS/$1.log" >&2; exit 1; }
    sleep 0.2
  done
  say "$1 did not become ready on :$2; see $LOGS/$1.log" >&2
  exit 1
}

up() {
  command -v curl >/dev/null || apt_install curl
  command -v psql >/dev/null || apt_install postgresql-client
  ensure_redis
  ensure_postgres
  ensure_rabbitmq
  say "Building the services (release)..."
  cargo build --release --locked -q $(for s in "${SERVICES[@]}"; do set -- $s; printf -- '-p %s ' "$1"; done)
  export INVENTORY_URL=http://127.0.0.1:8081 PRICING_URL=http://127.0.0.1:8083
  for s in "${SERVICES[@]}"; do
    set -- $s
    if alive "$1"; then say "$1: already running (pid $(cat "$PIDS/$1.pid"))"; continue; fi
    if answers "$2"; then say "Port $2 is taken by something else; free it for $1." >&2; exit 1; fi
    local db_url=""
    [ "$3" != "-" ] && db_url="postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:5432/$3"
    PORT=$2 DATABASE_URL=$db_url nohup "$ROOT/target/release/$1" >>"$LOGS/$1.log" 2>&1 &
    echo $! >"$PIDS/$1.pid"
    wait_ready "$1" "$2"
    say "$1: ready on http://127.0.0.1:$2"
  done
  cat <<MSG

SIOMS is up. Logs: .stack/logs/. Stop it with: make down
  inventory-svc  http://127.0.0.1:8081   items, stock, reservations
  order-svc      http://127.0.0.1:8082   orders
  pricing-svc    http://127.0.0.1:8083   prices
  analytics      http://127.0.0.1:8084   /report/orders, /report/low-stock
  notifier       http://127.0.0.1:8085   /notifications
  Admin token: ADMIN_TOKEN in $ENV_FILE
  Try:  T=\$(grep ^ADMIN_TOKEN $ENV_FILE | cut -d= -f2)
        curl -s -X POST localhost:8081/items -H "Authorization: Bearer \$T" \\
          -H 'Content-Type: application/json' -d '{"id":"widget","name":"Widget","stock":25}'
        curl -s -X PUT localhost:8083/price/widget -H "Authorization: Bearer \$T" \\
          -H 'Content-Type: application/json' -d '{"price_cents":1999,"currency":"EUR"}'
        curl -s -X POST localhost:8082/orders -H 'Content-Type: application/json' \\
          -d '{"item":"widget","quantity":1}'
MSG
}

down() {
  for s in "${SERVICES[@]}"; do
    set -- $s
    if alive "$1"; then
      kill -TERM "$(cat "$PIDS/$1.pid")"
      for _ in $(seq 100); do alive "$1" || break; sleep 0.1; done
      say "$1: stopped"
    fi
    rm -f "$PIDS/$1.pid"
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

status() {
  for s in "${SERVICES[@]}"; do
    set -- $s
    if alive "$1" && curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; then
      say "$1: ready on :$2"
    elif alive "$1"; then say "$1: running, not ready"
    else say "$1: not running"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) say "usage: $0 up|down|status" >&2; exit 2 ;;
esac
