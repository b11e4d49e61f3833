#!/usr/bin/env bash
# `make audit`: reconciles the data of a stack, read-only, with sioms-audit (audit/README.md
# says what each check proves): inventory's Redis against the orders in Postgres, the outboxes,
# the consumers' queues, and the read side (analytics, notifications).
#
#   make audit                    the dev stack (`make up`)
#   STACK=e2e make audit          another stack (its addresses come from scripts/stack.sh env)
#   scripts/audit.sh --strict     one attempt, no waiting for work in flight to settle
#
# Arguments go to sioms-audit (--strict, --attempts N); AUDIT_* variables tune it.
# Exit status: 0 every check holds, 1 a discrepancy persisted, 2 a source could not be read.
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK=${STACK:-dev}

# The stack's addresses (Redis and its key prefix, each database, each queue), exported for
# sioms-audit.
addresses=$(scripts/stack.sh env)
set -a
eval "$addresses"
set +a

cargo build --release --locked -q -p sioms-audit
exec "${CARGO_TARGET_DIR:-target}/release/sioms-audit" "$@"
