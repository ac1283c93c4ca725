"""Helpers for the server tests: run a server in a thread, talk to it with stdlib sockets."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import ferrosock

TIMEOUT = 10.0


@contextlib.contextmanager
def running(server: Any) -> Iterator[Any]:
    """Serves in a background thread; shuts down, joins and closes on exit."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.serve_forever()
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=run, name="ferrosock-test-server", daemon=True)
    t.start()
    try:
        yield server
    finally:
        server.shutdown(timeout=2.0)
        t.join(TIMEOUT)
        assert not t.is_alive(), "serve_forever did not return after shutdown()"
        server.close()
    assert not errors, f"serve_forever raised {errors!r}"


def connect(server: Any, timeout: float = TIMEOUT) -> socket.socket:
    addr = server.server_address
    if isinstance(addr, (str, bytes)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    elif len(addr) == 4:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_until_eof(s: socket.socket, limit: int = 1 << 30) -> bytes:
    buf = bytearray()
    while len(buf) < limit:
        try:
            chunk = s.recv(1 << 16)
        except ConnectionResetError:
            break
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def frame(msg: bytes, header: str = "!I") -> bytes:
    return struct.pack(header, len(msg)) + msg


def recv_frame(s: socket.socket, header: str = "!I") -> bytes:
    size = struct.calcsize(header)
    (n,) = struct.unpack(header, recv_exact(s, size))
    return recv_exact(s, n)


def wait_for(pred: Callable[[], bool], timeout: float = TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def is_closed_by_peer(s: socket.socket, timeout: float = TIMEOUT) -> bool:
    """True once the server closed (EOF or reset) within `timeout`, reading out any data."""
    s.settimeout(timeout)
    try:
        while s.recv(1 << 16):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def unix_path() -> str:
    d = tempfile.mkdtemp(prefix="ferrosock-test-")
    return os.path.join(d, "srv.sock")


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def echo(conn: ferrosock.Connection, msg: bytes) -> bytes:
    return msg


has_ipv6 = socket.has_ipv6
try:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as _s:
        _s.bind(("::1", 0))
except OSError:
    has_ipv6 = False
