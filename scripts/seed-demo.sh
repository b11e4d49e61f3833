#!/usr/bin/env bash
# Seeds the demo catalog through a running gateway's admin API: widget (100 units, 19.99 EUR),
# gadget (40, 49.99), gizmo (12, 7.50). An item that exists already is left as it is.
# `make up` runs it; after `docker compose up -d`, run it yourself:
#   scripts/seed-demo.sh [gateway URL, default http://127.0.0.1:8080]
# ADMIN_TOKEN comes from the environment, else .env, else .env.example.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
gw=${1:-http://127.0.0.1:8080}
if [ -z "${ADMIN_TOKEN:-}" ]; then
  ADMIN_TOKEN=$(sed -n 's/^ADMIN_TOKEN=//p' "$([ -f .env ] && echo .env || echo .env.example)")
fi
auth="Authorization: Bearer $ADMIN_TOKEN" json='Content-Type: application/json'
for row in "widget Widget 100 1999" "gadget Gadget 40 4999" "gizmo Gizmo 12 750"; do
  read -r id name stock cents <<<"$row"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$gw/items" -H "$auth" -H "$json" \
    -d "{\"id\":\"$id\",\"name\":\"$name\",\"stock\":$stock}")
  case "$code" in 201 | 409) ;; *) echo "POST /items $id answered $code" >&2; exit 1 ;; esac
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$gw/price/$id" -H "$auth" -H "$json" \
    -d "{\"price_cents\":$cents,\"currency\":\"EUR\"}")
  case "$code" in 200 | 201) ;; *) echo "PUT /price/$id answered $code" >&2; exit 1 ;; esac
done
echo "demo catalog: widget, gadget, gizmo (with prices) — see $gw/items"
