#!/usr/bin/env bash
# Checks that the servers the tests need answer, and says how to start the one that does not.
# A test never silently skips: `make test` stops here with a message instead.
set -u

redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
amqp_url=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
database_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# host:port of a URL like scheme://user:pass@host:port/path
hostport() { local a=${1#*://}; a=${a%%/*}; a=${a##*@}; echo "$a"; }

reachable() { # host:port
  local host=${1%:*} port=${1##*:}
  timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

failed=0
check() { # name url how-to-start
  local hp; hp=$(hostport "$2")
  if reachable "$hp"; then
    echo "ok: $1 answers at $hp"
  else
    echo "MISSING: $1 does not answer at $hp ($2)." >&2
    echo "  Start it with: $3" >&2
    failed=1
  fi
}

check Redis "$redis_url" "redis-server --daemonize yes --port 6379 --save '' --appendonly no   (Debian: apt-get install -y redis-server)"
check Postgres "$database_url" "pg_ctlcluster \$(ls /etc/postgresql) main start   (Debian: apt-get install -y postgresql)"
check RabbitMQ "$amqp_url" "rabbitmq-server -detached   (Debian: apt-get install -y rabbitmq-server)"

if ! command -v "${REDIS_SERVER_BIN:-redis-server}" >/dev/null 2>&1; then
  echo "MISSING: the redis-server program (the durability test starts its own)." >&2
  echo "  Install it with: apt-get install -y redis-server   (or set REDIS_SERVER_BIN)" >&2
  failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "Set REDIS_URL / AMQP_URL / DATABASE_URL if they run elsewhere." >&2
  exit 1
fi
