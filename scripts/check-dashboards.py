#!/usr/bin/env python3
"""Checks SIOMS' Grafana dashboards against a live Prometheus.

Usage: scripts/check-dashboards.py PROMETHEUS_URL [DASHBOARDS_DIR]

DASHBOARDS_DIR defaults to monitoring/grafana/dashboards (of the repository this script is in).
Python 3 standard library only.

For every dashboard JSON file in DASHBOARDS_DIR it checks, without Prometheus:

- the basics: a `uid` (unique across the files), a `title`, an integer `schemaVersion` (39 or
  later: Grafana 11), the tag `sioms`, a `datasource` template variable of type `datasource`
  (query `prometheus`), unique panel ids;
- every panel (rows excepted, nested ones included) is of a current type (no `graph`,
  `singlestat`, ...), has a `description`, a unit in `fieldConfig.defaults.unit` and at least
  one target with an expression;
- every datasource reference anywhere in the file is `${datasource}` (a numeric id or a
  hard-coded uid or name fails);
- every range in an expression is a Grafana interval variable (`$__rate_interval`...), not a
  hard-coded `[5m]`.

Then, against PROMETHEUS_URL:

- every target expression of every panel runs as an instant query (`/api/v1/query`) with the
  Grafana variables replaced: `$__rate_interval` by 1m, `$__interval` by 15s, `$__range` by 5m,
  `${datasource}` by nothing it matters for, `$service` by each of the five service jobs in
  turn (one query each), `$instance` by the regex of that job's actual instances (what Grafana
  sends for "All"; `.+` when none is known). Each must answer status success with at least one
  series. Expressions written to fall back to 0 (`or vector(0)`) pass on a healthy system;
  a metric name Prometheus has never seen is reported as a `note:` line so that a typo hidden
  by such a fallback still shows.
- every `label_values(...)` query variable returns at least one value (per service job when it
  uses `$service`);
- `/api/v1/rules`: at least one rule is loaded and every rule's health is "ok", without
  lastError.

One line per check (dashboard / panel title / OK n series, or FAIL reason), then a closing line
`test result: ok. N passed; 0 failed; 0 ignored (dashboards)` or
`test result: FAILED. N passed; M failed; 0 ignored (dashboards)`. Exits 1 on any failure,
2 on a usage error.
"""

import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

SERVICES = ["inventory-svc", "order-svc", "pricing-svc", "analytics-consumer", "notifier-consumer"]
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
    "datasource": "prometheus",
}
DATASOURCE_REFS = {"${datasource}", "$datasource"}
OLD_PANEL_TYPES = {"graph", "singlestat", "table-old", "grafana-piechart-panel", "grafana-worldmap-panel"}
INTERVAL_VARS = {"$__rate_interval", "${__rate_interval}", "$__interval", "${__interval}", "$__range", "${__range}"}
VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")
TIMEOUT = 15

RESULTS = {"passed": 0, "failed": 0}


def report(ok, *parts):
    RESULTS["passed" if ok else "failed"] += 1
    print(" / ".join(str(p) for p in parts))


def note(*parts):
    print("note: " + " / ".join(str(p) for p in parts))


# ------------------------------------------------------------------------------- Prometheus


class PromError(Exception):
    pass


def prom_api(base, path, params=None):
    """GET (no params) or POST (form params) a Prometheus API path; returns `data`."""
    url = base.rstrip("/") + path
    body = urllib.parse.urlencode(params).encode() if params is not None else None
    req = urllib.request.Request(url, data=body)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            payload = json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            payload = json.load(e)
        except (ValueError, OSError):
            raise PromError(f"HTTP {e.code} from {path}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise PromError(f"cannot query {url}: {e}") from None
    if payload.get("status") != "success":
        raise PromError(f"status {payload.get('status')}: {payload.get('errorType', '')}: {payload.get('error', '')}")
    for w in payload.get("warnings") or []:
        note(path, "warning: " + w)
    return payload.get("data")


def instant(base, expr):
    """Runs an instant query; returns the number of series (a scalar or string counts as one)."""
    data = prom_api(base, "/api/v1/query", {"query": expr})
    result = data.get("result")
    if data.get("resultType") in ("scalar", "string"):
        return 1
    return len(result or [])


# ------------------------------------------------------------------------------- dashboards


def walk(node, path="$"):
    """Yields (path, key, value) for every key of every object in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def all_panels(panels):
    """Every panel, the ones nested in (collapsed) rows included."""
    for p in panels or []:
        yield p
        yield from all_panels(p.get("panels"))


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def ranges(expr):
    """The contents of every [range] / [range:step] in an expression (strings left out)."""
    return re.findall(r"\[([^\]]*)\]", re.sub(r"\[\[\w+(?::\w+)?\]\]", "x", strip_strings(expr)))


KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
            "bool", "offset", "atan2", "inf", "nan", "start", "end"}


def metric_names(expr):
    """The metric names an expression reads (a rough parse, good enough for notes)."""
    s = strip_strings(expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?", s):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def check_structure(name, dash, seen_uids):
    problems = []
    uid = dash.get("uid")
    if not isinstance(uid, str) or not uid:
        problems.append("no uid")
    elif uid in seen_uids:
        problems.append(f"uid {uid} also used by {seen_uids[uid]}")
    else:
        seen_uids[uid] = name
    if not dash.get("title"):
        problems.append("no title")
    sv = dash.get("schemaVersion")
    if not isinstance(sv, int) or sv < 39:
        problems.append(f"schemaVersion {sv!r} (want 39 or later, Grafana 11)")
    if "sioms" not in (dash.get("tags") or []):
        problems.append("tag sioms missing")
    variables = (dash.get("templating") or {}).get("list") or []
    dsvars = [v for v in variables if v.get("name") == "datasource"]
    if not dsvars or dsvars[0].get("type") != "datasource" or dsvars[0].get("query") != "prometheus":
        problems.append("no `datasource` variable of type datasource with query prometheus")
    ids = set()
    for p in all_panels(dash.get("panels")):
        title = p.get("title") or f"panel {p.get('id')}"
        if p.get("id") in ids:
            problems.append(f"{title}: duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        if p.get("type") in OLD_PANEL_TYPES:
            problems.append(f"{title}: deprecated panel type {p.get('type')}")
        if not (p.get("description") or "").strip():
            problems.append(f"{title}: no description")
        unit = ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if not unit:
            problems.append(f"{title}: no unit (fieldConfig.defaults.unit)")
        exprs = [t.get("expr") for t in p.get("targets") or []]
        if not exprs or not all(exprs):
            problems.append(f"{title}: a target without an expression")
        for e in filter(None, exprs):
            for r in ranges(e):
                head = r.split(":")[0].strip()
                if head not in INTERVAL_VARS:
                    problems.append(f"{title}: hard-coded range [{r}] (use $__rate_interval)")
    for path, key, value in walk(dash):
        if key == "datasourceId" or (key == "datasource" and isinstance(value, (int, float))):
            problems.append(f"{path}.{key}: numeric datasource id {value!r}")
        elif key == "datasource" and isinstance(value, str) and value not in DATASOURCE_REFS:
            problems.append(f"{path}.{key}: datasource {value!r} is not ${{datasource}}")
        elif key == "datasource" and isinstance(value, dict):
            if value.get("uid") not in DATASOURCE_REFS:
                problems.append(f"{path}.{key}: datasource uid {value.get('uid')!r} is not ${{datasource}}")
            if "id" in value:
                problems.append(f"{path}.{key}: datasource with a numeric id")
    return problems


# ------------------------------------------------------------------------------- variables


def regex_alternation(values):
    """What Grafana sends for a multi-value/All variable in a Prometheus regex matcher, escaped
    for a double-quoted PromQL string."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", v).replace("\\", "\\\\") for v in values]
    return "(" + "|".join(escaped) + ")" if len(escaped) > 1 else escaped[0]


def substitute(expr, values):
    """Replaces every Grafana variable of expr; raises KeyError on an unknown one."""

    def repl(m):
        var = m.group(1) or m.group(2) or m.group(3)
        if var in values:
            return values[var]
        if var in BUILTINS:
            return BUILTINS[var]
        raise KeyError(var)

    return VAR_RE.sub(repl, expr)


def uses(expr, var):
    return any((m.group(1) or m.group(2) or m.group(3)) == var for m in VAR_RE.finditer(expr))


def variants(expr, instances):
    """(label, values) pairs to run expr with: one per service job when it uses $service."""
    if uses(expr, "service"):
        for job in SERVICES:
            inst = instances.get(job)
            yield f"service={job}", {"service": job, "instance": regex_alternation(inst) if inst else ".+"}
    else:
        yield "", {"instance": ".+"}


def variable_query(var):
    q = var.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    return q or var.get("definition") or ""


# ------------------------------------------------------------------------------- main


def main(argv):
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    prom = argv[1]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    directory = argv[2] if len(argv) == 3 else os.path.join(root, "monitoring", "grafana", "dashboards")
    files = sorted(f for f in os.listdir(directory) if f.endswith(".json")) if os.path.isdir(directory) else []
    if not files:
        report(False, directory, "FAIL no dashboard JSON file")

    # What Prometheus knows: the instances of every service job, and every metric name.
    instances, known = {}, None
    try:
        data = prom_api(prom, "/api/v1/query", {"query": 'up{job=~"%s"}' % "|".join(SERVICES)})
        for s in data["result"]:
            instances.setdefault(s["metric"].get("job"), []).append(s["metric"].get("instance"))
        for v in instances.values():
            v.sort()
        known = set(prom_api(prom, "/api/v1/label/__name__/values"))
    except PromError as e:
        report(False, "prometheus", "FAIL " + str(e))
        prom = None
    for job in SERVICES:
        if prom and job not in instances:
            note("prometheus", f"no target of job {job}: $instance becomes .+")

    seen_uids = {}
    for f in files:
        try:
            with open(os.path.join(directory, f), encoding="utf-8") as fh:
                dash = json.load(fh)
        except (OSError, ValueError) as e:
            report(False, f, "(file)", f"FAIL not a JSON dashboard: {e}")
            continue
        name = dash.get("uid") or f
        problems = check_structure(f, dash, seen_uids)
        if problems:
            report(False, name, "(structure)", "FAIL " + "; ".join(problems))
        else:
            n = sum(1 for p in all_panels(dash.get("panels")) if p.get("type") != "row")
            report(True, name, "(structure)", f"OK {n} panels")
        if not prom:
            continue

        for var in (dash.get("templating") or {}).get("list") or []:
            if var.get("type") != "query":
                continue
            q = variable_query(var).strip()
            m = re.fullmatch(r"label_values\((?:(.+),\s*)?(\w+)\)", q)
            if not m:
                report(False, name, f"variable {var.get('name')}", f"FAIL unsupported query {q!r}")
                continue
            selector, label = m.group(1), m.group(2)
            for tag, values in variants(selector or "", instances):
                what = f"variable {var.get('name')}" + (f" [{tag}]" if tag else "")
                try:
                    if selector:
                        n = instant(prom, f"count by ({label}) ({substitute(selector, values)})")
                    else:
                        n = len(prom_api(prom, f"/api/v1/label/{label}/values"))
                    report(n > 0, name, what, f"OK {n} values" if n else "FAIL no value")
                except KeyError as e:
                    report(False, name, what, f"FAIL unknown variable ${e.args[0]}")
                except PromError as e:
                    report(False, name, what, f"FAIL {e}")

        for p in all_panels(dash.get("panels")):
            if p.get("type") == "row":
                continue
            title = p.get("title") or f"panel {p.get('id')}"
            for t in p.get("targets") or []:
                expr = t.get("expr")
                if not expr:
                    continue
                if known is not None:
                    for metric in sorted(metric_names(expr) - known):
                        note(name, title, f"metric {metric} has no series in Prometheus (yet)")
                for tag, values in variants(expr, instances):
                    what = f"{title} [{t.get('refId', '?')}{' ' + tag if tag else ''}]"
                    try:
                        query = substitute(expr, values)
                    except KeyError as e:
                        report(False, name, what, f"FAIL unknown variable ${e.args[0]}")
                        continue
                    try:
                        n = instant(prom, query)
                    except PromError as e:
                        report(False, name, what, f"FAIL {e} (query: {query})")
                        continue
                    if n:
                        report(True, name, what, f"OK {n} series")
                    else:
                        report(False, name, what, f"FAIL no series (query: {query})")

    if prom:
        try:
            groups = prom_api(prom, "/api/v1/rules").get("groups") or []
            rules = [(g.get("name"), r) for g in groups for r in g.get("rules") or []]
            if not rules:
                report(False, "rules", "FAIL no rule loaded")
            for group, r in rules:
                label = r.get("name")
                health, err = r.get("health"), r.get("lastError")
                if health == "ok" and not err:
                    report(True, "rules", group, label, "OK")
                else:
                    report(False, "rules", group, label, f"FAIL health {health!r}" + (f": {err}" if err else ""))
        except PromError as e:
            report(False, "rules", "FAIL " + str(e))

    passed, failed = RESULTS["passed"], RESULTS["failed"]
    verdict = "ok" if failed == 0 else "FAILED"
    print(f"test result: {verdict}. {passed} passed; {failed} failed; 0 ignored (dashboards)")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
