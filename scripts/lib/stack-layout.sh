# shellcheck shell=bash disable=SC2034 # the variables are for the script that sources this file
# The native stack's layout, written once: the port of every process a stack runs and the names
# of its databases and queues, from STACK and PORT_BASE. scripts/stack.sh sources it (after
# .env) and takes every port and name it starts, checks, purges and describes from here, the
# gateway's settings and the Prometheus configuration included. Other scripts read the result
# through `scripts/stack.sh env` (GATEWAY_URL, PROMETHEUS_URL, *_URL, *_QUEUE, …) instead of
# writing a port or a name again.
#
# Ports, from PORT_BASE (default 8080 for STACK=dev, 18080 for any other stack):
#   PORT_BASE                        the gateway: the public API
#   PORT_BASE + offset + 100 * r     replica r of a service (its offset in SERVICES)
#   PORT_BASE + 11 / + 13            the gateway's internal listeners through which order-svc
#                                    reaches every inventory / pricing replica (offset + 10)
#   PORT_BASE + 9                    Prometheus, for a stack other than dev; dev's is on 9090
#                                    (PROMETHEUS_PORT overrides either)
# Names: the dev stack has the key prefix sioms: (REDIS_KEY_PREFIX), the exchange sioms.events
# (EVENTS_EXCHANGE), the consumers' queues under their own names (analytics, notifier) and the
# databases sioms_<name>; any other stack puts its name in each: sioms-<STACK>:,
# sioms-<STACK>.events, <STACK>.<queue>, sioms_<STACK>_<name>.
#
# Reads STACK (set by the caller), PORT_BASE, PROMETHEUS_PORT, and for dev REDIS_KEY_PREFIX and
# EVENTS_EXCHANGE; sets the variables below; defines port_of, service_port and service_key.

if [ "$STACK" = dev ]; then
  PORT_BASE=${PORT_BASE:-8080}
  export REDIS_KEY_PREFIX=${REDIS_KEY_PREFIX:-sioms:} EVENTS_EXCHANGE=${EVENTS_EXCHANGE:-sioms.events}
  QUEUE_PREFIX="" DB_PREFIX=sioms_
  PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
else
  PORT_BASE=${PORT_BASE:-18080}
  export REDIS_KEY_PREFIX="sioms-$STACK:" EVENTS_EXCHANGE="sioms-$STACK.events"
  QUEUE_PREFIX="$STACK." DB_PREFIX="sioms_${STACK}_"
  PROMETHEUS_PORT=${PROMETHEUS_PORT:-$((PORT_BASE + 9))}
fi
GATEWAY_PORT=$PORT_BASE
INTERNAL_INVENTORY_PORT=$((PORT_BASE + 11))
INTERNAL_PRICING_PORT=$((PORT_BASE + 13))

# name offset database queue: the services, in start order ("-": none). The database and the
# queue are base names, which the stack's DB_PREFIX and QUEUE_PREFIX go in front of.
SERVICES=(
  "inventory-svc 1 - -"
  "pricing-svc 3 pricing -"
  "order-svc 2 orders -"
  "analytics-consumer 4 analytics analytics"
  "notifier-consumer 5 notifier notifier"
)
# Replica r of a service listens this many ports above replica 0, times r.
REPLICA_PORT_STEP=100
# The queues a consumer's work queue Q comes with (platform/src/consumer.rs): Q itself, one
# holding queue per retry level (RETRY_DELAYS, three levels by default) and the parking queue.
QUEUE_SUFFIXES=("" .retry.1 .retry.2 .retry.3 .dead)

port_of() { echo $((PORT_BASE + $1 + REPLICA_PORT_STEP * $2)); } # offset replica

service_port() { # name [replica, default 0]: that replica's port
  local s name offset
  for s in "${SERVICES[@]}"; do
    read -r name offset _ <<<"$s"
    if [ "$name" = "$1" ]; then port_of "$offset" "${2:-0}"; return; fi
  done
  echo "stack-layout: no service $1" >&2
  return 1
}

# A service's key in variable names: inventory-svc -> INVENTORY (INVENTORY_URL in
# `scripts/stack.sh env`, GATEWAY_INVENTORY_UPSTREAMS for gateway/render.sh).
service_key() { local key=${1%%-*}; echo "${key^^}"; }
