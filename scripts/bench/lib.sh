# shellcheck shell=bash
# Helpers shared by scripts/bench.sh (`make bench`) and the measurements under scripts/bench/,
# each of which sources this file from the repository root. Nothing here measures anything.
#
# Every measurement script works the same way, so scripts/bench.sh can run them one after the
# other and any of them can run alone (`scripts/bench/redis.sh` on a running stack):
#   - stdout: one line, the rate it measured, a plain number per second (the whole-system run,
#     scripts/bench/system.sh, prints one line per concurrency instead);
#   - stderr: what it does and its tool's own summary;
#   - it creates its own keys, database, queue or server, and removes them on the way out.
# Knobs they share: BENCH_SECONDS (default 10) per measurement, STACK (default dev) for where
# the running stack is (`scripts/stack.sh env`).

say() { printf '%s\n' "$*" >&2; }

# The machine's CPU time so far, from /proc/stat's first line: "busy total" in clock ticks over
# every core, busy being all but idle and iowait (user, nice, system, irq, softirq, steal).
cpu_ticks() {
  awk '/^cpu / { total = 0; for (i = 2; i <= 9; i++) total += $i; print total - $5 - $6, total; exit }' /proc/stat
}

# How busy the machine's cores were between two cpu_ticks readings, in percent of all of them
# (100 = every core busy the whole time; the load generator's own CPU counts too).
busy_percent() { # "busy total" "busy total"
  awk -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " "); d = y[2] - x[2]
    printf "%.1f", (d > 0 ? 100 * (y[1] - x[1]) / d : 0) }'
}

# How long tasks have waited for the disk, from /proc/pressure/io (Linux pressure stall
# information): "some full at", some and full being the µs (since boot) in which at least one
# task (some) or every task that could run (full) was stalled on I/O, and at the wall clock in
# µs; "- - at" where the kernel has no PSI.
io_stall() {
  local now
  now=$(date +%s%6N)
  if [ -r /proc/pressure/io ]; then
    awk -v now="$now" '$1 == "some" || $1 == "full" { sub("total=", "", $5); t[$1] = $5 }
      END { print (t["some"] == "" ? "-" : t["some"]), (t["full"] == "" ? "-" : t["full"]), now }' \
      /proc/pressure/io
  else
    echo "- - $now"
  fi
}

# The share of the time between two io_stall readings in which tasks waited for the disk:
# "some full" in percent, "- -" without PSI. A stalled disk shows in full: no task could go on
# meanwhile, however idle the cores; some also counts an order waiting for its commit's flush.
io_stall_percent() { # "some full at" "some full at"
  awk -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " "); d = y[3] - x[3]
    if (x[1] == "-" || y[1] == "-" || x[2] == "-" || y[2] == "-" || d <= 0) { print "- -"; exit }
    printf "%.1f %.1f", 100 * (y[1] - x[1]) / d, 100 * (y[2] - x[2]) / d }'
}

# One reading of the machine, for machine_load: cpu_ticks and io_stall, "busy total some full at".
machine_mark() { echo "$(cpu_ticks) $(io_stall)"; }

# What the machine did between two machine_mark readings: "busy io_some io_full" in percent
# (busy_percent, then io_stall_percent).
machine_load() { # mark mark
  local a b
  read -ra a <<<"$1"
  read -ra b <<<"$2"
  echo "$(busy_percent "${a[*]:0:2}" "${b[*]:0:2}") $(io_stall_percent "${a[*]:2}" "${b[*]:2}")"
}

# Installs Debian packages (as root, once `apt-get update` has run in this process).
bench_apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    say "Need $* but not running as root: run 'sudo apt-get install -y $*' first."
    exit 1
  fi
  [ -n "${BENCH_APT_UPDATED:-}" ] || { apt-get update -qq; BENCH_APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

need() { # command package: installs package when command is missing
  command -v "$1" >/dev/null || bench_apt_install "$2"
}

# pgbench: Debian's /usr/bin/pgbench (postgresql-client-common) is only a wrapper that runs the
# real one of an installed Postgres version. Which package ships the real one depends on the
# release: postgresql-client-NN in newer ones, the server package postgresql-NN before. Takes
# the version of the psql that is there, so client and server package match it.
need_pgbench() {
  pgbench --version >/dev/null 2>&1 && return 0
  need psql postgresql-client
  local major
  major=$(psql --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')
  bench_apt_install "postgresql-client-$major" || true
  pgbench --version >/dev/null 2>&1 || bench_apt_install "postgresql-$major"
  pgbench --version >/dev/null 2>&1 || { say "no pgbench after installing postgresql-$major"; exit 1; }
}

# The running stack's addresses (GATEWAY_URL, REDIS_URL, ORDER_DATABASE_URL, AMQP_URL, …),
# unless the caller already has them.
bench_stack_env() {
  [ -n "${STACK_STATE:-}" ] && return 0
  local addresses
  addresses=$(scripts/stack.sh env)
  set -a
  eval "$addresses"
  set +a
}

# pg_admin: SQL as the local Postgres superuser, the same function scripts/stack.sh uses.
# shellcheck source=scripts/lib/pg-admin.sh
source scripts/lib/pg-admin.sh

# Whether something listens on a local TCP port.
port_taken() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Creates `item` through the gateway `gw` (admin): stock for any run (a billion units, no
# low-stock threshold) and a price, so every order for one unit of it is a 201.
bench_item() { # gw item
  curl -fsS -o /dev/null -X POST "$1/items" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -d "{\"id\":\"$2\",\"name\":\"Bench\",\"stock\":1000000000,\"low_stock_threshold\":0}"
  curl -fsS -o /dev/null -X PUT "$1/price/$2" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H 'Content-Type: application/json' -d '{"price_cents":100,"currency":"EUR"}'
}

# A wrk script that POSTs one order for one unit of `item` (a file the caller removes).
wrk_order_script() { # item file
  cat >"$2" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"item_id":"$1","quantity":1}'
LUA
}

# From wrk's report (stdin): "rate p50 p90 p99 non2xx errors", latencies in milliseconds;
# errors are the socket errors (connect, read, write, timeout) wrk counted.
wrk_figures() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /s$/) return v * 1000
      return v
    }
    /Requests\/sec/ { rate = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "90%" { p90 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx/ { bad = $NF }
    /Socket errors/ { split($0, e, /[ ,]+/); for (i in e) if (e[i] ~ /^[0-9]+$/) errors += e[i] }
    END { printf "%s %.2f %.2f %.2f %d %d\n", rate, p50, p90, p99, bad, errors }'
}
