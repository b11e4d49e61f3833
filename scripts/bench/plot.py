"""Draws one `make bench` run: orders/s and p99 against concurrency, with the composite limit.

Usage: plot.py RUN.json OUT.png

Reads the JSON that scripts/bench.sh writes. Left axis: confirmed orders/s through the gateway
at each concurrency, the composite limit of the components (one order needs one of each) as a
horizontal line, and 0.7 of it. Right axis: p99 latency. Needs matplotlib, which scripts/bench.sh
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
    left.set_title(
        f"SIOMS make bench, {run['timestamp']}: {machine['cores']} cores, {machine['cpu']}",
        fontsize=10,
    )
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
    fig.tight_layout()
    fig.savefig(out_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
