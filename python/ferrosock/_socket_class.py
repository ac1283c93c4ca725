"""The ``ferrosock.socket`` class and the module functions that must return it.

The class subclasses the stdlib's ``socket.socket``, so every C-level method, ``selectors``,
``select``, ``ssl`` and asyncio keep working on it. The stdlib's helpers that build sockets
(``accept``, ``socketpair``, ``create_connection``, ...) hard-code the stdlib class, so they
are wrapped here to hand back ferrosock sockets instead.
"""

from __future__ import annotations

import socket as _std
from collections.abc import Iterable
from typing import Any

from ferrosock import _native

# Module-level names: one dictionary lookup per call instead of two on the hot paths.
_recv_exactly = _native.recv_exactly
_recv_exactly_into = _native.recv_exactly_into
_recvmany = _native.recvmany

DEFAULT_MAX_FRAME = 16 * 1024 * 1024

__all__ = [
    "create_connection",
    "create_server",
    "fromfd",
    "socket",
    "socketpair",
]


class socket(_std.socket):
    """A stdlib ``socket.socket`` with ferrosock's native loops added."""

    __slots__ = ()

    def accept(self) -> tuple[socket, _std._Address]:  # type: ignore[name-defined]
        """accept() -> (socket object, address info)

        Wait for an incoming connection. Return a new socket representing the connection,
        and the address of the client. The new socket is a ``ferrosock.socket``.
        """
        fd, addr = self._accept()  # type: ignore[attr-defined]
        sock = socket(self.family, self.type, self.proto, fileno=fd)
        # Same rule as the stdlib (bpo-7995): without a default timeout, a connection
        # accepted from a listener that had one is put back in blocking mode.
        if _std.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        return sock, addr

    # Native loops. Rust reads the descriptor and the timeout (None: blocking, 0.0:
    # non-blocking, t: a deadline t seconds away for the whole call) off the socket, waits,
    # retries on EINTR after running signal handlers, and raises what recv/sendall raise.

    def recv_exactly(self, n: int, flags: int = 0) -> bytes:
        """recv_exactly(n[, flags]) -> data

        Receive exactly ``n`` bytes. If the stream ends first, raise
        ``ferrosock.IncompleteReadError`` whose ``partial`` holds the bytes received; any other
        exception raised after some bytes were consumed (a timeout, ``BlockingIOError``, a
        reset, a signal handler's exception) carries them in ``.partial`` as well. The
        socket's timeout bounds the whole call. ``MSG_PEEK`` is refused (``ValueError``).
        """
        return _recv_exactly(self, n, flags)

    def recv_exactly_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """recv_exactly_into(buffer[, nbytes[, flags]]) -> nbytes

        Fill ``buffer[:nbytes]`` (all of ``buffer`` if ``nbytes`` is 0) with exactly that many
        bytes and return the count; ends of stream and errors as ``recv_exactly``.
        """
        return _recv_exactly_into(self, buffer, nbytes, flags)

    def send_frame(self, data: Any, *, header: str = "!I") -> None:
        """Send ``data`` preceded by its length packed with the ``struct`` format ``header``
        (one unsigned integer: ``!B !H !I !Q <H <I <Q`` ...), completely, like ``sendall``.
        A payload the header cannot express raises ``ValueError`` before anything is sent.
        As with ``sendall``, an error after part of a frame went out leaves the stream's
        framing broken; ``ferrosock.framing.FrameStream`` queues the rest instead.
        """
        _native.send_frame(self, data, header)

    def send_frames(self, messages: Iterable[Any], *, header: str = "!I") -> None:
        """Send each of ``messages`` as a frame (see ``send_frame``) with as few system calls
        as possible (vectored writes). Every message is checked before anything is sent."""
        _native.send_frames(self, messages, header)

    def recv_frame(self, *, header: str = "!I", max_size: int = DEFAULT_MAX_FRAME) -> bytes:
        """Receive one frame's payload: the header exactly, then the payload exactly, never
        a byte more, so plain ``recv`` calls afterwards see the next frame. A declared length
        above ``max_size`` raises ``ferrosock.FrameError`` without allocating it; a stream
        that ends mid-frame raises ``IncompleteReadError``. Exceptions carry the bytes
        consumed (header included) in ``.partial``."""
        return _native.recv_frame(self, header, max_size)

    def recvmany(
        self, maxmsgs: int = 64, bufsize: int = 65535, flags: int = 0, *, with_flags: bool = False
    ) -> list[tuple[Any, ...]]:
        """recvmany([maxmsgs[, bufsize[, flags]]]) -> [(data, address), ...]

        Receive up to ``maxmsgs`` datagrams with one ``recvmmsg`` call: wait for the first as
        ``recvfrom`` would (blocking, timeout or ``BlockingIOError``), then take those already
        queued. Each item is ``(data, address)`` exactly as ``recvfrom(bufsize)`` returns it.
        A datagram longer than ``bufsize`` is truncated as ``recvfrom`` truncates it; with
        ``with_flags=True`` items are ``(data, address, msg_flags)`` and ``MSG_TRUNC`` in
        ``msg_flags`` marks it, as ``recvmsg`` does.
        """
        return _recvmany(self, maxmsgs, bufsize, flags, with_flags)

    def sendmany(self, messages: Iterable[Any], address: Any = None, flags: int = 0) -> int:
        """sendmany(messages[, address[, flags]]) -> count

        Send datagrams with ``sendmmsg``: each item of ``messages`` is bytes-like (sent to
        ``address``, or to the connected peer if it is None) or a ``(data, address)`` pair;
        addresses as ``sendto`` takes them. Returns how many were sent: all of them, unless
        the socket is non-blocking or its timeout expires after some went out. An error
        after some were sent is raised with the count in ``.sent``.
        """
        return _native.sendmany(self, self.family, messages, address, flags)


socket.__module__ = "ferrosock"
# The exact reads are bounded by one system call per message, where a Python frame shows:
# the same methods become C-level method descriptors (documentation and signatures kept).
_native.install_socket_methods(socket)


def _adopt(std_sock: _std.socket) -> socket:
    """Moves the descriptor of a stdlib socket into a ``ferrosock.socket``, keeping its
    family, type, protocol and timeout. The stdlib object is left detached (closed)."""
    timeout = std_sock.gettimeout()
    family, type_, proto = std_sock.family, std_sock.type, std_sock.proto
    sock = socket(family, type_, proto, fileno=std_sock.detach())
    sock.settimeout(timeout)
    return sock


def socketpair(
    family: int | None = None,
    type: int = _std.SOCK_STREAM,  # noqa: A002 - the stdlib's parameter name
    proto: int = 0,
) -> tuple[socket, socket]:
    """socketpair([family[, type[, proto]]]) -> (socket object, socket object)

    Create a pair of connected ``ferrosock.socket`` objects, as ``socket.socketpair``.
    """
    a, b = (
        _std.socketpair(family, type, proto)
        if family is not None
        else _std.socketpair(type=type, proto=proto)
    )
    return _adopt(a), _adopt(b)


def fromfd(fd: int, family: int, type: int, proto: int = 0) -> socket:  # noqa: A002
    """fromfd(fd, family, type[, proto]) -> socket object

    Create a ``ferrosock.socket`` from a duplicate of the given file descriptor.
    """
    return socket(family, type, proto, _std.dup(fd))


def create_connection(
    address: tuple[str | None, int],
    timeout: float | None = _std._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
    source_address: tuple[str, int] | None = None,
    *,
    all_errors: bool = False,
) -> socket:
    """Connect to a TCP service, exactly as ``socket.create_connection``; returns a
    ``ferrosock.socket``."""
    return _adopt(_std.create_connection(address, timeout, source_address, all_errors=all_errors))


def create_server(
    address: tuple[str, int],
    *,
    family: int = _std.AF_INET,
    backlog: int | None = None,
    reuse_port: bool = False,
    dualstack_ipv6: bool = False,
) -> socket:
    """Create a listening TCP socket, exactly as ``socket.create_server``; returns a
    ``ferrosock.socket``."""
    return _adopt(
        _std.create_server(
            address,
            family=family,
            backlog=backlog,
            reuse_port=reuse_port,
            dualstack_ipv6=dualstack_ipv6,
        )
    )


for _f in (create_connection, create_server, socketpair, fromfd):
    _f.__module__ = "ferrosock"
del _f
