/**
 * helmDeploy(env: 'dev', tag: '0.1.0-785ef76' [, registry: 'registry.example.com',
 *            existingSecret: 'sioms-secrets', lintOnly: false, kubeconfigId: 'sioms-kubeconfig'])
 *
 * Installs or upgrades the release `sioms` of deploy/helm/sioms-chart in the namespace sioms:
 *   helm upgrade --install sioms deploy/helm/sioms-chart --namespace sioms --create-namespace
 *     -f deploy/helm/sioms-chart/values-<env>.yaml --set global.imageTag=<tag> --atomic --wait
 * (--atomic: a failed upgrade rolls itself back). The kubeconfig is the Jenkins "secret file"
 * credential kubeconfigId, bound to KUBECONFIG for the helm commands only.
 * With lintOnly: true it runs no cluster command: `helm lint --strict` and `helm template` with
 * exactly the values and --set flags the deploy would use (the pipeline's Helm lint stage).
 * Returns the revision that was deployed before the upgrade (for helmRollback), or '' when the
 * release did not exist yet (or lintOnly).
 *   env             required: dev, staging or production (values-<env>.yaml must exist)
 *   tag             required: global.imageTag
 *   registry        optional: global.imageRegistry (default: env.REGISTRY without the '/')
 *   existingSecret  optional: global.existingSecret, the Secret with the SIOMS connection
 *                   strings that the cluster already holds (default: 'sioms-secrets' except
 *                   for dev, whose values file carries throwaway dev secrets)
 *   timeout         optional: helm --timeout (default '10m')
 */
def call(Map args) {
    if (!(args.env in ['dev', 'staging', 'production'])) {
        error "helmDeploy: env must be dev, staging or production, not '${args.env}'"
    }
    if (!args.tag) {
        error 'helmDeploy: tag is required'
    }
    def chart = 'deploy/helm/sioms-chart'
    def valuesFile = "${chart}/values-${args.env}.yaml"
    if (!fileExists(valuesFile)) {
        error "helmDeploy: ${valuesFile} does not exist; add it to the chart before deploying to ${args.env}"
    }
    def registry = (args.registry != null ? args.registry : (env.REGISTRY ?: '')).replaceAll('/+$', '')
    def secret = args.existingSecret != null ? args.existingSecret : (args.env == 'dev' ? '' : 'sioms-secrets')
    def flags = "-f '${valuesFile}' --set global.imageTag='${args.tag}'"
    if (registry) {
        flags += " --set global.imageRegistry='${registry}'"
    }
    if (secret) {
        flags += " --set global.existingSecret='${secret}'"
    }

    // helm from make check-chart's tool directory first, else the agent's PATH.
    // (withEnv returns what its body returns.)
    return withEnv(["PATH+CHARTTOOLS=${env.WORKSPACE}/.stack/chart-tools/node_modules/.bin"]) {
        helmRun(args, chart, flags)
    }
}

private String helmRun(Map args, String chart, String flags) {
    if (args.lintOnly) {
        sh "helm lint --strict ${chart} ${flags}"
        sh "helm template sioms ${chart} --namespace sioms ${flags} > /dev/null"
        return ''
    }

    def previous = ''
    withCredentials([file(credentialsId: args.kubeconfigId ?: 'sioms-kubeconfig', variable: 'KUBECONFIG')]) {
        // The revision deployed now (empty on the first install), so that a failed smoke test
        // can go back to it.
        previous = sh(returnStdout: true, script: '''#!/usr/bin/env bash
            helm history sioms --namespace sioms --max 20 -o json 2>/dev/null | python3 -c '
import json, sys
try:
    revisions = [r["revision"] for r in json.load(sys.stdin) if r["status"] == "deployed"]
except ValueError:
    revisions = []
print(revisions[-1] if revisions else "")' || true
        ''').trim()
        sh """helm upgrade --install sioms ${chart} --namespace sioms --create-namespace \\
              ${flags} --atomic --wait --timeout '${args.timeout ?: '10m'}'"""
    }
    return previous
}
