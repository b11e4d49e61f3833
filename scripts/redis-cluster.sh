#!/usr/bin/env bash
# A real Redis Cluster on loopback, from Debian's redis-server: three primaries and three
# replicas, for the cluster tests (`make test`) and for trying SIOMS on a cluster.
#
#   scripts/redis-cluster.sh start   # nodes on REDIS_CLUSTER_PORT..+5 (default 7001..7006)
#   scripts/redis-cluster.sh stop    # stops them and deletes their data
#   scripts/redis-cluster.sh urls    # the REDIS_URL of the cluster (comma-separated nodes)
#
# Each node uses the shipped durable configuration (deploy/redis/redis.conf: append-only file)
# plus cluster mode, with a 2 s node timeout so a failover happens within seconds. Data and
# logs: .stack/redis-cluster/<port>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE=${REDIS_CLUSTER_PORT:-7001}
DIR=$ROOT/.stack/redis-cluster
PORTS=$(seq "$BASE" $((BASE + 5)))

say() { printf '%s\n' "$*"; }

urls() {
  local out="" p
  for p in $PORTS; do out+="redis://127.0.0.1:$p,"; done
  echo "${out%,}"
}

start() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    [ "$(id -u)" -eq 0 ] || { say "Need redis-server and redis-cli: apt-get install -y redis-server" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  local p nodes=()
  for p in $PORTS; do
    if redis-cli -p "$p" ping >/dev/null 2>&1; then
      say "port $p answers already: stop what runs there (scripts/redis-cluster.sh stop)" >&2
      exit 1
    fi
    rm -rf "${DIR:?}/$p"
    mkdir -p "$DIR/$p"
    redis-server "$ROOT/deploy/redis/redis.conf" --port "$p" --bind 127.0.0.1 \
      --cluster-enabled yes --cluster-config-file "$DIR/$p/nodes.conf" \
      --cluster-node-timeout 2000 --dir "$DIR/$p" --daemonize yes \
      --pidfile "$DIR/$p/redis.pid" --logfile "$DIR/$p/redis.log"
    nodes+=("127.0.0.1:$p")
  done
  for p in $PORTS; do
    for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log"
  for _ in $(seq 100); do
    if redis-cli -p "$BASE" cluster info | grep -q '^cluster_state:ok'; then
      # Every replica attached and in sync, so a failover has somewhere to go.
      local synced=0
      for p in $PORTS; do
        if redis-cli -p "$p" info replication | grep -q '^master_link_status:up'; then synced=$((synced + 1)); fi
      done
      if [ "$synced" -eq 3 ]; then
        say "Redis Cluster: 3 primaries and 3 replicas on 127.0.0.1:$BASE-$((BASE + 5))"
        return
      fi
    fi
    sleep 0.2
  done
  say "the cluster did not become ready; see $DIR/create.log and $DIR/*/redis.log" >&2
  exit 1
}

stop() {
  local p
  for p in $PORTS; do
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "$DIR"
  say "Redis Cluster: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  urls) urls ;;
  *) say "usage: $0 start|stop|urls" >&2; exit 2 ;;
esac
