/**
 * helmRollback(revision: '7' [, kubeconfigId: 'sioms-kubeconfig'])
 *
 * Rolls the release `sioms` (namespace sioms) back to the revision helmDeploy returned — the
 * one deployed before this build's upgrade — and waits for it: `helm rollback sioms <revision>
 * --wait`. Without a revision (first install: nothing to go back to) it only says so; the
 * build fails anyway. The pipeline calls it when the smoke test fails.
 */
def call(Map args) {
    if (!args.revision) {
        echo 'helmRollback: no previous revision of sioms (first install); nothing to roll back to'
        return
    }
    withEnv(["PATH+CHARTTOOLS=${env.WORKSPACE}/.stack/chart-tools/node_modules/.bin"]) {
        withCredentials([file(credentialsId: args.kubeconfigId ?: 'sioms-kubeconfig', variable: 'KUBECONFIG')]) {
            sh "helm rollback sioms '${args.revision}' --namespace sioms --wait --timeout 10m"
            sh 'helm history sioms --namespace sioms --max 5'
        }
    }
}
