#!/usr/bin/env bash
# The gateway image's entrypoint (`sioms-gateway`), with the same two commands as every SIOMS
# binary:
#   sioms-gateway              render the configuration from the environment (gateway/render.sh,
#                              the same template the native stack uses), check it, then become
#                              nginx in the foreground (exec: nginx is PID 1 and gets the stop
#                              signal itself; the image's STOPSIGNAL is SIGQUIT, nginx's graceful
#                              stop, so requests in flight finish)
#   sioms-gateway healthcheck  exit 0 when the gateway answers GET /healthz (the image's
#                              HEALTHCHECK, without curl in the image)
set -euo pipefail

state=${GATEWAY_STATE_DIR:-/tmp/sioms-gateway}
listen=${GATEWAY_LISTEN:-8080}

case "${1:-serve}" in
  serve)
    mkdir -p "$state/tmp"
    /usr/share/sioms/render.sh >"$state/nginx.conf"
    nginx -t -q -e /dev/stderr -p "$state" -c "$state/nginx.conf"
    exec nginx -e /dev/stderr -p "$state" -c "$state/nginx.conf" -g 'daemon off;'
    ;;
  healthcheck)
    port=${listen##*:}
    host=${listen%"$port"}; host=${host%:}
    case "$host" in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
    host=${host#[}; host=${host%]}
    exec 3<>"/dev/tcp/$host/$port" || { echo "gateway: not answering on $host:$port"; exit 1; }
    printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    read -r -t 3 status <&3 || status=""
    case "$status" in
      "HTTP/1."?" 200"*) echo "gateway: ready ($status)"; exit 0 ;;
      *) echo "gateway: not ready (${status:-no answer})"; exit 1 ;;
    esac
    ;;
  *)
    echo "usage: sioms-gateway [healthcheck]" >&2
    exit 2
    ;;
esac
