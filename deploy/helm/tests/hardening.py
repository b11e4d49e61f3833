#!/usr/bin/env python3
"""Asserts the hardening of every workload the SIOMS chart renders.

Usage: hardening.py RENDERED.yaml [SECRET_VALUE ...]

RENDERED.yaml is `helm template` output. Every check runs over every workload (Deployment,
StatefulSet, DaemonSet, Job, CronJob) and every container the chart renders, so a workload
added later that misses one fails here without a change to this file:

- its own ServiceAccount (rendered by the chart), with the API token not mounted;
- pod: runAsNonRoot, a numeric non-root runAsUser, seccompProfile RuntimeDefault;
- every container: no privilege escalation, every capability dropped, a read-only root
  filesystem, CPU and memory requests and limits;
- every container of the SIOMS services and the gateway: liveness, readiness and startup
  probes, a preStop pause, and a termination grace period longer than the services' own
  drain (30 s); their Deployments roll without ever dropping below the wanted replicas
  (maxUnavailable 0), carry a checksum annotation so a config change rolls them, and spread
  over nodes;
- no secret value (each SECRET_VALUE given, as the test renders them) appears anywhere but
  in a Secret, and the connection settings and the admin token reach the containers only
  through secretKeyRef;
- every sub-chart of the seed renders its Deployment.

Workloads that may not have a read-only root filesystem are listed in RW_ROOT_ALLOWED with the
reason. Prints each failed check and one `test result: ...` line (one test per rendering, with
the number of checks); exits 1 on any failure.
"""

import sys

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
# app.kubernetes.io/name of the seed's sub-charts (the SIOMS services and the gateway).
SUBCHARTS = {
    "inventory-service",
    "order-service",
    "pricing-service",
    "analytics-service",
    "notification-service",
    "gateway",
}
SECRET_ENV = {"ADMIN_TOKEN", "DATABASE_URL", "REDIS_URL", "AMQP_URL"}
MIN_GRACE_SECONDS = 30
# Workload name suffix -> why its root filesystem must stay writable.
RW_ROOT_ALLOWED = {}

failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print(f"FAIL {what}")


def pod_spec(doc):
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"], spec["jobTemplate"]["spec"]["template"]
    return spec["template"]["spec"], spec["template"]


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    secret_values = [v for v in sys.argv[2:] if v]
    docs = [d for d in yaml.safe_load_all(text) if d]

    accounts = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    check(workloads, "the chart renders workloads")
    seen_subcharts = set()

    for w in workloads:
        name = f'{w["kind"]}/{w["metadata"]["name"]}'
        spec, template = pod_spec(w)
        component = w["metadata"].get("labels", {}).get("app.kubernetes.io/name", "")
        is_app = component in SUBCHARTS
        if is_app and w["kind"] == "Deployment":
            seen_subcharts.add(component)

        sa = spec.get("serviceAccountName", "")
        check(sa and sa != "default" and sa in accounts, f"{name}: its own ServiceAccount ({sa!r})")
        token_off = spec.get("automountServiceAccountToken") is False or (
            sa in accounts and accounts[sa].get("automountServiceAccountToken") is False
        )
        check(token_off, f"{name}: the API token is not mounted")

        psc = spec.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True, f"{name}: runAsNonRoot")
        uid = psc.get("runAsUser")
        check(isinstance(uid, int) and uid > 0, f"{name}: a numeric non-root runAsUser ({uid!r})")
        pod_seccomp = psc.get("seccompProfile", {}).get("type")

        containers = spec.get("containers", []) + spec.get("initContainers", [])
        for c in containers:
            cname = f'{name} container {c["name"]}'
            csc = c.get("securityContext", {})
            check(csc.get("allowPrivilegeEscalation") is False, f"{cname}: no privilege escalation")
            check("ALL" in csc.get("capabilities", {}).get("drop", []), f"{cname}: every capability dropped")
            seccomp = csc.get("seccompProfile", {}).get("type", pod_seccomp)
            check(seccomp == "RuntimeDefault", f"{cname}: seccompProfile RuntimeDefault")
            allowed_rw = any(w["metadata"]["name"].endswith(k) for k in RW_ROOT_ALLOWED)
            check(csc.get("readOnlyRootFilesystem") is True or allowed_rw, f"{cname}: read-only root filesystem")
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    check(r in res.get(kind, {}), f"{cname}: resources.{kind}.{r}")
            for env in c.get("env", []):
                if env["name"] in SECRET_ENV:
                    check("secretKeyRef" in env.get("valueFrom", {}), f"{cname}: {env['name']} from a Secret")
            if is_app and c in spec.get("containers", []):
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    check(probe in c, f"{cname}: {probe}")
                check("preStop" in c.get("lifecycle", {}), f"{cname}: a preStop pause")

        if is_app:
            grace = spec.get("terminationGracePeriodSeconds", 30)
            check(grace > MIN_GRACE_SECONDS, f"{name}: termination grace {grace}s > {MIN_GRACE_SECONDS}s")
            annotations = template.get("metadata", {}).get("annotations", {})
            check(any(k.startswith("checksum/") for k in annotations), f"{name}: a checksum annotation")
            check(spec.get("topologySpreadConstraints"), f"{name}: topology spread over nodes")
            if w["kind"] == "Deployment":
                strategy = w["spec"].get("strategy", {})
                check(
                    strategy.get("type", "RollingUpdate") == "RollingUpdate"
                    and strategy.get("rollingUpdate", {}).get("maxUnavailable") in (0, "0", "0%"),
                    f"{name}: rolling update with maxUnavailable 0",
                )

    for sub in sorted(SUBCHARTS):
        check(sub in seen_subcharts, f"sub-chart {sub} renders its Deployment")

    for d in docs:
        if d["kind"] == "Secret":
            continue
        dumped = yaml.safe_dump(d)
        for value in secret_values:
            check(value not in dumped, f'{d["kind"]}/{d["metadata"]["name"]}: no secret value outside a Secret')

    what = f"chart hardening, {sys.argv[1]}: {passed} of {passed + len(failures)} checks passed"
    if failures:
        print(f"test result: FAILED. 0 passed; 1 failed; 0 ignored ({what})")
        sys.exit(1)
    print(f"test result: ok. 1 passed; 0 failed; 0 ignored ({what})")


if __name__ == "__main__":
    main()
