"""``--plot FILE``: the speedups of one or more bench runs as a bar chart (SVG, PNG, PDF...).

Each A/B case is a row; the server and datagram tables add a row for every ratio of a
ferrosock row to its comparison (``vs asyncio``, ``vs uvloop``, ``vs recvfrom``). Several runs
(one per interpreter, from ``--json`` files) become side-by-side bars in each row. The x axis
is logarithmic with the stdlib at 1x, so 0.5x and 2x sit equally far from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Bar", "bars_from_run", "plot_runs"]

# Table columns that hold "ferrosock vs X" throughput ratios; CPU ratios are lower-is-better
# and would read backwards on the same axis.
_RATIO_COLUMNS = ("vs asyncio", "vs uvloop", "vs recvfrom")
_RATIO = re.compile(r"^\s*([0-9.]+)x\s*$")


@dataclass(frozen=True)
class Bar:
    group: str
    label: str
    speedup: float
    target: float | None = None


def bars_from_run(run: dict[str, Any]) -> list[Bar]:
    """The rows of one run, as written by ``--json``: cases first, then table ratios."""
    bars = [
        Bar(c["group"], c["name"], c["speedup"], c.get("target"))
        for c in run.get("cases", [])
        # Floors compare the stdlib with a reference loop, not with ferrosock.
        if c.get("correct") and not c["name"].startswith("floor:") and _finite(c["speedup"])
    ]
    for table in run.get("tables", []):
        title = table["title"].split("  (")[0]
        group = title.split(":")[0].split()[0]
        if title.startswith(group + ": "):
            title = title[len(group) + 2 :]
        columns = table["columns"]
        by_label = {str(row[0]): row for row in table["rows"]}
        for name, row in by_label.items():
            if not name.startswith(("ferrosock", "recvmany")):
                continue
            # A ferrosock drop-in (ferrosock.socketserver.X) is compared with the stdlib's X
            # in the same table, not with asyncio.
            twin = next(
                (
                    label
                    for label in by_label
                    if name.startswith("ferrosock.") and name[len("ferrosock.") :].startswith(label)
                ),
                None,
            )
            if twin is not None and "msgs/s" in columns:
                at = columns.index("msgs/s")
                if _finite(row[at]) and _finite(by_label[twin][at]):
                    bars.append(
                        Bar(group, f"{title}: {name} vs {twin}", row[at] / by_label[twin][at])
                    )
                continue
            for column in _RATIO_COLUMNS:
                if column not in columns:
                    continue
                match = _RATIO.match(str(row[columns.index(column)]))
                if match:
                    bars.append(Bar(group, f"{title}: {name} {column}", float(match.group(1))))
    return bars


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def plot_runs(runs: Sequence[dict[str, Any]], path: str, title: str | None = None) -> int:
    """Draws ``runs`` (``--json`` documents) into ``path``; returns the number of rows."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        # Text stays text in an SVG: a tenth of the size, and searchable.
        matplotlib.rcParams["svg.fonttype"] = "none"
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit("--plot needs matplotlib: pip install 'ferrosock[plot]'") from exc

    per_run = [bars_from_run(run) for run in runs]
    labels = [f"CPython {run['environment']['python']}" for run in runs]
    # Rows in first-seen order across runs, so a case missing from one run still lines up.
    rows: list[tuple[str, str]] = []
    targets: dict[tuple[str, str], float | None] = {}
    for bars in per_run:
        for bar in bars:
            key = (bar.group, bar.label)
            if key not in targets:
                rows.append(key)
                targets[key] = bar.target
    if not rows:
        raise SystemExit("--plot: nothing to draw (no case ran, or none produced a result)")
    values = [{(b.group, b.label): b.speedup for b in bars} for bars in per_run]

    height = 0.8 / len(runs)
    fig_h = max(3.0, len(rows) * (0.12 + 0.07 * len(runs)) + 1.5)
    fig, ax = plt.subplots(figsize=(11, fig_h))
    colours = plt.get_cmap("tab10")
    for i, (label, vals) in enumerate(zip(labels, values, strict=True)):
        ys = [n + (i - (len(runs) - 1) / 2) * height for n, key in enumerate(rows) if key in vals]
        xs = [vals[key] for key in rows if key in vals]
        # Bars grow from the stdlib's 1x: right when faster, left when slower.
        widths = [x - 1.0 for x in xs]
        ax.barh(ys, widths, height=height * 0.9, left=1.0, color=colours(i), label=label)
        for y, x in zip(ys, xs, strict=True):
            ax.annotate(
                f"{x:.2f}x",
                (x, y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=6.5,
            )
    for n, key in enumerate(rows):
        target = targets[key]
        if target:
            ax.plot([target, target], [n - 0.45, n + 0.45], color="black", lw=1)
    ax.axvline(1.0, color="dimgray", lw=1, ls="--")
    ax.set_xscale("log")
    lo = min(min(v.values()) for v in values if v)
    hi = max(max(v.values()) for v in values if v)
    ax.set_xlim(min(0.5, lo * 0.8), hi * 2.2)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{group}: {label}" for group, label in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(
        "speedup over the stdlib, asyncio or the Python loop users write (log scale)\n"
        "dashed line: 1x; black ticks: targets",
        fontsize=8,
    )
    env = runs[0]["environment"]
    ax.set_title(
        title
        or f"ferrosock {env['ferrosock']}: speedups\n{env['system']} {env['machine']}, "
        f"{env['cpus']} CPUs, {env['date'][:10]}",
        fontsize=9,
        loc="right",
    )
    ax.grid(axis="x", which="both", alpha=0.25)
    if len(runs) > 1:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return len(rows)
