"""Helpers shared by the socket-loop tests (test_sockio, test_framing, test_udp)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import ferrosock


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def stream_pair(kind: str, cls: type = ferrosock.socket) -> tuple[socket.socket, socket.socket]:
    """A connected (writer, reader) pair of the given kind: 'unix' (socketpair), 'tcp4',
    'tcp6'. The reader is a `cls` (ferrosock.socket by default); the writer is a stdlib socket.
    """
    if kind == "unix":
        a, b = socket.socketpair()
    else:
        family, host = (socket.AF_INET, "127.0.0.1") if kind == "tcp4" else (socket.AF_INET6, "::1")
        with socket.socket(family, socket.SOCK_STREAM) as lsock:
            lsock.bind((host, 0))
            lsock.listen(1)
            a = socket.create_connection(lsock.getsockname()[:2])
            b, _ = lsock.accept()
    reader = cls(b.family, b.type, b.proto, fileno=b.detach())
    return a, reader


def stdlib_view(sock: socket.socket) -> socket.socket:
    """A stdlib socket object sharing `sock`'s descriptor and timeout (let go of it with
    .detach(), not .close())."""
    view = socket.socket(sock.family, sock.type, sock.proto, fileno=sock.fileno())
    view.settimeout(sock.gettimeout())
    return view


class Dribbler(threading.Thread):
    """Writes `data` to `sock` in the given chunk sizes, pausing `pause` seconds between
    chunks, then optionally shuts the socket down (end of stream)."""

    def __init__(
        self,
        sock: socket.socket,
        data: bytes,
        chunks: Sequence[int],
        pause: float = 0.0,
        eof: bool = False,
        delay: float = 0.0,
    ) -> None:
        super().__init__(daemon=True)
        self.sock, self.data, self.chunks = sock, data, list(chunks)
        self.pause, self.eof, self.delay = pause, eof, delay
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.delay:
                time.sleep(self.delay)
            pos = 0
            for size in self.chunks:
                if pos >= len(self.data):
                    break
                self.sock.sendall(self.data[pos : pos + size])
                pos += size
                if self.pause:
                    time.sleep(self.pause)
            if pos < len(self.data):
                self.sock.sendall(self.data[pos:])
            if self.eof:
                self.sock.shutdown(socket.SHUT_WR)
        except BaseException as e:  # reported by the test through .error
            self.error = e


def chunk_sizes(total: int, sizes: Sequence[int]) -> list[int]:
    """Cycles `sizes` until they cover `total` bytes."""
    out: list[int] = []
    i = 0
    while sum(out) < total:
        out.append(max(1, sizes[i % len(sizes)]))
        i += 1
    return out


class Raised(Exception):
    """Raised by the signal handlers the tests install."""


@contextlib.contextmanager
def alarm_raising(after: float, exc: type[BaseException] = Raised) -> Iterator[list[float]]:
    """Arms ITIMER_REAL; its SIGALRM handler raises `exc`. Yields a list that receives the
    time the signal fired."""
    fired: list[float] = []

    def handler(signum: int, frame: object) -> None:
        fired.append(time.monotonic())
        raise exc("alarm")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, after)
    try:
        yield fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def alarm_counting(interval: float) -> Iterator[list[float]]:
    """A repeating SIGALRM whose handler only counts: calls must retry (PEP 475)."""
    fired: list[float] = []

    def handler(signum: int, frame: object) -> None:
        fired.append(time.monotonic())

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, interval, interval)
    try:
        yield fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def exc_signature(fn: Callable[[], object]) -> tuple[type[BaseException], int | None, str] | None:
    """(class, errno, str) of what `fn` raises, or None."""
    try:
        fn()
    except BaseException as e:
        return type(e), getattr(e, "errno", None), str(e)
    return None
