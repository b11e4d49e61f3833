/**
 * smokeTest(gatewayUrl: 'http://sioms-gateway.sioms.svc.cluster.local:8080'
 *           [, adminTokenId: 'sioms-admin-token', attempts: 30])
 *
 * The release's smoke check through the gateway, as in the deployment docs:
 *   1. waits until GET <gatewayUrl>/items answers (up to attempts x 10 s),
 *   2. scripts/seed-demo.sh <gatewayUrl> with ADMIN_TOKEN from the Jenkins "secret text"
 *      credential adminTokenId (the demo catalog; items that exist are left as they are),
 *   3. POST <gatewayUrl>/orders {"item":"widget","quantity":1} must answer 2xx.
 * Fails the stage otherwise (the pipeline then rolls the release back). The agent must reach
 * gatewayUrl (an agent inside the cluster, or an Ingress/LoadBalancer address).
 */
def call(Map args) {
    if (!args.gatewayUrl) {
        error 'smokeTest: gatewayUrl is required'
    }
    def gw = args.gatewayUrl.replaceAll('/+$', '')
    def attempts = args.attempts ?: 30
    withEnv(["GATEWAY=${gw}", "ATTEMPTS=${attempts}"]) {
        withCredentials([string(credentialsId: args.adminTokenId ?: 'sioms-admin-token', variable: 'ADMIN_TOKEN')]) {
            sh '''#!/usr/bin/env bash
                set -euo pipefail
                for i in $(seq "$ATTEMPTS"); do
                  curl -fsS -o /dev/null --max-time 5 "$GATEWAY/items" && break
                  [ "$i" -lt "$ATTEMPTS" ] || { echo "gateway $GATEWAY did not answer" >&2; exit 1; }
                  sleep 10
                done
                scripts/seed-demo.sh "$GATEWAY"
                code=$(curl -s -o /tmp/sioms-smoke-$$.json -w '%{http_code}' --max-time 15 \
                  -X POST "$GATEWAY/orders" -H 'Content-Type: application/json' \
                  -d '{"item":"widget","quantity":1}')
                cat /tmp/sioms-smoke-$$.json; echo; rm -f /tmp/sioms-smoke-$$.json
                case "$code" in 2??) echo "smoke test: POST /orders answered $code" ;;
                  *) echo "smoke test: POST /orders answered $code" >&2; exit 1 ;; esac
            '''
        }
    }
}
