"""ferrosock.Server: framing, addresses, callbacks, errors, backpressure, timeouts,
shutdown and resource accounting. Every test is bounded by pytest-timeout and by the
socket timeouts in tests/_server_util.py."""

from __future__ import annotations

import functools
import gc
import logging
import os
import random
import socket
import struct
import threading
import time

import pytest

import ferrosock
from tests._server_util import (
    connect,
    echo,
    frame,
    has_ipv6,
    is_closed_by_peer,
    open_fds,
    recv_exact,
    recv_frame,
    recv_until_eof,
    running,
    unix_path,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)


# --- framing ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["!I", "!H", "<H", "!B", ">Q", "<Q", "=I"])
def test_frame_echo_split_and_batched(header: str) -> None:
    seen: list[bytes] = []

    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        seen.append(msg)
        return msg[::-1]

    limit = 255 if header.endswith("B") else 3000
    rng = random.Random(header)
    msgs = [bytes(rng.randrange(256) for _ in range(rng.randrange(limit))) for _ in range(40)]
    msgs.append(b"")
    wire = b"".join(frame(m, header) for m in msgs)
    with running(
        ferrosock.Server(("127.0.0.1", 0), handler, framing="frame", header=header)
    ) as srv:
        # All at once: many messages in one read.
        with connect(srv) as c:
            c.sendall(wire)
            for m in msgs:
                assert recv_frame(c, header) == m[::-1]
        # Dribbled: messages split across reads (headers split too).
        with connect(srv) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pos = 0
            while pos < len(wire):
                step = rng.choice([1, 2, 3, 7, 100, 1000])
                c.sendall(wire[pos : pos + step])
                pos += step
                if rng.random() < 0.05:
                    time.sleep(0.002)
            for m in msgs:
                assert recv_frame(c, header) == m[::-1]
    assert seen == msgs + msgs


@pytest.mark.parametrize("delimiter", [b"\n", b"\r\n", b"<END>"])
def test_line_echo_split_and_batched(delimiter: bytes) -> None:
    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        assert delimiter not in msg
        return msg.upper()

    lines = [b"hello", b"", b"a" * 5000, b"x\ry\n"[: 3 if delimiter == b"\n" else 4], b"end"]
    wire = b"".join(line + delimiter for line in lines)
    expected = b"".join(line.upper() + delimiter for line in lines)
    with running(
        ferrosock.Server(("127.0.0.1", 0), handler, framing="line", delimiter=delimiter)
    ) as srv:
        with connect(srv) as c:
            c.sendall(wire)
            assert recv_exact(c, len(expected)) == expected
        with connect(srv) as c:
            for i in range(len(wire)):
                c.send(wire[i : i + 1])
            assert recv_exact(c, len(expected)) == expected


def test_raw_gets_chunks_as_read() -> None:
    with running(ferrosock.Server(("127.0.0.1", 0), echo)) as srv, connect(srv) as c:
        payload = os.urandom(1 << 20)
        got = bytearray()

        def reader() -> None:
            while len(got) < len(payload):
                chunk = c.recv(1 << 16)
                if not chunk:
                    break
                got.extend(chunk)

        t = threading.Thread(target=reader)
        t.start()
        c.sendall(payload)
        t.join(20)
        assert bytes(got) == payload


def test_raw_max_size_bounds_each_chunk() -> None:
    sizes: list[int] = []

    def handler(conn: ferrosock.Connection, msg: bytes) -> None:
        sizes.append(len(msg))
        return None

    srv = ferrosock.Server(("127.0.0.1", 0), handler, max_size=100)
    with running(srv), connect(srv) as c:
        c.sendall(b"z" * 10_000)
        wait_for(lambda: sum(sizes) == 10_000, what="all bytes handled")
    assert max(sizes) <= 100


def test_batch_handler_gets_every_message_of_a_read() -> None:
    batches: list[list[bytes]] = []

    def batch(conn: ferrosock.Connection, msgs: list[bytes]) -> list[bytes | None]:
        batches.append(msgs)
        return [m + b"!" if m != b"skip" else None for m in msgs]

    msgs = [b"a", b"skip", b"b", b"c" * 100]
    srv = ferrosock.Server(("127.0.0.1", 0), batch_handler=batch, framing="frame")
    with running(srv), connect(srv) as c:
        c.sendall(b"".join(frame(m) for m in msgs))
        for m in msgs:
            if m != b"skip":
                assert recv_frame(c) == m + b"!"
    assert [m for b in batches for m in b] == msgs
    assert all(isinstance(b, list) for b in batches)
    assert max(len(b) for b in batches) > 1  # one sendall, one read, one call


def test_reply_types_and_conn_send_order() -> None:
    def handler(conn: ferrosock.Connection, msg: bytes) -> object:
        if msg == b"multi":
            conn.send(b"one")
            conn.send(bytearray(b"two"))
            return memoryview(b"three")
        if msg == b"none":
            return None
        return bytearray(msg)

    srv = ferrosock.Server(("127.0.0.1", 0), handler, framing="line")
    with running(srv), connect(srv) as c:
        c.sendall(b"multi\nnone\nlast\n")
        assert recv_exact(c, len(b"one\ntwo\nthree\nlast\n")) == b"one\ntwo\nthree\nlast\n"


@pytest.mark.parametrize("framing", ["frame", "line", "raw"])
def test_messages_are_fresh_bytes_whatever_the_handler_keeps(framing: str) -> None:
    # Equal-length messages: the server may refill the previous message's object when the
    # handler kept no reference to it. Every message must still look brand new: right
    # contents and hash, and messages the handler kept must never change afterwards.
    kept: list[bytes] = []
    views: list[memoryview] = []
    hashes: list[int] = []
    problems: list[str] = []

    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        if type(msg) is not bytes:
            problems.append(f"type {type(msg).__name__}")
        h = hash(msg)
        if h != hash(bytes.fromhex(msg.hex())):
            problems.append(f"stale hash for {msg!r}")
        hashes.append(h)  # an int: keeps nothing alive
        n = int(msg[:4])
        if n % 3 == 0:
            kept.append(msg)
        elif n % 3 == 1:
            views.append(memoryview(msg))
        conn.send(msg)  # copied now, whatever happens to msg later
        return msg

    msgs = [b"%04d" % i + bytes([65 + i % 26]) * 12 for i in range(600)]
    encoded = [frame(m) if framing == "frame" else m + b"\n" for m in msgs]
    wire = b"".join(encoded)
    srv = ferrosock.Server(("127.0.0.1", 0), handler, framing=framing)  # type: ignore[arg-type]
    with running(srv), connect(srv) as c:
        if framing == "raw":
            # One chunk per round trip: each handler call gets exactly one message.
            for m in msgs:
                c.sendall(m)
                assert recv_exact(c, 32) == m + m
        else:
            c.sendall(wire)
            assert recv_exact(c, 2 * len(wire)) == b"".join(2 * e for e in encoded)
    assert not problems, problems[:5]
    assert kept == [m for m in msgs if int(m[:4]) % 3 == 0]
    assert [bytes(v) for v in views] == [m for m in msgs if int(m[:4]) % 3 == 1]
    assert hashes == [hash(m) for m in msgs]


class _Upper:
    def __call__(self, conn: ferrosock.Connection, msg: bytes) -> bytes:
        return msg.upper()

    def method(self, conn: ferrosock.Connection, msg: bytes) -> bytes:
        return msg + b"!"


def _prefixed(prefix: bytes, conn: ferrosock.Connection, msg: bytes) -> bytes:
    return prefix + msg


@pytest.mark.parametrize(
    ("handler", "expect"),
    [
        (lambda conn, msg: msg * 2, b"abab"),  # a plain function
        (_Upper(), b"AB"),  # a callable instance
        (_Upper().method, b"ab!"),  # a bound method
        (functools.partial(_prefixed, b">"), b">ab"),  # a C callable wrapping one
    ],
)
def test_every_kind_of_callable_handler(handler: object, expect: bytes) -> None:
    srv = ferrosock.Server(("127.0.0.1", 0), handler, framing="frame")  # type: ignore[arg-type]
    with running(srv), connect(srv) as c:
        c.sendall(frame(b"ab") * 3)
        assert [recv_frame(c) for _ in range(3)] == [expect] * 3


def test_builtin_handler_that_raises_closes_the_connection(caplog) -> None:
    reported: list[object] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0),
        len,  # type: ignore[arg-type]  # len(conn, msg): TypeError, raised from C
        framing="frame",
        on_disconnect=lambda conn, exc: reported.append(exc),
    )
    with caplog.at_level(logging.ERROR, logger="ferrosock.server"), running(srv):
        with connect(srv) as c:
            c.sendall(frame(b"x"))
            assert recv_until_eof(c) == b""
        wait_for(lambda: reported, what="disconnect report")
    assert isinstance(reported[0], TypeError)
    assert "len()" in str(reported[0])


def test_replies_stay_in_order_under_load() -> None:
    n = 20_000
    srv = ferrosock.Server(("127.0.0.1", 0), echo, framing="frame")
    with running(srv), connect(srv) as c:
        wire = b"".join(frame(str(i).encode()) for i in range(n))
        t = threading.Thread(target=c.sendall, args=(wire,))
        t.start()
        for i in range(n):
            assert recv_frame(c) == str(i).encode()
        t.join(10)


# --- many clients -------------------------------------------------------------------------


def test_many_clients_random_sizes_integrity() -> None:
    clients, per_client = 40, 60
    handled = [0]

    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        handled[0] += 1
        return struct.pack("!Q", conn.id) + msg[::-1]

    srv = ferrosock.Server(("127.0.0.1", 0), handler, framing="frame")
    failures: list[str] = []
    ids: set[int] = set()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with connect(srv) as c:
                my_id = None
                pending: list[bytes] = []
                for _ in range(per_client):
                    m = rng.randbytes(rng.choice([0, 1, 64, 1000, 70_000]))
                    pending.append(m)
                    c.sendall(frame(m))
                    if rng.random() < 0.5:
                        continue
                    for want in pending:
                        got = recv_frame(c)
                        (cid,) = struct.unpack_from("!Q", got)
                        my_id = cid if my_id is None else my_id
                        if cid != my_id or got[8:] != want[::-1]:
                            failures.append(f"client {seed}: bad reply")
                    pending.clear()
                for want in pending:
                    got = recv_frame(c)
                    if got[8:] != want[::-1]:
                        failures.append(f"client {seed}: bad reply")
                ids.add(my_id if my_id is not None else -seed)
        except Exception as e:
            failures.append(f"client {seed}: {e!r}")

    with running(srv):
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        assert not failures, failures[:5]
        wait_for(lambda: srv.connection_count == 0, what="all connections closed")
    assert handled[0] == clients * per_client
    assert len(ids) == clients


# --- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "family",
    [
        "ipv4",
        pytest.param("ipv6", marks=pytest.mark.skipif(not has_ipv6, reason="no IPv6")),
        "unix",
    ],
)
def test_address_families(family: str) -> None:
    seen: dict[str, object] = {}

    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        seen["peer"] = conn.peername
        seen["local"] = conn.sockname
        seen["id"] = conn.id
        return msg

    address: object = {"ipv4": ("127.0.0.1", 0), "ipv6": ("::1", 0), "unix": unix_path()}[family]
    srv = ferrosock.Server(address, handler)
    if family == "unix":
        assert srv.server_address == address
        assert os.path.exists(address)  # type: ignore[arg-type]
    else:
        assert srv.server_address[1] != 0
    with running(srv), connect(srv) as c:
        c.sendall(b"ping")
        assert recv_exact(c, 4) == b"ping"
        assert seen["peer"] == c.getsockname()
        assert seen["local"] == c.getpeername()
        assert type(seen["peer"]) is type(c.getsockname())
        assert seen["id"] == 1
    if family == "unix":
        assert not os.path.exists(address)  # type: ignore[arg-type]


def test_ipv6_four_tuple_and_hostname() -> None:
    with ferrosock.Server(("localhost", 0), echo) as srv:
        assert srv.server_address[0] == "127.0.0.1"
    if has_ipv6:
        with ferrosock.Server(("::1", 0, 0, 0), echo) as srv:
            assert len(srv.server_address) == 4


def test_unix_stale_file_replaced_live_one_refused(tmp_path) -> None:
    path = str(tmp_path / "s.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # leaves the socket file behind, nobody listening
    assert os.path.exists(path)
    with ferrosock.Server(path, echo) as srv:
        with pytest.raises(OSError) as info:
            ferrosock.Server(path, echo)
        assert info.value.errno == 98  # EADDRINUSE
        with running(srv), connect(srv) as c:
            c.sendall(b"x")
            assert recv_exact(c, 1) == b"x"
    assert not os.path.exists(path)
    # A regular file in the way is never deleted.
    with open(path, "w") as f:
        f.write("keep")
    with pytest.raises(OSError):
        ferrosock.Server(path, echo)
    with open(path) as f:
        assert f.read() == "keep"


def test_unix_bytes_path_and_pathlike(tmp_path) -> None:
    for address in (os.fsencode(tmp_path / "b.sock"), tmp_path / "p.sock"):
        with ferrosock.Server(address, echo) as srv:
            with running(srv), connect(srv) as c:
                c.sendall(b"hi")
                assert recv_exact(c, 2) == b"hi"
        assert not os.path.exists(address)


# --- callbacks and errors -----------------------------------------------------------------


def test_on_connect_and_on_disconnect() -> None:
    events: list[tuple[str, int, object]] = []

    def on_connect(conn: ferrosock.Connection) -> None:
        events.append(("connect", conn.id, conn.peername))

    def on_disconnect(conn: ferrosock.Connection, exc: BaseException | None) -> None:
        events.append(("disconnect", conn.id, exc))

    srv = ferrosock.Server(
        ("127.0.0.1", 0), echo, on_connect=on_connect, on_disconnect=on_disconnect
    )
    with running(srv):
        with connect(srv) as c:
            name = c.getsockname()
            c.sendall(b"x")
            assert recv_exact(c, 1) == b"x"
        wait_for(lambda: len(events) == 2, what="disconnect")
    assert events == [("connect", 1, name), ("disconnect", 1, None)]


def test_handler_exception_is_logged_reported_and_isolated(caplog) -> None:
    reported: list[object] = []

    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        if msg == b"boom":
            raise ZeroDivisionError("boom")
        if msg == b"str":
            return "not bytes"  # type: ignore[return-value]
        return msg

    srv = ferrosock.Server(
        ("127.0.0.1", 0),
        handler,
        framing="line",
        on_disconnect=lambda conn, exc: reported.append(exc),
    )
    with caplog.at_level(logging.ERROR, logger="ferrosock.server"), running(srv):
        with connect(srv) as good, connect(srv) as bad:
            good.sendall(b"1\n")
            assert recv_exact(good, 2) == b"1\n"
            bad.sendall(b"ok\nboom\nnever\n")
            assert recv_until_eof(bad) == b"ok\n"  # earlier reply flushed, then closed
            good.sendall(b"2\n")
            assert recv_exact(good, 2) == b"2\n"
            with connect(srv) as bad2:
                bad2.sendall(b"str\n")
                assert recv_until_eof(bad2) == b""
            good.sendall(b"3\n")
            assert recv_exact(good, 2) == b"3\n"
        wait_for(lambda: len(reported) == 3, what="disconnect reports")
    errors = [e for e in reported if e is not None]
    assert any(isinstance(e, ZeroDivisionError) for e in errors)
    assert any(isinstance(e, TypeError) and "str" in str(e) for e in errors)
    records = [r for r in caplog.records if r.name == "ferrosock.server"]
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in records)


def test_on_connect_exception_closes_only_that_connection(caplog) -> None:
    def on_connect(conn: ferrosock.Connection) -> None:
        if conn.id == 1:
            raise RuntimeError("no")

    srv = ferrosock.Server(("127.0.0.1", 0), echo, on_connect=on_connect)
    with caplog.at_level(logging.ERROR, logger="ferrosock.server"), running(srv):
        with connect(srv) as c1:
            assert is_closed_by_peer(c1)
        with connect(srv) as c2:
            c2.sendall(b"ok")
            assert recv_exact(c2, 2) == b"ok"
    assert any("on_connect" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("exc_type", [SystemExit, KeyboardInterrupt])
def test_base_exceptions_propagate_and_close_everything(exc_type: type) -> None:
    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        if msg == b"stop":
            raise exc_type("stop")
        return msg

    disconnects: list[object] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0), handler, on_disconnect=lambda c, e: disconnects.append(e)
    )
    raised: list[BaseException] = []

    def run() -> None:
        try:
            srv.serve_forever()
        except BaseException as e:
            raised.append(e)

    t = threading.Thread(target=run)
    t.start()
    try:
        with connect(srv) as other, connect(srv) as c:
            other.sendall(b"hi")
            assert recv_exact(other, 2) == b"hi"
            c.sendall(b"stop")
            t.join(10)
            assert not t.is_alive()
            assert len(raised) == 1 and isinstance(raised[0], exc_type)
            assert is_closed_by_peer(other)
            assert is_closed_by_peer(c)
        assert len(disconnects) == 2
        assert srv.connection_count == 0
    finally:
        srv.close()


def test_conn_send_from_other_thread_and_close() -> None:
    conns: list[ferrosock.Connection] = []
    got = threading.Event()

    def on_connect(conn: ferrosock.Connection) -> None:
        conns.append(conn)
        got.set()

    srv = ferrosock.Server(("127.0.0.1", 0), echo, framing="frame", on_connect=on_connect)
    with running(srv), connect(srv) as c:
        assert got.wait(10)
        conn = conns[0]

        def pusher() -> None:
            for i in range(1000):
                conn.send(b"push %d" % i)
            conn.close()

        t = threading.Thread(target=pusher)
        t.start()
        for i in range(1000):
            assert recv_frame(c) == b"push %d" % i
        t.join(10)
        assert recv_until_eof(c) == b""
        wait_for(lambda: conn.closed, what="conn.closed")
        with pytest.raises(BrokenPipeError):
            conn.send(b"late")
        assert "closed" in repr(conn)


def test_conn_close_from_handler_flushes_reply_first() -> None:
    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        conn.close()
        conn.close()  # idempotent
        with pytest.raises(BrokenPipeError):
            conn.send(b"after close")
        return b"bye " + msg

    srv = ferrosock.Server(("127.0.0.1", 0), handler, framing="line")
    with running(srv), connect(srv) as c:
        c.sendall(b"a\nb\n")
        assert recv_until_eof(c) == b"bye a\n"


def test_reply_too_long_for_header_is_a_handler_error() -> None:
    errors: list[object] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0),
        lambda conn, msg: b"x" * 300,
        framing="frame",
        header="!B",
        on_disconnect=lambda c, e: errors.append(e),
    )
    with running(srv), connect(srv) as c:
        c.sendall(frame(b"hi", "!B"))
        assert recv_until_eof(c) == b""
        wait_for(lambda: errors, what="report")
    assert isinstance(errors[0], ValueError)


def test_half_close_gets_replies() -> None:
    """A client that sends, shuts down its write side and reads: replies still arrive."""
    srv = ferrosock.Server(("127.0.0.1", 0), echo, framing="frame")
    with running(srv), connect(srv) as c:
        msgs = [os.urandom(n) for n in (1, 100, 100_000)]
        c.sendall(b"".join(frame(m) for m in msgs))
        c.shutdown(socket.SHUT_WR)
        assert recv_until_eof(c) == b"".join(frame(m) for m in msgs)


# --- bad peers ----------------------------------------------------------------------------


def test_oversized_frame_closes_only_that_connection() -> None:
    reasons: list[object] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0),
        echo,
        framing="frame",
        max_size=1024,
        on_disconnect=lambda c, e: reasons.append(e),
    )
    with running(srv), connect(srv) as good, connect(srv) as bad:
        good.sendall(frame(b"a" * 1024))
        assert recv_frame(good) == b"a" * 1024
        # Claims 4 GiB - 1: refused at the header, nothing of that size is allocated.
        bad.sendall(frame(b"ok") + struct.pack("!I", 0xFFFFFFFF) + b"junk")
        assert recv_until_eof(bad) == frame(b"ok")
        good.sendall(frame(b"still here"))
        assert recv_frame(good) == b"still here"
        wait_for(lambda: reasons, what="report")
    assert isinstance(reasons[0], ferrosock.FrameError)
    assert "max_size" in str(reasons[0])


def test_unlimited_max_size_and_a_header_declaring_nearly_2_to_64_bytes() -> None:
    # Found by fuzz/frame_decoder: with max_size near 2**64 the frame's end (header size plus
    # declared length) overflowed and the server panicked. Such a frame is within max_size,
    # so the server waits for the rest of it and keeps serving.
    srv = ferrosock.Server(("127.0.0.1", 0), echo, framing="frame", header="!Q", max_size=2**64 - 1)
    with running(srv), connect(srv) as bad, connect(srv) as good:
        bad.sendall(frame(b"ok", "!Q") + b"\xff" * 8 + b"x")
        assert recv_frame(bad, "!Q") == b"ok"
        good.sendall(frame(b"still here", "!Q"))
        assert recv_frame(good, "!Q") == b"still here"
        assert not is_closed_by_peer(bad, timeout=0.2)


def test_garbage_frames_and_long_lines() -> None:
    for framing, extra in (("frame", {"header": "!Q"}), ("line", {})):
        reasons: list[object] = []
        srv = ferrosock.Server(
            ("127.0.0.1", 0),
            echo,
            framing=framing,  # type: ignore[arg-type]
            max_size=4096,
            on_disconnect=lambda c, e, reasons=reasons: reasons.append(e),
            **extra,
        )
        rng = random.Random(7)
        with running(srv):
            for _ in range(5):
                with connect(srv) as c:
                    junk = bytes(rng.randrange(1, 256) for _ in range(20_000)).replace(b"\n", b"")
                    try:
                        c.sendall(b"\xff" * 8 + junk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    assert is_closed_by_peer(c)
            with connect(srv) as c:  # still serving
                c.sendall(frame(b"ok", "!Q") if framing == "frame" else b"ok\n")
                assert recv_exact(c, 10 if framing == "frame" else 3)
            wait_for(lambda reasons=reasons: len(reasons) >= 5, what="reports")
        assert all(isinstance(r, ValueError) for r in reasons[:5]), reasons


def test_reset_mid_message() -> None:
    reasons: list[object] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0), echo, framing="frame", on_disconnect=lambda c, e: reasons.append(e)
    )
    with running(srv):
        c = connect(srv)
        c.sendall(struct.pack("!I", 1000) + b"partial")
        time.sleep(0.05)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # RST
        # EOF in the middle of a frame, without a reset:
        c2 = connect(srv)
        c2.sendall(struct.pack("!I", 1000) + b"partial")
        c2.close()
        wait_for(lambda: len(reasons) == 2, what="reports")
        with connect(srv) as c3:
            c3.sendall(frame(b"fine"))
            assert recv_frame(c3) == b"fine"
    kinds = {type(r) for r in reasons}
    assert ConnectionResetError in kinds or ferrosock.IncompleteReadError in kinds
    eofs = [r for r in reasons if isinstance(r, ferrosock.IncompleteReadError)]
    assert eofs and isinstance(eofs[-1], EOFError)
    assert eofs[-1].partial == struct.pack("!I", 1000) + b"partial"
    assert eofs[-1].expected == 1004


def test_eof_mid_line_reports_incomplete_read() -> None:
    reasons: list[object] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0), echo, framing="line", on_disconnect=lambda c, e: reasons.append(e)
    )
    with running(srv):
        with connect(srv) as c:
            c.sendall(b"whole\nhalf a li")
            c.shutdown(socket.SHUT_WR)
            assert recv_until_eof(c) == b"whole\n"
        wait_for(lambda: reasons, what="report")
    assert isinstance(reasons[0], ferrosock.IncompleteReadError)
    assert reasons[0].partial == b"half a li" and reasons[0].expected is None


def test_idle_timeout() -> None:
    reasons: list[object] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0), echo, idle_timeout=0.3, on_disconnect=lambda c, e: reasons.append(e)
    )
    with running(srv), connect(srv) as idle, connect(srv) as busy:
        start = time.monotonic()
        for _ in range(8):  # busy talks every 0.1 s and survives
            busy.sendall(b"x")
            assert recv_exact(busy, 1) == b"x"
            time.sleep(0.1)
        assert is_closed_by_peer(idle, timeout=5)
        assert time.monotonic() - start < 5
        busy.sendall(b"y")
        assert recv_exact(busy, 1) == b"y"
        wait_for(lambda: reasons, what="report")
    assert isinstance(reasons[0], TimeoutError)


def test_message_timeout_closes_slow_trickle_only() -> None:
    reasons: list[object] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0),
        echo,
        framing="line",
        message_timeout=0.3,
        on_disconnect=lambda c, e: reasons.append(e),
    )
    with running(srv), connect(srv) as slow, connect(srv) as chatty:
        # `chatty` sends complete lines slowly: never incomplete for long, never closed.
        # `slow` trickles one line a byte at a time: closed after ~0.3 s.
        closed = False
        for i in range(12):
            chatty.sendall(b"%d\n" % i)
            assert recv_exact(chatty, len(b"%d\n" % i)) == b"%d\n" % i
            if not closed:
                try:
                    slow.send(b"z")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
            time.sleep(0.1)
        assert is_closed_by_peer(slow, timeout=5)
        wait_for(lambda: reasons, what="report")
        chatty.sendall(b"alive\n")
        assert recv_exact(chatty, 6) == b"alive\n"
    assert isinstance(reasons[0], TimeoutError)
    assert "message" in str(reasons[0])


def test_max_connections_refuses_extra() -> None:
    srv = ferrosock.Server(("127.0.0.1", 0), echo, max_connections=3)
    with running(srv):
        conns = [connect(srv) for _ in range(3)]
        for c in conns:
            c.sendall(b"k")
            assert recv_exact(c, 1) == b"k"
        extra = connect(srv)
        assert is_closed_by_peer(extra, timeout=5)
        extra.close()
        assert srv.connection_count == 3
        conns.pop().close()
        wait_for(lambda: srv.connection_count == 2, what="a slot")
        with connect(srv) as again:
            again.sendall(b"k")
            assert recv_exact(again, 1) == b"k"
        for c in conns:
            c.close()


def test_backpressure_client_that_never_reads() -> None:
    high = 256 * 1024
    peak = [0]

    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        peak[0] = max(peak[0], conn.buffered)
        return msg

    srv = ferrosock.Server(("127.0.0.1", 0), handler, high_water=high)
    with running(srv), connect(srv) as hog, connect(srv) as other:
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        hog.settimeout(0.05)
        chunk = b"h" * 65536
        sent = 0
        deadline = time.monotonic() + 3
        # Send until the kernel buffers and the server's output queue are full: the server
        # stops reading the hog, so sends eventually block (time out).
        while time.monotonic() < deadline:
            try:
                sent += hog.send(chunk)
            except TimeoutError:
                break
        assert sent < 256 * 1024 * 1024, "the server kept reading a client that never reads"
        # Another client is served meanwhile.
        for i in range(50):
            other.sendall(b"%d" % i)
            assert recv_exact(other, len(b"%d" % i)) == b"%d" % i
        # Server-side buffering stays near high_water (plus at most one read's replies).
        assert peak[0] <= high + 64 * 1024, peak[0]
        # Draining the hog resumes it: everything it sent comes back.
        hog.settimeout(10)
        got = 0
        while got < sent:
            got += len(hog.recv(1 << 20))
        assert got == sent


def test_backpressure_memory_bounded_rss() -> None:
    """RSS growth while a client floods without reading stays far below what it sent."""

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    srv = ferrosock.Server(("127.0.0.1", 0), echo, high_water=1 << 20)
    with running(srv), connect(srv) as hog:
        hog.settimeout(0.2)
        before = rss()
        sent = 0
        chunk = b"m" * (1 << 20)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            try:
                sent += hog.send(chunk)
            except TimeoutError:
                break
        grown = rss() - before
        assert grown < 64 * (1 << 20), (grown, sent)


# --- lifecycle ----------------------------------------------------------------------------


def test_shutdown_from_other_thread_flushes_pending_replies() -> None:
    big = os.urandom(8 << 20)
    handled = threading.Event()

    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        handled.set()
        return big

    srv = ferrosock.Server(("127.0.0.1", 0), handler, framing="line")
    t = threading.Thread(target=srv.serve_forever)
    t.start()
    try:
        with connect(srv) as c:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            c.sendall(b"go\n")
            assert handled.wait(10)
            stopper = threading.Thread(target=srv.shutdown, kwargs={"timeout": 20})
            stopper.start()
            time.sleep(0.1)
            assert stopper.is_alive()  # waiting for the 8 MiB to be read
            data = recv_until_eof(c)
            assert data == big + b"\n"
            stopper.join(10)
            assert not stopper.is_alive()
        t.join(10)
        assert not t.is_alive()
    finally:
        srv.close()


def test_shutdown_timeout_bounds_the_flush() -> None:
    srv = ferrosock.Server(("127.0.0.1", 0), lambda c, m: b"x" * (16 << 20))
    t = threading.Thread(target=srv.serve_forever)
    t.start()
    try:
        with connect(srv) as c:
            c.sendall(b"go")
            time.sleep(0.2)
            t0 = time.monotonic()
            srv.shutdown(timeout=0.3)  # the client never reads
            assert time.monotonic() - t0 < 5
            t.join(5)
            assert not t.is_alive()
    finally:
        srv.close()


def test_shutdown_from_handler_and_serve_again() -> None:
    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        if msg == b"stop":
            srv.shutdown()  # same thread: requests and returns
        return msg

    srv = ferrosock.Server(("127.0.0.1", 0), handler)
    for _ in range(2):
        t = threading.Thread(target=srv.serve_forever)
        t.start()
        with connect(srv) as c:
            c.sendall(b"stop")
            assert recv_until_eof(c) == b"stop"
        t.join(10)
        assert not t.is_alive()
    srv.close()
    assert srv.closed
    with pytest.raises(OSError):
        srv.serve_forever()


def test_shutdown_before_serve_and_double_serve() -> None:
    srv = ferrosock.Server(("127.0.0.1", 0), echo)
    srv.shutdown()  # not serving: returns at once; the next serve_forever returns at once
    srv.serve_forever()
    with running(srv):
        wait_for(lambda: srv._serving is not None, what="serving")
        with pytest.raises(RuntimeError):
            srv.serve_forever()


def test_close_from_handler() -> None:
    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        srv.close()
        return msg

    srv = ferrosock.Server(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever)
    t.start()
    with connect(srv) as c:
        c.sendall(b"bye")
        assert recv_until_eof(c) == b"bye"
    t.join(10)
    assert not t.is_alive()
    assert srv.closed


def test_close_while_serving_from_other_thread() -> None:
    srv = ferrosock.Server(("127.0.0.1", 0), echo)
    t = threading.Thread(target=srv.serve_forever)
    t.start()
    with connect(srv) as c:
        c.sendall(b"x")
        assert recv_exact(c, 1) == b"x"
        srv.close()
        assert is_closed_by_peer(c)
    t.join(10)
    assert not t.is_alive()


def test_context_manager_and_argument_errors() -> None:
    with ferrosock.Server(("127.0.0.1", 0), echo) as srv:
        assert isinstance(srv.server_address, tuple)
        assert "Server" in repr(srv)
    assert srv.closed
    srv.close()  # idempotent
    bad = [
        ({}, TypeError),  # no handler
        ({"framing": "json"}, ValueError),
        ({"header": "!f", "framing": "frame"}, ValueError),
        ({"delimiter": b""}, ValueError),
        ({"delimiter": "\n"}, TypeError),
        ({"max_size": 0}, ValueError),
        ({"max_connections": 0}, ValueError),
        ({"idle_timeout": -1}, ValueError),
        ({"message_timeout": float("nan")}, ValueError),
        ({"high_water": -1}, ValueError),
        ({"on_connect": 3}, TypeError),
    ]
    gc.collect()
    before = open_fds()
    for kwargs, exc in bad:
        handler = None if not kwargs else echo
        with pytest.raises(exc):
            ferrosock.Server(("127.0.0.1", 0), handler, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ferrosock.Server(("127.0.0.1", 0), echo, batch_handler=lambda c, m: None)
    with pytest.raises(TypeError):
        ferrosock.Server(12345, echo)  # type: ignore[arg-type]
    with pytest.raises(OSError):
        ferrosock.Server(("256.0.0.1", 0), echo)
    assert open_fds() == before


def test_reuse_port_and_backlog() -> None:
    with ferrosock.Server(("127.0.0.1", 0), echo, reuse_port=True, backlog=16) as a:
        with ferrosock.Server(a.server_address, echo, reuse_port=True) as b:
            assert b.server_address == a.server_address
        with pytest.raises(OSError):
            ferrosock.Server(a.server_address, echo)


# --- resources ----------------------------------------------------------------------------


def _churn(cycles: int) -> None:
    connects = [0]
    srv = ferrosock.Server(
        ("127.0.0.1", 0),
        echo,
        framing="frame",
        on_connect=lambda c: connects.__setitem__(0, connects[0] + 1),
    )
    with running(srv):
        for i in range(cycles):
            with connect(srv) as c:
                if i % 2:
                    c.sendall(frame(b"c"))
                    assert recv_frame(c) == b"c"
            # Half the clients close without ever sending.
        wait_for(lambda: srv.connection_count == 0, what="all connections closed")
    assert connects[0] == cycles


def test_no_fd_or_thread_leak_across_churn() -> None:
    gc.collect()
    fds = open_fds()
    threads = threading.active_count()
    _churn(5_000)
    gc.collect()
    assert open_fds() == fds
    assert threading.active_count() == threads


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_churn_100k_cycles_no_leak() -> None:
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    _churn(2_000)  # warm up allocator pools
    gc.collect()
    fds, before = open_fds(), rss()
    _churn(100_000)
    gc.collect()
    assert open_fds() == fds
    assert rss() - before < 32 << 20


def test_connection_objects_are_released() -> None:
    import weakref

    refs: list[weakref.ref[ferrosock.Connection]] = []
    srv = ferrosock.Server(("127.0.0.1", 0), echo, on_connect=lambda c: refs.append(weakref.ref(c)))
    with running(srv):
        for _ in range(20):
            with connect(srv) as c:
                c.sendall(b"x")
                recv_exact(c, 1)
        wait_for(lambda: srv.connection_count == 0, what="closed")
    gc.collect()
    assert refs and all(r() is None for r in refs)


def test_chaos_clients_do_not_break_the_server(caplog) -> None:
    """Random misbehaviour from many clients at once: resets, half-closes, junk, oversized
    frames, clients that never read, handlers that raise or close. The server survives,
    keeps serving a well-behaved client, and leaks nothing."""
    rng = random.Random(1234)

    def handler(conn: ferrosock.Connection, msg: bytes) -> bytes | None:
        r = msg[:1]
        if r == b"E":
            raise RuntimeError("chaos")
        if r == b"C":
            conn.close()
        if r == b"S":
            conn.send(msg)
        if r == b"N":
            return None
        return msg * 3

    gc.collect()
    fds = open_fds()
    srv = ferrosock.Server(
        ("127.0.0.1", 0),
        handler,
        framing="frame",
        max_size=50_000,
        high_water=32 * 1024,
        message_timeout=0.5,
        on_disconnect=lambda c, e: None,
    )

    def chaos(seed: int) -> None:
        r = random.Random(seed)
        for _ in range(15):
            try:
                c = connect(srv, timeout=0.3)
            except OSError:
                continue
            try:
                for _ in range(r.randrange(1, 20)):
                    kind = r.random()
                    if kind < 0.5:
                        m = r.choice([b"E", b"C", b"S", b"N", b"X"]) + r.randbytes(
                            r.randrange(2000)
                        )
                        c.sendall(frame(m))
                    elif kind < 0.6:
                        c.sendall(struct.pack("!I", r.randrange(1 << 32)))
                    elif kind < 0.7:
                        c.sendall(frame(b"X" * 40_000)[: r.randrange(40_000)])
                    elif kind < 0.8:
                        c.recv(r.randrange(1, 1 << 16))
                    elif kind < 0.85:
                        c.shutdown(socket.SHUT_WR)
                        break
                    elif kind < 0.9:
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        break
                    else:
                        c.sendall(r.randbytes(r.randrange(100)))
            except OSError:
                pass
            finally:
                c.close()

    with caplog.at_level(logging.CRITICAL, logger="ferrosock.server"), running(srv):
        threads = [threading.Thread(target=chaos, args=(rng.random(),)) for _ in range(12)]
        for t in threads:
            t.start()
        with connect(srv) as good:
            for i in range(200):
                good.sendall(frame(b"X%d" % i))
                assert recv_frame(good) == b"X%d" % i * 3
        for t in threads:
            t.join(30)
        wait_for(lambda: srv.connection_count == 0, what="chaos connections closed")
    gc.collect()
    assert open_fds() == fds


def test_coroutine_handler_outside_asyncio_is_a_clear_error(recwarn) -> None:
    """`ferrosock.Server` runs no event loop: an `async def` handler's coroutine is closed
    unrun (no "never awaited" warning) and its connection gets the error."""
    reported: list[object] = []

    async def handler(conn: ferrosock.Connection, msg: bytes) -> bytes:
        return msg

    srv = ferrosock.Server(
        ("127.0.0.1", 0),
        handler,  # type: ignore[arg-type]
        framing="frame",
        on_disconnect=lambda conn, exc: reported.append(exc),
    )
    with running(srv):
        with connect(srv) as c:
            c.sendall(frame(b"x"))
            assert recv_until_eof(c) == b""
        wait_for(lambda: reported, what="disconnect report")
    assert isinstance(reported[0], TypeError)
    assert "async handlers need ferrosock.asyncio.Server" in str(reported[0])
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
