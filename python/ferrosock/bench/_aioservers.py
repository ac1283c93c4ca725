"""Servers for the asyncio server benchmark, run by :mod:`ferrosock.bench._servers` for the
kinds ``aio:SERVER:LOOP:HANDLER``.

- SERVER: ``ferrosock`` (``ferrosock.asyncio.Server(framing='frame')``), ``ferrosock16``
  (the same with ``pipeline=16``: up to 16 handlers of a connection at once), ``streams``
  (``asyncio.start_server``: ``readexactly`` the header and the payload, ``write``,
  ``drain``), ``consumer`` (an ``asyncio.Protocol`` that cuts frames and queues them for
  one consumer task per connection, which awaits the handler and writes its reply).
- LOOP: ``asyncio`` (the default loop) or ``uvloop``.
- HANDLER: ``async`` (``async def`` returning at once), ``sleep0`` (``async def`` that
  awaits ``asyncio.sleep(0)`` once), ``plain`` (a plain function; ``ferrosock`` only).

Every server answers each ``'!I'`` frame with the handler's reply, which is
:func:`ferrosock.bench._servers.echo` of the message.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ferrosock.bench._servers import HEADER, MAX_FRAME, _address_of, _ready, _spec_address, echo

SERVERS = ("ferrosock", "ferrosock16", "streams", "consumer")
LOOPS = ("asyncio", "uvloop")
HANDLERS = ("async", "sleep0", "plain")


async def handle_async(message: bytes) -> bytes:
    return echo(message)


async def handle_sleep0(message: bytes) -> bytes:
    await asyncio.sleep(0)
    return echo(message)


def _handler(name: str) -> Callable[[bytes], Awaitable[bytes]]:
    return {"async": handle_async, "sleep0": handle_sleep0}[name]


# --- asyncio streams --------------------------------------------------------------------


def _streams_callback(handle: Callable[[bytes], Awaitable[bytes]]) -> Any:
    unpack, pack = HEADER.unpack, HEADER.pack

    async def client_connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                (length,) = unpack(await reader.readexactly(4))
                if length > MAX_FRAME:
                    return
                reply = await handle(await reader.readexactly(length))
                writer.write(pack(len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return client_connected


# --- Protocol + consumer task -----------------------------------------------------------


def _consumer_protocol(handle: Callable[[bytes], Awaitable[bytes]]) -> Any:
    unpack_from, pack = HEADER.unpack_from, HEADER.pack

    class ConsumerProtocol(asyncio.Protocol):
        """Frames are cut in ``data_received`` and queued; one task per connection awaits
        the handler for each, in order, and writes the replies."""

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buf = bytearray()
            self.queue: deque[bytes] = deque()
            self.waiter: asyncio.Future[None] | None = None
            self.closed = False
            self.task = asyncio.get_running_loop().create_task(self.consume())

        def data_received(self, data: bytes) -> None:
            buf = self.buf
            buf += data
            pos, n = 0, len(buf)
            while n - pos >= 4:
                (length,) = unpack_from(buf, pos)
                if length > MAX_FRAME:
                    self.transport.close()
                    return
                end = pos + 4 + length
                if end > n:
                    break
                self.queue.append(bytes(buf[pos + 4 : end]))
                pos = end
            if pos:
                del buf[:pos]
                self._wake()

        def connection_lost(self, exc: BaseException | None) -> None:
            self.closed = True
            self._wake()

        def _wake(self) -> None:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)

        async def consume(self) -> None:
            loop = asyncio.get_running_loop()
            queue, write = self.queue, self.transport.write
            while True:
                while not queue:
                    if self.closed:
                        return
                    self.waiter = loop.create_future()
                    await self.waiter
                reply = await handle(queue.popleft())
                write(pack(len(reply)) + reply)

    return ConsumerProtocol


# --- running ----------------------------------------------------------------------------


def serve(kind: str, spec: str) -> None:
    """Serves the ``aio:SERVER:LOOP:HANDLER`` kind on ``spec`` until SIGTERM/SIGINT."""
    try:
        _, server, loop_name, handler = kind.split(":")
    except ValueError:
        raise SystemExit(f"unknown kind {kind!r}: aio:SERVER:LOOP:HANDLER") from None
    if server not in SERVERS or loop_name not in LOOPS or handler not in HANDLERS:
        raise SystemExit(f"unknown kind {kind!r}")
    if handler == "plain" and not server.startswith("ferrosock"):
        raise SystemExit("only the ferrosock server takes a plain handler")
    if loop_name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_main(server, handler, spec))
    finally:
        loop.close()


async def _main(server: str, handler: str, spec: str) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    family, address = _spec_address(spec)
    srv: Any
    if server.startswith("ferrosock"):
        import ferrosock.asyncio

        if handler == "plain":

            def on_message(conn: Any, message: bytes) -> bytes:
                return echo(message)

        else:
            handle = _handler(handler)

            async def on_message(conn: Any, message: bytes) -> bytes:  # type: ignore[misc]
                return await handle(message)

        pipeline = 16 if server == "ferrosock16" else 1
        srv = ferrosock.asyncio.Server(
            address, on_message, framing="frame", backlog=1024, pipeline=pipeline
        )
        await srv.start_serving()
        where = _address_of(srv.server_address)
    else:
        handle = _handler(handler)
        if family == socket.AF_UNIX:
            raise SystemExit("the asyncio benchmark servers serve TCP only")
        if server == "streams":
            srv = await asyncio.start_server(
                _streams_callback(handle), *address, backlog=1024, reuse_address=True
            )
        else:
            srv = await loop.create_server(
                _consumer_protocol(handle), *address, backlog=1024, reuse_address=True
            )
        where = list(srv.sockets[0].getsockname()[:2])
    _ready(where)
    try:
        await stop
    finally:
        srv.close()
        if server.startswith("ferrosock"):
            await srv.wait_closed()
