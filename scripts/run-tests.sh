#!/usr/bin/env bash
# `make test`: checks the servers, runs every crate's tests (the consumers' again on quorum
# queues, inventory's and order's again on a Redis Cluster), the delivery files' validators
# (scripts/check-delivery.sh), then the end-to-end tests against a whole stack started the way
# `make up` starts it (STACK=e2e: its own ports, key prefix, exchange, queues and databases,
# purged before and after, three replicas of every service) and the auditor on it, then the
# fault suite (make chaos), then the container phase (scripts/test-containers.sh: the six images
# built and run against the same servers), and ends with one overall line
# "Summary: N passed, N failed, N skipped" adding up every test binary's and check's result.
# Each phase prints how long it took.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/check-services.sh || exit 1
log=$(mktemp)
# A real rate limit on POST /orders (100/s, burst 500): the flash sale fits in the burst, and a
# test goes past it on purpose. Three replicas of every service behind the gateway, as a
# production deployment runs them (E2E_REPLICAS to change it).
e2e_stack() {
  STACK=e2e REPLICAS=${E2E_REPLICAS:-3} GATEWAY_ORDER_RATE=100 GATEWAY_ORDER_BURST=500 \
    scripts/stack.sh "$@"
}
cleanup() {
  scripts/redis-cluster.sh stop >/dev/null 2>&1
  e2e_stack down >/dev/null 2>&1
  e2e_stack purge >/dev/null 2>&1
  rm -f "$log"
}
trap cleanup EXIT

phase_started=$SECONDS
# Each phase prints its time, and what the build directory and the disk hold after it.
phase_done() {
  echo "== $1 took $((SECONDS - phase_started)) s; target/ holds $(du -sh target 2>/dev/null | cut -f1), $(df -h --output=avail . | tail -1 | tr -d ' ') free on this disk =="
  phase_started=$SECONDS
}

# A step that prints its own "test result:" lines; a non-zero exit fails the run.
step() { # title command...
  echo "== $1 =="
  shift
  "$@" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
}

# A command that prints no "test result:" line of its own: it counts as one test, by its exit.
counted() { # name title command...
  local name=$1
  echo "== $2 =="
  shift 2
  if "$@" 2>&1 | tee -a "$log"; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored ($name)" | tee -a "$log"
  else
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored ($name)" | tee -a "$log"
    status=1
  fi
}

cargo test --workspace --exclude e2e --all-features --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The consumers once more on quorum queues (QUEUE_TYPE=quorum, what a RabbitMQ cluster runs).
step "the consumers' tests on quorum queues" \
  env QUEUE_TYPE=quorum cargo test -p analytics-consumer -p notifier-consumer --all-features --locked "$@"
# inventory-svc, and order-svc over it, once more on a real Redis Cluster (three primaries,
# three replicas, from Debian's redis-server): REDIS_CLUSTER=true is the only switch.
if scripts/redis-cluster.sh start; then
  step "inventory-svc and order-svc on a Redis Cluster" \
    env REDIS_CLUSTER=true REDIS_URL="$(scripts/redis-cluster.sh urls)" \
    cargo test -p inventory-svc -p order-svc --all-features --locked "$@"
else
  echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (the Redis Cluster did not start)" | tee -a "$log"
  status=1
fi
scripts/redis-cluster.sh stop >/dev/null 2>&1
phase_done "the crates' tests"

step "delivery files: hadolint, compose, promtool, shellcheck" scripts/check-delivery.sh
step "the Helm chart: lint, Kubernetes schema, hardening" scripts/check-chart.sh
step "Ansible: syntax, ansible-lint (production), the cluster-free roles twice" scripts/check-ansible.sh
step "GitHub Actions: actionlint with shellcheck, the workflow schemas, pinned actions" scripts/check-workflows.sh
step "Jenkins: the Jenkinsfile and its library parse and have the required structure" scripts/check-jenkins.sh
phase_done "the delivery checks"

echo "== end-to-end: starting the e2e stack (as make up does, ${E2E_REPLICAS:-3} replicas of every service) =="
e2e_stack down >/dev/null 2>&1
e2e_stack purge >/dev/null 2>&1
if e2e_stack up; then
  # Its gateway and Prometheus, where scripts/stack.sh put them.
  e2e_addresses=$(e2e_stack env)
  gateway=$(sed -n 's/^GATEWAY_URL=//p' <<<"$e2e_addresses")
  prometheus=$(sed -n 's/^PROMETHEUS_URL=//p' <<<"$e2e_addresses")
  set -a
  # shellcheck disable=SC1091
  source .env.example
  [ -f .env ] && source .env
  set +a
  step "end-to-end tests through the e2e gateway" \
    env E2E_GATEWAY="$gateway" cargo test -p e2e --locked -- --test-threads=1
  # The journeys and the flash sale left the stack consistent: nothing oversold, lost, doubled
  # or leaked. Audited before schemathesis, which deletes items that sold and creates new ones
  # under the same ids: their old sales cannot be told from a new item's (audit/README.md).
  counted audit "audit: the e2e stack's invariants after the end-to-end tests (make audit)" \
    env STACK=e2e scripts/audit.sh
  counted schemathesis "schemathesis: the OpenAPI document against the e2e gateway" \
    scripts/schemathesis.sh "$gateway"
  counted locust "load: a short headless Locust run (loadtest/) through the e2e gateway" \
    scripts/load.sh 10 20s "$gateway"
  # Prometheus (Debian's, started with the stack) has scraped all of the above.
  step "dashboards: every panel's query and every rule against the e2e stack's Prometheus" \
    python3 scripts/check-dashboards.py "$prometheus"
else
  echo "the e2e stack did not start; logs in .stack/e2e/logs/" >&2
  tail -n 30 .stack/e2e/logs/*.log 2>/dev/null >&2
  echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out" | tee -a "$log"
  status=1
fi
e2e_stack down >/dev/null 2>&1
phase_done "the end-to-end phase"

# The fault suite (make chaos): its own stack, three replicas of every service, careful clients,
# every service SIGKILLed, the broker, Postgres' connections and Redis taken away, the auditor
# after each fault.
counted chaos "faults: make chaos, three replicas of every service" env REPLICAS=3 scripts/chaos.sh
phase_done "the fault suite"

step "containers: the six images, built and run against the same servers" scripts/test-containers.sh
phase_done "the container phase"

awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "Summary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
