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
# env:    prints the stack's addresses and names (gateway, Redis and its key prefix, each
#         service, database and queue, Prometheus) as shell assignments, for `make audit`,
#         `make chaos` and the other scripts that work on a running stack.
# purge:  (after down; refused while anything of the stack still runs, whose databases it would
#         pull from under it) deletes the stack's data: its Redis keys, queues and databases (its
#         empty exchange stays; it is declared again on the next start anyway).
#
# Several stacks can live side by side: STACK=dev (default, gateway on :8080) is `make up`;
# STACK=e2e (gateway on :18080, its own key prefix, exchange, queues and databases) is what the
# end-to-end tests start. Every port and name of a stack comes from scripts/lib/stack-layout.sh
# (PORT_BASE moves all the ports). Logs: .stack/<STACK>/logs/<name>.log; pids in
# .stack/<STACK>/pids/.
#
# RUNTIME=docker runs the services and the gateway from their images (make images) instead of
# native processes, on the host's network and against the same servers, as containers named
# sioms-<STACK>-<instance> (logs: docker logs). IMAGE_TAG picks the tag (default latest) and
# REGISTRY a registry prefix. This is how `make test` proves the images.
#
# Native processes run in sessions of their own (setsid), so they outlive the shell, terminal or
# process group that ran `make up` (a Ctrl-C there, or a CI step ending, does not reach them).
# Nothing supervises them: `make up` again restarts whatever died and leaves the rest alone.
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
# Postgres connections per replica: a service keeps about 16 in all however many replicas it
# runs, so REPLICAS=3 of every service stays well inside Postgres' default max_connections (100)
# next to other stacks. DATABASE_POOL_SIZE overrides it.
DB_POOL=${DATABASE_POOL_SIZE:-$(((16 + REPLICAS - 1) / REPLICAS))}
[ "$DB_POOL" -ge 4 ] || DB_POOL=4
# Actix worker threads per replica. Every process of the stack shares this machine's cores
# (five services, Redis, Postgres, RabbitMQ, nginx), so a service gets one worker per four cores
# across its replicas, at least one, not one per core as when it has a machine or a pod to
# itself: on two cores that is 1, and fewer threads switching on the same cores gave a quarter
# more orders/s (docs/benchmarks.md). HTTP_WORKERS overrides it.
HTTP_WORKERS=${HTTP_WORKERS:-$(($(nproc) / (4 * REPLICAS)))}
[ "$HTTP_WORKERS" -ge 1 ] || HTTP_WORKERS=1
export HTTP_WORKERS
# REDIS_PORT other than 6379: the stack uses (and if need be starts, with the shipped AOF
# configuration) its own Redis there, e.g. the fault suite's, which it may kill.
REDIS_PORT=${REDIS_PORT:-6379}
[ "$REDIS_PORT" = 6379 ] || export REDIS_URL=redis://127.0.0.1:$REDIS_PORT
# The runtime a stack was started with is remembered, so `down` and `status` need not be told.
STARTED_AS=$(cat "$STATE/runtime" 2>/dev/null || true)
RUNTIME=${RUNTIME:-${STARTED_AS:-native}}
case "$RUNTIME" in native | docker) ;; *) echo "RUNTIME must be native or docker" >&2; exit 2 ;; esac
IMAGE_TAG=${IMAGE_TAG:-latest}
REGISTRY=${REGISTRY:-}
[ -z "$REGISTRY" ] || [[ $REGISTRY == */ ]] || REGISTRY="$REGISTRY/"
ORDER_RATE=${GATEWAY_ORDER_RATE:-200}
ORDER_BURST=${GATEWAY_ORDER_BURST:-400}
DB_USER=${SIOMS_DB_USER:-sioms}
DB_PASSWORD=${SIOMS_DB_PASSWORD:-sioms-local}
# The stack's ports and names: PORT_BASE, GATEWAY_PORT, INTERNAL_{INVENTORY,PRICING}_PORT,
# PROMETHEUS_PORT, REDIS_KEY_PREFIX, EVENTS_EXCHANGE, QUEUE_PREFIX, DB_PREFIX, SERVICES
# ("name offset database queue", in start order), QUEUE_SUFFIXES; port_of, service_port,
# service_key.
# shellcheck source=scripts/lib/stack-layout.sh
source "$ROOT/scripts/lib/stack-layout.sh"
# shellcheck source=scripts/lib/pg-admin.sh
source "$ROOT/scripts/lib/pg-admin.sh"
# Prometheus (Debian's package) on PROMETHEUS_PORT; PROMETHEUS=0 leaves it out.
PROMETHEUS=${PROMETHEUS:-1}

say() { printf '%s\n' "$*"; }
answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
container() { echo "sioms-$STACK-$1"; } # instance
image() { echo "${REGISTRY}sioms/$1:$IMAGE_TAG"; } # name
# An instance is running: its process (native; the pid file) or its container (docker; the
# pid file holds the container's name).
alive() {
  [ -f "$PIDS/$1.pid" ] || return 1
  if [ "$RUNTIME" = docker ]; then
    [ "$(docker inspect -f '{{.State.Running}}' "$(cat "$PIDS/$1.pid")" 2>/dev/null)" = true ]
  else
    kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null
  fi
}
log_tail() { # instance
  if [ "$RUNTIME" = docker ]; then docker logs --tail 20 "$(container "$1")" 2>&1; else tail -n 20 "$LOGS/$1.log"; fi
}
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    say "Need to install $* but not running as root: run 'sudo apt-get install -y $*' first." >&2
    exit 1
  fi
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_redis() {
  if answers "$REDIS_PORT"; then say "Redis: reusing the one on :$REDIS_PORT"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$STATE/redis"
  # Our own Redis uses the shipped durable configuration (append-only file).
  redis-server "$ROOT/deploy/redis/redis.conf" --port "$REDIS_PORT" --bind 127.0.0.1 \
    --dir "$STATE/redis" --daemonize yes --pidfile "$PIDS/redis.pid" \
    --logfile "$LOGS/redis.log"
  for _ in $(seq 50); do answers "$REDIS_PORT" && break; sleep 0.2; done
  touch "$STATE/started-redis"
  say "Redis: started on :$REDIS_PORT (AOF in $STATE/redis)"
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
    alive "$1" || { say "$1 exited; last log lines:" >&2; log_tail "$1" >&2; exit 1; }
    sleep 0.2
  done
  say "$1 did not become ready on :$2; last log lines:" >&2
  log_tail "$1" >&2
  exit 1
}

upstreams() { # offset: host:port of every replica, for gateway/render.sh
  local out=""
  for r in $(seq 0 $((REPLICAS - 1))); do out+="127.0.0.1:$(port_of "$1" "$r") "; done
  echo "$out"
}

# The gateway's settings for gateway/render.sh (which the gateway image also runs at start),
# exported; GATEWAY_VARS names them, for the gateway's container.
gateway_env() {
  local s var
  export GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT \
    GATEWAY_INTERNAL_INVENTORY_LISTEN=127.0.0.1:$INTERNAL_INVENTORY_PORT \
    GATEWAY_INTERNAL_PRICING_LISTEN=127.0.0.1:$INTERNAL_PRICING_PORT \
    GATEWAY_ORDER_RATE=$ORDER_RATE GATEWAY_ORDER_BURST=$ORDER_BURST
  GATEWAY_VARS=(GATEWAY_LISTEN GATEWAY_INTERNAL_INVENTORY_LISTEN GATEWAY_INTERNAL_PRICING_LISTEN
    GATEWAY_ORDER_RATE GATEWAY_ORDER_BURST)
  # Every replica of each service: GATEWAY_INVENTORY_UPSTREAMS, GATEWAY_PRICING_UPSTREAMS, …
  for s in "${SERVICES[@]}"; do
    set -- $s
    var=GATEWAY_$(service_key "$1")_UPSTREAMS
    printf -v "$var" '%s' "$(upstreams "$2")"
    export "${var?}"
    GATEWAY_VARS+=("$var")
  done
}

start_gateway() {
  gateway_env
  if [ "$RUNTIME" = docker ]; then
    if alive gateway; then
      docker rm -f "$(container gateway)" >/dev/null
      say "gateway: replacing its container (its settings may have changed)"
    fi
    if answers "$GATEWAY_PORT"; then say "Port $GATEWAY_PORT is taken by something else; free it for the gateway." >&2; exit 1; fi
    run_container gateway gateway "${GATEWAY_VARS[@]}"
    for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    alive gateway || { say "the gateway's container exited:" >&2; log_tail gateway >&2; exit 1; }
    say "gateway: ready on http://127.0.0.1:$GATEWAY_PORT (container $(container gateway))"
    return
  fi
  command -v nginx >/dev/null || apt_install nginx-light
  command -v envsubst >/dev/null || apt_install gettext-base # gateway/render.sh renders with it
  command -v python3 >/dev/null || apt_install python3
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  local dir=$STATE/gateway
  mkdir -p "$dir/tmp" "$ROOT/.stack/cache"
  chmod 0777 "$dir/tmp"
  # Swagger UI's files (from PyPI, cached); the API works without them.
  python3 "$ROOT/gateway/swagger-ui.py" "$dir/docs" "$ROOT/.stack/cache" ||
    say "Swagger UI could not be downloaded; /docs/ will be empty (the API works)." >&2
  GATEWAY_STATE_DIR=$dir GATEWAY_DOCS_DIR=$dir/docs GATEWAY_OPENAPI=$ROOT/api-docs/openapi.json \
    GATEWAY_ACCESS_LOG=$LOGS/gateway.access.log GATEWAY_ERROR_LOG=$LOGS/gateway.error.log \
    "$ROOT/gateway/render.sh" >"$dir/nginx.conf"
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

# The variables a service container gets from this environment (when set). LOG_FORMAT is left
# to the image (JSON), HOST is loopback as for the native processes.
SERVICE_VARS=(ADMIN_TOKEN AMQP_URL CIRCUIT_FAILURES CIRCUIT_OPEN_FOR CONSUMER_BATCH CONSUMER_CONCURRENCY CONSUMER_LINGER
  CONSUMER_PREFETCH CONSUMER_QUEUE DATABASE_POOL_SIZE DATABASE_URL DEFAULT_LOW_STOCK_THRESHOLD
  DEFAULT_STOCK DEPENDENCY_RETRIES DEPENDENCY_TIMEOUT EVENTS_EXCHANGE HOLD_REAPER_INTERVAL
  HOLD_REAPER_RATE HTTP_WORKERS IDEMPOTENCY_KEY_RETENTION IDEMPOTENCY_STALE_AFTER IDEMPOTENCY_WAIT INVENTORY_URL
  NOTIFY_RECIPIENTS OUTBOX_POLL_INTERVAL OUTBOX_SWEEP_INTERVAL OUTBOX_SWEEP_RATE PORT
  PRICE_BOOK_TTL PRICING_URL PROCESSED_EVENTS_RETENTION QUEUE_TYPE REDIS_COMMAND_TIMEOUT
  REDIS_KEY_PREFIX REDIS_POOL_SIZE REDIS_URL RESERVATION_HOLD RESERVATION_RECORD_RETENTION
  RETRY_DELAYS RUST_LOG SHUTDOWN_TIMEOUT STOCK_SYNC_INTERVAL)

# Runs one instance's container on the host's network. The stop timeout is longer than a
# service's own drain (HTTP, workers, then the outbox relay), so a stop is always graceful; the
# health check runs every 2 s so the stack is seen ready quickly.
run_container() { # instance image-name VAR...
  local instance=$1 name=$2 args=() var
  shift 2
  for var in "$@"; do
    if [ -n "${!var:-}" ]; then args+=(-e "$var"); fi
  done
  docker rm -f "$(container "$instance")" >/dev/null 2>&1 || true
  docker run -d --name "$(container "$instance")" --network host --stop-timeout 30 \
    --health-interval 2s --restart no -e HOST=127.0.0.1 "${args[@]}" "$(image "$name")" >/dev/null
  container "$instance" >"$PIDS/$instance.pid"
}

# The native Prometheus' configuration: every replica this stack started, one job per service
# (the job is the service's name, as in compose and on Kubernetes), and the project's rules.
prometheus_config() {
  cat <<YAML
# Written by scripts/stack.sh for the $STACK stack; the compose equivalent is
# monitoring/prometheus/prometheus.yml.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $ROOT/monitoring/prometheus/rules/*.yml
scrape_configs:
YAML
  for s in "${SERVICES[@]}"; do
    set -- $s
    printf '  - job_name: %s\n    static_configs:\n      - targets: [' "$1"
    local sep=""
    for r in $(seq 0 $((REPLICAS - 1))); do printf '%s"127.0.0.1:%s"' "$sep" "$(port_of "$2" "$r")"; sep=", "; done
    printf ']\n'
  done
}

start_prometheus() {
  [ "$PROMETHEUS" = 1 ] || return 0
  command -v prometheus >/dev/null || apt_install prometheus
  local dir=$STATE/prometheus
  mkdir -p "$dir/data"
  prometheus_config >"$dir/prometheus.yml"
  promtool check config "$dir/prometheus.yml" >/dev/null
  # A running one re-reads its configuration (replicas may have changed).
  if [ -f "$PIDS/prometheus.pid" ] && kill -0 "$(cat "$PIDS/prometheus.pid")" 2>/dev/null; then
    kill -HUP "$(cat "$PIDS/prometheus.pid")"
    say "Prometheus: reloaded on http://127.0.0.1:$PROMETHEUS_PORT"
    return
  fi
  if answers "$PROMETHEUS_PORT"; then say "Port $PROMETHEUS_PORT is taken by something else; free it for Prometheus (or PROMETHEUS=0)." >&2; exit 1; fi
  setsid prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time=2d --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    >>"$LOGS/prometheus.log" 2>&1 </dev/null &
  echo $! >"$PIDS/prometheus.pid"
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" >/dev/null 2>&1 ||
    { say "Prometheus did not become ready; see $LOGS/prometheus.log" >&2; tail -n 20 "$LOGS/prometheus.log" >&2; exit 1; }
  say "Prometheus: ready on http://127.0.0.1:$PROMETHEUS_PORT (rules from monitoring/prometheus/rules/)"
}

up() {
  if [ -n "$STARTED_AS" ] && [ "$STARTED_AS" != "$RUNTIME" ]; then
    say "The $STACK stack was started as $STARTED_AS; stop it first (make down), then start it as $RUNTIME." >&2
    exit 1
  fi
  echo "$RUNTIME" >"$STATE/runtime"
  command -v curl >/dev/null || apt_install curl
  command -v psql >/dev/null || apt_install postgresql-client
  ensure_redis
  ensure_postgres
  ensure_rabbitmq
  if [ "$RUNTIME" = docker ]; then
    for s in "${SERVICES[@]}" "gateway"; do
      set -- $s
      docker image inspect "$(image "$1")" >/dev/null 2>&1 ||
        { say "No image $(image "$1"): build the images first (make images)." >&2; exit 1; }
    done
  else
    say "Building the services (release)..."
    local packages=()
    for s in "${SERVICES[@]}"; do set -- $s; packages+=(-p "$1"); done
    cargo build --release --locked -q "${packages[@]}"
  fi
  # The revision the services report in sioms_build_info (the images carry their own).
  SIOMS_REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  export SIOMS_REVISION
  # order-svc reaches inventory and pricing through the gateway's internal listeners, which
  # balance over every replica (never the public port); with one replica of each there is
  # nothing to balance, so it calls them directly and saves a proxy hop per call (three per
  # order; docs/benchmarks.md). On Kubernetes and in compose it calls their Service directly.
  if [ "$REPLICAS" -eq 1 ]; then
    INVENTORY_URL=http://127.0.0.1:$(service_port inventory-svc)
    PRICING_URL=http://127.0.0.1:$(service_port pricing-svc)
  else
    INVENTORY_URL=http://127.0.0.1:$INTERNAL_INVENTORY_PORT PRICING_URL=http://127.0.0.1:$INTERNAL_PRICING_PORT
  fi
  export INVENTORY_URL PRICING_URL
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
      if [ "$RUNTIME" = docker ]; then
        PORT=$port DATABASE_URL=$db_url CONSUMER_QUEUE=$queue_name DATABASE_POOL_SIZE=$DB_POOL \
          run_container "$instance" "$name" "${SERVICE_VARS[@]}"
      else
        PORT=$port DATABASE_URL=$db_url CONSUMER_QUEUE=$queue_name DATABASE_POOL_SIZE=$DB_POOL \
          setsid "$ROOT/target/release/$name" >>"$LOGS/$instance.log" 2>&1 </dev/null &
        echo $! >"$PIDS/$instance.pid"
      fi
      wait_ready "$instance" "$port"
      say "$instance: ready on http://127.0.0.1:$port"
    done
  done
  start_gateway
  start_prometheus
  ADMIN_TOKEN=$ADMIN_TOKEN scripts/seed-demo.sh "http://127.0.0.1:$GATEWAY_PORT"
  local gw=http://127.0.0.1:$GATEWAY_PORT
  cat <<MSG

SIOMS ($STACK, $RUNTIME) is up behind the gateway at $gw. Logs: $([ "$RUNTIME" = docker ] && echo "docker logs sioms-$STACK-<name>" || echo "$LOGS/"). Stop it with: make down
  Try:  curl -s $gw/items
        curl -s -X POST $gw/orders -H 'Content-Type: application/json' -d '{"item":"widget","quantity":1}'
        curl -s $gw/report/orders
        curl -s $gw/notifications
  Admin routes need: -H "Authorization: Bearer \$ADMIN_TOKEN"  (ADMIN_TOKEN is in $ENV_FILE)
  Services (internal, not routed): inventory :$(service_port inventory-svc), order :$(service_port order-svc), pricing :$(service_port pricing-svc), analytics :$(service_port analytics-consumer), notifier :$(service_port notifier-consumer)
  Prometheus (alerts: /alerts): $([ "$PROMETHEUS" = 1 ] && echo "http://127.0.0.1:$PROMETHEUS_PORT" || echo "not started (PROMETHEUS=0)")
MSG
}

stop_pid() { # name pidfile
  if [ "$RUNTIME" = docker ]; then
    if [ -f "$2" ]; then
      docker stop "$(cat "$2")" >/dev/null 2>&1 && say "$1: stopped"
      docker rm -f "$(cat "$2")" >/dev/null 2>&1 || true
    fi
    rm -f "$2"
    return
  fi
  if [ -f "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then
    kill -TERM "$(cat "$2")"
    for _ in $(seq 100); do kill -0 "$(cat "$2")" 2>/dev/null || break; sleep 0.1; done
    say "$1: stopped"
  fi
  rm -f "$2"
}

down() {
  if [ -f "$PIDS/prometheus.pid" ]; then
    kill -TERM "$(cat "$PIDS/prometheus.pid")" 2>/dev/null && say "Prometheus: stopped"
    rm -f "$PIDS/prometheus.pid"
  fi
  stop_pid gateway "$PIDS/gateway.pid"
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
  rm -f "$STATE/runtime"
  if [ -f "$STATE/started-redis" ]; then
    redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
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
  local f instance running=()
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    instance=$(basename "$f" .pid)
    if alive "$instance"; then running+=("$instance"); fi
  done
  if [ "${#running[@]}" -gt 0 ]; then
    say "$STACK: still running (${running[*]}); stop it first with 'scripts/stack.sh down' (make down), then purge"
    exit 1
  fi
  redis-cli -p "$REDIS_PORT" --scan --pattern "${REDIS_KEY_PREFIX}*" | xargs -r redis-cli -p "$REDIS_PORT" del >/dev/null || true
  for s in "${SERVICES[@]}"; do
    set -- $s
    [ "$3" = "-" ] || pg_admin -d postgres -c "DROP DATABASE IF EXISTS $DB_PREFIX$3 WITH (FORCE)" || true
    if [ "$4" != "-" ]; then
      for q in "${QUEUE_SUFFIXES[@]}"; do
        rabbitmqctl -q delete_queue "$QUEUE_PREFIX$4$q" >/dev/null 2>&1 || true
      done
    fi
  done
  rm -rf "$STATE/prometheus"
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
  if curl -fsS "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" >/dev/null 2>&1; then
    say "Prometheus: ready on :$PROMETHEUS_PORT"
  fi
  if curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz" >/dev/null 2>&1; then
    say "gateway: ready on :$GATEWAY_PORT"
  else
    say "gateway: not running"
  fi
}

# The stack's addresses and names, as shell assignments for the tools that work on a running
# stack (`eval "$(scripts/stack.sh env)"`: the auditor, the fault suite).
env_of_stack() {
  local s name db queue
  cat <<ENV
STACK=$STACK
STACK_STATE=$STATE
STACK_RUNTIME=$RUNTIME
GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT
ADMIN_TOKEN=$ADMIN_TOKEN
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
REDIS_PORT=$REDIS_PORT
REDIS_KEY_PREFIX=$REDIS_KEY_PREFIX
AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
EVENTS_EXCHANGE=$EVENTS_EXCHANGE
ENV
  [ "$PROMETHEUS" != 1 ] || echo "PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT"
  for s in "${SERVICES[@]}"; do
    set -- $s
    name=$(service_key "$1") db=$3 queue=$4
    [ "$db" = "-" ] || echo "${name}_DATABASE_URL=postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:5432/$DB_PREFIX$db"
    [ "$queue" = "-" ] || echo "${name}_QUEUE=$QUEUE_PREFIX$queue"
    echo "${name}_URL=http://127.0.0.1:$(port_of "$2" 0)"
  done
}

case "${1:-}" in
  up) up ;;
  env) env_of_stack ;;
  down) down ;;
  status) status ;;
  purge) purge ;;
  *) say "usage: $0 up|down|status|purge|env" >&2; exit 2 ;;
esac
