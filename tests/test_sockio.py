"""recv_exactly / recv_exactly_into on ferrosock.socket: exact reads with the stdlib's
blocking, non-blocking, timeout, EINTR and error semantics.

Where the stdlib has an equivalent (``recv``/``recv_into`` and the loop users write), the same
situation is run through both and the exceptions compared.
"""

from __future__ import annotations

import array
import errno
import os
import signal
import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import ferrosock
from tests.loops_support import (
    Dribbler,
    Raised,
    alarm_counting,
    alarm_raising,
    chunk_sizes,
    exc_signature,
    has_ipv6,
    open_fds,
    stdlib_view,
    stream_pair,
)

KINDS = [
    "unix",
    "tcp4",
    pytest.param("tcp6", marks=pytest.mark.skipif(not has_ipv6(), reason="no ::1")),
]


@pytest.fixture(autouse=True)
def no_fd_leaks():
    before = open_fds()
    yield
    leaked = open_fds() - before
    assert not leaked, f"file descriptors leaked: {sorted(leaked)}"


@pytest.fixture(params=KINDS)
def pair(request):
    w, r = stream_pair(request.param)
    yield w, r
    w.close()
    r.close()


def stdlib_loop(sock: socket.socket, n: int) -> bytes:
    """The loop users write today."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(buf)
        buf += chunk
    return buf


# --- basic behaviour ---------------------------------------------------------------------


def test_exact_reads_split_a_stream(pair):
    w, r = pair
    w.sendall(b"abcdefghij")
    assert r.recv_exactly(3) == b"abc"
    assert r.recv_exactly(0) == b""
    assert r.recv_exactly(7) == b"defghij"
    w.sendall(b"xyz")
    buf = bytearray(5)
    assert r.recv_exactly_into(buf, 3) == 3
    assert buf == b"xyz\0\0"


def test_large_read_with_writer_thread(pair):
    w, r = pair
    data = os.urandom(8 * 1024 * 1024 + 13)
    t = Dribbler(w, data, [1 << 20])
    t.start()
    got = r.recv_exactly(len(data))
    t.join()
    assert t.error is None
    assert got == data


def test_end_of_stream_mid_read_keeps_the_bytes(pair):
    w, r = pair
    w.sendall(b"12345")
    w.shutdown(socket.SHUT_WR)
    with pytest.raises(ferrosock.IncompleteReadError) as info:
        r.recv_exactly(10)
    e = info.value
    assert isinstance(e, EOFError)
    assert e.partial == b"12345"
    assert e.expected == 10
    assert str(e) == "5 bytes read on a total of 10 expected bytes"
    # A clean end of stream: nothing at all.
    with pytest.raises(ferrosock.IncompleteReadError) as info:
        r.recv_exactly(1)
    assert info.value.partial == b""


def test_end_of_stream_into_buffer(pair):
    w, r = pair
    w.sendall(b"abc")
    w.close()
    buf = bytearray(8)
    with pytest.raises(ferrosock.IncompleteReadError) as info:
        r.recv_exactly_into(buf)
    assert info.value.partial == b"abc"
    assert info.value.expected == 8
    assert buf[:3] == b"abc"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(min_size=1, max_size=3000),
    writes=st.lists(st.integers(1, 700), min_size=1, max_size=8),
    reads=st.lists(st.integers(0, 900), min_size=1, max_size=8),
    timeout=st.sampled_from([None, 5.0]),
)
def test_partial_arrivals(data, writes, reads, timeout):
    """Any chunking of the writes and of the reads gives back the same bytes."""
    w, r = stream_pair("unix")
    with w, r:
        r.settimeout(timeout)
        t = Dribbler(w, data, chunk_sizes(len(data), writes), pause=0.0005)
        t.start()
        got = bytearray()
        sizes = chunk_sizes(len(data), reads)
        for n in sizes:
            n = min(n, len(data) - len(got))
            if len(sizes) % 2:
                got += r.recv_exactly(n)
            else:
                buf = bytearray(n + 3)
                assert r.recv_exactly_into(memoryview(buf)[:n]) == n
                got += buf[:n]
        t.join()
        assert bytes(got) == data


def test_buffer_kinds():
    w, r = stream_pair("unix")
    with w, r:
        w.sendall(bytes(range(16)) * 2)
        arr = array.array("i", [0, 0, 0, 0])
        assert r.recv_exactly_into(arr) == 16
        assert arr.tobytes() == bytes(range(16))
        mv = memoryview(bytearray(20))
        assert r.recv_exactly_into(mv[2:], 16) == 16
        assert mv[2:18].tobytes() == bytes(range(16))


# --- argument errors, compared with recv / recv_into -------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.recv_into(b"xx"),
        lambda s: s.recv_into(bytearray(2), 5),
        lambda s: s.recv_into(bytearray(2), -1),
        lambda s: s.recv_into(5),
        lambda s: s.recv(-1),
        lambda s: s.recv("x"),
    ],
)
def test_argument_errors_match_stdlib(call):
    w, r = stream_pair("unix")
    with w, r:
        std = stdlib_view(r)
        try:
            expected = exc_signature(lambda: call(std))
        finally:
            std.detach()

        class Renamed:
            def recv_into(self, *a):
                return r.recv_exactly_into(*a)

            def recv(self, *a):
                return r.recv_exactly(*a)

        got = exc_signature(lambda: call(Renamed()))
        assert expected is not None and got is not None
        assert got[0] is expected[0]
        renamed = expected[2].replace("recv_into", "recv_exactly_into")
        if "recv_exactly" not in renamed:
            renamed = renamed.replace("in recv", "in recv_exactly")
        assert got[2] == renamed


def test_peek_is_refused():
    w, r = stream_pair("unix")
    with w, r:
        w.sendall(b"abc")
        with pytest.raises(ValueError, match="MSG_PEEK"):
            r.recv_exactly(3, socket.MSG_PEEK)
        assert r.recv_exactly(3) == b"abc"


# --- modes: closed, non-blocking, timeout ------------------------------------------------


def test_closed_socket_behaves_like_stdlib():
    w, r = stream_pair("unix")
    w.close()
    std = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    std.close()
    r.close()
    expected = exc_signature(lambda: std.recv(1))
    assert expected == exc_signature(lambda: r.recv_exactly(1))
    assert expected == exc_signature(lambda: r.recv_exactly(0))
    assert expected == exc_signature(lambda: r.recv_exactly_into(bytearray(1)))
    assert expected is not None and expected[1] == errno.EBADF


def test_non_blocking_matches_stdlib(pair):
    w, r = pair
    r.setblocking(False)
    std = stdlib_view(r)
    try:
        expected = exc_signature(lambda: std.recv(4))
    finally:
        std.detach()
    assert expected is not None and expected[0] is BlockingIOError
    assert exc_signature(lambda: r.recv_exactly(4)) == expected
    # Bytes consumed before the socket ran dry are handed back, not lost.
    w.sendall(b"ab")
    time.sleep(0.05)
    with pytest.raises(BlockingIOError) as info:
        r.recv_exactly(4)
    assert info.value.partial == b"ab"
    w.sendall(b"cdef")
    time.sleep(0.05)
    assert r.recv_exactly(4) == b"cdef"


def test_timeout_matches_stdlib(pair):
    _, r = pair
    r.settimeout(0.2)
    std = stdlib_view(r)
    try:
        expected = exc_signature(lambda: std.recv(4))
    finally:
        std.detach()
    assert expected == (TimeoutError, None, "timed out")
    t0 = time.monotonic()
    assert exc_signature(lambda: r.recv_exactly(4)) == expected
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.19  # never earlier than the timeout


def test_timeout_is_one_deadline_for_the_whole_call():
    """A byte every 50 ms never lets 0.3 s pass between two bytes; the call must still time
    out about 0.3 s after it started, like sendall, keeping what arrived in .partial."""
    w, r = stream_pair("unix")
    with w, r:
        r.settimeout(0.3)
        t = Dribbler(w, b"x" * 40, [1] * 40, pause=0.05)
        t.start()
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            r.recv_exactly(100)
        elapsed = time.monotonic() - t0
        t.join()
        assert info.value.partial and set(info.value.partial) == {ord("x")}
        assert 0.29 <= elapsed < 1.9  # 40 bytes at 50 ms would take 2 s: one deadline
        rest = r.recv_exactly(40 - len(info.value.partial))
        assert set(rest) == {ord("x")}


def test_timeout_waits_for_a_slow_writer():
    w, r = stream_pair("unix")
    with w, r:
        r.settimeout(5.0)
        t = Dribbler(w, b"0123456789", [3, 3, 4], pause=0.05, delay=0.05)
        t.start()
        assert r.recv_exactly(10) == b"0123456789"
        t.join()


# --- peer reset ----------------------------------------------------------------------------


def reset_pair():
    """A TCP pair whose writer end is closed with RST (SO_LINGER 0)."""
    w, r = stream_pair("tcp4")
    w.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return w, r


def test_peer_reset_matches_stdlib():
    w, r = reset_pair()
    w.close()
    time.sleep(0.05)
    got = exc_signature(lambda: r.recv_exactly(4))
    r.close()
    w, r = reset_pair()
    w.close()
    time.sleep(0.05)
    std = stdlib_view(r)
    try:
        expected = exc_signature(lambda: stdlib_loop(std, 4))
    finally:
        std.detach()
        r.close()
    assert expected is not None and expected[0] is ConnectionResetError
    assert got == expected
    assert got[1] == errno.ECONNRESET


def test_peer_reset_while_waiting():
    w, r = reset_pair()
    with r:
        w.sendall(b"ab")
        threading.Timer(0.1, w.close).start()
        with pytest.raises(ConnectionResetError) as info:
            r.recv_exactly(4)
        assert info.value.errno == errno.ECONNRESET
        assert info.value.partial == b"ab"


# --- signals -----------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_signal_handler_exception_interrupts_a_blocked_read(timeout):
    w, r = stream_pair("unix")
    with w, r:
        r.settimeout(timeout)
        w.sendall(b"abc")
        with alarm_raising(0.1) as fired, pytest.raises(Raised) as info:
            r.recv_exactly(10)
        assert fired
        assert info.value.partial == b"abc"
        w.sendall(b"defghij")
        assert r.recv_exactly(7) == b"defghij"


def test_signals_that_do_not_raise_are_retried():
    """PEP 475: EINTR runs the handler and the call goes on."""
    w, r = stream_pair("unix")
    with w, r:
        t = Dribbler(w, b"z" * 6, [1] * 6, pause=0.06, delay=0.06)
        with alarm_counting(0.01) as fired:
            t.start()
            got = r.recv_exactly(6)
        t.join()
        assert got == b"zzzzzz"
        assert len(fired) > 5


def test_ctrl_c_interrupts_a_blocked_read():
    """SIGINT from another thread: KeyboardInterrupt, although no data will ever come."""
    w, r = stream_pair("unix")
    with w, r:
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            r.recv_exactly_into(bytearray(100))


def test_read_in_a_thread_is_not_disturbed_by_signals():
    """A blocked read in a non-main thread keeps waiting while the main thread handles
    signals (check_signals is a no-op there), and the GIL is released meanwhile."""
    w, r = stream_pair("unix")
    with w, r:
        result: list[bytes] = []
        t = threading.Thread(target=lambda: result.append(r.recv_exactly(5)))
        with alarm_counting(0.01) as fired:
            t.start()
            deadline = time.monotonic() + 0.3
            spins = 0
            while time.monotonic() < deadline:
                spins += 1  # the main thread runs: the reader does not hold the GIL
            w.sendall(b"hello")
            t.join(10)
        assert result == [b"hello"]
        assert fired and spins > 1000


# --- several sockets at once -------------------------------------------------------------


def test_stdlib_subclass_socket_objects_work():
    """The native functions read fd and timeout off any socket.socket (they also fall back to
    fileno()/gettimeout() for other objects)."""
    from ferrosock import _native

    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"1234")
        assert _native.recv_exactly(b, 2) == b"12"

        class Wrapper:
            def fileno(self):
                return b.fileno()

            def gettimeout(self):
                return 1.0

        assert _native.recv_exactly(Wrapper(), 2) == b"34"
        with pytest.raises(TimeoutError):
            _native.recv_exactly(Wrapper(), 1)


# --- the C-level methods ---------------------------------------------------------------


def test_methods_take_keywords_and_report_argument_errors():
    import inspect

    assert str(inspect.signature(ferrosock.socket.recv_exactly)) == "(self, /, n, flags=0)"
    assert "IncompleteReadError" in (ferrosock.socket.recv_exactly.__doc__ or "")
    w, r = stream_pair("unix")
    with w, r:
        w.sendall(b"abcdef")
        assert r.recv_exactly(n=2) == b"ab"
        assert r.recv_exactly(2, flags=0) == b"cd"
        buf = bytearray(2)
        assert r.recv_exactly_into(buffer=buf, nbytes=2, flags=0) == 2
        assert buf == b"ef"
        for call, message in [
            (lambda: r.recv_exactly(), "recv_exactly() missing required argument 'n' (pos 1)"),
            (lambda: r.recv_exactly(1, 0, 0), "recv_exactly() takes at most 2 arguments (3 given)"),
            (lambda: r.recv_exactly(1, n=1), "given by name ('n') and position (1)"),
            (lambda: r.recv_exactly(size=1), "'size' is an invalid keyword argument"),
            (lambda: r.recv_exactly(1.0), "'float' object cannot be interpreted as an integer"),
            (lambda: r.recv_exactly_into(), "missing required argument 'buffer'"),
        ]:
            with pytest.raises(TypeError) as info:
                call()
            assert message in str(info.value)
        with socket.socket() as std, pytest.raises(TypeError, match="doesn't apply"):
            ferrosock.socket.recv_exactly(std, 1)  # a stdlib socket


def test_subclasses_inherit_the_native_methods():
    class Mine(ferrosock.socket):
        __slots__ = ()

    a, b = socket.socketpair()
    with a, Mine(fileno=b.detach()) as m:
        a.sendall(b"xyz")
        assert m.recv_exactly(3) == b"xyz"


def test_exception_classes():
    import pickle

    from ferrosock import framing

    assert issubclass(ferrosock.IncompleteReadError, EOFError)
    assert issubclass(ferrosock.FrameError, ValueError)
    assert framing.IncompleteReadError is ferrosock.IncompleteReadError
    assert framing.FrameError is ferrosock.FrameError
    assert {"IncompleteReadError", "FrameError"} <= set(ferrosock.__all__)
    e = ferrosock.IncompleteReadError(b"ab", 5)
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is ferrosock.IncompleteReadError
    assert (again.partial, again.expected, str(again)) == (b"ab", 5, str(e))
    assert repr(ferrosock.IncompleteReadError).startswith("<class 'ferrosock.")
