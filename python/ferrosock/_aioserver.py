"""``ferrosock.asyncio.Server``: the native stream server, run by a running asyncio loop.

The Rust loop does not block here: its epoll descriptor is watched by the asyncio loop
(``loop.add_reader``), and each readiness runs one non-blocking step of it -- accept, read,
cut messages, call the handlers, write the replies -- in the event loop's own thread. Its
timers (``idle_timeout``, ``message_timeout``, the shutdown deadline) are one
``loop.call_at``, re-armed when the next deadline moves earlier.

A handler may be a plain function (the native fast path of ``ferrosock.Server``) or
``async def``. A coroutine is run from Rust right away; one that finishes without
suspending costs no task and no future. One that suspends goes on as an asyncio task, and
the connection's next messages wait for it (``pipeline=N`` lets N run at once); replies
always leave in request order.
"""

from __future__ import annotations

import asyncio
import socket as _std
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeAlias

from ferrosock._native import Connection, DatagramServerCore, StreamServerCore
from ferrosock.server import (
    Address,
    BatchHandler,
    MiB,
    Reply,
    _bind,
    _check_callable,
    _check_int,
    _stream_options,
    _UnixPath,
)

__all__ = ["DatagramServer", "Server"]

AsyncHandler: TypeAlias = "Callable[[Connection, bytes], Reply | Awaitable[Reply]]"

#: How long ``close()`` lets queued replies drain before connections are dropped.
SHUTDOWN_TIMEOUT = 5.0

# asyncio.Server's methods differ between interpreters: 3.13 added close_clients() and
# abort_clients(). Decided once, from the running interpreter.
_HAS_CLOSE_CLIENTS = hasattr(asyncio.Server, "close_clients")


class _LoopDriver:
    """Runs a native server core from an asyncio loop: its reader, its timer, its end."""

    __slots__ = (
        "_core",
        "_fd",
        "_loop",
        "_on_finish",
        "_timer",
        "_timer_when",
        "finished",
        "standby",
    )

    def __init__(self, core: Any, loop: asyncio.AbstractEventLoop, on_finish: Callable[[], None]):
        self._core = core
        self._loop = loop
        self._on_finish = on_finish
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self.finished = False
        #: The task that stood by for coroutine callbacks, ending once the core detached.
        self.standby: asyncio.Task[None] | None = None
        core.attach(loop, self.step)
        try:
            core.start()
            self._fd = core.epoll_fd
            loop.add_reader(self._fd, self.step)
        except BaseException:
            core.detach()
            raise

    def step(self) -> None:
        if self.finished:
            return
        try:
            timeout = self._core.step()
        except BaseException:
            self.finish()
            raise
        if timeout < 0:
            self.finish()
        elif timeout != float("inf"):
            when = self._loop.time() + timeout
            timer = self._timer
            if timer is not None and not timer.cancelled() and self._timer_when <= when:
                return  # an earlier wake-up is already due; it re-arms
            if timer is not None:
                timer.cancel()
            self._timer_when = when
            self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.step()

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._loop.remove_reader(self._fd)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.standby = self._core.detach()
        self._core = None
        self._on_finish()


class _AioServerBase:
    """The ``asyncio.Server`` life cycle both servers share, over a native core."""

    _core: Any
    _sock: _std.socket | None
    _unix: _UnixPath | None
    server_address: Any

    def _setup(self, sock: _std.socket, unix: _UnixPath | None) -> None:
        self._sock = sock
        self._unix = unix
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._driver: _LoopDriver | None = None
        self._serving = False
        self._closed = False
        self._serving_forever_fut: asyncio.Future[None] | None = None
        # Futures of wait_closed() callers; None once everything is released.
        self._waiters: list[asyncio.Future[None]] | None = []
        self._leftover: list[asyncio.Task[Any]] = []

    # --- asyncio.Server ----------------------------------------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs in (the one running when it was made or started)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening socket (as ``asyncio.Server.sockets`` gives it); empty once closed."""
        if self._sock is None or self._closed:
            return ()
        from asyncio import trsock

        return (trsock.TransportSocket(self._sock),)

    def _start_serving(self) -> None:
        if self._serving:
            return
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        running = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = running
        elif self._loop is not running:
            raise RuntimeError(f"server {self!r} belongs to another event loop")
        if self._driver is None:
            self._driver = _LoopDriver(self._core, running, self._release)
        self._serving = True

    async def start_serving(self) -> None:
        """Starts accepting connections (a no-op when serving)."""
        self._start_serving()
        # As asyncio.Server does: one loop iteration, so the reader is in place.
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        """Serves until cancelled (then closes the server and waits for that) or ``close()``."""
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self.get_loop().create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    def close(self) -> None:
        """Stops accepting, cancels running handlers, flushes the replies already made
        (at most ``SHUTDOWN_TIMEOUT`` s) and closes every connection. Returns at once;
        ``wait_closed()`` waits for the end."""
        if self._closed:
            return
        self._closed = True
        self._serving = False
        fut = self._serving_forever_fut
        if fut is not None and not fut.done():
            fut.cancel()
            self._serving_forever_fut = None
        if self._sock is not None:
            self._sock.close()
        if self._driver is not None and not self._driver.finished:
            # The loop finishes the shutdown in its own steps, then calls _release.
            self._core.request_shutdown(SHUTDOWN_TIMEOUT)
        else:
            self._release()

    async def wait_closed(self) -> None:
        """Waits until the server is closed, every connection is closed, and every task it
        started (handlers, ``on_connect``/``on_disconnect`` coroutines) has finished.

        As on Python 3.12.1 and later on every version: waits while the server is open.
        """
        if self._waiters is not None:
            waiter = self.get_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        pending = [t for t in self._leftover if not t.done()]
        if pending:
            await asyncio.wait(pending)
        self._leftover = []

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    # --- ferrosock ---------------------------------------------------------------------

    def _release(self) -> None:
        """Everything is closed: drop the core, wake wait_closed()."""
        core, self._core = self._core, None
        if core is not None:
            self._leftover = list(core.tasks())
            core.close()
        if self._driver is not None and self._driver.standby is not None:
            self._leftover.append(self._driver.standby)
            self._driver.standby = None
        if self._sock is not None:
            self._sock.close()
        if self._unix is not None:
            self._unix.remove()
            self._unix = None
        self._closed = True
        self._serving = False
        fut = self._serving_forever_fut
        if fut is not None and not fut.done():
            fut.cancel()
        waiters, self._waiters = self._waiters, None
        for w in waiters or ():
            if not w.done():
                w.set_result(None)

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} sockets={self.sockets!r}>"


class Server(_AioServerBase):
    """A stream server (TCP or Unix) run by the running asyncio loop, with the methods of
    ``asyncio.Server``.

    Takes ``ferrosock.Server``'s arguments and binds the same way (``server_address``;
    ``sockets`` as ``asyncio.Server`` gives them). Serving starts with ``start_serving()``
    or ``serve_forever()`` (as a server made with ``start_serving=False``), in the loop
    running at that moment.

    ``handler(conn, message)`` may be a plain function or ``async def``; its reply (a
    bytes-like object, or ``None`` for none) is framed and sent as with ``ferrosock.Server``.
    Per connection, messages are handled in arrival order and their replies leave in that
    order; connections run concurrently. ``pipeline`` is how many handler calls one
    connection may have unfinished at once (messages beyond wait, and the connection is not
    read meanwhile). ``on_connect`` and ``on_disconnect`` may be ``async def`` too; a
    connection's messages wait for its ``on_connect``.

    A coroutine callback runs in an asyncio task from its first statement, so
    ``asyncio.current_task()``, ``asyncio.timeout()`` and ``asyncio.wait_for()`` work
    anywhere in it, and a timeout cancels that handler only. No task is made per call: one
    stands by, is the current task of the calls that end without suspending, and carries
    on the first one that suspends (the next call gets a new one). The first statement
    runs in that task's ``contextvars`` context too, so a variable a handler sets keeps its
    value across the handler's ``await``s; like a consumer task's, that context is shared
    with the calls the same task ran before. When a task's handler finishes, that task
    goes on with the connection's next message.

    ``close()`` stops accepting, cancels running handlers, flushes the replies already
    made (for at most ``SHUTDOWN_TIMEOUT`` seconds) and closes every connection;
    ``wait_closed()`` returns once all of that and every task it started are over.
    """

    def __init__(
        self,
        address: Address,
        handler: AsyncHandler | None = None,
        *,
        framing: Literal["raw", "frame", "line"] = "raw",
        header: str = "!I",
        delimiter: bytes = b"\n",
        max_size: int = 16 * MiB,
        max_connections: int = 10_000,
        idle_timeout: float | None = None,
        message_timeout: float | None = None,
        high_water: int = 4 * MiB,
        reuse_port: bool = False,
        backlog: int | None = None,
        on_connect: Callable[[Connection], object] | None = None,
        on_disconnect: Callable[[Connection, BaseException | None], object] | None = None,
        batch_handler: BatchHandler | None = None,
        pipeline: int = 1,
    ) -> None:
        self._core: Any = None
        self._sock: _std.socket | None = None
        self._unix: _UnixPath | None = None
        options = _stream_options(
            handler,
            batch_handler,
            framing=framing,
            header=header,
            delimiter=delimiter,
            max_size=max_size,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            message_timeout=message_timeout,
            high_water=high_water,
            backlog=backlog,
            on_connect=on_connect,
            on_disconnect=on_disconnect,
        )
        _check_int("pipeline", pipeline, 1)
        sock, unix = _bind(address, _std.SOCK_STREAM, bool(reuse_port))
        try:
            sock.listen(_std.SOMAXCONN if backlog is None else backlog)
            self.server_address = sock.getsockname()
            self._core = StreamServerCore(sock.fileno(), pipeline=pipeline, **options)
        except BaseException:
            sock.close()
            if unix is not None:
                unix.remove()
            raise
        self._setup(sock, unix)

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return 0 if self._core is None else self._core.connection_count

    if _HAS_CLOSE_CLIENTS:

        def close_clients(self) -> None:
            """Closes every connection once its queued replies are sent (the server keeps
            accepting)."""
            if self._core is not None:
                self._core.close_connections(False)

        def abort_clients(self) -> None:
            """Drops every connection at once, unsent replies included."""
            if self._core is not None:
                self._core.close_connections(True)


class DatagramServer(_AioServerBase):
    """A UDP or Unix datagram server run by the running asyncio loop: ``ferrosock.
    DatagramServer``'s options, and the life cycle of :class:`Server`.

    ``handler(message, address)`` may be a plain function or ``async def``; its reply (a
    bytes-like object, or ``None``) is sent to ``address``. Coroutine handlers run
    concurrently (datagrams have no order to keep); one that finishes without suspending
    costs no task. While ``max_pending`` handlers are unfinished, the socket is not read
    (the kernel's receive buffer takes what arrives meanwhile, and drops beyond it).
    """

    def __init__(
        self,
        address: Address,
        handler: Callable[[bytes, Any], Reply | Awaitable[Reply]],
        *,
        max_size: int = 65535,
        batch_size: int = 64,
        high_water: int = 4 * MiB,
        reuse_port: bool = False,
        max_pending: int = 1024,
    ) -> None:
        self._core = None
        self._sock = None
        self._unix = None
        _check_callable("handler", handler, True)
        _check_int("max_size", max_size, 1)
        _check_int("batch_size", batch_size, 1)
        _check_int("high_water", high_water, 0)
        _check_int("max_pending", max_pending, 1)
        if batch_size > 1024:
            raise ValueError("batch_size must be <= 1024")
        sock, unix = _bind(address, _std.SOCK_DGRAM, bool(reuse_port))
        try:
            self.server_address = sock.getsockname()
            self._core = DatagramServerCore(
                sock.fileno(),
                handler,
                max_size=max_size,
                batch_size=batch_size,
                high_water=high_water,
                max_pending=max_pending,
            )
        except BaseException:
            sock.close()
            if unix is not None:
                unix.remove()
            raise
        self._setup(sock, unix)

    @property
    def dropped(self) -> int:
        """Datagrams dropped because they were longer than ``max_size``."""
        return 0 if self._core is None else self._core.dropped
