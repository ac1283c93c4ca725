"""Server benchmark, the main event of ``python -m ferrosock bench``.

Every compared server runs in its own process and does the same per-message work in Python
(a handler called once per message that returns it); the native load generator drives them
and verifies every echoed byte. Reported per server: messages/s, p50/p99 round-trip latency
(medians over alternating rounds), server CPU per message (``/proc/PID/stat``, total over
the rounds), and ratios against the asyncio and uvloop servers measured in the same rounds.

- **headline**: length-prefixed (``'!I'``) 64-byte messages, 32 connections, 16 in flight
  each: ``ferrosock.Server(framing='frame')`` vs an asyncio Protocol (default loop and
  uvloop), a stdlib ``selectors`` loop and ``socketserver.ThreadingTCPServer`` (and the
  same handler on ``ferrosock.socketserver`` reading with ``recv_frame``); the same
  traffic against ``ferrosock.Server(framing='raw')`` ('frame' vs 'raw'), and against a
  native Rust echo: the ceiling of this machine and this load generator.
- **ping-pong**: raw echo, one message in flight, 64 B and 1 KiB, 1 and 32 connections.
  On loopback the kernel dominates here: every server, the native one included, lands
  near the same round trips per second.
- **unix**: the headline traffic and 64 B ping-pong over Unix sockets.
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, field

from ferrosock.bench._harness import Case, Table
from ferrosock.bench._serverbench import (
    Load,
    Row,
    ServerSpec,
    paired_ratio,
    run_load,
    start_servers,
)

NATIVE = ServerSpec("native echo (ceiling reference)", "native-echo", "raw")
FS_FRAME = ServerSpec("ferrosock.Server(framing='frame')", "ferrosock", "frame")
FS_RAW = ServerSpec("ferrosock.Server(framing='raw')", "ferrosock", "raw")
ASYNCIO = ServerSpec("asyncio Protocol", "asyncio", "frame")
UVLOOP = ServerSpec("uvloop Protocol", "uvloop", "frame")
SELECTORS = ServerSpec("selectors loop", "selectors", "frame")
THREADING = ServerSpec("socketserver.ThreadingTCPServer", "socketserver", "frame")
FS_THREADING = ServerSpec(
    "ferrosock.socketserver.ThreadingTCPServer + recv_frame", "ferrosock-socketserver", "frame"
)
ASYNCIO_RAW = ServerSpec("asyncio Protocol (raw)", "asyncio", "raw")
UVLOOP_RAW = ServerSpec("uvloop Protocol (raw)", "uvloop", "raw")

HEADLINE = Load("frame 64 B, 32 conns x 16 in flight", "frame", 64, 32, 16)
PINGPONG = [
    Load("raw ping-pong 64 B, 1 conn", "raw", 64, 1, 1),
    Load("raw ping-pong 64 B, 32 conns", "raw", 64, 32, 1),
    Load("raw ping-pong 1 KiB, 1 conn", "raw", 1024, 1, 1),
    Load("raw ping-pong 1 KiB, 32 conns", "raw", 1024, 32, 1),
]
UNIX_LOADS = [
    Load("unix: frame 64 B, 32 conns x 16 in flight", "frame", 64, 32, 16),
    Load("unix: raw ping-pong 64 B, 1 conn", "raw", 64, 1, 1),
]


@dataclass(frozen=True)
class Timing:
    rounds: int
    duration: float
    warmup: float


# Many short alternating runs, medians over rounds: on a shared 2-core machine a server
# process that lands on the core of a CPU-bound neighbour waits for it on every wake-up, for
# several runs in a row; rotating, interleaved rounds spread that over all the servers, and
# the median of many rounds outvotes it. About 5 ms of fixed
# cost per run (connect, drain). The default run stays under 20 s; the standalone runner
# (``python -m ferrosock.bench.scenarios_server --rounds N``) takes more for recorded figures.
DEFAULT = {
    "headline": Timing(7, 0.07, 0.02),
    "pingpong": Timing(6, 0.04, 0.01),
    "unix": Timing(5, 0.05, 0.02),
}
QUICK = {
    "headline": Timing(4, 0.05, 0.01),
    "pingpong": Timing(3, 0.04, 0.01),
    "unix": Timing(3, 0.04, 0.01),
}


@dataclass
class Target:
    what: str
    value: float
    required: float
    higher_is_better: bool = True

    @property
    def met(self) -> bool | None:
        if math.isnan(self.value):
            return None
        return self.value >= self.required if self.higher_is_better else self.value <= self.required


@dataclass
class LoadTable:
    """One load's results, before they become a harness :class:`Table`."""

    title: str
    rows: list[Row]
    refs: list[Row]  # ratio columns: each row's msgs/s over these, same rounds
    timing: Timing
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


def _server_available() -> bool:
    import ferrosock

    return hasattr(ferrosock, "Server")


def _loops_available() -> bool:
    import ferrosock

    return hasattr(ferrosock.socket, "recv_frame")


def _find(rows: list[Row], spec: ServerSpec) -> Row | None:
    return next((r for r in rows if r.spec == spec and r.ok), None)


def _ratio(a: Row | None, b: Row | None, attr: str = "msgs_per_sec") -> float:
    return paired_ratio(a, b, attr) if a and b else float("nan")


def _cpu_ratio(a: Row | None, b: Row | None) -> float:
    return a.cpu_us_per_msg / b.cpu_us_per_msg if a and b else float("nan")


def _ceiling_note(rows: list[Row], pipelined: bool = True) -> list[str]:
    """The ceiling, and which servers run against it. Only for pipelined loads: in
    ping-pong every server waits on the kernel's round trip, the native one included."""
    native = _find(rows, NATIVE)
    if native is None:
        return []
    notes = [
        f"ceiling: native echo {native.median('msgs_per_sec'):,.0f} msgs/s with the load "
        f"generator using {native.median('client_cpu_frac'):.0%} of a core"
    ]
    for row in rows if pipelined else ():
        if row.ok and row is not native:
            share = paired_ratio(row, native)
            if share >= 0.8:
                where = (
                    f"at {share:.0%} of the ceiling"
                    if share <= 1.05
                    else f"at {share:.0%} of the ceiling (noise in the reference's rounds)"
                )
                notes.append(
                    f"{row.spec.label} runs {where}: its msgs/s ratios are bounded by the "
                    "machine (kernel + client), CPU/msg is not"
                )
    return notes


def run(quick: bool = False, timings: dict[str, Timing] | None = None) -> list[LoadTable]:
    """Runs every server scenario and returns the report tables."""
    t = timings or (QUICK if quick else DEFAULT)
    have_server = _server_available()
    missing = [] if have_server else ["ferrosock.Server is not in this build: its rows are absent"]
    have_uvloop = importlib.util.find_spec("uvloop") is not None
    if not have_uvloop:
        missing.append("uvloop is not installed (pip install uvloop): its rows are absent")
    tables: list[LoadTable] = []

    # --- TCP: one set of server processes for the headline and the ping-pong tables.
    headline_specs = [NATIVE, FS_FRAME, FS_RAW, ASYNCIO, UVLOOP, SELECTORS, THREADING]
    if _loops_available():
        headline_specs.append(FS_THREADING)
    pong_specs = [NATIVE, FS_RAW, ASYNCIO_RAW, UVLOOP_RAW]
    absent = set() if have_server else {"ferrosock"}
    if not have_uvloop:
        absent.add("uvloop")
    headline_specs = [s for s in headline_specs if s.kind not in absent]
    pong_specs = [s for s in pong_specs if s.kind not in absent]
    all_specs = list(dict.fromkeys(headline_specs + pong_specs))
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ferrosock-bench-") as tmp:
        procs = start_servers(all_specs, "tcp4", tmp)
        try:
            h = t["headline"]
            rows = run_load(
                headline_specs, HEADLINE, rounds=h.rounds, duration=h.duration,
                warmup=h.warmup, procs=procs,
            )  # fmt: skip
            tables.append(_headline_table(HEADLINE.name, rows, h, missing))
            p = t["pingpong"]
            for load in PINGPONG[:1] if quick else PINGPONG:
                rows = run_load(
                    pong_specs, load, rounds=p.rounds, duration=p.duration,
                    warmup=p.warmup, procs=procs,
                )  # fmt: skip
                tables.append(_pingpong_table(load.name, rows, p, missing))
        finally:
            for proc in procs.values():
                proc.stop()

        # --- Unix sockets.
        u = t["unix"]
        unix_frame = [s for s in (NATIVE, FS_FRAME, ASYNCIO, UVLOOP) if s.kind not in absent]
        unix_raw = [s for s in (NATIVE, FS_RAW, ASYNCIO_RAW, UVLOOP_RAW) if s.kind not in absent]
        procs = start_servers(list(dict.fromkeys(unix_frame + unix_raw)), None, tmp)
        try:
            for load, specs in zip(UNIX_LOADS, (unix_frame, unix_raw), strict=True):
                if quick and load.depth == 1:
                    continue
                rows = run_load(
                    specs, load, rounds=u.rounds, duration=u.duration, warmup=u.warmup,
                    procs=procs,
                )  # fmt: skip
                if load.framing == "frame":
                    tables.append(_headline_table(load.name, rows, u, missing, targets=False))
                else:
                    tables.append(_pingpong_table(load.name, rows, u, missing))
        finally:
            for proc in procs.values():
                proc.stop()
    return tables


def _headline_table(name, rows, timing, missing, targets=True) -> LoadTable:
    aio = _find(rows, ASYNCIO)
    uv = _find(rows, UVLOOP)
    table = LoadTable(
        name, rows, [r for r in (aio, uv) if r], timing, _ceiling_note(rows) + missing
    )
    fs, fs_raw = _find(rows, FS_FRAME), _find(rows, FS_RAW)
    if targets:
        table.targets = [
            Target("ferrosock frame msgs/s vs asyncio", _ratio(fs, aio), 3.0),
            Target("ferrosock frame msgs/s vs uvloop", _ratio(fs, uv), 2.0),
            Target("ferrosock frame CPU/msg vs uvloop", _cpu_ratio(fs, uv), 0.5, False),
            Target(
                "ferrosock 'frame' msgs/s vs 'raw' on the same traffic", _ratio(fs, fs_raw), 0.8
            ),
        ]
    return table


def _pingpong_table(name, rows, timing, missing) -> LoadTable:
    uv = _find(rows, UVLOOP_RAW)
    notes = _ceiling_note(rows, pipelined=False) + missing
    table = LoadTable(name, rows, [r for r in (uv,) if r], timing, notes)
    fs = _find(rows, FS_RAW)
    table.targets = [Target("ferrosock raw msgs/s vs uvloop", _ratio(fs, uv), 0.95)]
    return table


def _short(label: str) -> str:
    return label.split(" ")[0]


def to_table(t: LoadTable) -> Table:
    """A harness table: one row per server, ratios against the reference servers (paired
    per round), target verdicts, and notes (the ceiling; targets that could not be
    measured)."""
    columns = ["server", "msgs/s", "+-", "p50 us", "p99 us", "CPU us/msg"]
    columns += [f"vs {_short(r.spec.label)}" for r in t.refs]
    columns += [f"CPU vs {_short(r.spec.label)}" for r in t.refs]
    rows: list[list] = []
    for row in t.rows:
        if not row.ok:
            rows.append([row.spec.label, f"FAILED: {row.error}"] + [""] * (len(columns) - 2))
            continue
        cells: list = [
            row.spec.label,
            round(row.median("msgs_per_sec")),
            f"{row.spread():.0%}",
            round(row.median("p50_us")),
            round(row.median("p99_us")),
            round(row.cpu_us_per_msg, 3),
        ]
        cells += [f"{paired_ratio(row, ref):.2f}x" for ref in t.refs]
        cells += [f"{_cpu_ratio(row, ref):.2f}x" for ref in t.refs]
        rows.append(cells)
    verdicts = []
    notes = list(t.notes)
    for tg in t.targets:
        op = ">=" if tg.higher_is_better else "<="
        if tg.met is None:
            notes.append(f"target not measured: {tg.what} ({op} {tg.required:g}x)")
        else:
            verdicts.append((f"{tg.what}: {tg.value:.2f}x (target {op} {tg.required:g}x)", tg.met))
    title = (
        f"server: {t.title}  ({t.timing.rounds} alternating rounds x {t.timing.duration:g} s;"
        " medians, +- = half the interquartile range of msgs/s, CPU from /proc)"
    )
    return Table(title, "server", columns, rows, verdicts, notes)


def cases(quick: bool) -> list[Case]:
    """No A/B cases: every server scenario is a load table (see :func:`tables`)."""
    return []


def tables(quick: bool) -> list[Table]:
    """The harness entry point: runs every server scenario."""
    return [to_table(t) for t in run(quick)]


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="ferrosock server benchmark")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, help="rounds for every table (default: per table)")
    p.add_argument("--duration", type=float, help="seconds per run (default: per table)")
    args = p.parse_args(argv)
    timings = dict(QUICK if args.quick else DEFAULT)
    for k, v in timings.items():
        timings[k] = Timing(args.rounds or v.rounds, args.duration or v.duration, v.warmup)
    from ferrosock.bench import format_table

    start = time.monotonic()
    for table in run(args.quick, timings):
        print(format_table(to_table(table)), flush=True)
        print()
    print(f"server benchmark: {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
