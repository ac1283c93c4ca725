"""Length-prefixed frames: encode_frame / FrameDecoder (no I/O), the socket methods
send_frame / send_frames / recv_frame, and ferrosock.framing.FrameStream.

The oracle for the wire format is ``struct.pack(header, len(payload)) + payload``.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import ferrosock
from ferrosock.framing import FrameDecoder, FrameStream, encode_frame
from tests.loops_support import (
    Dribbler,
    Raised,
    alarm_raising,
    chunk_sizes,
    exc_signature,
    open_fds,
    stream_pair,
)

HEADERS = ["!B", "!H", "!I", "!Q", "<H", "<I", "<Q", ">I", "=I", "@I", "I", "!L", "L"]


@pytest.fixture(autouse=True)
def no_fd_leaks():
    before = open_fds()
    yield
    leaked = open_fds() - before
    assert not leaked, f"file descriptors leaked: {sorted(leaked)}"


def wire(frames: list[bytes], header: str = "!I") -> bytes:
    return b"".join(struct.pack(header, len(f)) + f for f in frames)


# --- encode_frame / FrameDecoder ---------------------------------------------------------


@given(header=st.sampled_from(HEADERS), data=st.binary(max_size=300))
def test_encode_frame_is_struct_pack(header, data):
    limit = 2 ** (8 * struct.calcsize(header)) - 1
    if len(data) > limit:
        with pytest.raises(ValueError):
            encode_frame(data, header)
    else:
        assert encode_frame(data, header) == struct.pack(header, len(data)) + data
        assert encode_frame(bytearray(data), header) == encode_frame(memoryview(data), header)


def test_encode_frame_errors():
    with pytest.raises(ValueError, match="too long for header '!B'"):
        encode_frame(b"x" * 256, "!B")
    assert encode_frame(b"x" * 255, "!B")[0] == 255
    for bad in ["", "!", "!i", "!II", "2I", "f", "!x"]:
        with pytest.raises(ValueError, match="unsupported frame header format"):
            encode_frame(b"", bad)
    with pytest.raises(TypeError, match="a bytes-like object is required, not 'str'"):
        encode_frame("text")


@given(
    header=st.sampled_from(["!B", "!H", "!I", "<Q"]),
    frames=st.lists(st.binary(max_size=200), max_size=20),
    cuts=st.lists(st.integers(1, 64), min_size=1, max_size=10),
)
def test_decoder_any_chunking(header, frames, cuts):
    data = wire(frames, header)
    dec = FrameDecoder(header)
    got: list[bytes] = []
    pos = 0
    for size in chunk_sizes(len(data), cuts) if data else []:
        got += dec.feed(data[pos : pos + size])
        pos += size
    assert got == frames
    assert dec.pending == b""


def test_decoder_oversized_frame_is_refused_and_sticks():
    dec = FrameDecoder("!I", max_size=10)
    assert dec.feed(wire([b"ok"]) + struct.pack("!I", 11)) == [b"ok"]
    with pytest.raises(ferrosock.FrameError) as info:
        dec.feed(b"")
    assert isinstance(info.value, ValueError)
    assert str(info.value) == "frame of 11 bytes exceeds max_size (10 bytes)"
    with pytest.raises(ferrosock.FrameError):
        dec.feed(wire([b"more"]))
    # A length near 2**64 is refused on sight: nothing is reserved for it.
    dec = FrameDecoder("!Q")
    with pytest.raises(ferrosock.FrameError):
        dec.feed(b"\xff" * 8)


def test_decoder_zero_length_and_pending():
    dec = FrameDecoder("!H", max_size=5)
    assert dec.feed(b"\0\0\0\0\0\x03ab") == [b"", b""]
    assert dec.pending == b"\0\x03ab"
    assert dec.feed(b"c") == [b"abc"]
    assert dec.header == "!H" and dec.max_size == 5
    with pytest.raises(ValueError, match="max_size"):
        FrameDecoder("!I", max_size=-1)


# --- socket methods ----------------------------------------------------------------------


@pytest.mark.parametrize("header", ["!B", "!H", "!I", "<Q"])
def test_send_and_recv_frames(header):
    w, r = stream_pair("unix", cls=ferrosock.socket)
    with w, r:
        frames = [b"", b"a", os.urandom(200), b"zz"]
        wsock = ferrosock.socket(fileno=w.detach())
        with wsock:
            wsock.send_frame(frames[0], header=header)
            wsock.send_frames(frames[1:], header=header)
            for f in frames:
                assert r.recv_frame(header=header) == f


def test_recv_frame_never_reads_past_its_frame():
    w, r = stream_pair("unix")
    with w, r:
        w.sendall(wire([b"first", b"second"]) + b"raw tail")
        assert r.recv_frame() == b"first"
        # The stdlib's recv sees exactly what follows the frame.
        assert r.recv(10) == struct.pack("!I", 6) + b"second"[:6]
        assert r.recv(100) == b"raw tail"


def test_recv_frame_end_of_stream():
    for data, partial, expected in [
        (b"", b"", 4),
        (b"\0\0", b"\0\0", 4),
        (b"\0\0\0\x05abc", b"\0\0\0\x05abc", 9),
    ]:
        w, r = stream_pair("unix")
        with w, r:
            w.sendall(data)
            w.shutdown(socket.SHUT_WR)
            with pytest.raises(ferrosock.IncompleteReadError) as info:
                r.recv_frame()
            assert (info.value.partial, info.value.expected) == (partial, expected)


def test_recv_frame_oversized_is_refused_without_allocating():
    w, r = stream_pair("unix")
    with w, r:
        w.sendall(struct.pack("!Q", 2**62) + b"junk")
        with pytest.raises(ferrosock.FrameError) as info:
            r.recv_frame(header="!Q")
        assert info.value.partial == struct.pack("!Q", 2**62)
        assert r.recv(4) == b"junk"  # only the header was consumed
        w.sendall(struct.pack("!I", 1001))
        with pytest.raises(ferrosock.FrameError, match=r"1001 bytes exceeds max_size \(1000"):
            r.recv_frame(max_size=1000)


def test_large_frames_through_a_writer_thread():
    w, r = stream_pair("unix")
    with w, r:
        frames = [os.urandom(3 * 1024 * 1024 + 7), b"", os.urandom(100)]
        t = Dribbler(w, wire(frames), [65536])
        t.start()
        assert [r.recv_frame() for _ in frames] == frames
        t.join()


def test_send_frames_many_small_frames_and_large_ones():
    """More frames than one sendmsg can carry (IOV_MAX), mixed with large payloads."""
    a, b = ferrosock.socketpair()
    with a, b:
        frames = [os.urandom(i % 50) for i in range(3000)] + [os.urandom(2 << 20)]
        got: list[bytes] = []
        t = threading.Thread(target=lambda: got.extend(b.recv_frame() for _ in frames))
        t.start()
        a.send_frames(iter(frames))
        t.join()
        assert got == frames


def test_send_frames_checks_everything_before_sending():
    a, b = ferrosock.socketpair()
    with a, b:
        with pytest.raises(ValueError, match=r"too long for header '!B'.*\(at index 2\)"):
            a.send_frames([b"a", b"b", b"x" * 256], header="!B")
        with pytest.raises(TypeError, match=r"not 'int' \(at index 1\)"):
            a.send_frames([b"a", 5])
        with pytest.raises(ValueError, match="too long"):
            a.send_frame(b"x" * 70000, header="!H")
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            b.recv(1)  # nothing at all was sent


def test_send_frame_to_a_closed_peer_matches_sendall():
    a, b = ferrosock.socketpair()
    with a:
        b.close()
        std = socket.socket(fileno=a.fileno())
        try:
            expected = exc_signature(lambda: std.sendall(b"x"))
        finally:
            std.detach()
        assert expected is not None and expected[0] is BrokenPipeError
        assert exc_signature(lambda: a.send_frame(b"x")) == expected
        assert exc_signature(lambda: a.send_frames([b"x"])) == expected


def test_send_frame_on_a_closed_socket_matches_sendall():
    a, b = ferrosock.socketpair()
    with b, socket.socket() as std:
        a.close()
        std.close()
        expected = exc_signature(lambda: std.sendall(b"x"))
        assert expected is not None and expected[1] == 9
        assert exc_signature(lambda: a.send_frame(b"x")) == expected
        assert exc_signature(lambda: a.send_frames([b"x"])) == expected


def test_send_frame_timeout():
    a, b = ferrosock.socketpair()
    with a, b:
        a.settimeout(0.2)
        with pytest.raises(TimeoutError, match="timed out"):
            a.send_frame(os.urandom(16 << 20))


# --- FrameStream -------------------------------------------------------------------------


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frames=st.lists(st.binary(max_size=3000), min_size=1, max_size=30),
    cuts=st.lists(st.integers(1, 5000), min_size=1, max_size=6),
    max_frames=st.integers(1, 10),
    timeout=st.sampled_from([None, 10.0]),
)
def test_stream_partial_arrivals(frames, cuts, max_frames, timeout):
    w, r = stream_pair("unix")
    with w, r:
        r.settimeout(timeout)
        data = wire(frames)
        t = Dribbler(w, data, chunk_sizes(len(data), cuts), pause=0.0005, eof=True)
        t.start()
        stream = FrameStream(r)
        got: list[bytes] = []
        while len(got) < len(frames):
            batch = stream.recv_many(max_frames)
            assert 1 <= len(batch) <= max_frames
            got += batch
        with pytest.raises(ferrosock.IncompleteReadError) as info:
            stream.recv()
        assert info.value.partial == b""
        t.join()
        assert got == frames


def test_stream_iteration_and_send():
    a, b = ferrosock.socketpair()
    with a, b:
        out, inp = FrameStream(a, header="<H"), FrameStream(b, header="<H")
        frames = [b"one", b"", b"three" * 100]
        out.send(frames[0])
        out.send_many(frames[1:])
        a.shutdown(socket.SHUT_WR)
        assert list(inp) == frames


def test_stream_end_mid_frame_raises_and_keeps_bytes():
    a, b = ferrosock.socketpair()
    with a, b:
        a.sendall(wire([b"whole"]) + b"\0\0\0\x09part")
        a.close()
        stream = FrameStream(b)
        with pytest.raises(ferrosock.IncompleteReadError) as info:
            list(stream)
        assert info.value.partial == b"\0\0\0\x09part"
        assert info.value.expected == 13
        assert stream.buffered == b"\0\0\0\x09part"


def test_stream_timeout_loses_nothing():
    a, b = ferrosock.socketpair()
    with a, b:
        b.settimeout(0.1)
        stream = FrameStream(b)
        a.sendall(wire([b"abcdef"])[:7])
        with pytest.raises(TimeoutError):
            stream.recv()
        assert stream.buffered == wire([b"abcdef"])[:7]
        a.sendall(b"def" + wire([b"next"]))
        assert stream.recv_many() == [b"abcdef", b"next"]


def test_stream_signal_loses_nothing():
    a, b = ferrosock.socketpair()
    with a, b:
        stream = FrameStream(b)
        a.sendall(b"\0\0\0\x02x")
        with alarm_raising(0.1), pytest.raises(Raised):
            stream.recv()
        a.sendall(b"y")
        assert stream.recv() == b"xy"


def test_stream_non_blocking_with_selectors():
    a, b = ferrosock.socketpair()
    with a, b, selectors.DefaultSelector() as sel:
        b.setblocking(False)
        stream = FrameStream(b)
        with pytest.raises(BlockingIOError):
            stream.recv()
        frames = [os.urandom(n) for n in (1, 1000, 70000, 5)]
        t = Dribbler(a, wire(frames), [777], pause=0.001, eof=True)
        t.start()
        sel.register(b, selectors.EVENT_READ)
        got: list[bytes] = []
        while True:
            sel.select(5)
            try:
                got += stream.recv_many(1000)
            except BlockingIOError:
                continue
            except ferrosock.IncompleteReadError as e:
                assert e.partial == b""
                break
        t.join()
        assert got == frames


def test_stream_unsent_bytes_go_out_first():
    """A send that could not finish keeps the rest queued (never a torn frame)."""
    a, b = ferrosock.socketpair()
    with a, b:
        a.setblocking(False)
        out = FrameStream(a)
        big = os.urandom(8 << 20)
        with pytest.raises(BlockingIOError):
            out.send(big)
        assert 0 < out.unsent <= len(big) + 4
        got: list[bytes] = []
        inp = FrameStream(b)
        t = threading.Thread(target=lambda: got.extend(inp.recv() for _ in range(2)))
        t.start()
        a.setblocking(True)
        out.send(b"after")
        t.join()
        assert out.unsent == 0
        assert got == [big, b"after"]


def test_stream_oversized_frame():
    a, b = ferrosock.socketpair()
    with a, b:
        stream = FrameStream(b, max_size=100)
        a.sendall(wire([b"ok", b"x" * 101]))
        assert stream.recv_many() == [b"ok"]
        with pytest.raises(ferrosock.FrameError):
            stream.recv()
        with pytest.raises(ferrosock.FrameError):
            stream.recv_many()


def test_stream_big_frame_then_small_ones():
    a, b = ferrosock.socketpair()
    with a, b:
        frames = [os.urandom(6 << 20)] + [b"s"] * 10
        t = Dribbler(a, wire(frames), [1 << 20])
        t.start()
        stream = FrameStream(b)
        got: list[bytes] = []
        while len(got) < len(frames):
            got += stream.recv_many(100)
        t.join()
        assert got == frames


def test_stream_needs_a_plain_socket():
    class Wrapped(socket.socket):
        def recv(self, *args):  # an ssl.SSLSocket overrides recv like this
            return super().recv(*args)

    with Wrapped() as s, pytest.raises(TypeError, match="plain socket"):
        FrameStream(s)
    with pytest.raises(TypeError, match="needs a socket"):
        FrameStream(object())  # type: ignore[arg-type]
    a, b = socket.socketpair()  # a stdlib socket is fine
    with a, b:
        FrameStream(a).send(b"std")
        assert FrameStream(b).recv() == b"std"


def test_stream_concurrent_senders_never_interleave():
    a, b = ferrosock.socketpair()
    with a, b:
        out = FrameStream(a)
        payloads = {i: bytes([i]) * (50000 + i) for i in range(8)}
        threads = [threading.Thread(target=out.send, args=(p,)) for p in payloads.values()]
        got: list[bytes] = []
        inp = FrameStream(b)
        reader = threading.Thread(target=lambda: got.extend(inp.recv() for _ in payloads))
        reader.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reader.join()
        assert sorted(got) == sorted(payloads.values())


def test_stream_reentrant_call_from_signal_handler_is_refused():
    import signal

    a, b = ferrosock.socketpair()
    with a, b:
        stream = FrameStream(b)
        seen: list[BaseException] = []

        def handler(signum, frame):
            try:
                stream.recv()
            except RuntimeError as e:
                seen.append(e)
            raise Raised("done")

        old = signal.signal(signal.SIGALRM, handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(Raised):
                stream.recv()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert seen and "reentrant" in str(seen[0])
        time.sleep(0)


def test_waiting_for_another_threads_recv_is_interruptible():
    """The main thread queued behind a reader thread's blocked recv still gets signals."""
    a, b = ferrosock.socketpair()
    with a, b:
        stream = FrameStream(b)
        got: list[bytes] = []
        t = threading.Thread(target=lambda: got.append(stream.recv()))
        t.start()
        time.sleep(0.05)  # let the thread take the stream and block in recv
        with alarm_raising(0.1) as fired, pytest.raises(Raised):
            stream.recv()
        assert fired
        a.sendall(wire([b"for the thread"]))
        t.join(10)
        assert got == [b"for the thread"]
