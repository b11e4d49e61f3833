#!/usr/bin/env bash
# Builds (or pushes) the six SIOMS images from the one multi-stage Dockerfile.
#   scripts/images.sh build   (make images)   build all six, tagged sioms/<name>:<version> and :latest
#   scripts/images.sh push    (make push)     push those tags (after docker login to the registry)
#   scripts/images.sh tags                    print the tags, one per line
#   scripts/images.sh version                 print <version> alone
#   scripts/images.sh sizes                   print each image's size
# <version> is the workspace version plus the git revision (0.1.0-785ef76, "-dirty" when the
# work tree has uncommitted changes). REGISTRY=ghcr.io/acme/ puts a registry prefix in front of
# every name. The dependency layer is shared by all six and cached across rebuilds (Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGES=(inventory-svc pricing-svc order-svc analytics-consumer notifier-consumer gateway)
REGISTRY=${REGISTRY:-}
[ -z "$REGISTRY" ] || [[ $REGISTRY == */ ]] || REGISTRY="$REGISTRY/"
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
TAG=$VERSION-${REVISION:0:7}
[ -z "$(git status --porcelain 2>/dev/null)" ] || TAG=$TAG-dirty
SOURCE=$(git config --get remote.origin.url 2>/dev/null || echo unknown)
# BuildKit (through buildx) builds only the stages a target needs. Where the client has no
# buildx (a Docker 28 client without the plugin, as here), the classic builder is used: the
# Dockerfile needs nothing BuildKit-only, and every stage it builds is cached for the next image.
if [ -z "${DOCKER_BUILDKIT:-}" ]; then
  if docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=1; else export DOCKER_BUILDKIT=0; fi
fi

name() { echo "${REGISTRY}sioms/$1"; }

case "${1:-build}" in
  build | push | sizes)
    docker info >/dev/null 2>&1 || {
      echo "No container engine answers (docker info failed): install and start Docker first." >&2
      exit 1
    }
    ;;
esac

case "${1:-build}" in
  build)
    for image in "${IMAGES[@]}"; do
      echo "== $(name "$image"):$TAG"
      docker build --target "$image" \
        --build-arg VERSION="$TAG" --build-arg REVISION="$REVISION" --build-arg SOURCE="$SOURCE" \
        -t "$(name "$image"):$TAG" -t "$(name "$image"):latest" .
    done
    ;;
  push)
    for image in "${IMAGES[@]}"; do
      docker push "$(name "$image"):$TAG"
      docker push "$(name "$image"):latest"
    done
    ;;
  version)
    echo "$TAG"
    ;;
  tags)
    for image in "${IMAGES[@]}"; do echo "$(name "$image"):$TAG"; done
    ;;
  sizes)
    for image in "${IMAGES[@]}"; do
      docker image inspect -f "{{.Size}}" "$(name "$image"):$TAG" |
        awk -v n="$(name "$image"):$TAG" '{ printf "%-48s %6.1f MB\n", n, $1 / 1000000 }'
    done
    ;;
  *)
    echo "usage: $0 build|push|tags|version|sizes" >&2
    exit 2
    ;;
esac
