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
    # "cpu" times the calling thread's CPU time: right for work that never blocks (parsing,
    # packing), where it ignores the time another process held the core. "wall" is for
    # anything that waits on I/O or on other threads.
    clock: str = "wall"


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


_CLOCKS: dict[str, Callable[[], int]] = {
    "wall": time.perf_counter_ns,
    "cpu": time.thread_time_ns,
}

# Each round is split into this many alternating samples per side; the round keeps each
# side's fastest sample, since on a shared machine noise only ever adds time.
SAMPLES_PER_ROUND = 3


def _time_calls(fn: Callable[[], Any], number: int, clock: Callable[[], int]) -> float:
    start = clock()
    for _ in range(number):
        fn()
    return (clock() - start) / number


def _calibrate(
    fn: Callable[[], Any], budget_ns: float, clock: Callable[[], int]
) -> tuple[int, float]:
    """How many calls of ``fn`` fill about ``budget_ns``, and the time of one call."""
    number = 1
    while True:
        per_call = _time_calls(fn, number, clock)
        elapsed = per_call * number
        if elapsed >= budget_ns / 4 or number >= 1 << 22:
            return max(1, int(number * budget_ns / max(elapsed, 1.0))), per_call
        number *= 4


# Slow baselines (the stdlib collapsing 100,000 networks takes most of a second) would make
# one case take minutes; rounds are cut to fit this time, but never below MIN_ROUNDS.
MIN_ROUNDS = 3


def run_case(
    case: Case, *, rounds: int, round_budget_ns: float, case_budget_ns: float = 2e9
) -> CaseResult:
    """Runs one case: warm-up and correctness check, then ``rounds`` paired rounds in which
    the two sides alternate sample by sample."""
    clock = _CLOCKS[case.clock]
    if case.setup is not None:
        case.setup()
    try:
        warm_start = clock()
        expected = case.baseline()
        warm_a = clock() - warm_start
        warm_start = clock()
        got = case.candidate()
        warm_b = clock() - warm_start
        check = case.check or (lambda a, b: a == b)
        correct = bool(check(expected, got))
        samples = SAMPLES_PER_ROUND
        sample_budget = round_budget_ns / samples
        # A side whose first call already filled a sample is not called again to calibrate.
        n_a, call_a = (
            (1, warm_a)
            if warm_a >= sample_budget
            else _calibrate(case.baseline, sample_budget, clock)
        )
        n_b, call_b = (
            (1, warm_b)
            if warm_b >= sample_budget
            else _calibrate(case.candidate, sample_budget, clock)
        )
        round_ns = samples * (n_a * call_a + n_b * call_b)
        if round_ns * MIN_ROUNDS > case_budget_ns:
            samples = 1
            round_ns /= SAMPLES_PER_ROUND
        rounds = max(MIN_ROUNDS, min(rounds, int(case_budget_ns // max(round_ns, 1.0))))
        a_times: list[float] = []
        b_times: list[float] = []
        ratios: list[float] = []
        for i in range(rounds):
            best_a = best_b = float("inf")
            for j in range(samples):
                if (i + j) % 2 == 0:
                    best_a = min(best_a, _time_calls(case.baseline, n_a, clock))
                    best_b = min(best_b, _time_calls(case.candidate, n_b, clock))
                else:
                    best_b = min(best_b, _time_calls(case.candidate, n_b, clock))
                    best_a = min(best_a, _time_calls(case.baseline, n_a, clock))
            a_times.append(best_a / case.ops)
            b_times.append(best_b / case.ops)
            ratios.append(best_a / best_b if best_b else float("inf"))
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
