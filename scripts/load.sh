#!/usr/bin/env bash
# Load-tests a running SIOMS through its gateway with Locust (from PyPI, installed on first use
# in .stack/load-tools): shoppers browse, check stock, order, read back and cancel, and an
# operator restocks and reprices its load items (the mix is described in loadtest/locustfile.py).
# Runs headless, prints progress every few seconds and a summary at the end, and writes an HTML
# report to .stack/loadtest/report.html and CSV stats to .stack/loadtest/stats_*.csv. Exits non-zero
# when any request failed.
#
# Usage: scripts/load.sh [users] [duration] [gateway URL]
#   users        simultaneous users (env LOAD_USERS, default 50)
#   duration     how long, e.g. 30s, 5m, 1h (env LOAD_TIME, default 1m)
#   gateway URL  env GATEWAY, default the one `make up` starts (`scripts/stack.sh env`:
#                http://127.0.0.1:8080 unless STACK or PORT_BASE say otherwise)
# LOAD_SPAWN_RATE users started per second (default 10); LOAD_ITEMS how many load items the
# operator keeps (default 10). ADMIN_TOKEN comes from the environment, else .env, else
# .env.example.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1

users=${1:-${LOAD_USERS:-50}}
duration=${2:-${LOAD_TIME:-1m}}
gateway=${3:-${GATEWAY:-$(scripts/stack.sh env | sed -n 's/^GATEWAY_URL=//p')}}
gateway=${gateway%/}
spawn_rate=${LOAD_SPAWN_RATE:-10}
tools=.stack/load-tools
out=.stack/loadtest

if [ ! -x "$tools/bin/locust" ]; then
  echo "Installing Locust into $tools (first use)..."
  python3 -m venv "$tools" 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$tools"; }
  "$tools/bin/pip" install -q locust==2.47.0
fi

if [ -z "${ADMIN_TOKEN:-}" ]; then
  set -a
  # shellcheck disable=SC1090
  source "$([ -f .env ] && echo .env || echo .env.example)"
  set +a
fi
export ADMIN_TOKEN

if ! curl -fsS -m 5 "$gateway/healthz" >/dev/null 2>&1; then
  echo "The gateway does not answer at $gateway/healthz: start the stack with make up (or pass its URL)." >&2
  exit 1
fi

mkdir -p "$out"
echo "Load test: $users users (spawn rate $spawn_rate/s) for $duration against $gateway"
rc=0
# No __pycache__ next to the locustfile.
PYTHONDONTWRITEBYTECODE=1 "$tools/bin/locust" -f loadtest/locustfile.py --headless \
  -u "$users" -r "$spawn_rate" -t "$duration" --host "$gateway" \
  --html "$out/report.html" --csv "$out/stats" --stop-timeout 5 || rc=$?

echo
echo "HTML report: $(pwd)/$out/report.html"
echo "CSV stats:   $(pwd)/$out/stats_stats.csv (and stats_failures.csv, stats_stats_history.csv)"
[ "$rc" -eq 0 ] || echo "Locust exited with $rc: some requests failed (see the failures above)." >&2
exit "$rc"
