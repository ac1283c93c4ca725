"""recvmany / sendmany (recvmmsg / sendmmsg) on datagram sockets, against recvfrom / sendto.

The same datagrams are queued twice and read once with the stdlib's ``recvfrom`` and once
with ``recvmany``: data, addresses (IPv4, IPv6, Unix path, abstract, unbound) and
exceptions must agree.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import ferrosock
from tests.loops_support import (
    Raised,
    alarm_raising,
    exc_signature,
    has_ipv6,
    open_fds,
    stdlib_view,
)

FAMILIES = [
    "udp4",
    pytest.param("udp6", marks=pytest.mark.skipif(not has_ipv6(), reason="no ::1")),
    "unix",
    "abstract",
]


@pytest.fixture(autouse=True)
def no_fd_leaks():
    before = open_fds()
    yield
    leaked = open_fds() - before
    assert not leaked, f"file descriptors leaked: {sorted(leaked)}"


def dgram_pair(kind: str, tmp_path) -> tuple[ferrosock.socket, ferrosock.socket, object]:
    """(sender, receiver, receiver address): both bound, unconnected."""
    if kind in ("udp4", "udp6"):
        family, host = (socket.AF_INET, "127.0.0.1") if kind == "udp4" else (socket.AF_INET6, "::1")
        rx = ferrosock.socket(family, socket.SOCK_DGRAM)
        tx = ferrosock.socket(family, socket.SOCK_DGRAM)
        rx.bind((host, 0))
        tx.bind((host, 0))
    else:
        rx = ferrosock.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        tx = ferrosock.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if kind == "unix":
            rx.bind(os.path.join(tmp_path, "rx"))
            tx.bind(os.path.join(tmp_path, "tx"))
        else:
            tag = f"{os.getpid()}-{time.monotonic_ns()}"
            rx.bind(f"\0ferrosock-rx-{tag}".encode())
            tx.bind(f"\0ferrosock-tx-{tag}".encode())
    return tx, rx, rx.getsockname()


def drain_recvfrom(sock: socket.socket, n: int, bufsize: int = 65535) -> list[tuple[bytes, object]]:
    std = stdlib_view(sock)
    try:
        return [std.recvfrom(bufsize) for _ in range(n)]
    finally:
        std.detach()


def drain_recvmany(sock: ferrosock.socket, n: int, **kw) -> list[tuple]:
    out: list[tuple] = []
    while len(out) < n:
        batch = sock.recvmany(**kw)
        assert batch
        out += batch
    return out


@pytest.mark.parametrize("kind", FAMILIES)
def test_recvmany_matches_recvfrom(kind, tmp_path):
    tx, rx, addr = dgram_pair(kind, tmp_path)
    with tx, rx:
        msgs = [b"", b"x", os.urandom(1000), b"last"]
        for m in msgs:
            tx.sendto(m, addr)
        expected = drain_recvfrom(rx, len(msgs))
        for m in msgs:
            tx.sendto(m, addr)
        got = drain_recvmany(rx, len(msgs))
        assert got == expected
        assert [type(a) for _, a in got] == [type(a) for _, a in expected]
        assert got[0][1] == tx.getsockname()


def test_unnamed_senders_match_recvfrom():
    # A socketpair and an unbound sender: the stdlib reports None for both.
    a, b = ferrosock.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.send(b"p")
        expected = drain_recvfrom(b, 1)
        a.send(b"p")
        assert b.recvmany() == expected == [(b"p", None)]


def test_truncation_is_recvfroms_and_flagged(tmp_path):
    tx, rx, addr = dgram_pair("udp4", tmp_path)
    with tx, rx:
        tx.sendto(b"0123456789" * 10, addr)
        expected = drain_recvfrom(rx, 1, bufsize=10)
        tx.sendto(b"0123456789" * 10, addr)
        tx.sendto(b"short", addr)
        got = rx.recvmany(bufsize=10, with_flags=True)
        assert [(d, a) for d, a, _ in got] == [*expected, (b"short", tx.getsockname())]
        assert got[0][2] & socket.MSG_TRUNC
        assert not got[1][2] & socket.MSG_TRUNC
        tx.sendto(b"abc", addr)
        assert rx.recvmany(bufsize=0) == [(b"", tx.getsockname())]


def test_maxmsgs_and_argument_errors(tmp_path):
    tx, rx, addr = dgram_pair("udp4", tmp_path)
    with tx, rx:
        for i in range(10):
            tx.sendto(bytes([i]), addr)
        time.sleep(0.05)
        assert [d for d, _ in rx.recvmany(3)] == [b"\0", b"\1", b"\2"]
        assert [d for d, _ in rx.recvmany(100)] == [bytes([i]) for i in range(3, 10)]
        with pytest.raises(ValueError, match="negative buffersize in recvmany"):
            rx.recvmany(bufsize=-1)
        with pytest.raises(ValueError, match="maxmsgs"):
            rx.recvmany(0)
        with pytest.raises(TypeError):
            rx.recvmany("3")


def test_modes_match_recvfrom(tmp_path):
    tx, rx, addr = dgram_pair("udp4", tmp_path)
    with tx, rx:
        rx.setblocking(False)
        expected = exc_signature(lambda: rx.recvfrom(10))
        assert expected is not None and expected[0] is BlockingIOError
        assert exc_signature(rx.recvmany) == expected
        rx.settimeout(0.15)
        expected = exc_signature(lambda: rx.recvfrom(10))
        assert expected == (TimeoutError, None, "timed out")
        t0 = time.monotonic()
        assert exc_signature(rx.recvmany) == expected
        assert time.monotonic() - t0 >= 0.14
        rx.close()
        std = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        std.close()
        assert exc_signature(rx.recvmany) == exc_signature(lambda: std.recvfrom(1))
        assert exc_signature(lambda: rx.sendmany([b"x"], addr)) == exc_signature(
            lambda: std.sendto(b"x", addr)
        )


def test_blocking_waits_for_the_first_datagram(tmp_path):
    tx, rx, addr = dgram_pair("udp4", tmp_path)
    with tx, rx:
        threading.Timer(0.1, lambda: tx.sendmany([b"a", b"b", b"c"], addr)).start()
        got = rx.recvmany()
        got += drain_recvmany(rx, 3 - len(got))
        assert [d for d, _ in got] == [b"a", b"b", b"c"]


def test_signal_interrupts_a_blocked_recvmany(tmp_path):
    tx, rx, _ = dgram_pair("udp4", tmp_path)
    with tx, rx:
        for timeout in (None, 30.0):
            rx.settimeout(timeout)
            with alarm_raising(0.05) as fired, pytest.raises(Raised):
                rx.recvmany()
            assert fired


# --- sendmany ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FAMILIES)
def test_sendmany_forms(kind, tmp_path):
    tx, rx, addr = dgram_pair(kind, tmp_path)
    with tx, rx:
        assert tx.sendmany([b"a", bytearray(b"b"), memoryview(b"cc")], addr) == 3
        assert tx.sendmany([(b"d", addr), (b"e", addr)]) == 2
        assert tx.sendmany(iter([b"f", (b"g", addr)]), addr) == 2
        assert tx.sendmany([]) == 0
        got = drain_recvmany(rx, 7)
        assert [d for d, _ in got] == [b"a", b"b", b"cc", b"d", b"e", b"f", b"g"]
        assert {a for _, a in got} == {tx.getsockname()}
        tx.connect(addr)
        assert tx.sendmany([b"h", b"i"]) == 2
        assert [d for d, _ in drain_recvmany(rx, 2)] == [b"h", b"i"]


BAD_ADDRESSES = [
    ("127.0.0.1",),
    "x",
    ("127.0.0.1", -1),
    ("127.0.0.1", 70000),
    ("127.0.0.1", "80"),
    (5, 80),
    ("a\0b", 80),
    ("nonexistent.invalid", 80),
]


@pytest.mark.parametrize("address", BAD_ADDRESSES, ids=repr)
def test_sendmany_address_errors_match_sendto(address):
    with ferrosock.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        expected = exc_signature(lambda: s.sendto(b"x", address))
        assert expected is not None
        want = (expected[0], expected[1], expected[2].replace("sendto()", "sendmany()"))
        assert exc_signature(lambda: s.sendmany([b"x"], address)) == want
        pair_error = exc_signature(lambda: s.sendmany([(b"x", address)]))
        assert pair_error is not None and pair_error[:2] == want[:2]
        assert pair_error[2] == want[2] + " (at index 0)"


def test_sendmany_item_errors_send_nothing(tmp_path):
    tx, rx, addr = dgram_pair("udp4", tmp_path)
    with tx, rx:
        with pytest.raises(TypeError, match=r"not 'int' \(at index 1\)"):
            tx.sendmany([b"a", 5], addr)
        with pytest.raises(TypeError, match=r"pairs \(at index 0\)"):
            tx.sendmany([(b"a", addr, 1)])
        # Unconnected and no address: the kernel's answer, as sendto/send give it.
        std = stdlib_view(tx)
        try:
            expected = exc_signature(lambda: std.send(b"a"))
        finally:
            std.detach()
        assert exc_signature(lambda: tx.sendmany([b"a"])) == expected
        rx.setblocking(False)
        with pytest.raises(BlockingIOError):
            rx.recvmany()


def test_sendmany_error_from_the_kernel():
    """A connected UDP socket whose peer port is closed: ECONNREFUSED as send() gets it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with ferrosock.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.connect(("127.0.0.1", port))
        tx.send(b"x")
        time.sleep(0.05)
        with pytest.raises(ConnectionRefusedError) as info:
            tx.sendmany([b"a", b"b"])
        assert info.value.errno == errno.ECONNREFUSED


def test_sendmany_non_blocking_returns_partial_count():
    """Unix datagram sockets push back when the receiver's queue is full."""
    a, b = ferrosock.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with a, b:
        a.setblocking(False)
        sent = a.sendmany([b"x" * 1000] * 5000)
        assert 0 < sent < 5000
        with pytest.raises(BlockingIOError):
            a.sendmany([b"y"])
        got = 0
        b.setblocking(False)
        while True:
            try:
                got += len(b.recvmany(1024, 2000))
            except BlockingIOError:
                break
        assert got == sent


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    msgs=st.lists(st.binary(max_size=2000), min_size=1, max_size=50),
    bufsize=st.integers(0, 3000),
)
def test_round_trip_property(msgs, bufsize, tmp_path):
    tx, rx, addr = dgram_pair("udp4", tmp_path)
    with tx, rx:
        assert tx.sendmany(msgs, addr) == len(msgs)
        rx.settimeout(5)
        got = drain_recvmany(rx, len(msgs), bufsize=bufsize, with_flags=True)
        assert [d for d, _, _ in got] == [m[:bufsize] for m in msgs]
        assert [bool(f & socket.MSG_TRUNC) for _, _, f in got] == [len(m) > bufsize for m in msgs]


# --- volume ----------------------------------------------------------------------------------


def numbered(i: int, size: int = 64) -> bytes:
    head = struct.pack("!Q", i)
    return head + hashlib.blake2b(head, digest_size=size - 8).digest()


def round_trip(tx, rx, addr, total: int, window: int) -> list[bytes]:
    """Sends `total` numbered datagrams in windows, each window acknowledged by the
    receiver (UDP drops what does not fit the receive queue)."""
    received: list[bytes] = []
    acks = threading.Semaphore(0)
    error: list[BaseException] = []

    def receiver() -> None:
        try:
            rx.settimeout(10)
            pending = 0
            while len(received) < total:
                batch = rx.recvmany(256, 2048)
                received.extend(d for d, _ in batch)
                pending += len(batch)
                while pending >= window or (len(received) == total and pending):
                    acks.release()
                    pending -= min(pending, window)
        except BaseException as e:
            error.append(e)
            acks.release()

    # Room for a whole window (a 64-byte datagram costs ~1 KiB of receive buffer).
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2 << 20)
    t = threading.Thread(target=receiver)
    t.start()
    for start in range(0, total, window):
        batch = [numbered(i) for i in range(start, min(total, start + window))]
        assert tx.sendmany(batch, addr) == len(batch)
        assert acks.acquire(timeout=10), "receiver stalled (datagrams lost?)"
        assert not error, error
    t.join(30)
    assert not error, error
    return received


@pytest.mark.parametrize("kind", ["udp4", "unix"])
def test_100k_datagrams_round_trip_intact(kind, tmp_path):
    tx, rx, addr = dgram_pair(kind, tmp_path)
    with tx, rx:
        total = 100_000
        received = round_trip(tx, rx, addr, total, window=500)
        assert len(received) == total
        assert received == [numbered(i) for i in range(total)]
