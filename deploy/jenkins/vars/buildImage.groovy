/**
 * buildImage(name: 'gateway', tag: '0.1.0-785ef76' [, registry: 'registry.example.com/'])
 *
 * Builds one of the six SIOMS images from the repository's multi-stage Dockerfile, the way
 * scripts/images.sh build (make images) does for all six: `docker build --target <name>` with
 * the VERSION/REVISION/SOURCE build arguments, tagged <registry>sioms/<name>:<tag> and :latest.
 * The tag is passed in (the pipeline computes it once with `scripts/images.sh version`) so that
 * the six parallel builds, the push and the Helm release all use the same one.
 *   name      required: inventory-svc, pricing-svc, order-svc, analytics-consumer,
 *             notifier-consumer or gateway (a Dockerfile target)
 *   tag       required
 *   registry  optional prefix, e.g. 'registry.example.com/' (default: env.REGISTRY, else none)
 */
def call(Map args) {
    def images = ['inventory-svc', 'pricing-svc', 'order-svc', 'analytics-consumer',
                  'notifier-consumer', 'gateway']
    if (!(args.name in images)) {
        error "buildImage: name must be one of ${images}, not '${args.name}'"
    }
    if (!args.tag) {
        error 'buildImage: tag is required'
    }
    def image = "${registryPrefix(args.registry)}sioms/${args.name}"
    // BuildKit where the agent has buildx, the classic builder otherwise (as scripts/images.sh).
    sh """#!/usr/bin/env bash
        set -euo pipefail
        if [ -z "\${DOCKER_BUILDKIT:-}" ]; then
          if docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=1; else export DOCKER_BUILDKIT=0; fi
        fi
        docker build --target '${args.name}' \\
          --build-arg VERSION='${args.tag}' \\
          --build-arg REVISION="\$(git rev-parse HEAD)" \\
          --build-arg SOURCE="\$(git config --get remote.origin.url || echo unknown)" \\
          -t '${image}:${args.tag}' -t '${image}:latest' .
    """
}

/** 'host/org' or 'host/org/' -> 'host/org/'; empty -> '' (Docker Hub names sioms/<name>). */
private String registryPrefix(String registry) {
    def prefix = registry != null ? registry : (env.REGISTRY ?: '')
    return (!prefix || prefix.endsWith('/')) ? prefix : prefix + '/'
}
