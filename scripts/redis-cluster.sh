#!/usr/bin/env bash
# A real Redis Cluster on loopback, from Debian's redis-server: three primaries and three
# replicas, for the cluster tests (`make test`), the failover benchmark (`make bench-failover`)
# and for trying SIOMS on a cluster.
#
#   scripts/redis-cluster.sh start                # nodes on REDIS_CLUSTER_PORT..+5 (default 7001..7006)
#   scripts/redis-cluster.sh stop                 # stops them and deletes their data
#   scripts/redis-cluster.sh urls                 # the REDIS_URL of the cluster (comma-separated nodes)
#   scripts/redis-cluster.sh kill-primary [port]  # SIGKILLs a primary (that one, or the first
#                                                 # CLUSTER NODES lists) and prints its port
#   scripts/redis-cluster.sh restart-node <port>  # starts a killed node again (it rejoins, as a
#                                                 # replica if it was failed over) and waits until
#                                                 # every primary has a replica in sync
#
# Each node uses the shipped durable configuration (deploy/redis/redis.conf: append-only file)
# plus cluster mode, with a 2 s node timeout so a failover happens within seconds. Data and
# logs: .stack/redis-cluster/<port>/ (and create.log in the first node's).
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

is_ours() {
  local p
  for p in $PORTS; do [ "$p" = "$1" ] && return 0; done
  return 1
}

# Starts the node of port $1 on the data in $DIR/$1 (a fresh node when that is empty; the same
# node, with its cluster identity and append-only file, when restarted), and waits until it
# answers.
launch_node() {
  local p=$1
  redis-server "$ROOT/deploy/redis/redis.conf" --port "$p" --bind 127.0.0.1 \
    --cluster-enabled yes --cluster-config-file "$DIR/$p/nodes.conf" \
    --cluster-node-timeout 2000 --dir "$DIR/$p" --daemonize yes \
    --pidfile "$DIR/$p/redis.pid" --logfile "$DIR/$p/redis.log"
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && return; sleep 0.1; done
  say "node $p did not answer; see $DIR/$p/redis.log" >&2
  exit 1
}

# A node of ours that answers, to ask about the cluster.
any_node() {
  local p
  for p in $PORTS; do
    if redis-cli -p "$p" ping >/dev/null 2>&1; then echo "$p"; return; fi
  done
  say "no node of the cluster answers on 127.0.0.1:$BASE-$((BASE + 5))" >&2
  exit 1
}

# True when every node that answers says cluster_state:ok, and every primary serving slots has a
# replica whose link to it is up (in sync), so a failover has somewhere to go.
healthy() {
  local p nodes id flags rest replica synced
  for p in $PORTS; do
    redis-cli -p "$p" ping >/dev/null 2>&1 || continue
    [[ $(redis-cli -p "$p" cluster info) == *cluster_state:ok* ]] || return 1
  done
  nodes=$(redis-cli -p "$(any_node)" cluster nodes) || return 1
  # CLUSTER NODES: <id> <ip:port@cport> <flags> <master id or -> <ping> <pong> <epoch> <link> <slots...>
  while read -r id _ flags _ _ _ _ _ rest; do
    [[ $flags == *master* && $flags != *fail* && -n $rest ]] || continue
    synced=no
    while read -r replica; do
      if [[ $(redis-cli -p "$replica" info replication 2>/dev/null) == *master_link_status:up* ]]; then
        synced=yes
      fi
    done < <(awk -v id="$id" '$4 == id && $3 ~ /slave/ && $3 !~ /fail/ { split($2, a, "[:@]"); print a[2] }' <<<"$nodes")
    [ "$synced" = yes ] || return 1
  done <<<"$nodes"
}

wait_healthy() {
  for _ in $(seq 150); do
    if healthy; then return; fi
    sleep 0.2
  done
  say "the cluster did not become ready; see $DIR/$BASE/create.log and $DIR/*/redis.log" >&2
  exit 1
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
  done
  for p in $PORTS; do
    rm -rf "${DIR:?}/$p"
    mkdir -p "$DIR/$p"
    launch_node "$p"
    nodes+=("127.0.0.1:$p")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/$BASE/create.log"
  wait_healthy
  say "Redis Cluster: 3 primaries and 3 replicas on 127.0.0.1:$BASE-$((BASE + 5))"
}

stop() {
  local p
  for p in $PORTS; do
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "${DIR:?}/$p"
  done
  # Only this cluster's nodes: another one (another REDIS_CLUSTER_PORT) may share the directory.
  rmdir "$DIR" 2>/dev/null || true
  say "Redis Cluster: stopped"
}

kill_primary() {
  local p=${1:-}
  if [ -z "$p" ]; then
    p=$(redis-cli -p "$(any_node)" cluster nodes |
      awk '$3 ~ /master/ && $3 !~ /fail/ && NF > 8 { split($2, a, "[:@]"); print a[2]; exit }')
    [ -n "$p" ] || { say "no live primary in CLUSTER NODES" >&2; exit 1; }
  fi
  is_ours "$p" || { say "port $p is not a node of this cluster ($BASE-$((BASE + 5)))" >&2; exit 2; }
  local role
  role=$(redis-cli -p "$p" role 2>/dev/null) || true
  if [ "${role%%$'\n'*}" != master ]; then
    say "node $p is not a primary now" >&2
    exit 1
  fi
  local pid
  pid=$(redis-cli -p "$p" info server | tr -d '\r' | awk -F: '$1 == "process_id" { print $2 }')
  [ -n "$pid" ] || { say "cannot read the pid of node $p" >&2; exit 1; }
  # SIGKILL: no shutdown, no last flush to the replicas; what they did not have yet is lost.
  kill -9 "$pid"
  # Gone once it no longer answers (the pid may linger as a zombie until its parent reaps it).
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 || break; sleep 0.02; done
  say "$p"
}

restart_node() {
  local p=${1:-}
  [ -n "$p" ] || { say "usage: $0 restart-node <port>" >&2; exit 2; }
  is_ours "$p" || { say "port $p is not a node of this cluster ($BASE-$((BASE + 5)))" >&2; exit 2; }
  if redis-cli -p "$p" ping >/dev/null 2>&1; then
    say "node $p answers already" >&2
    exit 1
  fi
  [ -f "$DIR/$p/nodes.conf" ] || { say "no $DIR/$p/nodes.conf: was the cluster started by this script?" >&2; exit 1; }
  launch_node "$p"
  wait_healthy
  say "Redis Cluster: node $p is back; every primary has a replica in sync"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  urls) urls ;;
  kill-primary) kill_primary "${2:-}" ;;
  restart-node) restart_node "${2:-}" ;;
  *) say "usage: $0 start|stop|urls|kill-primary [port]|restart-node <port>" >&2; exit 2 ;;
esac
