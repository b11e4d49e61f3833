#!/usr/bin/env bash
# The Jenkins pipeline's proof without a Jenkins server (deploy/jenkins/):
#   - the Jenkinsfile and every vars/*.groovy compile with Groovy to the CONVERSION phase (syntax
#     and AST only: nothing runs and no class is resolved, so the pipeline DSL and @Library are
#     fine);
#   - the pipeline's structure, over the AST (deploy/jenkins/tests/check.groovy): agent,
#     parameters, options, environment, the stages in order with their parallel branches,
#     credentials, deploy flags, rollback on a failed smoke test, post; every library step the
#     Jenkinsfile calls exists in vars/ and every vars/ file is called;
#   - the checks themselves reject broken copies (a syntax error, a missing stage, an unknown
#     library step).
# Tools: groovy from Debian (apt-get install -y groovy) and a Java runtime.
# Each check ends with a "test result:" line; the script exits 1 when any failed.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
dir=deploy/jenkins
check=$dir/tests/check.groovy

if ! command -v groovy >/dev/null; then
  [ -n "${APT_UPDATED:-}" ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq groovy >/dev/null
fi
# Debian's groovy starts /usr/lib/jvm/default-java unless JAVA_HOME says otherwise; use the java
# on PATH when that link is missing.
if [ ! -x "${JAVA_HOME:-/usr/lib/jvm/default-java}/bin/java" ]; then
  JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  export JAVA_HOME
fi

status=0
groovy "$check" parse "$dir/Jenkinsfile" "$dir"/vars/*.groovy || status=1
groovy "$check" structure "$dir/Jenkinsfile" "$dir/vars" || status=1

# Broken copies must fail.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rejects() { # what mode file-or-dir...
  local what=$1
  shift
  if groovy "$check" "$@" >"$tmp/out" 2>&1; then
    cat "$tmp/out"
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (jenkins: rejects $what)"
    status=1
  else
    echo "test result: ok. 1 passed; 0 failed; 0 ignored (jenkins: rejects $what)"
  fi
}
mkdir -p "$tmp/syntax" "$tmp/stage" "$tmp/step"
cp -r "$dir/Jenkinsfile" "$dir/vars" "$tmp/syntax/"
printf '\n    stage(\x27dangling\x27) {\n' >>"$tmp/syntax/Jenkinsfile"
rejects "a Jenkinsfile with a syntax error" parse "$tmp/syntax/Jenkinsfile"
cp -r "$dir/Jenkinsfile" "$dir/vars" "$tmp/stage/"
sed -i "s/stage('Helm lint')/stage('Chart')/" "$tmp/stage/Jenkinsfile"
rejects "a Jenkinsfile without the Helm lint stage" structure "$tmp/stage/Jenkinsfile" "$tmp/stage/vars"
cp -r "$dir/Jenkinsfile" "$dir/vars" "$tmp/step/"
sed -i "s/steps { buildImage(name: 'gateway'/steps { buildImg(name: 'gateway'/" "$tmp/step/Jenkinsfile"
rejects "a library step missing from vars/" structure "$tmp/step/Jenkinsfile" "$tmp/step/vars"
exit "$status"
