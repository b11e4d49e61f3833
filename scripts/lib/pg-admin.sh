# shellcheck shell=bash
# pg_admin: runs psql as a Postgres superuser of the local server, for what the stack's own role
# may not do (create its role and databases, a CHECKPOINT before a benchmark): through the local
# socket as the postgres OS user (a fresh Debian install), else over TCP as postgres (machines
# with trust auth). Sourced by scripts/stack.sh and scripts/bench/lib.sh (the benchmarks' own
# databases, the CHECKPOINT of make bench-scale).
pg_admin() {
  if command -v runuser >/dev/null && runuser -u postgres -- psql -qAtX -c "SELECT 1" >/dev/null 2>&1; then
    runuser -u postgres -- psql -qAtX -v ON_ERROR_STOP=1 "$@"
  else
    psql -qAtX -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"
  fi
}
