#!/usr/bin/env bash
# Runs schemathesis (from PyPI, in .stack/tools) against a running gateway: generated and
# mutated requests for every documented operation; fails on any 5xx, on an undocumented status
# code or content type, or on an answer that does not match the documented schema.
# Usage: scripts/schemathesis.sh [gateway URL, default the one `make up` starts, from
# `scripts/stack.sh env`: http://127.0.0.1:8080 unless STACK or PORT_BASE say otherwise]
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-$(scripts/stack.sh env | sed -n 's/^GATEWAY_URL=//p')}
tools=.stack/tools
if [ ! -x "$tools/bin/schemathesis" ]; then
  python3 -m venv "$tools" 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$tools"; }
  "$tools/bin/pip" install -q schemathesis==4.32.5
fi
set -a
# shellcheck disable=SC1090
source "$([ -f .env ] && echo .env || echo .env.example)"
set +a
"$tools/bin/schemathesis" run api-docs/openapi.json --url "$url" \
  -H "Authorization: Bearer $ADMIN_TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples 25 --generation-deterministic --request-timeout 10 --no-color
