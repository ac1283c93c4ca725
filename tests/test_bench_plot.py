"""``python -m ferrosock bench --plot``: which rows a run becomes, and the drawing itself."""

from __future__ import annotations

import json
import math

import pytest

from ferrosock.bench import main
from ferrosock.bench._plot import Bar, bars_from_run

ENV = {
    "date": "2026-12-07 00:00:00 UTC",
    "python": "3.12.1",
    "implementation": "CPython",
    "ferrosock": "0.1.0",
    "machine": "x86_64",
    "system": "Linux 6",
    "cpus": 2,
}


def case(name: str, speedup: float, *, group: str = "addr", correct: bool = True) -> dict:
    return {
        "name": name,
        "group": group,
        "speedup": speedup,
        "target": 1.0,
        "correct": correct,
    }


RUN = {
    "environment": ENV,
    "cases": [
        case("htons", 1.5),
        case("wrong one", 9.0, correct=False),
        case("floor: a reference loop", 12.0, group="ipaddress"),
        case("broken", math.nan),
    ],
    "tables": [
        {
            "title": "server: frame 64 B, 32 conns  (7 rounds; medians)",
            "columns": ["server", "msgs/s", "CPU us/msg", "vs asyncio", "CPU vs asyncio"],
            "rows": [
                ["asyncio Protocol", 400_000, 2.0, "1.00x", "1.00x"],
                ["socketserver.ThreadingTCPServer", 25_000, 50.0, "0.06x", "25.0x"],
                ["ferrosock.Server(framing='frame')", 1_600_000, 0.5, "4.00x", "0.25x"],
                [
                    "ferrosock.socketserver.ThreadingTCPServer + recv_frame",
                    100_000,
                    12.0,
                    "0.25x",
                    "6.0x",
                ],
            ],
        }
    ],
}


def test_rows_are_the_correct_cases_and_the_ferrosock_table_ratios():
    assert bars_from_run(RUN) == [
        Bar("addr", "htons", 1.5, 1.0),
        # Throughput against asyncio, never the CPU column (lower is better there).
        Bar("server", "frame 64 B, 32 conns: ferrosock.Server(framing='frame') vs asyncio", 4.0),
        # A drop-in is compared with the stdlib class it replaces, in the same table.
        Bar(
            "server",
            "frame 64 B, 32 conns: ferrosock.socketserver.ThreadingTCPServer + recv_frame "
            "vs socketserver.ThreadingTCPServer",
            4.0,
        ),
    ]


def test_plot_from_saved_runs_draws_one_bar_per_run_and_row(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra (matplotlib)")
    runs = []
    for version, speedup in (("3.11.7", 1.5), ("3.13.0", 0.8)):
        path = tmp_path / f"{version}.json"
        run = json.loads(json.dumps(RUN))
        run["environment"]["python"] = version
        run["cases"][0]["speedup"] = speedup
        path.write_text(json.dumps(run))
        runs += ["--from-json", str(path)]
    svg = tmp_path / "speedups.svg"
    assert main(["--plot", str(svg), *runs]) == 0
    assert f"{svg}: 3 rows from 2 run(s)" in capsys.readouterr().out
    text = svg.read_text()
    assert text.startswith("<?xml") and "</svg>" in text
    # Text stays text: the labels, the legend and each bar's value can be found in the file.
    for label in ("addr: htons", "CPython 3.11.7", "CPython 3.13.0", "1.50x", "0.80x", "4.00x"):
        assert label in text


def test_from_json_needs_plot(tmp_path):
    with pytest.raises(SystemExit):
        main(["--from-json", str(tmp_path / "missing.json")])
