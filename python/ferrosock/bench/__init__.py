"""``python -m ferrosock bench``: ferrosock against the stdlib, measured in the same run.

Scenario modules live beside this file (``scenarios_*.py``); each defines
``cases(quick) -> list[Case]`` and, for runs that do not fit the A/B shape (server load),
``tables(quick) -> list[Table]``.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from ferrosock.bench._harness import Case, CaseResult, Table, run_case

__all__ = ["SCENARIO_MODULES", "main", "run"]

SCENARIO_MODULES: list[str] = [
    "scenarios_addr",
    "scenarios_ipaddress",
    "scenarios_struct",
    "scenarios_loops",
    "scenarios_socketserver",
    "scenarios_server",
    "scenarios_aiostreams",
    "scenarios_aioserver",
]


def _matches(patterns: Sequence[str], *names: str) -> bool:
    if not patterns:
        return True
    for pattern in patterns:
        for name in names:
            if name == pattern or fnmatch.fnmatchcase(name, pattern) or pattern in name:
                return True
    return False


def _fmt_ns(ns: float) -> str:
    if ns < 1_000:
        return f"{ns:.1f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} µs"
    return f"{ns / 1_000_000:.2f} ms"


def _fmt_target(target: float | None) -> str:
    if target is None:
        return "-"
    return f"≥{target:.2f}x"


def _progress(out: TextIO, text: str) -> None:
    if out.isatty():
        out.write("\r\033[K" + text)
    else:
        out.write(text + "\n")
    out.flush()


def _verdict(result: CaseResult) -> str:
    if not result.correct:
        return "WRONG"
    met = result.meets_target
    return "-" if met is None else ("ok" if met else "MISS")


def format_results(results: Iterable[CaseResult]) -> str:
    header = ["group", "case", "baseline", "baseline/op", "ferrosock/op", "speedup", "target", ""]
    rows = [
        [
            r.group,
            r.name,
            r.baseline_label,
            _fmt_ns(r.baseline_ns),
            _fmt_ns(r.candidate_ns),
            f"{r.speedup:.2f}x",
            _fmt_target(r.target),
            _verdict(r),
        ]
        for r in results
    ]
    return _format_table(header, rows)


def _format_table(header: list[str], rows: list[list[Any]], first_numeric: int = 3) -> str:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = {i for i in range(len(header)) if i >= first_numeric}
    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(widths[i]) if i in numeric and n else c.ljust(widths[i])
            for i, c in enumerate(row)
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(table: Table) -> str:
    # Free-form tables: a label column, then figures.
    text = [f"{table.title}", _format_table(table.columns, table.rows, first_numeric=1)]
    for label, ok in table.verdicts:
        text.append(f"  {'ok  ' if ok else 'MISS'}  {label}")
    text.extend(f"  note: {n}" for n in table.notes)
    return "\n".join(text)


def environment() -> dict[str, Any]:
    import ferrosock

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "ferrosock": ferrosock.__version__,
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "cpus": os.cpu_count(),
    }


def _scenario_cases(module: Any, quick: bool, full: bool) -> list[Case]:
    # Modules whose default sizes are cut to keep the run under a minute take `full`.
    if "full" in inspect.signature(module.cases).parameters:
        return module.cases(quick, full=full)
    return module.cases(quick)


def run(
    only: Sequence[str] = (),
    quick: bool = False,
    out: TextIO = sys.stdout,
    progress: TextIO = sys.stderr,
    full: bool = False,
) -> tuple[list[CaseResult], list[Table]]:
    # Many short rounds rather than a few long ones: the load on a shared machine changes
    # on a scale of milliseconds to seconds, and both halves of a short pair see the same.
    rounds, budget_ns = (5, 4e6) if quick else (9, 6e6)
    case_budget_ns = 0.3e9 if quick else 0.6e9
    results: list[CaseResult] = []
    tables: list[Table] = []
    for module_name in SCENARIO_MODULES:
        module = importlib.import_module(f"ferrosock.bench.{module_name}")
        cases: list[Case] = [
            c
            for c in _scenario_cases(module, quick, full)
            if _matches(only, c.name, c.group, module_name)
        ]
        for i, case in enumerate(cases, 1):
            _progress(progress, f"[{module_name} {i}/{len(cases)}] {case.name} ...")
            try:
                results.append(
                    run_case(
                        case,
                        rounds=rounds,
                        round_budget_ns=budget_ns,
                        case_budget_ns=case_budget_ns,
                    )
                )
            except Exception as exc:  # a broken case is reported, the others still run
                results.append(
                    CaseResult(
                        name=case.name,
                        group=case.group,
                        baseline_label=case.baseline_label,
                        baseline_ns=float("nan"),
                        candidate_ns=float("nan"),
                        speedup=float("nan"),
                        ratios=[],
                        target=case.target,
                        correct=False,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )
        table_fn = getattr(module, "tables", None)
        if table_fn is not None and _matches(
            only, module_name, module_name.removeprefix("scenarios_")
        ):
            _progress(progress, f"[{module_name}] load runs ...")
            tables.extend(table_fn(quick))
    if progress.isatty():
        progress.write("\r\033[K")
    return results, tables


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ferrosock bench",
        description="Compare ferrosock with the stdlib, in the same process and run.",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only cases whose name or group matches (glob or substring); repeatable",
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument(
        "--full",
        action="store_true",
        help="the issues' full problem sizes where the default cuts them "
        "to stay under a minute (slower)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the speedups as a bar chart (FILE.svg, .png, ...; needs "
        "pip install 'ferrosock[plot]')",
    )
    parser.add_argument(
        "--from-json",
        metavar="PATH",
        action="append",
        default=[],
        help="with --plot: draw saved --json runs (one bar each, e.g. one per interpreter) "
        "instead of measuring; repeatable",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a case misses its target"
    )
    args = parser.parse_args(argv)

    if args.from_json:
        if not args.plot:
            parser.error("--from-json draws saved runs: give --plot FILE")
        from ferrosock.bench._plot import plot_runs

        runs = []
        for path in args.from_json:
            with open(path, encoding="utf-8") as fh:
                runs.append(json.load(fh))
        rows = plot_runs(runs, args.plot)
        print(f"{args.plot}: {rows} rows from {len(runs)} run(s)")
        return 0

    if args.list:
        for module_name in SCENARIO_MODULES:
            module = importlib.import_module(f"ferrosock.bench.{module_name}")
            for case in module.cases(True):
                if _matches(args.only, case.name, case.group, module_name):
                    print(f"{case.group:10} {case.name}")
        return 0

    env = environment()
    print(
        f"ferrosock {env['ferrosock']} vs the stdlib  |  CPython {env['python']}  |  "
        f"{env['system']} {env['machine']}, {env['cpus']} CPUs  |  {env['date']}"
    )
    print("speedup = baseline time / ferrosock time: median of paired, alternating rounds\n")
    started = time.perf_counter()
    results, tables = run(args.only, args.quick, full=args.full)
    if results:
        print(format_results(results))
    for table in tables:
        print()
        print(format_table(table))
    wrong = [r for r in results if not r.correct]
    missed = [r for r in results if r.meets_target is False and r.correct]
    missed_tables = [label for t in tables for label, ok in t.verdicts if not ok]
    print(
        f"\n{len(results)} cases in {time.perf_counter() - started:.1f} s: "
        f"{len(wrong)} wrong, {len(missed) + len(missed_tables)} below target"
    )
    for r in wrong:
        print(f"  WRONG {r.name}: {r.error}")
    document = {
        "environment": env,
        "cases": [r.as_dict() for r in results],
        "tables": [t.as_dict() for t in tables],
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2)
    if args.plot:
        from ferrosock.bench._plot import plot_runs

        rows = plot_runs([document], args.plot)
        print(f"{args.plot}: {rows} rows")
    if wrong:
        return 1
    if args.strict and (missed or missed_tables):
        return 1
    return 0
