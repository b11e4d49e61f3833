#!/usr/bin/env bash
# NGINX's own limit for one order's trip through the gateway: wrk through one proxy hop. A
# throwaway nginx (configuration in a temporary directory, ports of its own) runs an upstream
# server that answers a small 200 and, in front of it, a proxy server that forwards to it over
# upstream keepalive connections with the gateway's proxy settings (HTTP/1.1, Connection "",
# the forwarded headers, a JSON access log line per request). wrk POSTs an order's body to the
# proxy. Prints requests/s on stdout (see scripts/bench/lib.sh).
#
# Knobs: BENCH_SECONDS (default 10), BENCH_PROXY_CONNECTIONS (default 64), BENCH_PROXY_PORT
# (default: the first free pair of ports from 18970 up; the upstream takes the next one).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
need nginx nginx-light
need wrk wrk

seconds=${BENCH_SECONDS:-10}
connections=${BENCH_PROXY_CONNECTIONS:-64}
port=${BENCH_PROXY_PORT:-18970}
if [ -z "${BENCH_PROXY_PORT:-}" ]; then
  while port_taken "$port" || port_taken $((port + 1)); do port=$((port + 2)); done
fi
upstream=$((port + 1))
dir=$(mktemp -d)
mkdir -p "$dir/tmp" && chmod 0777 "$dir/tmp" # nginx's workers run as nobody
cleanup() {
  if [ -f "$dir/nginx.pid" ]; then
    nginx -p "$dir" -c "$dir/nginx.conf" -s quit 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$dir/nginx.pid" ] || break; sleep 0.1; done
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/nginx.conf" <<NGINX
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    default_type application/json;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_timeout 30s;
    log_format hop escape=json '{"time":"\$time_iso8601","request_id":"\$request_id",'
        '"method":"\$request_method","uri":"\$request_uri","status":\$status,'
        '"duration_s":\$request_time,"upstream":"\$upstream_addr"}';

    upstream backend { server 127.0.0.1:$upstream; keepalive 64; }

    # The service: a small answer, nothing else.
    server {
        listen 127.0.0.1:$upstream;
        access_log off;
        location / { return 200 '{"status":"ok"}'; }
    }
    # The hop: as the gateway proxies to a service.
    server {
        listen 127.0.0.1:$port;
        access_log $dir/access.log hop;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$host;
        proxy_set_header X-Request-Id \$request_id;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_connect_timeout 2s;
        proxy_read_timeout 30s;
        location / { proxy_pass http://backend; }
    }
}
NGINX
nginx -t -q -p "$dir" -c "$dir/nginx.conf"
nginx -p "$dir" -c "$dir/nginx.conf"
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "http://127.0.0.1:$port/" || { say "the throwaway nginx does not answer:"; cat "$dir/error.log" >&2; exit 1; }

wrk_order_script bench-1700000000 "$dir/order.lua"
wrk -t 2 -c "$connections" -d 2s -s "$dir/order.lua" "http://127.0.0.1:$port/orders" >/dev/null # warm-up
read -r rate _ _ p99 bad errors < <(wrk -t 2 -c "$connections" -d "${seconds}s" --latency \
  -s "$dir/order.lua" "http://127.0.0.1:$port/orders" | wrk_figures)
if [ "$bad" -ne 0 ] || [ "$errors" -ne 0 ]; then
  say "the proxy hop had $bad non-2xx answers and $errors socket errors"
  exit 1
fi
say "wrk through one nginx proxy hop (upstream keepalive), $connections connections, ${seconds}s: $rate requests/s, p99 ${p99} ms"
printf '%.1f\n' "$rate"
