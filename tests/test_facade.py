"""``import ferrosock as socket`` is a drop-in for the stdlib module."""

from __future__ import annotations

import asyncio
import enum
import pathlib
import re
import select
import selectors
import socket as std
import ssl
import tomllib

import pytest

import ferrosock

# Names ferrosock implements itself (natively, or to hand back ferrosock sockets).
REIMPLEMENTED = {
    "socket",
    "socketpair",
    "fromfd",
    "create_connection",
    "create_server",
    "inet_aton",
    "inet_ntoa",
    "inet_pton",
    "inet_ntop",
    "htons",
    "ntohs",
    "htonl",
    "ntohl",
}

STDLIB_PUBLIC = sorted(name for name in vars(std) if not name.startswith("_"))
# Every name of the running interpreter's module, private helpers included, but not the
# dunders that describe the module itself (`__name__`, `__file__`, `__all__`, ...).
STDLIB_NAMES = sorted(
    name for name in vars(std) if not (name.startswith("__") and name.endswith("__"))
)


def test_the_stdlib_name_list_is_not_trivially_small():
    # Guards the test below against an import mishap that would make it vacuous.
    assert len(STDLIB_PUBLIC) > 300
    assert {"AF_INET", "SOCK_STREAM", "getaddrinfo", "timeout", "SocketKind"} <= set(STDLIB_PUBLIC)
    assert {"_GLOBAL_DEFAULT_TIMEOUT", "_intenum_converter", "_socket"} <= set(STDLIB_NAMES)


@pytest.mark.parametrize("name", STDLIB_NAMES)
def test_every_stdlib_name_is_there(name):
    ours = getattr(ferrosock, name)
    theirs = getattr(std, name)
    if name in REIMPLEMENTED:
        assert callable(ours)
        assert ours is not theirs
    else:
        # Constants, enum members, exception classes, re-exported functions and the
        # private helpers are the very same objects, so identity checks, `except` clauses
        # and code reaching into the module keep working.
        assert ours is theirs


def test_private_names_code_relies_on():
    # The default of create_connection(timeout=...): wrappers pass it through.
    assert ferrosock._GLOBAL_DEFAULT_TIMEOUT is std._GLOBAL_DEFAULT_TIMEOUT
    assert ferrosock.errno.ECONNREFUSED == std.errno.ECONNREFUSED
    # The C module, not ferrosock's own socket class module.
    assert ferrosock._socket is std._socket
    assert ferrosock._intenum_converter is std._intenum_converter


def test_reimplemented_names_are_a_subset_of_the_stdlib():
    assert set(STDLIB_PUBLIC) >= REIMPLEMENTED


def test_all_covers_the_stdlib_all():
    assert set(ferrosock.__all__) >= set(std.__all__)
    for name in ferrosock.__all__:
        assert hasattr(ferrosock, name), name


def test_star_import_gives_the_stdlib_names():
    namespace: dict = {}
    exec("from ferrosock import *", namespace)
    assert namespace["socket"] is ferrosock.socket
    assert namespace["AF_INET"] is std.AF_INET
    assert namespace["timeout"] is std.timeout


def test_exceptions_are_the_stdlib_classes():
    assert ferrosock.error is OSError
    assert ferrosock.gaierror is std.gaierror
    assert ferrosock.herror is std.herror
    assert ferrosock.timeout is std.timeout is TimeoutError


def test_enums_are_the_stdlib_members():
    assert ferrosock.AF_INET is std.AddressFamily.AF_INET
    assert isinstance(ferrosock.AF_INET, enum.IntEnum)
    assert ferrosock.SOCK_DGRAM is std.SocketKind.SOCK_DGRAM
    assert ferrosock.AddressFamily is std.AddressFamily
    assert ferrosock.MsgFlag is std.MsgFlag


def test_version_comes_from_cargo_toml():
    cargo = pathlib.Path(__file__).resolve().parents[1] / "Cargo.toml"
    with cargo.open("rb") as fh:
        version = tomllib.load(fh)["package"]["version"]
    assert ferrosock.__version__ == version
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", ferrosock.__version__)


# --- the socket class -------------------------------------------------------------------


def test_socket_subclasses_the_stdlib_socket(no_fd_leak):
    with ferrosock.socket() as s:
        assert isinstance(s, std.socket)
        assert type(s) is ferrosock.socket
        assert s.family is std.AF_INET
        assert s.type is std.SOCK_STREAM
        assert repr(s).startswith("<ferrosock.socket fd=")
    assert "[closed]" in repr(s)


def test_pickling_is_refused_like_the_stdlib():
    import pickle

    with ferrosock.socket() as s, pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(s)


def _tcp_pair(impl):
    listener = impl.create_server(("127.0.0.1", 0))
    client = impl.create_connection(listener.getsockname(), timeout=5)
    conn, addr = listener.accept()
    return listener, client, conn, addr


def test_accept_and_create_connection_return_ferrosock_sockets(no_fd_leak):
    listener, client, conn, addr = _tcp_pair(ferrosock)
    with listener, client, conn:
        for s in (listener, client, conn):
            assert type(s) is ferrosock.socket
        assert addr == client.getsockname()
        assert client.gettimeout() == 5
        client.sendall(b"ping")
        assert conn.recv(4) == b"ping"


@pytest.mark.parametrize("impl", [std, ferrosock], ids=["stdlib", "ferrosock"])
def test_accept_timeout_inheritance_matches_the_stdlib(impl, no_fd_leak):
    # bpo-7995: with no default timeout, an accepted socket is blocking even when the
    # listener had a timeout.
    with impl.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(3)
        with impl.create_connection(listener.getsockname()) as client:
            conn, _ = listener.accept()
            with conn:
                assert conn.gettimeout() is None
                assert conn.getblocking()
                assert client.gettimeout() is None


def test_dup_fromfd_and_socketpair_return_ferrosock_sockets(no_fd_leak):
    a, b = ferrosock.socketpair()
    with a, b:
        assert type(a) is type(b) is ferrosock.socket
        assert a.family is std.AF_UNIX
        a.settimeout(2.5)
        d = a.dup()
        with d:
            assert type(d) is ferrosock.socket
            assert d.gettimeout() == 2.5
        f = ferrosock.fromfd(b.fileno(), std.AF_UNIX, std.SOCK_STREAM)
        with f:
            assert type(f) is ferrosock.socket
            assert f.fileno() != b.fileno()
            a.sendall(b"x")
            assert f.recv(1) == b"x"


def test_socketpair_arguments_match_the_stdlib(no_fd_leak):
    a, b = ferrosock.socketpair(std.AF_UNIX, std.SOCK_DGRAM)
    with a, b:
        assert a.type is std.SOCK_DGRAM
        a.send(b"datagram")
        assert b.recv(100) == b"datagram"
    with pytest.raises(OSError) as ours:
        ferrosock.socketpair(std.AF_INET6, std.SOCK_STREAM)
    with pytest.raises(OSError) as theirs:
        std.socketpair(std.AF_INET6, std.SOCK_STREAM)
    assert type(ours.value) is type(theirs.value)
    assert ours.value.errno == theirs.value.errno


def test_create_connection_errors_match_the_stdlib(no_fd_leak):
    with std.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
    with pytest.raises(ConnectionRefusedError) as ours:
        ferrosock.create_connection(("127.0.0.1", port))
    with pytest.raises(ConnectionRefusedError) as theirs:
        std.create_connection(("127.0.0.1", port))
    assert ours.value.errno == theirs.value.errno


def test_select_and_selectors_accept_ferrosock_sockets(no_fd_leak):
    a, b = ferrosock.socketpair()
    with a, b:
        b.sendall(b"ready")
        readable, _, _ = select.select([a], [], [], 5)
        assert readable == [a]
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ, data="a")
            events = sel.select(timeout=5)
            assert [(key.fileobj, key.data) for key, _ in events] == [(a, "a")]


def test_ssl_wraps_ferrosock_sockets(no_fd_leak):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with ferrosock.socket() as raw:
        wrapped = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        with wrapped:
            assert isinstance(wrapped, ssl.SSLSocket)
            assert wrapped.family is std.AF_INET


def test_asyncio_uses_ferrosock_sockets(no_fd_leak):
    async def main():
        loop = asyncio.get_running_loop()
        listener = ferrosock.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        client = ferrosock.socket()
        client.setblocking(False)
        with listener, client:
            await loop.sock_connect(client, listener.getsockname())
            conn, _ = await loop.sock_accept(listener)
            with conn:
                await loop.sock_sendall(client, b"hello")
                assert await loop.sock_recv(conn, 5) == b"hello"

        async def echo(reader, writer):
            writer.write(await reader.readexactly(4))
            await writer.drain()
            writer.close()

        listening = ferrosock.create_server(("127.0.0.1", 0))
        server = await asyncio.start_server(echo, sock=listening)
        async with server:
            assert server.sockets[0].fileno() == listening.fileno()
            reader, writer = await asyncio.open_connection(*listening.getsockname())
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            writer.close()
            await writer.wait_closed()

    asyncio.run(main())


def test_name_resolution_is_the_stdlib_function():
    assert ferrosock.getaddrinfo is std.getaddrinfo
    assert ferrosock.gethostbyname("localhost") == std.gethostbyname("localhost")
    with pytest.raises(ferrosock.gaierror):
        ferrosock.getaddrinfo("nosuchname.invalid", 80)


@pytest.mark.parametrize("name", ["create_connection", "create_server", "socketpair", "fromfd"])
def test_wrapped_functions_keep_the_stdlib_signature(name):
    import inspect

    def shape(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert shape(getattr(ferrosock, name)) == shape(getattr(std, name))
