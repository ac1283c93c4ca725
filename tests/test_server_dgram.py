"""ferrosock.DatagramServer over UDP (IPv4/IPv6) and Unix datagram sockets."""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading

import pytest

import ferrosock
from tests._server_util import has_ipv6, open_fds, running, unix_path, wait_for

pytestmark = pytest.mark.timeout(60)


def _client(srv: ferrosock.DatagramServer, tmp: str | None = None) -> socket.socket:
    addr = srv.server_address
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if tmp is not None:
            s.bind(tmp)  # a Unix datagram client needs an address to get replies
    elif len(addr) == 4:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(10)
    return s


@pytest.mark.parametrize(
    "family",
    [
        "ipv4",
        pytest.param("ipv6", marks=pytest.mark.skipif(not has_ipv6, reason="no IPv6")),
        "unix",
    ],
)
def test_datagram_echo_and_addresses(family: str, tmp_path) -> None:
    seen: list[object] = []

    def handler(msg: bytes, address: object) -> bytes:
        seen.append(address)
        return msg[::-1]

    address: object = {"ipv4": ("127.0.0.1", 0), "ipv6": ("::1", 0), "unix": unix_path()}[family]
    srv = ferrosock.DatagramServer(address, handler)
    with running(srv):
        c = _client(srv, str(tmp_path / "client.sock"))
        with c:
            for m in (b"hello", b"", os.urandom(60_000)):
                c.sendto(m, srv.server_address)
                data, frm = c.recvfrom(65536)
                assert data == m[::-1]
                assert frm == srv.server_address
            mine = c.getsockname()
            assert type(seen[0]) is type(mine)
            if family == "unix":
                assert seen[0] == mine
            else:  # the client is bound to the wildcard address; the server sees loopback
                assert seen[0][1] == mine[1]  # type: ignore[index]
                assert seen[0][0] in ("127.0.0.1", "::1")  # type: ignore[index]
    if family == "unix":
        assert not os.path.exists(address)  # type: ignore[arg-type]


def test_many_datagrams_integrity_and_batching() -> None:
    n = 20_000
    count = [0]

    def handler(msg: bytes, address: object) -> bytes:
        count[0] += 1
        return msg

    srv = ferrosock.DatagramServer(("127.0.0.1", 0), handler)
    with running(srv):
        c = _client(srv)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        with c:
            got: set[int] = set()
            window = 64
            for start in range(0, n, window):
                # A window of datagrams in flight (kept small enough that loopback buffers
                # never overflow: UDP may drop what does not fit).
                stop = min(start + window, n)
                for i in range(start, stop):
                    c.sendto(i.to_bytes(4, "big") * 16, srv.server_address)
                for _ in range(start, stop):
                    data = c.recv(100)
                    assert data == data[:4] * 16
                    got.add(int.from_bytes(data[:4], "big"))
            assert got == set(range(n))
    assert count[0] == n


def test_handler_errors_logged_server_continues(caplog) -> None:
    def handler(msg: bytes, address: object) -> object:
        if msg == b"boom":
            raise ValueError("boom")
        if msg == b"bad":
            return 42
        if msg == b"none":
            return None
        return msg

    srv = ferrosock.DatagramServer(("127.0.0.1", 0), handler)
    with caplog.at_level(logging.ERROR, logger="ferrosock.server"), running(srv):
        with _client(srv) as c:
            for m in (b"boom", b"bad", b"none"):
                c.sendto(m, srv.server_address)
            c.sendto(b"ok", srv.server_address)
            assert c.recv(10) == b"ok"
    msgs = [r.getMessage() for r in caplog.records if r.name == "ferrosock.server"]
    assert any("raised" in m for m in msgs)
    assert any("invalid reply" in m for m in msgs)


def test_oversized_datagram_dropped_not_truncated(caplog) -> None:
    got: list[bytes] = []

    def handler(msg: bytes, address: object) -> bytes:
        got.append(msg)
        return msg

    srv = ferrosock.DatagramServer(("127.0.0.1", 0), handler, max_size=100)
    with caplog.at_level(logging.WARNING, logger="ferrosock.server"), running(srv):
        with _client(srv) as c:
            c.sendto(b"x" * 101, srv.server_address)
            c.sendto(b"y" * 100, srv.server_address)
            assert c.recv(1000) == b"y" * 100
            wait_for(lambda: srv.dropped == 1, what="drop count")
    assert got == [b"y" * 100]
    assert any("max_size" in r.getMessage() for r in caplog.records)


def test_base_exception_propagates() -> None:
    def handler(msg: bytes, address: object) -> bytes:
        raise SystemExit(3)

    srv = ferrosock.DatagramServer(("127.0.0.1", 0), handler)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            srv.serve_forever()
        except BaseException as e:
            raised.append(e)

    t = threading.Thread(target=run)
    t.start()
    with _client(srv) as c:
        c.sendto(b"x", srv.server_address)
        t.join(10)
    assert not t.is_alive()
    assert isinstance(raised[0], SystemExit)
    srv.close()


def test_datagram_lifecycle_and_fds() -> None:
    gc.collect()  # earlier tests' garbage may still hold sockets
    fds = open_fds()
    threads = threading.active_count()
    for _ in range(20):
        srv = ferrosock.DatagramServer(("127.0.0.1", 0), lambda m, a: m)
        with running(srv), _client(srv) as c:
            c.sendto(b"a", srv.server_address)
            assert c.recv(10) == b"a"
    gc.collect()
    assert open_fds() == fds
    assert threading.active_count() == threads
    with pytest.raises(ValueError):
        ferrosock.DatagramServer(("127.0.0.1", 0), lambda m, a: m, batch_size=0)
    with pytest.raises(TypeError):
        ferrosock.DatagramServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    assert open_fds() == fds


def test_unix_datagram_from_unbound_client(tmp_path) -> None:
    """The handler sees what the stdlib's recvfrom reports; the reply has nowhere to go."""
    path = str(tmp_path / "srv.sock")
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ref,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c,
    ):
        ref.bind(str(tmp_path / "ref.sock"))
        c.sendto(b"x", str(tmp_path / "ref.sock"))
        expected = ref.recvfrom(10)[1]
    seen: list[object] = []
    srv = ferrosock.DatagramServer(path, lambda m, a: seen.append(a) or m)
    with running(srv), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
        c.sendto(b"hi", path)
        wait_for(lambda: seen, what="datagram")
    assert seen == [expected]


def test_coroutine_handler_outside_asyncio_is_a_clear_error(caplog, recwarn) -> None:
    """As for `ferrosock.Server`: the coroutine is closed unrun and the error logged; the
    server goes on."""

    async def handler(msg: bytes, address: object) -> bytes:
        return msg

    srv = ferrosock.DatagramServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="ferrosock.server"), running(srv):
        with _client(srv) as c:
            c.sendto(b"a", srv.server_address)
            c.sendto(b"b", srv.server_address)
            wait_for(lambda: len(caplog.records) >= 2, what="two error reports")
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert len(errors) == 2
    assert all(isinstance(e, TypeError) for e in errors)
    assert all("async handlers need ferrosock.asyncio.Server" in str(e) for e in errors)
    del errors
    caplog.clear()
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
