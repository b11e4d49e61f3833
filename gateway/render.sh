#!/usr/bin/env bash
# Renders gateway/nginx.conf.template to stdout from environment variables. The one way the
# gateway's configuration is made: `scripts/stack.sh` calls it for the native stack, and the
# gateway image's entrypoint calls it at container start. Every value is checked before it goes
# into the file, so a variable can never inject nginx directives.
#
# The rendering itself is one `envsubst` (GNU gettext, Debian's gettext-base; the official nginx
# image renders its templates the same way) given the exact list of the template's placeholders,
# `${GATEWAY_…}`: nginx's own variables (`$host`, `$request_id`, …) pass through untouched, and
# a value is inserted as it is (no sed expression around it whose `|` or `&` could break it).
# What the template needs in another shape than a variable holds (an upstream's `server a:1;
# server b:2;` lines) is computed into a variable of its own first.
#
# Variables (defaults suit the containers: compose service names, logs to stdout/stderr):
#   GATEWAY_LISTEN                     public listener, [address:]port        (8080)
#   GATEWAY_INTERNAL_INVENTORY_LISTEN  order-svc's way to every inventory replica (127.0.0.1:8091)
#   GATEWAY_INTERNAL_PRICING_LISTEN    order-svc's way to every pricing replica   (127.0.0.1:8093)
#   GATEWAY_ORDER_RATE / GATEWAY_ORDER_BURST  POST /orders per client address: per second, burst (200 / 400)
#   GATEWAY_{INVENTORY,ORDER,PRICING,ANALYTICS,NOTIFIER}_UPSTREAMS
#                                      host:port of every replica, space- or comma-separated
#                                      (inventory-svc:8081, order-svc:8082, pricing-svc:8083,
#                                       analytics-consumer:8084, notifier-consumer:8085)
#   GATEWAY_STATE_DIR                  pid file and temp files                  (/tmp/sioms-gateway)
#   GATEWAY_DOCS_DIR                   Swagger UI's files                       (/usr/share/sioms/docs)
#   GATEWAY_OPENAPI                    the OpenAPI document                     (/usr/share/sioms/openapi.json)
#   GATEWAY_ACCESS_LOG / GATEWAY_ERROR_LOG   log destinations                  (/dev/stdout / /dev/stderr)
#   GATEWAY_TEMPLATE                   the template                             (nginx.conf.template beside this script)
set -euo pipefail

fail() { echo "gateway: $*" >&2; exit 2; }

command -v envsubst >/dev/null || fail "envsubst is missing (Debian: apt-get install -y gettext-base)"

# Each check runs in the main shell (not in a command substitution), so a bad value stops the
# rendering with its message instead of leaving a hole in the file.
host='([A-Za-z0-9._-]+|\[[0-9a-fA-F:]+\])'
port='[0-9]{1,5}'
check() { # NAME DEFAULT PATTERN WHAT: sets NAME to its value or DEFAULT, or fails
  local v=${!1:-$2}
  v=$(echo "$v" | tr ',' ' ' | xargs) # commas as spaces, surrounding blanks trimmed
  [[ $v =~ $3 ]] || fail "$1=\"${!1:-$2}\" is not $4"
  printf -v "$1" '%s' "$v"
}
listen() { check "$1" "$2" "^($host:)?$port\$" "[address:]port"; }
path() { check "$1" "$2" '^/[A-Za-z0-9._/-]*$' "an absolute path"; }
count() { check "$1" "$2" '^[1-9][0-9]{0,6}$' "a whole number from 1"; }
servers() { check "$1" "$2" "^$host:$port( $host:$port)*\$" "a list of host:port"; }

listen GATEWAY_LISTEN 8080
listen GATEWAY_INTERNAL_INVENTORY_LISTEN 127.0.0.1:8091
listen GATEWAY_INTERNAL_PRICING_LISTEN 127.0.0.1:8093
count GATEWAY_ORDER_RATE 200
count GATEWAY_ORDER_BURST 400
servers GATEWAY_INVENTORY_UPSTREAMS inventory-svc:8081
servers GATEWAY_ORDER_UPSTREAMS order-svc:8082
servers GATEWAY_PRICING_UPSTREAMS pricing-svc:8083
servers GATEWAY_ANALYTICS_UPSTREAMS analytics-consumer:8084
servers GATEWAY_NOTIFIER_UPSTREAMS notifier-consumer:8085
path GATEWAY_STATE_DIR /tmp/sioms-gateway
path GATEWAY_DOCS_DIR /usr/share/sioms/docs
path GATEWAY_OPENAPI /usr/share/sioms/openapi.json
path GATEWAY_ACCESS_LOG /dev/stdout
path GATEWAY_ERROR_LOG /dev/stderr
template=${GATEWAY_TEMPLATE:-$(dirname "$0")/nginx.conf.template}
[ -r "$template" ] || fail "no template at $template"

# An upstream block's body, from its checked list: "a:1 b:2" -> "server a:1; server b:2; ".
# (Split with read, not an unquoted expansion: "[::1]:8081" would be a glob pattern.)
upstream_servers() { # NAME UPSTREAMS_NAME: sets NAME
  local s out="" list
  read -r -a list <<<"${!2}"
  for s in "${list[@]}"; do out+="server $s; "; done
  printf -v "$1" '%s' "$out"
}
upstream_servers GATEWAY_INVENTORY_SERVERS GATEWAY_INVENTORY_UPSTREAMS
upstream_servers GATEWAY_ORDER_SERVERS GATEWAY_ORDER_UPSTREAMS
upstream_servers GATEWAY_PRICING_SERVERS GATEWAY_PRICING_UPSTREAMS
upstream_servers GATEWAY_ANALYTICS_SERVERS GATEWAY_ANALYTICS_UPSTREAMS
upstream_servers GATEWAY_NOTIFIER_SERVERS GATEWAY_NOTIFIER_UPSTREAMS

# The template's placeholders, every one checked or computed above: envsubst replaces these and
# nothing else. One in the template but not in this list would stay in the file as it is, so
# the template is checked for it first.
placeholders=(GATEWAY_LISTEN GATEWAY_INTERNAL_INVENTORY_LISTEN GATEWAY_INTERNAL_PRICING_LISTEN
  GATEWAY_ORDER_RATE GATEWAY_ORDER_BURST
  GATEWAY_INVENTORY_SERVERS GATEWAY_ORDER_SERVERS GATEWAY_PRICING_SERVERS
  GATEWAY_ANALYTICS_SERVERS GATEWAY_NOTIFIER_SERVERS
  GATEWAY_STATE_DIR GATEWAY_DOCS_DIR GATEWAY_OPENAPI GATEWAY_ACCESS_LOG GATEWAY_ERROR_LOG)
# shellcheck disable=SC2016 # the ${…} are for grep and envsubst, not for this shell
while read -r p; do
  p=${p#'${'}
  p=${p%'}'}
  [[ " ${placeholders[*]} " == *" $p "* ]] || fail "$template: \${$p} is not a placeholder render.sh fills"
done < <(grep -o '\${GATEWAY_[A-Za-z0-9_]*}' "$template" | sort -u)

export "${placeholders[@]}"
# shellcheck disable=SC2016
envsubst "$(printf '${%s} ' "${placeholders[@]}")" <"$template"
