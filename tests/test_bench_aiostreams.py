"""The asyncio streams benchmark's own machinery: a tiny run against the native echo
produces a complete report in which both clients moved verified messages on every loop.
Bounded; no timing assertions."""

from __future__ import annotations

import importlib.util

import pytest

from ferrosock.bench import SCENARIO_MODULES, format_table
from ferrosock.bench.scenarios_aiostreams import Timing, measure, to_table

pytestmark = pytest.mark.timeout(60)


def test_registered():
    assert "scenarios_aiostreams" in SCENARIO_MODULES


def test_tiny_run_reports_both_clients_on_each_loop():
    timing = Timing(rounds=2, duration=0.02)
    results = measure(timing)
    kinds = [kind for kind, _ in results]
    expected = ["asyncio", "uvloop"] if importlib.util.find_spec("uvloop") else ["asyncio"]
    assert kinds == expected
    for _, sides in results:
        assert len(sides) == 3
        for side in sides:
            assert len(side.msgs_per_sec) == 2
            assert all(rate > 0 for rate in side.msgs_per_sec)
            assert all(cpu > 0 for cpu in side.cpu_us_per_msg)
    table = to_table(results, timing)
    assert len(table.rows) == 3 * len(results)
    assert len(table.verdicts) == len(results)
    text = format_table(table)
    assert "read_frame" in text and "readexactly" in text
