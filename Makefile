# SIOMS: the commands a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help


.PHONY: help up down status test lint fmt openapi schemathesis images push check-delivery check-chart check-ansible check-workflows check-jenkins audit chaos load bench bench-inventory bench-orders bench-consumers bench-failover bench-scale

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

up: ## Start the system natively (installs what is missing, builds, starts, waits until ready)
	@scripts/stack.sh up

down: ## Stop what `make up` started, and only that
	@scripts/stack.sh down

status: ## Show what `make up` started and whether it is ready
	@scripts/stack.sh status

test: ## Run every test against the real Redis, RabbitMQ and Postgres
	@scripts/run-tests.sh

lint: ## Formatting and clippy, as CI runs them
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

images: ## Build the six images, sioms/<name>:<version> (REGISTRY=host/org/ to prefix them)
	@scripts/images.sh build

push: ## Push the images `make images` built (docker login first)
	@scripts/images.sh push

check-delivery: ## hadolint, compose config and schema, promtool, shellcheck (part of make test)
	@scripts/check-delivery.sh

check-chart: ## helm lint --strict, kubernetes-validate --strict and the hardening test of the chart (part of make test)
	@scripts/check-chart.sh

check-ansible: ## ansible-playbook --syntax-check, ansible-lint (production), the cluster-free roles twice (part of make test)
	@scripts/check-ansible.sh

check-workflows: ## actionlint (with shellcheck), the workflow and dependabot schemas, SHA-pinned actions (part of make test)
	@scripts/check-workflows.sh

check-jenkins: ## the Jenkinsfile and its shared library parse (Groovy) and have the required structure (part of make test)
	@scripts/check-jenkins.sh

schemathesis: ## Fuzz the running gateway (make up first) against the OpenAPI document
	@scripts/schemathesis.sh

openapi: ## Regenerate api-docs/openapi.json and the event schemas in api-docs/events/ from the code (commit them)
	cargo run -q -p api-docs -- write

fmt: ## Format the code
	cargo fmt --all

audit: ## Reconcile Redis, Postgres and the read side of a running stack (STACK=dev by default); non-zero on a discrepancy
	@scripts/audit.sh

chaos: ## The fault suite: kills, drops and restarts under a load of careful clients, then the auditor (its own stack)
	@scripts/chaos.sh

load: ## Locust against the running gateway (USERS=50 TIME=1m; GATEWAY=url), HTML report in .stack/loadtest/
	@scripts/load.sh $(or $(USERS),50) $(or $(TIME),1m) $(GATEWAY)

bench: ## The machine's own limit for one order (redis-benchmark, pgbench, confirmed publish, nginx hop) and POST /orders against it; make up first
	@scripts/bench.sh

bench-inventory: ## Reservations/s through the API next to redis-benchmark on the same script
	@command -v wrk >/dev/null || apt-get install -y wrk
	@command -v redis-benchmark >/dev/null || apt-get install -y redis-tools
	@scripts/check-services.sh
	cargo bench -p inventory-svc --bench reservations

bench-orders: ## Confirmed orders/s and p50/p90/p99 of POST /orders at several concurrencies
	@command -v wrk >/dev/null || apt-get install -y wrk
	@scripts/check-services.sh
	cargo bench -p order-svc --bench orders

bench-consumers: ## Events/s drained per consumer from a preloaded queue
	@scripts/check-services.sh
	cargo bench -p analytics-consumer --bench drain

bench-failover: ## A Redis primary SIGKILLed under load: acknowledged reservations lost, failures, latency, with and without WAIT
	@scripts/redis-cluster.sh start
	@trap 'scripts/redis-cluster.sh stop' EXIT; cargo bench -p inventory-svc --bench failover

bench-scale: ## POST /orders on the data as it is, then with SCALE_ITEMS (1M) items and SCALE_ORDERS (10M) orders bulk-loaded: both rates and p99s, the ratio, the data sizes; make up first
	@scripts/bench/scale.sh
