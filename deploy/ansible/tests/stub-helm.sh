#!/usr/bin/env bash
# A stand-in for the helm CLI, so that scripts/check-ansible.sh can run the sioms_deploy role
# without a cluster. It answers the calls the role makes (plugin list, status, diff upgrade,
# upgrade --install), logs each call to $STUB_HELM_STATE/calls.log and remembers the last
# release's --values/--set/--namespace in $STUB_HELM_STATE/release, so that `diff upgrade`
# with the same settings reports "no change" (exit 0) and different ones "changes" (exit 2),
# as helm diff --detailed-exitcode does.
set -euo pipefail
state=${STUB_HELM_STATE:?set STUB_HELM_STATE to a directory}
mkdir -p "$state"
echo "$*" >>"$state/calls.log"
args=("$@")
key=""
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --values | --set | --namespace) key+="${args[i]} ${args[i + 1]:-} " ;;
    --set=*) key+="${args[i]} " ;;
  esac
done
case "${1:-} ${2:-}" in
  "plugin list")
    printf 'NAME\tVERSION\tDESCRIPTION\ndiff\t3.9.11\tPreview helm upgrade changes as a diff\n'
    ;;
  "status "*)
    if [ -f "$state/release" ]; then
      echo "{\"name\":\"$2\",\"info\":{\"status\":\"deployed\"},\"version\":1}"
    else
      echo "Error: release: not found" >&2
      exit 1
    fi
    ;;
  "diff upgrade")
    [ "$(cat "$state/release" 2>/dev/null)" != "$key" ] || exit 0
    echo "sioms, gateway, Deployment (apps) has changed:"
    echo "+   settings: $key"
    exit 2
    ;;
  "upgrade --install")
    echo "$key" >"$state/release"
    echo "Release \"$3\" has been upgraded. Happy Helming!"
    ;;
  *)
    echo "stub helm: unexpected call: $*" >&2
    exit 64
    ;;
esac
