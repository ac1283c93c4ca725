"""Benchmark harness: the stdlib way and the ferrosock way, in the same process and run.

Timing on a shared machine is noisy (2-4x swings), so a case is never judged by one absolute
time: the two sides run alternately in rounds (A B, B A, A B, ...), each round yields a paired
ratio, and the verdict is the median of those ratios. Both sides' results are compared first;
a case whose results differ fails, however fast it is.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "CaseResult", "Table", "run_case"]


@dataclass
class Case:
    """One comparison: ``baseline`` (the stdlib, or the pure-Python loop users write today)
    against ``candidate`` (ferrosock). Each callable runs ``ops`` operations and returns a
    result; the two results must agree (``check``, default ``==``)."""

    name: str
    group: str
    baseline: Callable[[], Any]
    candidate: Callable[[], Any]
    ops: int = 1
    target: float | None = None
    check: Callable[[Any, Any], bool] | None = None
    baseline_label: str = "stdlib"
    setup: Callable[[], Any] | None = None
    teardown: Callable[[], Any] | None = None
    note: str = ""


@dataclass
class CaseResult:
    name: str
    group: str
    baseline_label: str
    baseline_ns: float
    candidate_ns: float
    speedup: float
    ratios: list[float]
    target: float | None
    correct: bool
    error: str | None = None
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.correct and self.speedup >= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "baseline": self.baseline_label,
            "baseline_ns_per_op": self.baseline_ns,
            "ferrosock_ns_per_op": self.candidate_ns,
            "speedup": self.speedup,
            "paired_ratios": self.ratios,
            "target": self.target,
            "meets_target": self.meets_target,
            "correct": self.correct,
            "error": self.error,
            "note": self.note,
        }


@dataclass
class Table:
    """A free-form result table for scenarios that do not fit the A/B shape (server load
    runs with throughput, latency and CPU columns). ``verdicts`` lists (label, passed)."""

    title: str
    group: str
    columns: list[str]
    rows: list[list[Any]]
    verdicts: list[tuple[str, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "group": self.group,
            "columns": self.columns,
            "rows": self.rows,
            "verdicts": [{"label": label, "passed": ok} for label, ok in self.verdicts],
            "notes": self.notes,
        }


def _time_calls(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return (time.perf_counter_ns() - start) / number


def _calibrate(fn: Callable[[], Any], budget_ns: float) -> int:
    """How many calls of ``fn`` fill about ``budget_ns``."""
    number = 1
    while True:
        elapsed = _time_calls(fn, number) * number
        if elapsed >= budget_ns / 4 or number >= 1 << 22:
            return max(1, int(number * budget_ns / max(elapsed, 1.0)))
        number *= 4


def run_case(case: Case, *, rounds: int, round_budget_ns: float) -> CaseResult:
    """Runs one case: warm-up and correctness check, then ``rounds`` alternating pairs."""
    if case.setup is not None:
        case.setup()
    try:
        expected = case.baseline()
        got = case.candidate()
        check = case.check or (lambda a, b: a == b)
        correct = bool(check(expected, got))
        n_a = _calibrate(case.baseline, round_budget_ns)
        n_b = _calibrate(case.candidate, round_budget_ns)
        a_times: list[float] = []
        b_times: list[float] = []
        ratios: list[float] = []
        for i in range(rounds):
            if i % 2 == 0:
                ta = _time_calls(case.baseline, n_a)
                tb = _time_calls(case.candidate, n_b)
            else:
                tb = _time_calls(case.candidate, n_b)
                ta = _time_calls(case.baseline, n_a)
            a_times.append(ta / case.ops)
            b_times.append(tb / case.ops)
            ratios.append(ta / tb if tb else float("inf"))
        return CaseResult(
            name=case.name,
            group=case.group,
            baseline_label=case.baseline_label,
            baseline_ns=statistics.median(a_times),
            candidate_ns=statistics.median(b_times),
            speedup=statistics.median(ratios),
            ratios=ratios,
            target=case.target,
            correct=correct,
            error=None if correct else "results differ from the baseline",
            note=case.note,
        )
    finally:
        if case.teardown is not None:
            case.teardown()
