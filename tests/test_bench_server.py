"""The server benchmark's own machinery: every compared server echoes correctly in both
modes (so its figures measure the right thing), CPU accounting reads the right fields, and a
tiny run produces a complete report. Bounded; no timing assertions."""

from __future__ import annotations

import importlib.util
import os
import struct
import threading

import pytest

import ferrosock
from ferrosock import _native
from ferrosock.bench import _servers, format_table
from ferrosock.bench._serverbench import (
    CpuReading,
    Load,
    ServerProcess,
    ServerSpec,
    paired_ratio,
    proc_cpu_seconds,
    run_load,
)
from ferrosock.bench.scenarios_server import LoadTable, Target, Timing, to_table

PYTHON_KINDS = ["asyncio", "uvloop", "selectors", "socketserver", "ferrosock-socketserver"]
if importlib.util.find_spec("uvloop") is None:  # the bench reports it absent; so do we
    PYTHON_KINDS.remove("uvloop")
if hasattr(ferrosock, "Server"):
    PYTHON_KINDS.append("ferrosock")


def test_decode_frames_splits_and_keeps_partial_tail():
    wire = b"".join(struct.pack("!I", len(m)) + m for m in (b"ab", b"", b"xyz"))
    for cut in range(len(wire) + 1):
        buf = bytearray(wire[:cut])
        got: list[bytes] = []

        def handle(m, got=got):
            got.append(m)
            return m.upper()

        out1 = _servers.decode_frames(buf, handle)
        buf += wire[cut:]
        out2 = _servers.decode_frames(buf, handle)
        assert got == [b"ab", b"", b"xyz"]
        assert (out1 or b"") + (out2 or b"") == wire.upper()
        assert buf == b""
    with pytest.raises(ValueError, match="exceeds"):
        _servers.decode_frames(bytearray(struct.pack("!I", 2**31)), lambda m: m)


def test_cpu_readings_agree():
    t = os.times()
    before = CpuReading.of(os.getpid())
    # Same kernel counters, read a moment apart: within a few 10 ms ticks.
    assert abs(proc_cpu_seconds(os.getpid()) - (t.user + t.system)) < 0.5
    # The process total also holds threads that have exited; the live ones are a part of it
    # (up to the two ticks truncated from utime and stime).
    assert before.total + 0.02 >= sum(before.threads.values())
    sum(i * i for i in range(300_000))
    after = CpuReading.of(os.getpid())
    assert before.until(after) > 0


def test_cpu_reading_rule():
    tick = 1 / os.sysconf("SC_CLK_TCK")
    start = CpuReading(total=1.0, threads={1: 0.5, 2: 0.2})
    # Same threads, counters agree: the exact per-thread sums.
    later = CpuReading(total=1.1, threads={1: 0.58, 2: 0.22})
    assert start.until(later) == pytest.approx(0.1)
    later = CpuReading(total=1.1 + 3 * tick, threads={1: 0.58, 2: 0.22})
    assert start.until(later) == pytest.approx(0.1)
    # Same threads, but far more CPU in /proc/PID/stat: threads came and went in between.
    later = CpuReading(total=1.5, threads={1: 0.58, 2: 0.22})
    assert start.until(later) == pytest.approx(0.5)
    # A different thread set: /proc/PID/stat.
    later = CpuReading(total=1.2, threads={1: 0.58, 3: 0.1})
    assert start.until(later) == pytest.approx(0.2)


def test_thread_that_came_and_went_is_counted():
    before = CpuReading.of(os.getpid())
    t = threading.Thread(target=lambda: sum(i for i in range(3_000_000)))
    t.start()
    t.join()
    later = CpuReading.of(os.getpid())
    # Whatever else ran meanwhile, the exited thread's CPU is in the result.
    assert before.until(later) == later.total - before.total


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "framing"),
    # The native echo is framing-agnostic: one run, as 'raw', covers it.
    [("native-echo", "raw")]
    + [(kind, framing) for kind in PYTHON_KINDS for framing in ("frame", "raw")],
)
def test_every_server_kind_echoes_correctly(kind, framing):
    proc = ServerProcess(ServerSpec(kind, kind, framing), "tcp4")
    try:
        proc.wait_ready()
        # Messages split and joined arbitrarily by TCP; every byte verified by loadgen.
        for conns, depth, size in ((1, 1, 64), (4, 16, 1000)):
            r = _native.loadgen(proc.address, conns, depth, size, framing, 0.05, warmup=0.01)
            assert r["bytes_received"] == r["bytes_sent"] == r["verified"] * r["wire_size"]
            assert r["messages"] > 0
    finally:
        proc.stop()
    assert proc.proc.returncode is not None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["native-echo", "asyncio", "socketserver", *PYTHON_KINDS[5:]])
def test_unix_and_ipv6_servers(kind, tmp_path):
    for bind in ("unix:" + str(tmp_path / f"{kind}.sock"), "tcp6"):
        proc = ServerProcess(ServerSpec(kind, kind, "raw"), bind)
        try:
            try:
                proc.wait_ready()
            except RuntimeError:
                if bind == "tcp6":
                    pytest.skip("::1 not available")
                raise
            r = _native.loadgen(proc.address, 2, 2, 64, "raw", 0.05)
            assert r["bytes_received"] == r["verified"] * 64
        finally:
            proc.stop()


def test_failed_server_start_reports_stderr():
    proc = ServerProcess(ServerSpec("bad", "asyncio", "raw"), "nowhere")
    with pytest.raises(RuntimeError, match="unknown --bind"):
        proc.wait_ready(timeout=20)


@pytest.mark.slow
def test_tiny_run_makes_a_complete_report():
    specs = [
        ServerSpec("native echo", "native-echo", "raw"),
        ServerSpec("asyncio Protocol", "asyncio", "frame"),
    ]
    load = Load("frame 64 B", "frame", 64, 4, 4)
    rows = run_load(specs, load, rounds=2, duration=0.05, warmup=0.01)
    for row in rows:
        assert row.ok, row.error
        assert len(row.samples) == 2
        assert row.server_cpu_s >= 0
        assert row.cpu_us_per_msg == pytest.approx(
            1e6 * row.server_cpu_s / sum(s.messages for s in row.samples)
        )
    assert paired_ratio(rows[1], rows[1]) == 1.0
    t = LoadTable(load.name, rows, [rows[1]], Timing(2, 0.05, 0.01))
    t.targets = [Target("x", 2.0, 1.0), Target("y", float("nan"), 1.0)]
    table = to_table(t)
    assert [r[0] for r in table.rows] == ["native echo", "asyncio Protocol"]
    assert table.rows[1][6] == "1.00x"
    assert table.columns[:3] == ["server", "msgs/s", "+-"]
    assert table.verdicts == [("x: 2.00x (target >= 1x)", True)]
    assert any("target not measured: y" in n for n in table.notes)
    text = format_table(table)
    assert "native echo" in text and "asyncio Protocol" in text
