"""The native load generator and its reference echo server.

Against the native echo and against Python echo servers: every count adds up and every byte
is checked; a corrupted, truncated, padded or missing echo is an error, never a score; bad
arguments are clear exceptions; runs are bounded and leave no descriptor behind. No timing
assertions: durations only bound the tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import tempfile
import threading

import pytest

from ferrosock import _native
from ferrosock._native import NativeEchoServer, loadgen

JOIN = 10.0
SHORT = dict(duration=0.1, warmup=0.02)


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


@contextlib.contextmanager
def native_echo(address=("127.0.0.1", 0)):
    server = NativeEchoServer(address)
    t = threading.Thread(target=server.serve_forever)
    t.start()
    try:
        yield server
    finally:
        server.shutdown()
        t.join(JOIN)
        assert not t.is_alive()
        server.close()


class PyEcho:
    """A thread-per-connection Python echo server; ``mutate(conn_index, chunk, offset)``
    may change what is sent back (``offset``: bytes of that connection echoed so far)."""

    def __init__(self, family=socket.AF_INET, address=("127.0.0.1", 0), mutate=None):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(128)
        self.address = self.sock.getsockname()
        self.mutate = mutate
        self.conns: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.stop = False
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(c, len(self.conns) - 1), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, c, index):
        offset = 0
        with contextlib.suppress(OSError):
            while True:
                data = c.recv(65536)
                if not data:
                    return
                out = self.mutate(index, data, offset) if self.mutate else data
                offset += len(data)
                if out is None:  # close the connection
                    c.shutdown(socket.SHUT_RDWR)
                    return
                c.sendall(out)

    def close(self):
        # shutdown() wakes the acceptor blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.acceptor.join(JOIN)
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        for t in self.threads:
            t.join(JOIN)
        for c in self.conns:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_counts(r, size, framing, connections, depth):
    wire = size + (4 if framing == "frame" else 0)
    assert r["wire_size"] == wire
    assert r["messages"] > 0
    assert r["verified"] >= r["messages"]
    # After the drain nothing is in flight: every byte sent came back and was checked.
    assert r["bytes_sent"] == r["bytes_received"] == r["verified"] * wire
    # Each connection keeps `depth` in flight until the end, so at least that many per conn.
    assert r["verified"] >= connections * depth
    assert r["msgs_per_sec"] == pytest.approx(r["messages"] / r["seconds"])
    assert 0 < r["p50_us"] <= r["p90_us"] <= r["p99_us"] <= r["p999_us"] <= r["max_us"]
    assert r["mean_us"] > 0
    assert (r["connections"], r["depth"], r["size"], r["framing"]) == (
        connections,
        depth,
        size,
        framing,
    )


# --- against the native echo -----------------------------------------------------------


@pytest.mark.parametrize("framing", ["raw", "frame"])
@pytest.mark.parametrize(
    ("connections", "depth", "size"), [(1, 1, 64), (8, 16, 100), (3, 2, 70000)]
)
@pytest.mark.usefixtures("no_fd_leak")
def test_native_echo_tcp(framing, connections, depth, size):
    before = fd_count()
    with native_echo() as server:
        r = loadgen(server.server_address, connections, depth, size, framing, **SHORT)
    check_counts(r, size, framing, connections, depth)
    assert fd_count() == before


def test_native_echo_ipv6():
    try:
        server_cm = native_echo(("::1", 0))
        server = server_cm.__enter__()
    except OSError:
        pytest.skip("::1 not available")
    try:
        host, port = server.server_address[:2]
        assert host == "::1"
        r = loadgen((host, port), 4, 4, 64, "frame", **SHORT)
        check_counts(r, 64, "frame", 4, 4)
    finally:
        server_cm.__exit__(None, None, None)


@pytest.mark.usefixtures("no_fd_leak")
def test_native_echo_unix_and_socket_file_lifecycle():
    before = fd_count()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "echo.sock")
        # A stale socket file from a previous run is replaced.
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()
        with native_echo(path) as server:
            assert server.server_address == path
            for framing in ("raw", "frame"):
                r = loadgen(os.fsencode(path), 4, 8, 64, framing, **SHORT)
                check_counts(r, 64, framing, 4, 8)
        assert not os.path.exists(path)  # removed on close
    assert fd_count() == before


def test_frame_with_other_headers_and_empty_payloads():
    with native_echo() as server:
        for header, size in (("<H", 10), ("!Q", 0), ("B", 255)):
            r = loadgen(server.server_address, 2, 4, size, "frame", header=header, **SHORT)
            hsize = struct.calcsize(header)
            assert r["wire_size"] == size + hsize
            assert r["bytes_sent"] == r["verified"] * (size + hsize)


def test_threads_split_connections():
    with native_echo() as server:
        r = loadgen(server.server_address, 5, 2, 32, "raw", threads=2, **SHORT)
        check_counts(r, 32, "raw", 5, 2)
        assert r["threads"] == 2
        r = loadgen(server.server_address, 2, 1, 32, "raw", threads=8, **SHORT)
        assert r["threads"] == 2  # no more threads than connections


# --- against Python echo servers --------------------------------------------------------


@pytest.mark.parametrize("framing", ["raw", "frame"])
@pytest.mark.usefixtures("no_fd_leak")
def test_python_echo_server(framing):
    before = fd_count()
    with PyEcho() as server:
        r = loadgen(server.address, 4, 8, 200, framing, **SHORT)
    check_counts(r, 200, framing, 4, 8)
    assert fd_count() == before


def test_python_echo_unix():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "py.sock")
        with PyEcho(socket.AF_UNIX, path):
            r = loadgen(path, 2, 4, 64, "frame", **SHORT)
        check_counts(r, 64, "frame", 2, 4)


def test_ferrosock_socketserver_echo():
    """The load generator against ferrosock's own socketserver, end to end."""
    import ferrosock.socketserver as fss

    class Echo(fss.BaseRequestHandler):
        def handle(self):
            while data := self.request.recv(65536):
                self.request.sendall(data)

    server = fss.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    t = threading.Thread(target=server.serve_forever)
    t.start()
    try:
        r = loadgen(server.server_address, 4, 4, 64, "frame", **SHORT)
        check_counts(r, 64, "frame", 4, 4)
    finally:
        server.shutdown()
        t.join(JOIN)
        server.server_close()


# --- wrong echoes are errors ------------------------------------------------------------


def flip_at(target_offset):
    def mutate(index, data, offset):
        if index == 0 and offset <= target_offset < offset + len(data):
            data = bytearray(data)
            data[target_offset - offset] ^= 0x40
            return bytes(data)
        return data

    return mutate


@pytest.mark.parametrize("framing", ["raw", "frame"])
@pytest.mark.usefixtures("no_fd_leak")
def test_corrupted_byte_is_detected(framing):
    wire = 64 + (4 if framing == "frame" else 0)
    at = 5 * wire + 20  # message 5, byte 20
    before = fd_count()
    with PyEcho(mutate=flip_at(at)) as server:
        with pytest.raises(
            RuntimeError, match=r"echo mismatch on connection 0, message 5, byte 20"
        ):
            loadgen(server.address, 1, 4, 64, framing, duration=5.0)
    assert fd_count() == before


def test_corrupted_frame_header_is_detected():
    with PyEcho(mutate=flip_at(68 * 3 + 1)) as server:
        with pytest.raises(RuntimeError, match=r"message 3, byte 1:"):
            loadgen(server.address, 1, 2, 64, "frame", duration=5.0)


def test_extra_bytes_are_detected():
    def pad(index, data, offset):
        return data + b"\0" * 64 if offset == 0 else data

    with PyEcho(mutate=pad) as server:
        with pytest.raises(RuntimeError, match="never sent"):
            loadgen(server.address, 1, 1, 64, "raw", duration=5.0)


def test_truncated_echo_times_out_in_the_drain():
    def truncate(index, data, offset):
        return data[:-1] if offset == 0 else data

    with PyEcho(mutate=truncate) as server:
        with pytest.raises(TimeoutError, match="timed out waiting for 1 echoes"):
            loadgen(server.address, 1, 1, 64, "raw", duration=0.05, drain_timeout=0.2)


def test_server_closing_mid_run_is_a_connection_error():
    def close_later(index, data, offset):
        return None if offset >= 640 else data

    with PyEcho(mutate=close_later) as server:
        with pytest.raises(ConnectionError, match="closed connection 0 after 10 echoed messages"):
            loadgen(server.address, 1, 1, 64, "raw", duration=5.0)


def test_connection_refused_keeps_errno():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    address = s.getsockname()
    s.close()
    with pytest.raises(ConnectionRefusedError) as info:
        loadgen(address, 2, 1, 64, "raw", duration=0.1)
    assert "connect to 127.0.0.1" in str(info.value)


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(framing="lines"), ValueError, "framing must be 'raw' or 'frame'"),
        (dict(connections=0), ValueError, "connections must be between 1"),
        (dict(depth=0), ValueError, "depth must be between 1"),
        (dict(size=0), ValueError, "size must be between 1"),
        (dict(size=17 * 1024 * 1024), ValueError, "size must be between"),
        (dict(duration=0.0), ValueError, "duration must be"),
        (dict(duration=float("nan")), ValueError, "duration must be"),
        (dict(duration=-1.0), ValueError, "duration must be"),
        (dict(warmup=-0.1), ValueError, "warmup must be"),
        (dict(drain_timeout=float("inf")), ValueError, "drain_timeout must be"),
        (dict(framing="frame", header="!i"), ValueError, "unsupported frame header"),
        (dict(framing="frame", header="B", size=256), ValueError, "does not fit"),
        (dict(depth=60000, size=4096), ValueError, "depth \\* message size"),
        (dict(threads=0), ValueError, "threads must be between 1"),
        (dict(connections=-1), OverflowError, None),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    args = dict(connections=1, depth=1, size=64, framing="raw", duration=0.1) | kwargs
    with pytest.raises(exc, match=match):
        loadgen(("127.0.0.1", 9), **args)


@pytest.mark.parametrize(
    ("address", "exc"),
    [
        (12, TypeError),
        (("127.0.0.1",), TypeError),
        ((b"127.0.0.1", 80), TypeError),
        (("127.0.0.1", 70000), ValueError),
        ("", ValueError),
        ("a\0b", ValueError),
    ],
)
def test_bad_addresses(address, exc):
    with pytest.raises(exc):
        loadgen(address, 1, 1, 64, "raw", 0.1)
    with pytest.raises(exc):
        NativeEchoServer(address)


# --- the native echo server's lifecycle -------------------------------------------------


@pytest.mark.usefixtures("no_fd_leak")
def test_native_echo_lifecycle():
    before = fd_count()
    server = NativeEchoServer(("127.0.0.1", 0))
    server.shutdown()
    server.serve_forever()  # a shutdown before serving is not lost
    t = threading.Thread(target=server.serve_forever)
    t.start()
    t.join(JOIN)  # still shut down: returns at once
    assert not t.is_alive()
    server.close()
    server.close()
    with pytest.raises(ValueError, match="closed"):
        server.serve_forever()
    assert fd_count() == before
    with NativeEchoServer(("127.0.0.1", 0)) as s2:
        assert s2.server_address[1] != 0
    with pytest.raises(ValueError, match="closed"):
        s2.serve_forever()
    assert fd_count() == before


def test_native_echo_serve_forever_is_not_reentrant():
    with native_echo() as server:
        # The serving thread holds it; a second caller is refused, not blocked.
        for _ in range(100):
            try:
                server.serve_forever()
            except RuntimeError as e:
                assert "already running" in str(e)
                break
        else:
            pytest.fail("second serve_forever was not refused")


def test_native_echo_closes_connections_on_shutdown():
    with native_echo() as server:
        c = socket.create_connection(server.server_address)
        c.sendall(b"ping")
        assert c.recv(4) == b"ping"
    c.settimeout(JOIN)
    assert c.recv(4) == b""
    c.close()


def test_native_echo_backpressure_client_that_never_reads():
    """A client that only sends stalls itself, not the server: others are still served."""
    with native_echo() as server:
        hog = socket.create_connection(server.server_address)
        hog.setblocking(False)
        sent = 0
        with contextlib.suppress(BlockingIOError):
            for _ in range(10_000):
                sent += hog.send(b"x" * 65536)
        assert sent > 0
        r = loadgen(server.server_address, 2, 2, 64, "raw", **SHORT)
        check_counts(r, 64, "raw", 2, 2)
        hog.close()


# --- signals ------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_fd_leak")
def test_sigint_interrupts_loadgen_and_releases_everything():
    before = fd_count()
    with native_echo() as server:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                loadgen(server.server_address, 4, 4, 64, "raw", duration=30.0)
        finally:
            timer.cancel()
    assert fd_count() == before


def test_sigint_interrupts_native_echo_serve_forever():
    before = fd_count()
    server = NativeEchoServer(("127.0.0.1", 0))
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            server.serve_forever()
    finally:
        timer.cancel()
        server.close()
    assert fd_count() == before


def test_signal_handler_that_returns_keeps_serving():
    hits = []
    old = signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
    try:
        with native_echo() as server:
            # Delivered to the main thread, which is in loadgen's wait: the handler runs
            # and the run goes on.
            timer = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1))
            timer.start()
            r = loadgen(server.server_address, 2, 2, 64, "raw", duration=0.3)
            timer.join()
            check_counts(r, 64, "raw", 2, 2)
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert hits == [1]


def test_module_exports():
    assert _native.loadgen is loadgen
    assert NativeEchoServer.__module__ == "ferrosock._native"
