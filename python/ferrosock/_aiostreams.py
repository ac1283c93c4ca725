"""asyncio streams whose reader cuts length-prefixed frames natively.

``StreamReader`` and ``StreamWriter`` have the shape and behaviour of asyncio's (same
methods, results and exceptions, same flow control), and add ``read_frame()`` /
``write_frame()`` / ``write_frames()``. Received bytes go into a native buffer
(``_native.StreamBuffer``) that both cuts frames and serves the byte-level reads, so a frame
that is already buffered is returned without a future, a task switch or a header parsed in
Python. Frames written during one event-loop iteration are joined natively and handed to the
transport in one ``write`` (at the latest when the loop next runs its callbacks; ``drain()``,
``write()``, ``write_eof()`` and ``close()`` send them at once), so sixteen small frames cost
one system call instead of sixteen.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ferrosock import _errors, _native
from ferrosock._errors import FrameError
from ferrosock._socket_class import DEFAULT_MAX_FRAME

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_FRAME",
    "FrameError",
    "IncompleteReadError",
    "LimitOverrunError",
    "StreamReader",
    "StreamWriter",
    "open_connection",
    "open_unix_connection",
    "start_server",
    "start_unix_server",
]

#: asyncio's default ``limit``: the line length limit, and half the buffer size at which
#: reading pauses.
DEFAULT_LIMIT = 2**16

LimitOverrunError = asyncio.LimitOverrunError

_SEPARATOR_TUPLES = sys.version_info >= (3, 13)

# Frames queued by write_frame(s) up to this many bytes wait for the end of the loop
# iteration to leave in one transport.write; past it they are written at once. Keeps the
# queue bounded for a writer that never yields, and the transport's flow control in charge.
_CORK_LIMIT = 64 * 1024


class IncompleteReadError(_errors.IncompleteReadError, asyncio.IncompleteReadError):
    """The stream ended before the requested bytes (or the whole frame) arrived.

    Both a :class:`ferrosock.IncompleteReadError` and an :class:`asyncio.IncompleteReadError`,
    so either ``except`` clause catches it; ``partial`` and ``expected`` as in asyncio.
    """

    def __init__(self, partial: bytes, expected: int | None) -> None:
        # NOTE: not super().__init__: the two bases' initialisers take different arguments.
        r_expected = "undefined" if expected is None else repr(expected)
        EOFError.__init__(
            self, f"{len(partial)} bytes read on a total of {r_expected} expected bytes"
        )
        self.partial = partial
        self.expected = expected


IncompleteReadError.__module__ = "ferrosock.asyncio"


class StreamReader:
    """asyncio's ``StreamReader`` over a native buffer, plus :meth:`read_frame`.

    ``limit`` is asyncio's: the longest line ``readline``/``readuntil`` return, and half the
    buffered size above which the transport stops reading. ``header`` and ``max_size`` are
    the frame format ``read_frame`` expects (as in ``ferrosock.framing``).
    """

    __slots__ = (
        "__weakref__",
        "_buf",
        "_eof",
        "_exception",
        "_header_size",
        "_limit",
        "_loop",
        "_paused",
        "_transport",
        "_waiter",
    )

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        header: str = "!I",
        max_size: int = DEFAULT_MAX_FRAME,
    ) -> None:
        if limit <= 0:
            raise ValueError("Limit cannot be <= 0")
        self._limit = limit
        self._loop = loop if loop is not None else asyncio.get_event_loop()
        self._buf = _native.StreamBuffer(header, max_size)
        self._header_size = self._buf.header_size
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._exception: BaseException | None = None
        self._transport: asyncio.Transport | None = None
        self._paused = False

    def __repr__(self) -> str:
        info = ["StreamReader"]
        if len(self._buf):
            info.append(f"{len(self._buf)} bytes")
        if self._eof:
            info.append("eof")
        if self._limit != DEFAULT_LIMIT:
            info.append(f"limit={self._limit}")
        if self._waiter:
            info.append(f"waiter={self._waiter!r}")
        if self._exception:
            info.append(f"exception={self._exception!r}")
        if self._transport:
            info.append(f"transport={self._transport!r}")
        if self._paused:
            info.append("paused")
        return "<{}>".format(" ".join(info))

    # -- the protocol side ------------------------------------------------------------------

    def exception(self) -> BaseException | None:
        return self._exception

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.cancelled():
                waiter.set_exception(exc)

    def _wakeup_waiter(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.cancelled():
                waiter.set_result(None)

    def set_transport(self, transport: asyncio.BaseTransport) -> None:
        assert self._transport is None, "Transport already set"
        self._transport = transport  # type: ignore[assignment]

    def _maybe_resume_transport(self) -> None:
        if self._paused and len(self._buf) <= self._limit:
            self._paused = False
            self._transport.resume_reading()  # type: ignore[union-attr]

    def feed_eof(self) -> None:
        self._eof = True
        self._wakeup_waiter()

    def at_eof(self) -> bool:
        """True once the buffer is empty and ``feed_eof`` was called."""
        return self._eof and not len(self._buf)

    def feed_data(self, data: bytes) -> None:
        assert not self._eof, "feed_data after feed_eof"
        if not data:
            return
        held = self._buf.feed(data)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.cancelled():
                waiter.set_result(None)
        if self._transport is not None and not self._paused and held > 2 * self._limit:
            try:
                self._transport.pause_reading()
            except NotImplementedError:
                # The transport cannot pause: keep buffering, and stop asking.
                self._transport = None
            else:
                self._paused = True

    async def _wait_for_data(self, func_name: str) -> None:
        if self._waiter is not None:
            raise RuntimeError(
                f"{func_name}() called while another coroutine is already waiting for incoming data"
            )
        assert not self._eof, "_wait_for_data after EOF"
        # Waiting while paused would deadlock (a frame or readexactly(n) larger than the
        # limit): resume reading.
        if self._paused:
            self._paused = False
            self._transport.resume_reading()  # type: ignore[union-attr]
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    # -- frames -----------------------------------------------------------------------------

    async def read_frame(self) -> bytes:
        """The next frame's payload.

        A declared length above ``max_size`` raises :class:`ferrosock.FrameError` (nothing
        is consumed or allocated for it; the stream's framing is lost). At the end of the
        stream raise :class:`IncompleteReadError` with every byte left (``partial`` is empty
        when the stream ended between frames).
        """
        buf = self._buf
        while True:
            if self._exception is not None:
                raise self._exception
            frame = buf.pop_frame()
            if frame is not None:
                if self._paused:
                    self._maybe_resume_transport()
                return frame
            if self._eof:
                raise self._incomplete_frame()
            await self._wait_for_data("read_frame")

    def _incomplete_frame(self) -> IncompleteReadError:
        whole = self._buf.front_frame_len()
        partial = self._buf.take_all()
        return IncompleteReadError(partial, self._header_size if whole is None else whole)

    # -- asyncio.StreamReader's reads ---------------------------------------------------------

    async def readline(self) -> bytes:
        sep = b"\n"
        seplen = len(sep)
        try:
            line = await self.readuntil(sep)
        except asyncio.IncompleteReadError as e:
            return e.partial
        except asyncio.LimitOverrunError as e:
            if self._buf.startswith(sep, e.consumed):
                self._buf.consume(e.consumed + seplen)
            else:
                self._buf.clear()
            self._maybe_resume_transport()
            raise ValueError(e.args[0]) from None
        return line

    async def readuntil(self, separator: Any = b"\n") -> bytes:
        if _SEPARATOR_TUPLES and isinstance(separator, tuple):
            separators = sorted(separator, key=len)
        else:
            separators = [separator]
        if not separators:
            raise ValueError("Separator should contain at least one element")
        min_seplen = len(separators[0])
        max_seplen = len(separators[-1])
        if min_seplen == 0:
            raise ValueError("Separator should be at least one-byte string")

        if self._exception is not None:
            raise self._exception

        buf = self._buf
        # Bytes from the start of the buffer known to hold no separator.
        offset = 0
        while True:
            buflen = len(buf)
            if buflen - offset >= min_seplen:
                match_start = match_end = -1
                for sep in separators:
                    isep = buf.find(sep, offset)
                    if isep != -1:
                        end = isep + len(sep)
                        if match_end == -1 or end < match_end:
                            match_end = end
                            match_start = isep
                if match_end != -1:
                    break
                offset = max(0, buflen + 1 - max_seplen)
                if offset > self._limit:
                    raise asyncio.LimitOverrunError(
                        "Separator is not found, and chunk exceed the limit", offset
                    )
            # A last chunk may complete the separator, so EOF is checked after the search.
            if self._eof:
                raise IncompleteReadError(buf.take_all(), None)
            await self._wait_for_data("readuntil")

        if match_start > self._limit:
            raise asyncio.LimitOverrunError(
                "Separator is found, but chunk is longer than limit", match_start
            )
        chunk = buf.take(match_end)
        self._maybe_resume_transport()
        return chunk

    async def read(self, n: int = -1) -> bytes:
        if self._exception is not None:
            raise self._exception
        if n == 0:
            return b""
        if n < 0:
            # Read by `limit` until EOF, as asyncio does, so a paused transport resumes.
            blocks = []
            while True:
                block = await self.read(self._limit)
                if not block:
                    break
                blocks.append(block)
            return b"".join(blocks)
        if not len(self._buf) and not self._eof:
            await self._wait_for_data("read")
        data = self._buf.take(n)
        self._maybe_resume_transport()
        return data

    async def readexactly(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("readexactly size can not be less than zero")
        if self._exception is not None:
            raise self._exception
        if n == 0:
            return b""
        buf = self._buf
        while len(buf) < n:
            if self._eof:
                raise IncompleteReadError(buf.take_all(), n)
            await self._wait_for_data("readexactly")
        data = buf.take(n)
        self._maybe_resume_transport()
        return data

    def __aiter__(self) -> StreamReader:
        return self

    async def __anext__(self) -> bytes:
        val = await self.readline()
        if val == b"":
            raise StopAsyncIteration
        return val


class _StreamProtocol(asyncio.Protocol):
    """Feeds a :class:`StreamReader` and holds the writer's flow control (asyncio's
    ``StreamReaderProtocol`` and ``FlowControlMixin``)."""

    def __init__(
        self,
        reader: StreamReader,
        loop: asyncio.AbstractEventLoop,
        client_connected_cb: Callable[[StreamReader, StreamWriter], Any] | None = None,
    ) -> None:
        self._loop = loop
        self._reader: StreamReader | None = reader
        self._paused = False
        self._drain_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._connection_lost = False
        self._client_connected_cb = client_connected_cb
        self._transport: asyncio.BaseTransport | None = None
        self._task: asyncio.Task[Any] | None = None
        self._over_ssl = False
        self._closed: asyncio.Future[None] = loop.create_future()

    def _replace_transport(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._over_ssl = transport.get_extra_info("sslcontext") is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        reader = self._reader
        if reader is not None:
            reader.set_transport(transport)
        self._over_ssl = transport.get_extra_info("sslcontext") is not None
        if self._client_connected_cb is None:
            return
        writer = StreamWriter(transport, self, reader, self._loop)  # type: ignore[arg-type]
        res = self._client_connected_cb(reader, writer)  # type: ignore[arg-type]
        if asyncio.iscoroutine(res):

            def callback(task: asyncio.Task[Any]) -> None:
                if task.cancelled():
                    transport.close()
                    return
                exc = task.exception()
                if exc is not None:
                    self._loop.call_exception_handler(
                        {
                            "message": "Unhandled exception in client_connected_cb",
                            "exception": exc,
                            "transport": transport,
                        }
                    )
                    transport.close()

            self._task = self._loop.create_task(res)
            self._task.add_done_callback(callback)

    def connection_lost(self, exc: BaseException | None) -> None:
        reader = self._reader
        if reader is not None:
            if exc is None:
                reader.feed_eof()
            else:
                reader.set_exception(exc)
        if not self._closed.done():
            if exc is None:
                self._closed.set_result(None)
            else:
                self._closed.set_exception(exc)
        self._connection_lost = True
        if self._paused:
            for waiter in self._drain_waiters:
                if not waiter.done():
                    if exc is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(exc)
        self._reader = None
        self._task = None
        self._transport = None

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is not None:
            reader.feed_data(data)

    def eof_received(self) -> bool:
        reader = self._reader
        if reader is not None:
            reader.feed_eof()
        # Returning True over SSL only draws a warning from SSLProtocol.
        return not self._over_ssl

    def pause_writing(self) -> None:
        assert not self._paused
        self._paused = True

    def resume_writing(self) -> None:
        assert self._paused
        self._paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _drain_helper(self) -> None:
        if self._connection_lost:
            raise ConnectionResetError("Connection lost")
        if not self._paused:
            return
        waiter = self._loop.create_future()
        self._drain_waiters.append(waiter)
        try:
            await waiter
        finally:
            self._drain_waiters.remove(waiter)

    def __del__(self) -> None:
        # Retrieve a stored exception so that it is not reported as never retrieved.
        try:
            closed = self._closed
        except AttributeError:
            return
        if closed.done() and not closed.cancelled():
            closed.exception()


class StreamWriter:
    """asyncio's ``StreamWriter``, plus :meth:`write_frame` and :meth:`write_frames`."""

    __slots__ = (
        "_eof_written",
        "_flush_handle",
        "_frames",
        "_loop",
        "_protocol",
        "_reader",
        "_transport",
    )

    def __init__(
        self,
        transport: asyncio.BaseTransport,
        protocol: _StreamProtocol,
        reader: StreamReader | None,
        loop: asyncio.AbstractEventLoop,
        *,
        header: str | None = None,
    ) -> None:
        self._transport: Any = transport
        self._protocol = protocol
        self._reader = reader
        self._loop = loop
        if header is None:
            header = reader._buf.header if reader is not None else "!I"
        self._frames = _native.FrameSendBuffer(header)
        self._flush_handle: asyncio.Handle | None = None
        # After write_eof() frames go straight to the transport, which raises as asyncio's
        # write() does, in the caller rather than in a loop callback.
        self._eof_written = False

    def __repr__(self) -> str:
        info = [self.__class__.__name__, f"transport={self._transport!r}"]
        if self._reader is not None:
            info.append(f"reader={self._reader!r}")
        return "<{}>".format(" ".join(info))

    @property
    def transport(self) -> Any:
        return self._transport

    def _flush(self) -> None:
        handle = self._flush_handle
        if handle is not None:
            self._flush_handle = None
            handle.cancel()
            data = self._frames.take()
            # Once the connection is lost the bytes could not go anywhere; asyncio's write()
            # would have dropped them too (uvloop's would raise in a loop callback).
            if data and not self._protocol._connection_lost:
                self._transport.write(data)

    def write_frame(self, data: Any) -> None:
        """Queue ``data`` as one frame (``ValueError`` if the header cannot express its
        length); it is sent with the other frames of this loop iteration."""
        if self._frames.push(data) >= _CORK_LIMIT:
            self._flush_now()
        else:
            self._schedule_flush()

    def write_frames(self, items: Iterable[Any]) -> None:
        """Queue each item as a frame; nothing is queued if one is refused."""
        if self._frames.push_many(items) >= _CORK_LIMIT:
            self._flush_now()
        else:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            if self._eof_written or self._transport.is_closing():
                # Let the transport raise or drop exactly as asyncio's write() would.
                self._transport.write(self._frames.take())
                return
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush_now(self) -> None:
        # Past the cork limit the bytes go to the transport at once, so that its flow
        # control (pause_writing, and so drain()) sees them.
        handle = self._flush_handle
        if handle is not None:
            self._flush_handle = None
            handle.cancel()
        self._transport.write(self._frames.take())

    def write(self, data: Any) -> None:
        self._flush()
        self._transport.write(data)

    def writelines(self, data: Iterable[Any]) -> None:
        self._flush()
        self._transport.writelines(data)

    def write_eof(self) -> Any:
        self._flush()
        self._eof_written = True
        return self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> Any:
        self._flush()
        return self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    async def wait_closed(self) -> None:
        await self._protocol._closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its low water mark (asyncio's
        ``drain``). Frames queued in this loop iteration (less than the cork limit) still
        leave together when the loop next runs its callbacks, unless drain() must wait."""
        protocol = self._protocol
        if protocol._paused or protocol._connection_lost:
            self._flush()
        if self._reader is not None:
            exc = self._reader._exception
            if exc is not None:
                raise exc
        if self._transport.is_closing():
            # Let connection_lost() run so a closed connection raises here.
            await asyncio.sleep(0)
        elif not protocol._paused:
            # What _drain_helper() would find, without a coroutine per call.
            return
        await protocol._drain_helper()

    async def start_tls(
        self,
        sslcontext: Any,
        *,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> None:
        """Upgrade the connection to TLS (asyncio's ``StreamWriter.start_tls``)."""
        protocol = self._protocol
        await self.drain()
        new_transport = await self._loop.start_tls(
            self._transport,
            protocol,
            sslcontext,
            server_side=protocol._client_connected_cb is not None,
            server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
        self._transport = new_transport
        protocol._replace_transport(new_transport)  # type: ignore[arg-type]

    def __del__(self, warnings: Any = warnings) -> None:
        try:
            transport = self._transport
        except AttributeError:
            return
        if not transport.is_closing():
            if self._loop.is_closed():
                warnings.warn("loop is closed", ResourceWarning, stacklevel=1)
            else:
                self.close()
                warnings.warn(f"unclosed {self!r}", ResourceWarning, stacklevel=1)


def _pair(
    loop: asyncio.AbstractEventLoop, limit: int, header: str, max_size: int
) -> tuple[StreamReader, _StreamProtocol]:
    reader = StreamReader(limit, loop, header=header, max_size=max_size)
    return reader, _StreamProtocol(reader, loop)


async def open_connection(
    host: str | None = None,
    port: int | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    header: str = "!I",
    max_size: int = DEFAULT_MAX_FRAME,
    **kwds: Any,
) -> tuple[StreamReader, StreamWriter]:
    """``asyncio.open_connection`` with ferrosock's reader and writer; ``header`` and
    ``max_size`` set the frame format of ``read_frame``/``write_frame``. Other keywords
    (``ssl``, ``family``, ``local_addr``, ...) go to ``loop.create_connection``."""
    loop = asyncio.get_running_loop()
    reader, protocol = _pair(loop, limit, header, max_size)
    transport, _ = await loop.create_connection(lambda: protocol, host, port, **kwds)
    return reader, StreamWriter(transport, protocol, reader, loop)


async def start_server(
    client_connected_cb: Callable[[StreamReader, StreamWriter], Awaitable[None] | None],
    host: Any = None,
    port: int | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    header: str = "!I",
    max_size: int = DEFAULT_MAX_FRAME,
    **kwds: Any,
) -> asyncio.Server:
    """``asyncio.start_server`` with ferrosock's reader and writer for each client."""
    loop = asyncio.get_running_loop()

    def factory() -> _StreamProtocol:
        reader = StreamReader(limit, loop, header=header, max_size=max_size)
        return _StreamProtocol(reader, loop, client_connected_cb)

    return await loop.create_server(factory, host, port, **kwds)


if hasattr(socket, "AF_UNIX"):

    async def open_unix_connection(
        path: str | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        header: str = "!I",
        max_size: int = DEFAULT_MAX_FRAME,
        **kwds: Any,
    ) -> tuple[StreamReader, StreamWriter]:
        """``asyncio.open_unix_connection`` with ferrosock's reader and writer."""
        loop = asyncio.get_running_loop()
        reader, protocol = _pair(loop, limit, header, max_size)
        transport, _ = await loop.create_unix_connection(lambda: protocol, path, **kwds)
        return reader, StreamWriter(transport, protocol, reader, loop)

    async def start_unix_server(
        client_connected_cb: Callable[[StreamReader, StreamWriter], Awaitable[None] | None],
        path: str | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        header: str = "!I",
        max_size: int = DEFAULT_MAX_FRAME,
        **kwds: Any,
    ) -> asyncio.Server:
        """``asyncio.start_unix_server`` with ferrosock's reader and writer."""
        loop = asyncio.get_running_loop()

        def factory() -> _StreamProtocol:
            reader = StreamReader(limit, loop, header=header, max_size=max_size)
            return _StreamProtocol(reader, loop, client_connected_cb)

        return await loop.create_unix_server(factory, path, **kwds)
