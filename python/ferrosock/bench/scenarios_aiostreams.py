"""asyncio streams client benchmark: ``ferrosock.asyncio`` streams against asyncio's.

One event loop in this process drives 32 connections with 16 length-prefixed (``'!I'``)
64-byte frames in flight on each, against the native Rust echo server in a child process
(the server benchmark's ceiling reference, so the server is never the bottleneck). Each
stream keeps its window full: every reply read is checked and sent back as the next request.

- **asyncio**: ``asyncio.open_connection``; ``readexactly(4)`` for the header, then
  ``readexactly(n)`` for the payload; ``write(struct.pack(...) + payload)``; ``drain()``.
- **ferrosock**: ``ferrosock.asyncio.open_connection``; ``read_frame()``;
  ``write_frame(payload)``; ``drain()``.
- for reference, ferrosock's reader with asyncio's way of writing (``write(struct.pack(...)
  + payload)``, one ``transport.write`` per reply): the share of the gain that is the
  reader's; the rest is ``write_frame`` sending the replies of one wake-up in one write.

The clients run on the same loop in alternating runs (the order rotates every round), on the
default loop and on uvloop. Reported: messages/s, client CPU per message (this thread's CPU
time over the run: the loop is the client), and the median over rounds of the paired ratio.
"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ferrosock.bench._harness import Case, Table
from ferrosock.bench._serverbench import ServerProcess, ServerSpec

STREAMS = 32
DEPTH = 16
SIZE = 64
TARGET = 3.0
HEADER = struct.Struct("!I")
NATIVE = ServerSpec("native echo", "native-echo", "raw")
BASELINE = "asyncio streams (readexactly x2, write, drain)"
CANDIDATE = "ferrosock.asyncio streams (read_frame, write_frame, drain)"
UNCORKED = "ferrosock.asyncio streams (read_frame, write(pack + data), drain)"


@dataclass(frozen=True)
class Timing:
    rounds: int
    duration: float


DEFAULT = Timing(7, 0.25)
QUICK = Timing(3, 0.1)


@dataclass
class Side:
    """One client's runs on one loop."""

    label: str
    msgs_per_sec: list[float] = field(default_factory=list)
    cpu_us_per_msg: list[float] = field(default_factory=list)


class _Run:
    """Shared state of one timed run: streams count replies while `running`."""

    def __init__(self) -> None:
        self.running = True
        self.replies = 0


def _payload(i: int) -> bytes:
    return (b"%02d" % i) * (SIZE // 2)


async def _asyncio_stream(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes, run: _Run
) -> None:
    pack, unpack = HEADER.pack, HEADER.unpack
    for _ in range(DEPTH):
        writer.write(pack(len(payload)) + payload)
    await writer.drain()
    in_flight = DEPTH
    while in_flight:
        (n,) = unpack(await reader.readexactly(4))
        data = await reader.readexactly(n)
        if data != payload:
            raise AssertionError(f"asyncio client: wrong echo {data!r}")
        if run.running:
            run.replies += 1
            writer.write(pack(len(data)) + data)
            await writer.drain()
        else:
            in_flight -= 1


async def _ferrosock_stream(reader: Any, writer: Any, payload: bytes, run: _Run) -> None:
    writer.write_frames([payload] * DEPTH)
    await writer.drain()
    in_flight = DEPTH
    while in_flight:
        data = await reader.read_frame()
        if data != payload:
            raise AssertionError(f"ferrosock client: wrong echo {data!r}")
        if run.running:
            run.replies += 1
            writer.write_frame(data)
            await writer.drain()
        else:
            in_flight -= 1


async def _ferrosock_uncorked_stream(reader: Any, writer: Any, payload: bytes, run: _Run) -> None:
    # read_frame, but every reply written as asyncio code writes it: shows how much of the
    # gain is the reader's and how much the writer's one write per loop iteration.
    pack = HEADER.pack
    for _ in range(DEPTH):
        writer.write(pack(len(payload)) + payload)
    await writer.drain()
    in_flight = DEPTH
    while in_flight:
        data = await reader.read_frame()
        if data != payload:
            raise AssertionError(f"ferrosock client: wrong echo {data!r}")
        if run.running:
            run.replies += 1
            writer.write(pack(len(data)) + data)
            await writer.drain()
        else:
            in_flight -= 1


Stream = Callable[[Any, Any, bytes, _Run], Awaitable[None]]


async def _timed(pairs: list[tuple[Any, Any]], stream: Stream, duration: float) -> tuple:
    """One run: every stream pipelines until `duration` passes, then drains its window.
    Returns (replies/s, client CPU µs per reply)."""
    run = _Run()
    cpu0, t0 = time.thread_time(), time.perf_counter()
    tasks = [
        asyncio.ensure_future(stream(r, w, _payload(i), run)) for i, (r, w) in enumerate(pairs)
    ]
    await asyncio.sleep(duration)
    run.running = False
    elapsed, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    replies = run.replies
    await asyncio.gather(*tasks)
    return replies / elapsed, 1e6 * cpu / replies if replies else float("nan")


async def _measure(address: tuple, timing: Timing) -> list[Side]:
    """The clients in rotating order each round; returns their Sides, asyncio's first."""
    import ferrosock.asyncio as fa

    host, port = address
    ours = [await fa.open_connection(host, port) for _ in range(STREAMS)]
    theirs = [await asyncio.open_connection(host, port) for _ in range(STREAMS)]
    clients = [
        (Side(BASELINE), theirs, _asyncio_stream),
        (Side(CANDIDATE), ours, _ferrosock_stream),
        (Side(UNCORKED), ours, _ferrosock_uncorked_stream),
    ]
    try:
        # One short unmeasured run each, so all start warm.
        for _, pairs, stream in clients:
            await _timed(pairs, stream, timing.duration / 4)
        for r in range(timing.rounds):
            k = r % len(clients)
            for side, pairs, stream in clients[k:] + clients[:k]:
                rate, cpu = await _timed(pairs, stream, timing.duration)
                side.msgs_per_sec.append(rate)
                side.cpu_us_per_msg.append(cpu)
    finally:
        for pairs in (ours, theirs):
            for _, w in pairs:
                w.close()
            for _, w in pairs:
                await w.wait_closed()
    return [side for side, _, _ in clients]


def _loop_kinds() -> list[str]:
    kinds = ["asyncio"]
    if importlib.util.find_spec("uvloop") is not None:
        kinds.append("uvloop")
    return kinds


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def measure(timing: Timing) -> list[tuple[str, list[Side]]]:
    """Runs the comparison on each loop kind against one native echo server."""
    results = []
    server = ServerProcess(NATIVE, "tcp4")
    try:
        server.wait_ready()
        for kind in _loop_kinds():
            with asyncio.Runner(loop_factory=lambda kind=kind: _new_loop(kind)) as runner:
                results.append((kind, runner.run(_measure(server.address, timing))))
    finally:
        server.stop()
    return results


def _paired(base: Side, ours: Side) -> float:
    pairs = zip(ours.msgs_per_sec, base.msgs_per_sec, strict=True)
    return statistics.median(o / b for o, b in pairs)


def to_table(results: list[tuple[str, list[Side]]], timing: Timing) -> Table:
    rows: list[list[Any]] = []
    verdicts = []
    for kind, sides in results:
        base = sides[0]
        for side in sides:
            rows.append(
                [
                    f"{kind} loop: {side.label}",
                    f"{statistics.median(side.msgs_per_sec):,.0f}",
                    f"{statistics.median(side.cpu_us_per_msg):.2f}",
                    f"{_paired(base, side):.2f}x",
                ]
            )
        ours = next(side for side in sides if side.label == CANDIDATE)
        ratio = _paired(base, ours)
        cpu_ratio = statistics.median(base.cpu_us_per_msg) / statistics.median(ours.cpu_us_per_msg)
        verdicts.append(
            (
                f"{kind} loop: ferrosock.asyncio streams >= {TARGET:.0f}x asyncio streams "
                f"(median paired ratio {ratio:.2f}x, client CPU/msg {cpu_ratio:.2f}x less)",
                ratio >= TARGET,
            )
        )
    return Table(
        title=(
            f"asyncio streams client: frame {SIZE} B, {STREAMS} streams x {DEPTH} in flight, "
            "one loop, against the native echo"
        ),
        group="aiostreams",
        columns=["client", "msgs/s", "client CPU µs/msg", "vs asyncio (paired)"],
        rows=rows,
        verdicts=verdicts,
        notes=[
            f"{timing.rounds} alternating rounds of {timing.duration:.2f} s per client and loop; "
            "medians over rounds"
        ],
    )


def cases(quick: bool) -> list[Case]:
    return []


def tables(quick: bool) -> list[Table]:
    timing = QUICK if quick else DEFAULT
    return [to_table(measure(timing), timing)]


def main(argv: list[str] | None = None) -> None:
    import argparse

    from ferrosock.bench import format_table

    p = argparse.ArgumentParser(description="ferrosock.asyncio streams client benchmark")
    p.add_argument("--rounds", type=int, default=DEFAULT.rounds)
    p.add_argument("--duration", type=float, default=DEFAULT.duration)
    args = p.parse_args(argv)
    timing = Timing(args.rounds, args.duration)
    print(format_table(to_table(measure(timing), timing)))


if __name__ == "__main__":
    main()
