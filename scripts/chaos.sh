#!/usr/bin/env bash
# The fault suite, behind `make chaos`: starts a stack of its own exactly as `make up` starts
# one (STACK=chaos: gateway on :24080, its own key prefix, exchange, queues and databases, and
# its own Redis on :6390 with the shipped append-only configuration, which the suite kills),
# runs sioms-chaos against it (a load of careful clients, one fault after another, the client
# checks and scripts/audit.sh after each), prints the table, and on exit, whatever happened,
# stops the stack and purges its data. Prints how long it all took.
#
# REPLICAS=n runs n replicas of every service (default 1; the suite kills the first of each).
# CHAOS_* variables tune the suite (chaos/README.md), e.g. CHAOS_FAULTS=kill-order-svc.
# Needs root (as make up does, to install what is missing) and RabbitMQ to itself for the few
# minutes it runs: it closes every broker connection and stops and starts the broker's app.
set -euo pipefail
cd "$(dirname "$0")/.."

export STACK=chaos PORT_BASE=24080 REDIS_PORT=6390 PROMETHEUS=0 REPLICAS=${REPLICAS:-1}
# The careful clients place ~100 orders/s from one address: the gateway's per-address limit
# is raised far above that, so what they meet is the faults, never the limiter.
export GATEWAY_ORDER_RATE=${GATEWAY_ORDER_RATE:-5000} GATEWAY_ORDER_BURST=${GATEWAY_ORDER_BURST:-5000}
STATE=.stack/$STACK

started=$SECONDS
phase() { echo "make chaos: $* ($((SECONDS - started)) s so far)"; }

broker_answers() { timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672' 2>/dev/null; }

# Stops the stack and deletes everything it wrote: its databases, queues and keys, and its own
# Redis's append-only files (that Redis is stopped by `down`, so its files go with it).
remove_stack() {
  scripts/stack.sh down
  rm -rf "$STATE/redis"
  scripts/stack.sh purge 2>&1 | grep -v 'Could not connect to Redis' || true
}

finish() {
  local code=$?
  trap - EXIT
  echo
  # A run stopped between `rabbitmqctl stop_app` and `start_app` leaves the broker's app down.
  if ! broker_answers && command -v rabbitmqctl >/dev/null; then
    echo "make chaos: the broker's app is down; starting it again"
    rabbitmqctl start_app >/dev/null || true
  fi
  phase "stopping and purging the $STACK stack"
  remove_stack >/dev/null || echo "make chaos: could not stop or purge the $STACK stack; see scripts/stack.sh status" >&2
  echo "make chaos: $([ "$code" -eq 0 ] && echo passed || echo "FAILED (exit $code)") in $((SECONDS - started)) s"
  exit "$code"
}

# The suite, and the auditor it runs after every fault, built before any row's clock starts.
# Two builds, the auditor's exactly as scripts/audit.sh runs it: built together, the two would
# unify their dependencies' features differently, and audit.sh would build it all again.
phase "building sioms-chaos and sioms-audit (release)"
cargo build --release --locked -q -p sioms-chaos
cargo build --release --locked -q -p sioms-audit

phase "removing any previous $STACK stack"
remove_stack >/dev/null
trap finish EXIT
trap 'exit 130' INT TERM

phase "starting the $STACK stack (scripts/stack.sh up, REPLICAS=$REPLICAS)"
scripts/stack.sh up

phase "running the fault suite"
suite_started=$SECONDS
status=0
target/release/sioms-chaos || status=$?
echo "make chaos: the suite took $((SECONDS - suite_started)) s"
exit "$status"
