#!/usr/bin/env bash
# The container phase of `make test`: builds the six images, runs them against this machine's
# Redis, Postgres and RabbitMQ (STACK=ctr RUNTIME=docker scripts/stack.sh: host networking, the
# gateway on :28080, its own key prefix, exchange, queues and databases) and proves, through the
# containerised gateway:
#   - every container runs as a non-root user and its HEALTHCHECK reports it healthy;
#   - seed 001's quick check and the end-to-end journey test pass;
#   - `docker stop` during a stream of orders: each container exits by itself within its grace
#     period with code 0, and every accepted order is in Postgres with its event delivered
#     (e2e/tests/containers.rs).
# It prints each image's size, and stops what it started (containers, and dockerd if it started
# it). The engine: one that already answers, else ../shared/containers/setup.sh (as root), which
# installs Debian's Docker and builds the base images locally where no registry is reachable.
# Without either it says so and counts the phase as skipped.
# Each check ends with a "test result:" line, which `make test` adds to its summary.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
SETUP=../shared/containers/setup.sh
PORT_BASE=28080
ctr_stack() { env STACK=ctr RUNTIME=docker PORT_BASE=$PORT_BASE "$@"; }

result() { # ok|FAILED what
  if [ "$1" = ok ]; then echo "test result: ok. 1 passed; 0 failed; 0 ignored (containers: $2)"
  else echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (containers: $2)"; fi
}

started_dockerd=0
cleanup() {
  ctr_stack scripts/stack.sh down >/dev/null 2>&1
  ctr_stack scripts/stack.sh purge >/dev/null 2>&1
  if [ "$started_dockerd" = 1 ]; then
    ENGINE=docker bash "$SETUP" dockerd-stop >/dev/null 2>&1
    echo "containers: stopped the dockerd this phase started"
  fi
}
trap cleanup EXIT

echo "== containers: the engine =="
if ! docker info >/dev/null 2>&1; then
  if [ ! -f "$SETUP" ]; then
    echo "containers: no container engine answers and $SETUP is not here: phase skipped"
    echo "test result: ok. 0 passed; 0 failed; 1 ignored (containers: no engine)"
    exit 0
  fi
  started_dockerd=1
fi
if [ -f "$SETUP" ]; then
  # Idempotent: installs what is missing, starts dockerd if needed, builds missing base images.
  ENGINE=docker bash "$SETUP" all >/tmp/sioms-container-setup.log 2>&1 ||
    { tail -n 30 /tmp/sioms-container-setup.log; result FAILED "engine set-up"; exit 1; }
fi
docker version --format 'engine: dockerd {{.Server.Version}}'

echo "== containers: make images =="
started=$SECONDS
scripts/images.sh build >/tmp/sioms-images.log 2>&1 ||
  { tail -n 40 /tmp/sioms-images.log; result FAILED "make images"; exit 1; }
echo "built the six images in $((SECONDS - started)) s"
scripts/images.sh sizes
tag=$(scripts/images.sh version)

echo "== containers: the stack from the images (STACK=ctr, gateway on :$PORT_BASE) =="
ctr_stack scripts/stack.sh down >/dev/null 2>&1
ctr_stack scripts/stack.sh purge >/dev/null 2>&1
# The order rate limit is out of the way here: the stream below is no abuse.
if ! ctr_stack IMAGE_TAG=$tag GATEWAY_ORDER_RATE=100000 GATEWAY_ORDER_BURST=100000 scripts/stack.sh up; then
  result FAILED "the stack from the images starts"
  exit 1
fi
status=0
# Its gateway and exchange, as scripts/stack.sh made them.
ctr_addresses=$(ctr_stack scripts/stack.sh env)
gw=$(sed -n 's/^GATEWAY_URL=//p' <<<"$ctr_addresses")
exchange=$(sed -n 's/^EVENTS_EXCHANGE=//p' <<<"$ctr_addresses")
containers=(order-svc inventory-svc pricing-svc analytics-consumer notifier-consumer gateway)
names=()
for c in "${containers[@]}"; do names+=("sioms-ctr-$c"); done

# Every container healthy by its own HEALTHCHECK, and its process not root (read from the
# kernel: the Uid line of the container's main process).
ok=1
for name in "${names[@]}"; do
  health=""
  for _ in $(seq 60); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$name" 2>/dev/null)
    [ "$health" = healthy ] && break
    sleep 1
  done
  pid=$(docker inspect -f '{{.State.Pid}}' "$name")
  uid=$(awk '/^Uid:/ { print $3 }' "/proc/$pid/status")
  user=$(docker inspect -f '{{.Config.User}}' "$name")
  printf '%-32s %-9s uid %s (USER %s)\n' "$name" "$health" "$uid" "$user"
  if [ "$health" != healthy ] || [ "$uid" = 0 ] || [ -z "$uid" ]; then ok=0; fi
done
if [ "$ok" = 1 ]; then result ok "non-root and healthy"; else result FAILED "non-root and healthy"; status=1; fi

# Seed 001's quick check, through the containerised gateway.
code=$(curl -s -o /tmp/sioms-quick-check.json -w '%{http_code}' -X POST "$gw/orders" \
  -H 'Content-Type: application/json' -d '{"item":"widget","quantity":1}')
echo "POST /orders {\"item\":\"widget\",\"quantity\":1} -> $code $(cat /tmp/sioms-quick-check.json)"
if [ "$code" = 201 ]; then result ok "seed 001 quick check"; else result FAILED "seed 001 quick check"; status=1; fi

set -a
# shellcheck disable=SC1091
source .env.example
[ -f .env ] && source .env
set +a
export E2E_GATEWAY=$gw EVENTS_EXCHANGE=$exchange E2E_CONTAINERS="${names[*]}"
cargo test -p e2e --locked --test journeys -- --test-threads=1 \
  an_operator_and_a_customer_go_through_both_seeds_journeys || status=1
cargo test -p e2e --locked --test containers -- --ignored --nocapture || status=1
exit "$status"
