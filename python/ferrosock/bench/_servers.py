"""Echo servers the server benchmark compares, one per process.

``python -m ferrosock.bench._servers KIND --framing {frame,raw} --bind {tcp4,tcp6,unix:PATH}``
binds (port 0 for TCP), prints ``READY <json address>`` on stdout, and serves until SIGTERM
or SIGINT. Every kind does the same per-message work in Python: ``handle(message)``
(:func:`echo`) is called once per complete message (``frame``: a ``'!I'``-length-prefixed
frame; ``raw``: whatever one read returned) and its return value is sent back (framed again
in ``frame`` mode). The exception is ``native-echo``, the Rust ceiling reference, which
runs no Python per message at all.

The decoders are the straightforward, reasonably tuned code people write today: one
``bytearray`` per connection, ``struct.unpack_from`` on it, replies from one read batched into
one write.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import socketserver
import struct
import sys
from collections.abc import Callable
from typing import Any, Literal

HEADER = struct.Struct("!I")
MAX_FRAME = 16 * 1024 * 1024
# socketserver's default backlog of 5 makes the 32 connections of a run queue up in SYN
# retries (1 s each); a listen backlog is server setup, not per-message work.
BACKLOG = 1024


def echo(message: bytes) -> bytes:
    """The per-message Python handler: returns the message."""
    return message


def decode_frames(buf: bytearray, handle: Callable[[bytes], bytes | None]) -> bytes | None:
    """Calls ``handle`` for each complete frame at the start of ``buf``, removes them from it,
    and returns the framed replies as one ``bytes`` (None if none). Raises ValueError for
    a frame over ``MAX_FRAME``."""
    out = []
    pos = 0
    n = len(buf)
    unpack_from, pack = HEADER.unpack_from, HEADER.pack
    while n - pos >= 4:
        (length,) = unpack_from(buf, pos)
        if length > MAX_FRAME:
            raise ValueError(f"frame of {length} bytes exceeds {MAX_FRAME}")
        end = pos + 4 + length
        if end > n:
            break
        reply = handle(bytes(buf[pos + 4 : end]))
        if reply is not None:
            out.append(pack(len(reply)))
            out.append(reply)
        pos = end
    if pos:
        del buf[:pos]
    return b"".join(out) if out else None


def _spec_address(spec: str) -> tuple[int, Any]:
    """``--bind`` value -> (family, address to bind, port 0 for TCP)."""
    if spec == "tcp4":
        return socket.AF_INET, ("127.0.0.1", 0)
    if spec == "tcp6":
        return socket.AF_INET6, ("::1", 0)
    if spec.startswith("unix:"):
        path = spec[5:]
        if os.path.exists(path):
            os.unlink(path)
        return socket.AF_UNIX, path
    raise SystemExit(f"unknown --bind {spec!r}")


def _bind(spec: str) -> socket.socket:
    family, address = _spec_address(spec)
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family != socket.AF_UNIX:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(BACKLOG)
    return sock


def _address(sock: socket.socket) -> object:
    name = sock.getsockname()
    return name[:2] if isinstance(name, tuple) else name


def _ready(address: object) -> None:
    print("READY", json.dumps(address), flush=True)


def _nodelay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# --- asyncio / uvloop -----------------------------------------------------------------


def _protocol_class(framing: str):
    import asyncio

    class FrameProtocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.buf = bytearray()

        def data_received(self, data):
            buf = self.buf
            buf += data
            try:
                out = decode_frames(buf, echo)
            except ValueError:
                self.transport.close()
                return
            if out is not None:
                self.transport.write(out)

    class RawProtocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            reply = echo(data)
            if reply is not None:
                self.transport.write(reply)

    return FrameProtocol if framing == "frame" else RawProtocol


def serve_asyncio(sock: socket.socket, framing: str, use_uvloop: bool) -> None:
    import asyncio

    loop: asyncio.AbstractEventLoop
    if use_uvloop:
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    protocol = _protocol_class(framing)
    # asyncio and uvloop turn TCP_NODELAY on for the transports they create.
    server = loop.run_until_complete(loop.create_server(protocol, sock=sock))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    _ready(_address(sock))
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()


# --- stdlib selectors -----------------------------------------------------------------


def serve_selectors(sock: socket.socket, framing: str) -> None:
    sel = selectors.DefaultSelector()
    sock.setblocking(False)
    stop = []

    def on_signal(*_):
        stop.append(True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    class Conn:
        __slots__ = ("buf", "out", "sock")

        def __init__(self, s):
            self.sock = s
            self.buf = bytearray()
            self.out = bytearray()

    def close(conn):
        sel.unregister(conn.sock)
        conn.sock.close()

    def send(conn, data):
        if conn.out:
            conn.out += data
            return
        try:
            n = conn.sock.send(data)
        except BlockingIOError:
            n = 0
        if n < len(data):
            conn.out += data[n:]
            sel.modify(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)

    sel.register(sock, selectors.EVENT_READ, None)
    _ready(_address(sock))
    while not stop:
        for key, events in sel.select(0.5):
            conn = key.data
            if conn is None:
                try:
                    s, _ = sock.accept()
                except BlockingIOError:
                    continue
                s.setblocking(False)
                _nodelay(s)
                sel.register(s, selectors.EVENT_READ, Conn(s))
                continue
            if events & selectors.EVENT_WRITE:
                try:
                    n = conn.sock.send(conn.out)
                except BlockingIOError:
                    n = 0
                except OSError:
                    close(conn)
                    continue
                del conn.out[:n]
                if not conn.out:
                    sel.modify(conn.sock, selectors.EVENT_READ, conn)
            if events & selectors.EVENT_READ:
                try:
                    data = conn.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    close(conn)
                    continue
                if framing == "frame":
                    conn.buf += data
                    try:
                        out = decode_frames(conn.buf, echo)
                    except ValueError:
                        close(conn)
                        continue
                else:
                    out = echo(data)
                if out:
                    try:
                        send(conn, out)
                    except OSError:
                        close(conn)
    sel.close()


# --- socketserver ---------------------------------------------------------------------


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            return b""
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class FrameHandler(socketserver.BaseRequestHandler):
    """Reads ``'!I'`` frames with ``recv`` and answers each with ``sendall``."""

    def handle(self):
        sock = self.request
        _nodelay(sock)
        unpack, pack = HEADER.unpack, HEADER.pack
        while True:
            header = _recv_exactly(sock, 4)
            if not header:
                return
            (length,) = unpack(header)
            if length > MAX_FRAME:
                return
            message = _recv_exactly(sock, length) if length else b""
            if length and not message:
                return
            reply = echo(message)
            if reply is not None:
                sock.sendall(pack(len(reply)) + reply)


class NativeFrameHandler(socketserver.BaseRequestHandler):
    """The same handler on ``ferrosock.socketserver``, whose requests are
    ``ferrosock.socket`` objects: frames read and written by the native loops."""

    def handle(self):
        import ferrosock

        sock = self.request
        _nodelay(sock)
        recv_frame, send_frame = sock.recv_frame, sock.send_frame
        while True:
            try:
                message = recv_frame(max_size=MAX_FRAME)
            except ferrosock.IncompleteReadError:
                return
            reply = echo(message)
            if reply is not None:
                send_frame(reply)


class RawHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        _nodelay(sock)
        while True:
            data = sock.recv(65536)
            if not data:
                return
            reply = echo(data)
            if reply is not None:
                sock.sendall(reply)


def serve_socketserver(spec: str, framing: str, module) -> None:
    import ferrosock

    handler: Any = RawHandler
    if framing == "frame":
        # ferrosock.socketserver hands out ferrosock sockets: use their framing loops.
        native = module is not socketserver and hasattr(ferrosock.socket, "recv_frame")
        handler = NativeFrameHandler if native else FrameHandler
    family, address = _spec_address(spec)
    base = (
        module.ThreadingUnixStreamServer if family == socket.AF_UNIX else module.ThreadingTCPServer
    )
    settings = {
        "address_family": family,
        "allow_reuse_address": True,
        "request_queue_size": BACKLOG,
        "daemon_threads": True,
        "block_on_close": False,
    }
    server = type("Server", (base,), settings)(address, handler)

    def on_signal(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    _ready(_address(server.socket))
    try:
        server.serve_forever(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# --- ferrosock ------------------------------------------------------------------------


def serve_ferrosock(
    spec: str, framing: Literal["frame", "raw"], workers: int = 1, balance: str | None = None
) -> None:
    import ferrosock

    _, address = _spec_address(spec)

    def handler(conn, message):
        return echo(message)

    server = ferrosock.Server(
        address,
        handler,
        framing=framing,
        workers=workers,
        balance=balance,  # type: ignore[arg-type]
    )

    def on_signal(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    _ready(_address_of(server.server_address))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _address_of(address: object) -> object:
    if isinstance(address, tuple):
        return list(address[:2])
    if isinstance(address, bytes):
        return os.fsdecode(address)
    return address


def serve_native_echo(spec: str) -> None:
    from ferrosock._native import NativeEchoServer

    _, address = _spec_address(spec)
    server = NativeEchoServer(address)

    def on_signal(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    _ready(_address_of(server.server_address))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


KINDS = (
    "native-echo",
    "ferrosock",
    "asyncio",
    "uvloop",
    "selectors",
    "socketserver",
    "ferrosock-socketserver",
)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", help=f"one of {', '.join(KINDS)}, or aio:SERVER:LOOP:HANDLER")
    p.add_argument("--framing", choices=("frame", "raw"), default="frame")
    p.add_argument("--bind", default="tcp4", help="tcp4, tcp6 or unix:PATH")
    p.add_argument("--workers", type=int, default=1, help="worker processes (ferrosock only)")
    p.add_argument("--balance", choices=("reuseport", "shared"), default=None)
    args = p.parse_args(argv)
    kind, spec = args.kind, args.bind
    if kind.startswith("aio:"):
        from ferrosock.bench._aioservers import serve

        serve(kind, spec)
        return
    if kind not in KINDS:
        p.error(f"unknown kind {kind!r}")
    framing: Literal["frame", "raw"] = "frame" if args.framing == "frame" else "raw"
    if kind == "native-echo":
        serve_native_echo(spec)
    elif kind == "ferrosock":
        serve_ferrosock(spec, framing, args.workers, args.balance)
    elif kind in ("asyncio", "uvloop"):
        serve_asyncio(_bind(spec), framing, use_uvloop=kind == "uvloop")
    elif kind == "selectors":
        serve_selectors(_bind(spec), framing)
    elif kind == "socketserver":
        serve_socketserver(spec, framing, socketserver)
    else:
        import ferrosock.socketserver

        serve_socketserver(spec, framing, ferrosock.socketserver)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
