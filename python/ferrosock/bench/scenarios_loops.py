"""Socket loops: the native loops against the Python loops users write with the stdlib.

Stream cases read from a socketpair whose other end belongs to a writer *process*
(``_loops_writer``), so the writer never competes for the reader's GIL; each call asks it
for a burst and reads the whole burst back, and both sides must return the same data.

- ``FrameStream.recv_many`` vs a ``recv`` + ``struct.unpack_from`` decoder (1,000,000
  64-byte frames per call; 100,000 with ``--quick``);
- ``recv_exactly(64)`` vs ``while len(buf) < n: buf += sock.recv(n - len(buf))``
  (100,000 messages per call);
- ``recv_exactly_into`` vs a ``recv_into`` loop for a bulk transfer (1 GiB; 64 MiB quick),
  the writer using the stdlib's ``sendall`` in both.

UDP is a table (``tables()``): the datagrams must be queued before the clock starts, which
the A/B callables cannot express, so each round fills the socket, then times one drain:
a ``recvfrom`` loop, ``recvmany``, and a native ``recvmmsg`` loop that creates no Python
objects (the ceiling; ``_native._bench_recvmmsg_drain``, a benchmark reference, not an API).
"""

from __future__ import annotations

import contextlib
import socket as std
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import ferrosock
from ferrosock import _native
from ferrosock.bench import _loops_writer as writer
from ferrosock.bench._harness import Case, Table
from ferrosock.framing import FrameStream

BUF = 4 << 20  # socket buffers (capped by net.core.[rw]mem_max)


class Peer:
    """A socketpair whose far end is served by a writer process."""

    def __init__(self) -> None:
        self.sock: ferrosock.socket | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ours, theirs = ferrosock.socketpair()
        for s in (ours, theirs):
            s.setsockopt(std.SOL_SOCKET, std.SO_RCVBUF, BUF)
            s.setsockopt(std.SOL_SOCKET, std.SO_SNDBUF, BUF)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ferrosock.bench._loops_writer", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        self.sock = ours

    def request(self, op: int, n: int) -> ferrosock.socket:
        assert self.sock is not None
        self.sock.sendall(writer.COMMAND.pack(op, n))
        return self.sock

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


# --- frames ------------------------------------------------------------------------------

_HEADER = struct.Struct("!I")


def python_frame_reader(sock: std.socket, n: int) -> list[bytes]:
    """The decoder users write: recv big chunks, split them with struct.unpack_from."""
    frames: list[bytes] = []
    buf = bytearray()
    unpack_from = _HEADER.unpack_from
    hsize = _HEADER.size
    while len(frames) < n:
        chunk = sock.recv(1 << 18)
        if not chunk:
            raise EOFError("stream ended")
        buf += chunk
        pos, end = 0, len(buf)
        while end - pos >= hsize:
            (length,) = unpack_from(buf, pos)
            stop = pos + hsize + length
            if stop > end:
                break
            frames.append(bytes(buf[pos + hsize : stop]))
            pos = stop
        del buf[:pos]
    return frames


def frame_cases(quick: bool) -> list[Case]:
    n = 100_000 if quick else 1_000_000
    peer = Peer()
    stream: list[FrameStream] = []

    def setup() -> None:
        peer.start()
        assert peer.sock is not None
        stream[:] = [FrameStream(peer.sock)]

    def baseline() -> list[bytes]:
        return python_frame_reader(peer.request(writer.FRAMES, n), n)

    def candidate() -> list[bytes]:
        peer.request(writer.FRAMES, n)
        recv_many = stream[0].recv_many
        frames: list[bytes] = []
        while len(frames) < n:
            frames += recv_many(1024)
        return frames

    def check(a: list[bytes], b: list[bytes]) -> bool:
        return a == b and len(a) == n and a[-1] == writer.payload(n - 1)

    return [
        Case(
            name=f"FrameStream.recv_many ({n:,} x 64 B frames)",
            group="loops",
            baseline=baseline,
            candidate=candidate,
            ops=n,
            target=5.0,
            check=check,
            baseline_label="recv+unpack_from",
            setup=setup,
            teardown=peer.stop,
            note="per frame; writer process sends the frames",
        )
    ]


# --- exact reads -------------------------------------------------------------------------


def python_recv_exactly(sock: std.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("stream ended")
        buf += chunk
    return buf


def exact_cases(quick: bool) -> list[Case]:
    n = 100_000
    size = writer.PAYLOAD
    peer = Peer()

    def baseline() -> list[bytes]:
        sock = peer.request(writer.MESSAGES, n)
        return [python_recv_exactly(sock, size) for _ in range(n)]

    def candidate() -> list[bytes]:
        recv_exactly = peer.request(writer.MESSAGES, n).recv_exactly
        return [recv_exactly(size) for _ in range(n)]

    def check(a: list[bytes], b: list[bytes]) -> bool:
        return a == b and len(a) == n and a[-1] == writer.payload(n - 1)

    return [
        Case(
            name=f"recv_exactly(64) ({n:,} messages)",
            group="loops",
            baseline=baseline,
            candidate=candidate,
            ops=n,
            target=1.5,
            check=check,
            baseline_label="recv loop",
            setup=peer.start,
            teardown=peer.stop,
            note="per message",
        )
    ]


# --- bulk --------------------------------------------------------------------------------


def bulk_cases(quick: bool) -> list[Case]:
    total = (64 << 20) if quick else (1 << 30)
    chunk = 16 << 20
    peer = Peer()
    buf = bytearray(chunk)

    def receive(fill: Callable[[memoryview], None]) -> tuple[int, bytes]:
        view = memoryview(buf)
        got = 0
        while got < total:
            k = min(chunk, total - got)
            fill(view[:k])
            got += k
        return got, bytes(view[:64]) + bytes(view[chunk - 64 :])

    def baseline() -> tuple[int, bytes]:
        sock = peer.request(writer.BULK, total)

        def fill(view: memoryview) -> None:
            got = 0
            while got < len(view):
                k = sock.recv_into(view[got:])
                if not k:
                    raise EOFError("stream ended")
                got += k

        return receive(fill)

    def candidate() -> tuple[int, bytes]:
        sock = peer.request(writer.BULK, total)
        return receive(sock.recv_exactly_into)

    def check(a: tuple[int, bytes], b: tuple[int, bytes]) -> bool:
        pattern = writer.PATTERN
        head = bytes(pattern[(total - chunk + i) % len(pattern)] for i in range(64))
        return a == b and a[0] == total and a[1][:64] == head

    return [
        Case(
            name=f"recv_exactly_into bulk ({total >> 20} MiB)",
            group="loops",
            baseline=baseline,
            candidate=candidate,
            ops=total >> 20,
            target=0.95,
            check=check,
            baseline_label="recv_into loop",
            setup=peer.start,
            teardown=peer.stop,
            note="per MiB; 16 MiB buffer, stdlib sendall in the writer process",
        )
    ]


def cases(quick: bool) -> list[Case]:
    return [*frame_cases(quick), *exact_cases(quick), *bulk_cases(quick)]


# --- UDP (table) -------------------------------------------------------------------------


def _udp_pair() -> tuple[ferrosock.socket, ferrosock.socket]:
    rx = ferrosock.socket(std.AF_INET, std.SOCK_DGRAM)
    tx = ferrosock.socket(std.AF_INET, std.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx.connect(rx.getsockname())
    # Room for a whole burst: a 64-byte datagram costs about 1 KiB of receive buffer.
    # SO_RCVBUFFORCE (needs CAP_NET_ADMIN) may exceed net.core.rmem_max.
    so_rcvbufforce = getattr(std, "SO_RCVBUFFORCE", 33)
    try:
        rx.setsockopt(std.SOL_SOCKET, so_rcvbufforce, 64 << 20)
    except OSError:
        rx.setsockopt(std.SOL_SOCKET, std.SO_RCVBUF, 64 << 20)
    return tx, rx


def _fill(tx: ferrosock.socket, n: int) -> list[bytes]:
    msgs = [writer.payload(i) for i in range(n)]
    for i in range(0, n, 1024):
        tx.sendmany(msgs[i : i + 1024])
    return msgs


def tables(quick: bool) -> list[Table]:
    burst = 5_000 if quick else 20_000
    rounds = 3 if quick else 9
    tx, rx = _udp_pair()
    try:
        # How many datagrams the receive queue holds; the burst is cut to fit so that
        # nothing is dropped before the drain starts (loss is still counted).
        _fill(tx, burst)
        rx.setblocking(False)
        queued = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                queued += len(rx.recvmany(1024, 2048))
        rx.setblocking(True)
        n = min(burst, queued)

        def recvfrom_loop() -> list[Any]:
            r = rx.recvfrom
            return [r(2048) for _ in range(n)]

        def recvmany() -> list[Any]:
            out: list[Any] = []
            rm = rx.recvmany
            while len(out) < n:
                out += rm(64, 2048)
            return out

        def native() -> tuple[int, int]:
            return _native._bench_recvmmsg_drain(rx.fileno(), 64, 2048)

        methods: dict[str, Callable[[], Any]] = {
            "recvfrom loop": recvfrom_loop,
            "recvmany(64)": recvmany,
            "native recvmmsg drain": native,
        }
        times: dict[str, list[float]] = {k: [] for k in methods}
        lost = dict.fromkeys(methods, 0)
        results: dict[str, Any] = {}
        correct = True
        for rnd in range(rounds):
            order = list(methods)
            order = order[rnd % 3 :] + order[: rnd % 3]
            for name in order:
                msgs = _fill(tx, n)
                fn = methods[name]
                if name == "native recvmmsg drain":
                    rx.setblocking(False)
                t0 = time.perf_counter_ns()
                res = fn()
                elapsed = time.perf_counter_ns() - t0
                rx.setblocking(True)
                times[name].append(elapsed / n)
                if name == "native recvmmsg drain":
                    got, nbytes = res
                    lost[name] += n - got
                    correct &= nbytes == got * writer.PAYLOAD
                else:
                    lost[name] += n - len(res)
                    correct &= [d for d, _ in res] == msgs
                    results[name] = res
        correct &= results["recvfrom loop"] == results["recvmany(64)"]
    finally:
        tx.close()
        rx.close()

    med = {k: statistics.median(v) for k, v in times.items()}
    # Paired per round: each round timed the three drains back to back.
    vs_recvfrom = statistics.median(
        a / b for a, b in zip(times["recvfrom loop"], times["recvmany(64)"], strict=True)
    )
    vs_native = statistics.median(
        a / b for a, b in zip(times["native recvmmsg drain"], times["recvmany(64)"], strict=True)
    )
    rows = [
        [
            name,
            f"{med[name]:.0f} ns",
            f"{1e9 / med[name] / 1e6:.2f} M/s",
            f"{med['recvfrom loop'] / med[name]:.2f}x",
            lost[name],
        ]
        for name in methods
    ]
    return [
        Table(
            title=f"UDP drain of {n:,} queued 64-byte datagrams (loopback, {rounds} rounds)",
            group="loops",
            columns=["method", "per datagram", "rate", "vs recvfrom", "lost"],
            rows=rows,
            verdicts=[
                ("results equal (recvfrom loop == recvmany, all bytes intact)", correct),
                (
                    f"recvmany >= 1.6x the recvfrom loop (paired median {vs_recvfrom:.2f}x)",
                    vs_recvfrom >= 1.6,
                ),
                (
                    f"recvmany >= 85% of the native recvmmsg drain ({vs_native:.0%})",
                    vs_native >= 0.85,
                ),
                ("no datagram lost", not any(lost.values())),
            ],
            notes=[
                "each round fills the socket, then times one drain; the three drains rotate",
                "native = _native._bench_recvmmsg_drain: recvmmsg(MSG_DONTWAIT) in Rust, "
                "no Python objects (benchmark reference, not an API)",
            ],
        )
    ]
