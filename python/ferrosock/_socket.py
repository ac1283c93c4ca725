"""The ``ferrosock.socket`` class and the module functions that must return it.

The class subclasses the stdlib's ``socket.socket``, so every C-level method, ``selectors``,
``select``, ``ssl`` and asyncio keep working on it. The stdlib's helpers that build sockets
(``accept``, ``socketpair``, ``create_connection``, ...) hard-code the stdlib class, so they
are wrapped here to hand back ferrosock sockets instead.
"""

from __future__ import annotations

import socket as _std

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


socket.__module__ = "ferrosock"


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


def create_connection(*args, **kwargs) -> socket:
    """Connect to a TCP service, exactly as ``socket.create_connection``; returns a
    ``ferrosock.socket``."""
    return _adopt(_std.create_connection(*args, **kwargs))


def create_server(*args, **kwargs) -> socket:
    """Create a listening TCP socket, exactly as ``socket.create_server``; returns a
    ``ferrosock.socket``."""
    return _adopt(_std.create_server(*args, **kwargs))


for _f in (create_connection, create_server):
    _f.__signature__ = __import__("inspect").signature(getattr(_std, _f.__name__))  # type: ignore[attr-defined]
    _f.__module__ = "ferrosock"
for _f in (socketpair, fromfd):
    _f.__module__ = "ferrosock"
del _f
