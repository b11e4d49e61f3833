#!/usr/bin/env bash
# RabbitMQ's own limit for one order's event: persistent messages of an event's size published
# with confirms in batches of 100 (hand all 100 to lapin, then wait for their confirms), the way
# the outbox relays publish (ADR 0031), to a durable queue of the run's own. No packaged tool
# does exactly that (RabbitMQ's PerfTest needs Java and Maven), so it is a small binary of this
# workspace: bench/src/bin/confirmed-publish.rs (lapin, as the services). Prints messages/s on
# stdout (see scripts/bench/lib.sh).
#
# Knobs: BENCH_SECONDS (default 10), BENCH_PUBLISH_BATCH (default 100), AMQP_URL (default the
# stack's). Builds the binary (release) on first use, into CARGO_TARGET_DIR or target/.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
bench_stack_env
cargo build --release --locked -q -p sioms-bench --bin confirmed-publish
"${CARGO_TARGET_DIR:-target}/release/confirmed-publish"
