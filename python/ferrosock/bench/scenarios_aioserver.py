"""Server benchmark inside asyncio: ``ferrosock.asyncio.Server`` against asyncio's own
servers, on the default loop and on uvloop, every server running the same handler.

Traffic: the headline load (length-prefixed 64-byte messages, 32 connections x 16 in
flight) from the native load generator. Compared, per handler:

- ``async def`` returning at once, and ``async def`` awaiting ``asyncio.sleep(0)`` once:
  ``ferrosock.asyncio.Server``, an ``asyncio.start_server`` server (``readexactly`` +
  ``write`` + ``drain``) and an ``asyncio.Protocol`` with one consumer task per connection,
  each on the default loop and on uvloop. Ratios are against the faster asyncio server on
  the same loop (paired per round).
  For the ``sleep(0)`` handler, also ``ferrosock.asyncio.Server(pipeline=16)``: a
  connection's 16 requests in flight are handled at once, their replies leave together.
- a plain function: ``ferrosock.asyncio.Server`` on each loop against
  ``ferrosock.Server.serve_forever()`` (the blocking native loop).

Standalone: ``python -m ferrosock.bench.scenarios_aioserver [--rounds N] [--duration S]``.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time

from ferrosock.bench._harness import Case, Table
from ferrosock.bench._serverbench import Row, ServerSpec, paired_ratio, run_load, start_servers
from ferrosock.bench.scenarios_server import (
    FS_FRAME,
    HEADLINE,
    LoadTable,
    Target,
    Timing,
    _cpu_ratio,
    _find,
    to_table,
)

DEFAULT = Timing(7, 0.07, 0.02)
QUICK = Timing(4, 0.05, 0.01)

LABELS = {
    "ferrosock": "ferrosock.asyncio.Server",
    "ferrosock16": "ferrosock.asyncio.Server(pipeline=16)",
    "streams": "asyncio.start_server streams",
    "consumer": "Protocol + consumer task",
}


def spec(server: str, loop: str, handler: str) -> ServerSpec:
    return ServerSpec(f"{LABELS[server]} [{loop}]", f"aio:{server}:{loop}:{handler}", "frame")


def _faster(rows: list[Row], specs: list[ServerSpec]) -> Row | None:
    found = [r for r in (_find(rows, s) for s in specs) if r is not None]
    return max(found, key=lambda r: r.median("msgs_per_sec"), default=None)


def _async_table(title: str, rows: list[Row], loops: list[str], handler: str, need: float,
                 timing: Timing) -> LoadTable:  # fmt: skip
    refs: list[Row] = []
    targets: list[Target] = []
    for loop in loops:
        fs = _find(rows, spec("ferrosock", loop, handler))
        best = _faster(rows, [spec("streams", loop, handler), spec("consumer", loop, handler)])
        if best is not None:
            refs.append(best)
        ratio = paired_ratio(fs, best) if fs and best else float("nan")
        targets.append(Target(f"[{loop}] msgs/s vs the faster asyncio server", ratio, need))
        fs16 = _find(rows, spec("ferrosock16", loop, handler))
        if fs16 is not None and best is not None:
            targets.append(
                Target(
                    f"[{loop}] pipeline=16 msgs/s vs the faster asyncio server",
                    paired_ratio(fs16, best),
                    need,
                )
            )
        if handler == "async":
            targets.append(
                Target(
                    f"[{loop}] CPU/msg vs the faster asyncio server",
                    _cpu_ratio(fs, best),
                    0.2,
                    False,
                )
            )
    return LoadTable(title, rows, refs, timing, [], targets)


def run(quick: bool = False, timing: Timing | None = None) -> list[LoadTable]:
    t = timing or (QUICK if quick else DEFAULT)
    loops = ["asyncio"]
    notes: list[str] = []
    if importlib.util.find_spec("uvloop") is not None:
        loops.append("uvloop")
    else:
        notes.append("uvloop is not installed: its rows are absent")
    tables: list[LoadTable] = []
    with tempfile.TemporaryDirectory(prefix="ferrosock-bench-") as tmp:
        for handler, need, what in (
            ("async", 10.0, "async def returning at once"),
            ("sleep0", 3.0, "async def awaiting asyncio.sleep(0) once"),
        ):
            specs = [spec(s, loop, handler) for loop in loops for s in LABELS]
            if handler == "async":  # returns at once: pipelining changes nothing
                specs = [s for s in specs if "ferrosock16" not in s.kind]
            procs = start_servers(specs, "tcp4", tmp)
            try:
                rows = run_load(
                    specs, HEADLINE, rounds=t.rounds, duration=t.duration, warmup=t.warmup,
                    procs=procs,
                )  # fmt: skip
            finally:
                for p in procs.values():
                    p.stop()
            table = _async_table(f"{HEADLINE.name}, {what}", rows, loops, handler, need, t)
            table.notes += notes
            tables.append(table)
        specs = [FS_FRAME] + [spec("ferrosock", loop, "plain") for loop in loops]
        procs = start_servers(specs, "tcp4", tmp)
        try:
            rows = run_load(
                specs, HEADLINE, rounds=t.rounds, duration=t.duration, warmup=t.warmup,
                procs=procs,
            )  # fmt: skip
        finally:
            for p in procs.values():
                p.stop()
        blocking = _find(rows, FS_FRAME)
        targets = [
            Target(
                f"[{loop}] plain handler in asyncio msgs/s vs ferrosock.Server.serve_forever()",
                _ratio(_find(rows, spec("ferrosock", loop, "plain")), blocking),
                0.9,
            )
            for loop in loops
        ]
        refs = [blocking] if blocking else []
        tables.append(
            LoadTable(f"{HEADLINE.name}, plain handler", rows, refs, t, list(notes), targets)
        )
    return tables


def _ratio(a: Row | None, b: Row | None) -> float:
    return paired_ratio(a, b) if a and b else float("nan")


def cases(quick: bool) -> list[Case]:
    """No A/B cases: every scenario here is a load table."""
    return []


def tables(quick: bool) -> list[Table]:
    """The harness entry point."""
    return [to_table(t) for t in run(quick)]


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="ferrosock.asyncio.Server benchmark")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int)
    p.add_argument("--duration", type=float)
    args = p.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    timing = Timing(args.rounds or base.rounds, args.duration or base.duration, base.warmup)
    from ferrosock.bench import format_table

    start = time.monotonic()
    for table in run(args.quick, timing):
        print(format_table(to_table(table)), flush=True)
        print()
    print(f"asyncio server benchmark: {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
