"""Markdown tables for RESULTS.md from `python -m ferrosock bench --json` runs.

    python benches/results_tables.py run-3.11.json run-3.12.json run-3.13.json

prints, for each run, one table of every A/B case (times, speedup, target, verdict) and the
ferrosock rows of the load tables, headed by the run's interpreter, machine and date. The
numbers are copied from the JSON, never recomputed, so the tables say what the run printed.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _ns(ns: float) -> str:
    if ns != ns:  # NaN: the case failed before it was timed
        return "-"
    if ns < 1_000:
        return f"{ns:.1f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} µs"
    return f"{ns / 1_000_000:.2f} ms"


def _verdict(case: dict[str, Any]) -> str:
    if not case["correct"]:
        return "WRONG"
    met = case["meets_target"]
    return "" if met is None else ("ok" if met else "**MISS**")


def run_markdown(run: dict[str, Any]) -> str:
    env = run["environment"]
    lines = [
        f"### CPython {env['python']}",
        "",
        f"{env['date']}, ferrosock {env['ferrosock']}, {env['system']} {env['machine']}, "
        f"{env['cpus']} CPUs.",
        "",
        "| group | case | baseline | baseline/op | ferrosock/op | speedup | target | |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in run["cases"]:
        target = f"≥{c['target']:.2f}x" if c["target"] else ""
        lines.append(
            f"| {c['group']} | {c['name']} | {c['baseline']} | {_ns(c['baseline_ns_per_op'])} "
            f"| {_ns(c['ferrosock_ns_per_op'])} | {c['speedup']:.2f}x | {target} "
            f"| {_verdict(c)} |"
        )
    for table in run["tables"]:
        ours = [row for row in table["rows"] if str(row[0]).startswith(("ferrosock", "recvmany"))]
        if not ours:
            continue
        lines += [
            "",
            f"{table['title']}",
            "",
            "| " + " | ".join(table["columns"]) + " |",
            "| " + " | ".join(["---"] + ["---:"] * (len(table["columns"]) - 1)) + " |",
        ]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in ours]
        lines += [
            f"- {'ok' if v['passed'] else '**MISS**'}: {v['label']}" for v in table["verdicts"]
        ]
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            print(run_markdown(json.load(fh)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
