#!/usr/bin/env bash
# `make test`: checks the servers, runs every test of the workspace, and ends with one overall
# line "Summary: N passed, N failed, N skipped" adding up every test binary's result.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/check-services.sh || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-features --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "Summary: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
