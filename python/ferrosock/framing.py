"""Length-prefixed message framing over sockets.

A frame is a payload preceded by its length packed as one unsigned integer with a ``struct``
format (``header='!I'``: 4 bytes, network order; ``'!B' '!H' '!Q' '<H' '<I' '<Q'`` and the
other byte orders work the same way).

- :class:`FrameStream`: a buffered reader/writer of frames over a socket, for high message
  rates (like ``makefile()`` is for lines).
- :class:`FrameDecoder` and :func:`encode_frame`: the same framing without I/O, for code that
  reads through ``selectors`` or asyncio.

The socket methods ``send_frame``, ``send_frames`` and ``recv_frame`` of
``ferrosock.socket`` speak the same format without buffering.
"""

from __future__ import annotations

import socket as _std
from collections.abc import Iterable, Iterator
from typing import Any

from ferrosock import _native
from ferrosock._errors import FrameError, IncompleteReadError
from ferrosock._socket_class import DEFAULT_MAX_FRAME

__all__ = [
    "DEFAULT_MAX_FRAME",
    "FrameDecoder",
    "FrameError",
    "FrameStream",
    "IncompleteReadError",
    "encode_frame",
]


def encode_frame(data: Any, header: str = "!I") -> bytes:
    """``struct.pack(header, len(data)) + data``; ``ValueError`` if the header cannot
    express the length."""
    return _native.encode_frame(data, header)


class FrameDecoder:
    """Incremental frame decoder without I/O: ``feed(data)`` returns the payloads completed
    by ``data``, in order, and keeps the rest for the next call.

    A declared length above ``max_size`` raises :class:`ferrosock.FrameError` before
    anything is buffered for it (payloads completed before it are returned first, the error
    comes on the next call); the decoder stays failed after that, since the stream's framing
    is lost.
    """

    __slots__ = ("_inner",)

    def __init__(self, header: str = "!I", max_size: int = DEFAULT_MAX_FRAME) -> None:
        self._inner = _native.FrameDecoder(header, max_size)

    def feed(self, data: Any) -> list[bytes]:
        return self._inner.feed(data)

    @property
    def pending(self) -> bytes:
        """Bytes fed that do not form a complete frame yet."""
        return self._inner.pending

    @property
    def header(self) -> str:
        return self._inner.header

    @property
    def max_size(self) -> int:
        return self._inner.max_size

    def __repr__(self) -> str:
        return (
            f"<FrameDecoder header={self.header!r} max_size={self.max_size} "
            f"pending={len(self.pending)}>"
        )


class FrameStream:
    """Frames over a socket, buffered: reads take as much as the socket has (one system call
    serves many frames), and bytes read past a frame stay in the stream's native buffer for
    the next call, never dropped.

    Works with ``ferrosock.socket`` or the stdlib's (not ``ssl.SSLSocket``, whose bytes must
    go through its own methods) and follows its blocking, non-blocking or timeout mode. A timeout,
    ``BlockingIOError`` or a signal handler's exception loses nothing: received bytes stay
    buffered, and whatever ``send``/``send_many`` could not write stays queued and goes out
    first on the next ``send``/``send_many``/``flush`` (do not send those frames again).

    Reading through the socket directly while a stream buffers for it would skip the bytes
    buffered here, as with ``makefile()``.
    """

    __slots__ = ("_inner", "_sock")

    def __init__(
        self, sock: _std.socket, *, header: str = "!I", max_size: int = DEFAULT_MAX_FRAME
    ) -> None:
        if not isinstance(sock, _std.socket):
            raise TypeError(f"FrameStream needs a socket, not {type(sock).__name__}")
        if type(sock).recv is not _std.socket.recv or type(sock).send is not _std.socket.send:
            # An ssl.SSLSocket (or any socket that transforms its bytes) must be read through
            # its own methods; the native loops use the descriptor directly.
            raise TypeError(
                f"FrameStream needs a plain socket; {type(sock).__name__} overrides recv/send"
            )
        self._inner = _native.FrameStreamCore(header, max_size)
        self._sock = sock

    @property
    def socket(self) -> _std.socket:
        return self._sock

    @property
    def header(self) -> str:
        return self._inner.header

    @property
    def max_size(self) -> int:
        return self._inner.max_size

    @property
    def buffered(self) -> bytes:
        """Bytes received but not yet returned as frames."""
        return self._inner.buffered

    @property
    def unsent(self) -> int:
        """Bytes of frames accepted by ``send``/``send_many`` that an error kept from being
        written; ``flush()`` writes them."""
        return self._inner.unsent

    def recv(self) -> bytes:
        """The next frame's payload. At the end of the stream raise
        :class:`ferrosock.IncompleteReadError` (``partial`` is empty when the stream ended
        between frames)."""
        return self._inner.recv(self._sock)

    def recv_many(self, max_frames: int = 64) -> list[bytes]:
        """Between 1 and ``max_frames`` payloads: the frames complete after at most one wait
        for data. End of stream as :meth:`recv`."""
        return self._inner.recv_many(self._sock, max_frames)

    def send(self, data: Any) -> None:
        """Send one frame (completely, like ``sendall``)."""
        self._inner.send(self._sock, data)

    def send_many(self, messages: Iterable[Any]) -> None:
        """Send each message as a frame, with as few system calls as possible."""
        self._inner.send_many(self._sock, messages)

    def flush(self) -> None:
        """Write what an interrupted ``send``/``send_many`` left queued."""
        self._inner.flush(self._sock)

    def __iter__(self) -> Iterator[bytes]:
        """Payloads until the stream ends between two frames (a stream that ends mid-frame
        raises :class:`ferrosock.IncompleteReadError`)."""
        while True:
            try:
                frames = self.recv_many()
            except IncompleteReadError as e:
                if e.partial:
                    raise
                return
            yield from frames

    def __repr__(self) -> str:
        return f"<FrameStream header={self.header!r} socket={self._sock!r}>"
