"""Socket loops: the native loops against the Python loops users write with the stdlib.

Stream cases read from a socketpair whose other end belongs to a writer *process*
(``_loops_writer``), so the writer never competes for the reader's GIL; each call asks it
for a burst and reads the whole burst back, and both sides must return the same data.

- ``FrameStream.recv_many`` vs a ``recv`` + ``struct.unpack_from`` decoder (200,000
  64-byte frames per call, over a million per run; 50,000 with ``--quick``);
- ``recv_exactly(64)`` vs ``while len(buf) < n: buf += sock.recv(n - len(buf))``
  (100,000 messages per call);
- ``recv_exactly_into`` vs a ``recv_into`` loop for a bulk transfer (128 MiB per call, well
  over a GiB per run; 32 MiB quick),
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


def python_frame_reader(
    sock: std.socket, n: int, keep: list[bytes] | None = None
) -> tuple[int, bytes]:
    """The decoder users write: recv big chunks, split them with struct.unpack_from, hand
    each chunk's frames on. Returns (frames, last frame); `keep` collects them all."""
    count, last = 0, b""
    buf = bytearray()
    unpack_from = _HEADER.unpack_from
    hsize = _HEADER.size
    while count < n:
        chunk = sock.recv(1 << 18)
        if not chunk:
            raise EOFError("stream ended")
        buf += chunk
        frames: list[bytes] = []
        pos, end = 0, len(buf)
        while end - pos >= hsize:
            (length,) = unpack_from(buf, pos)
            stop = pos + hsize + length
            if stop > end:
                break
            frames.append(bytes(buf[pos + hsize : stop]))
            pos = stop
        del buf[:pos]
        if frames:
            count += len(frames)
            last = frames[-1]
            if keep is not None:
                keep += frames
    return count, last


def frame_stream_reader(
    stream: FrameStream, n: int, keep: list[bytes] | None = None
) -> tuple[int, bytes]:
    """The same with FrameStream.recv_many."""
    count, last = 0, b""
    recv_many = stream.recv_many
    while count < n:
        frames = recv_many(1024)
        count += len(frames)
        last = frames[-1]
        if keep is not None:
            keep += frames
    return count, last


def frame_cases(quick: bool) -> list[Case]:
    n = 50_000 if quick else 200_000
    peer = Peer()
    stream: list[FrameStream] = []

    def setup() -> None:
        peer.start()
        assert peer.sock is not None
        stream[:] = [FrameStream(peer.sock)]
        # Every frame, checked once; the timed calls then hand frames on and drop them,
        # as a consumer does (holding a million of them would time the allocator).
        expected = [writer.payload(i) for i in range(n)]
        a: list[bytes] = []
        python_frame_reader(peer.request(writer.FRAMES, n), n, a)
        b: list[bytes] = []
        peer.request(writer.FRAMES, n)
        frame_stream_reader(stream[0], n, b)
        if not a == b == expected:
            raise AssertionError("frames differ from what the writer sent")

    def baseline() -> tuple[int, bytes]:
        return python_frame_reader(peer.request(writer.FRAMES, n), n)

    def candidate() -> tuple[int, bytes]:
        peer.request(writer.FRAMES, n)
        return frame_stream_reader(stream[0], n)

    def check(a: tuple[int, bytes], b: tuple[int, bytes]) -> bool:
        return a == b == (n, writer.payload(n - 1))

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
            note="per frame; a writer process sends the frames; all verified in setup",
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

    def setup() -> None:
        peer.start()
        expected = [writer.payload(i) for i in range(n)]
        sock = peer.request(writer.MESSAGES, n)
        a = [python_recv_exactly(sock, size) for _ in range(n)]
        sock = peer.request(writer.MESSAGES, n)
        b = [sock.recv_exactly(size) for _ in range(n)]
        if not a == b == expected:
            raise AssertionError("messages differ from what the writer sent")

    def baseline() -> tuple[int, bytes]:
        sock = peer.request(writer.MESSAGES, n)
        last = b""
        for _ in range(n):
            last = python_recv_exactly(sock, size)
        return n, last

    def candidate() -> tuple[int, bytes]:
        recv_exactly = peer.request(writer.MESSAGES, n).recv_exactly
        last = b""
        for _ in range(n):
            last = recv_exactly(size)
        return n, last

    def check(a: tuple[int, bytes], b: tuple[int, bytes]) -> bool:
        return a == b == (n, writer.payload(n - 1))

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
            setup=setup,
            teardown=peer.stop,
            note="per message; all verified in setup",
        )
    ]


# --- bulk --------------------------------------------------------------------------------


def bulk_cases(quick: bool) -> list[Case]:
    total = (32 << 20) if quick else (128 << 20)
    chunk = 16 << 20
    peer = Peer()
    buf = bytearray(chunk)

    def receive(fill: Callable[[memoryview], object]) -> tuple[int, bytes]:
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

        # Timed drains hand every datagram to Python as recvfrom would ((data, address)
        # objects) and drop it, as a consumer does once it has handled it; keeping them all
        # would time the allocator and the garbage collector instead. Correctness is checked
        # on separate, untimed drains that keep everything.
        def recvfrom_loop() -> int:
            r = rx.recvfrom
            for _ in range(n):
                r(2048)
            return n

        def recvmany() -> int:
            rm = rx.recvmany
            got = 0
            while got < n:
                got += len(rm(64, 2048))
            return got

        def native() -> int:
            got, nbytes = _native._bench_recvmmsg_drain(rx.fileno(), 64, 2048)
            return got if nbytes == got * writer.PAYLOAD else -1

        methods: dict[str, Callable[[], int]] = {
            "recvfrom loop": recvfrom_loop,
            "recvmany(64)": recvmany,
            "native recvmmsg drain": native,
        }

        def keep_all(name: str) -> list[Any]:
            msgs = _fill(tx, n)
            if name == "recvfrom loop":
                out = [rx.recvfrom(2048) for _ in range(n)]
            else:
                out = []
                while len(out) < n:
                    out += rx.recvmany(64, 2048)
            return [msgs, out]

        expected, got_std = keep_all("recvfrom loop")
        _, got_many = keep_all("recvmany(64)")
        sender = tx.getsockname()
        correct = (
            got_std == got_many
            and [d for d, _ in got_many] == expected
            and all(a == sender for _, a in got_many)
        )

        times: dict[str, list[float]] = {k: [] for k in methods}
        lost = dict.fromkeys(methods, 0)
        for rnd in range(rounds):
            order = list(methods)
            order = order[rnd % 3 :] + order[: rnd % 3]
            for name in order:
                _fill(tx, n)
                if name == "native recvmmsg drain":
                    rx.setblocking(False)
                t0 = time.perf_counter_ns()
                got = methods[name]()
                elapsed = time.perf_counter_ns() - t0
                rx.setblocking(True)
                times[name].append(elapsed / n)
                correct &= got >= 0
                lost[name] += n - max(got, 0)
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
                "each round fills the socket, then times one drain; the three drains rotate;",
                "timed drains drop each datagram once received (untimed drains that keep them "
                "are compared for equality)",
                "native = _native._bench_recvmmsg_drain: recvmmsg(MSG_DONTWAIT) in Rust, "
                "no Python objects (benchmark reference, not an API)",
            ],
        )
    ]
