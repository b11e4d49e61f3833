"""Draws one `make bench` run: orders/s and p99 against concurrency, with the composite limit,
and the latency at fixed rates against the p99 goal.

Usage: plot.py RUN.json OUT.png

Reads the JSON that scripts/bench.sh writes. First panel (closed loop, wrk), left axis:
confirmed orders/s through the gateway at each concurrency, the composite limit of the
components (one order needs one of each) as a horizontal line, and 0.7 of it; right axis: p99
latency. Second panel, when the run has a "fixed_rate" list (runs before it have none, and get
the first panel alone): p50, p90 and p99 of the open-loop runs (oha, latency from each order's
scheduled send) against their target orders/s, the goal for p99 as a horizontal line, and the
closed-loop peak and half of it as vertical ones. Needs matplotlib, which scripts/bench.sh
installs into a venv of its own (.stack/bench-tools).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)


def main(run_path: str, out_path: str) -> None:
    with open(run_path, encoding="utf-8") as f:
        run = json.load(f)
    levels = [row["connections"] for row in run["system"]]
    rates = [row["orders_per_s"] for row in run["system"]]
    p99 = [row["p99_ms"] for row in run["system"]]
    composite = run["composite_per_s"]
    fixed = run.get("fixed_rate") or []

    if fixed:
        fig, (left, fixed_axis) = plt.subplots(
            1, 2, figsize=(15, 5.5), dpi=110, gridspec_kw={"width_ratios": [3, 2]}
        )
    else:
        fig, left = plt.subplots(figsize=(9, 5.5), dpi=110)
    left.plot(levels, rates, "o-", color="tab:blue", label="orders/s through the gateway")
    left.axhline(composite, color="tab:green", linestyle="--",
                 label=f"composite limit {composite:,.0f}/s")
    left.axhline(0.7 * composite, color="tab:green", linestyle=":",
                 label=f"0.7 × composite {0.7 * composite:,.0f}/s")
    left.set_xscale("log", base=2)
    left.set_xticks(levels, [str(c) for c in levels])
    left.minorticks_off()
    left.set_xlabel("concurrent connections (wrk)")
    left.set_ylabel("confirmed orders/s")
    # Head room above the lines for the legend and the components' box.
    left.set_ylim(0, max(max(rates), composite) * 1.5)
    left.grid(True, alpha=0.3)

    right = left.twinx()
    right.plot(levels, p99, "s-", color="tab:red", label="p99 latency")
    right.set_ylabel("p99 latency (ms)")
    right.set_ylim(0, max(p99) * 1.55)

    handles = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=9)
    machine = run["machine"]
    title = f"SIOMS make bench, {run['timestamp']}: {machine['cores']} cores, {machine['cpu']}"
    if fixed:
        fig.suptitle(title, fontsize=10)
        left.set_title("closed loop (wrk): a fixed number of connections", fontsize=9)
    else:
        left.set_title(title, fontsize=10)
    parts = "\n".join(
        f"{name}: {part['rate_per_s']:,.0f} {part['unit']}"
        for name, part in (
            ("Redis reserve.lua", run["components"]["redis_reserve"]),
            ("Postgres order tx", run["components"]["postgres_order"]),
            ("RabbitMQ confirmed publish", run["components"]["rabbitmq_publish"]),
            ("NGINX proxy hop", run["components"]["nginx_hop"]),
        )
    )
    left.text(0.99, 0.98, "each component's own tool:\n" + parts, transform=left.transAxes,
              ha="right", va="top", multialignment="left", fontsize=8, family="monospace",
              bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
    if fixed:
        plot_fixed_rates(fixed_axis, fixed, run.get("peak_orders_per_s", max(rates)),
                         run.get("p99_goal_ms", 25))
    fig.tight_layout()
    fig.savefig(out_path)


def plot_fixed_rates(axis, fixed: list, peak: float, goal_ms: float) -> None:
    """p50/p90/p99 at each fixed rate, with the p99 goal and the closed-loop peak."""
    fixed = sorted(fixed, key=lambda row: row["target_per_s"])
    targets = [row["target_per_s"] for row in fixed]
    for key, marker, color, size in (
        ("p50_ms", "o", "tab:blue", 6),
        ("p90_ms", "^", "tab:orange", 7),
        ("p99_ms", "*", "tab:red", 13),
    ):
        axis.plot(targets, [row[key] for row in fixed], marker=marker, color=color,
                  markersize=size, linestyle="-" if len(fixed) > 1 else "none",
                  label=key.removesuffix("_ms"))
    for row in fixed:
        note = f"{row['p99_ms']:.1f} ms"
        if row["achieved_per_s"] < 0.98 * row["target_per_s"]:
            note += f"\n(achieved {row['achieved_per_s']:,.0f}/s)"
        axis.annotate(note, (row["target_per_s"], row["p99_ms"]), textcoords="offset points",
                      xytext=(6, 6), fontsize=8, color="tab:red")
    axis.axhline(goal_ms, color="tab:green", linestyle="--", label=f"goal: p99 ≤ {goal_ms:g} ms")
    axis.axvline(peak, color="0.4", linestyle="--", label=f"closed-loop peak {peak:,.0f}/s")
    axis.axvline(peak / 2, color="0.4", linestyle=":", label=f"half of it {peak / 2:,.0f}/s")
    axis.set_xlim(0, max(peak, max(targets)) * 1.1)
    top = max(goal_ms, *(row["p99_ms"] for row in fixed))
    axis.set_ylim(0, top * 1.5)
    axis.set_xlabel("orders/s sent on a schedule (oha)")
    axis.set_ylabel("latency from the scheduled send (ms)")
    axis.set_title("open loop: latency at a fixed rate", fontsize=9)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="upper left", fontsize=9)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
