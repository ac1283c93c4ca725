"""A drop-in for the stdlib ``socketserver`` module whose servers hand out ``ferrosock.socket``.

Every server class here subclasses its stdlib namesake (``ferrosock.socketserver.TCPServer``
is a ``socketserver.TCPServer``), so code written for the stdlib, including
``socketserver.ThreadingTCPServer((host, port), Handler).serve_forever()``, runs unchanged.
The differences:

- The listening socket is a ``ferrosock.socket``, so the request a stream handler gets
  (``self.request``) is one too, and a datagram handler's ``(data, socket)`` tuple holds the
  server's ``ferrosock.socket``: handlers can use ferrosock's native socket methods.
- ``serve_forever()`` waits for readiness natively (``poll(2)`` with the GIL released, as
  the stdlib's ``selectors.PollSelector`` also does) *and* on an ``eventfd`` that
  ``shutdown()`` rings, so ``shutdown()`` returns as soon as the current request is done
  instead of up to ``poll_interval`` seconds later. ``poll_interval`` still paces
  ``service_actions()`` when idle, as in the stdlib. ``handle_request()`` uses the same
  native wait, with the stdlib's timeout rules.

The mixins and request handler classes are the stdlib's own objects (``ThreadingMixIn is
socketserver.ThreadingMixIn``), so handlers and mixins written against either module work
with both. The ``Threading*``/``Forking*`` servers combine those mixins with the classes
here; they are not subclasses of the stdlib's ``ThreadingTCPServer`` etc. (only of its
``TCPServer``/``UDPServer``/... and mixins).
"""

import os as _os
import socket as _stdsocket
import socketserver as _std
from selectors import _fileobj_to_fd  # type: ignore[attr-defined]  # the stdlib's own rule
from time import monotonic as _time
from typing import Any as _Any

from ferrosock import _native
from ferrosock._socket_class import socket as _socket

__all__ = list(_std.__all__)

# The stdlib's own objects: nothing in them depends on which socket class is used.
BaseRequestHandler = _std.BaseRequestHandler
StreamRequestHandler = _std.StreamRequestHandler
DatagramRequestHandler = _std.DatagramRequestHandler
ThreadingMixIn = _std.ThreadingMixIn
if hasattr(_os, "fork"):
    ForkingMixIn = _std.ForkingMixIn

_READY = 1


class BaseServer(_std.BaseServer):
    """``socketserver.BaseServer`` with a native readiness wait that ``shutdown()`` can
    interrupt.

    NOTE: the class must be called ``BaseServer``: the stdlib keeps its shutdown state in
    name-mangled attributes (``self.__shutdown_request`` is ``_BaseServer__shutdown_request``)
    and the same spelling here mangles to the same names, so the stdlib's methods and these
    overrides share that state.
    """

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Handle one request at a time until shutdown.

        Waits for requests with the GIL released; ``shutdown()`` wakes the wait at once.
        Calls ``service_actions()`` after each request and at least every ``poll_interval``
        seconds. Ignores ``self.timeout``.
        """
        self.__is_shut_down.clear()
        try:
            with _native.ReadinessWaiter() as waiter:
                fd = _fileobj_to_fd(self)
                self.__waiter = waiter
                while not self.__shutdown_request:
                    ready = waiter.wait(fd, poll_interval) & _READY
                    # bpo-35017: shutdown() called during the wait, exit immediately.
                    if self.__shutdown_request:
                        break
                    if ready:
                        self._handle_request_noblock()  # type: ignore[attr-defined]

                    self.service_actions()
        finally:
            self.__waiter = None
            self.__shutdown_request = False
            self.__is_shut_down.set()

    def shutdown(self) -> None:
        """Stops the serve_forever loop.

        Blocks until the loop has finished. This must be called while serve_forever() is
        running in another thread, or it will deadlock.
        """
        self.__shutdown_request = True
        waiter = getattr(self, "_BaseServer__waiter", None)
        if waiter is not None:
            waiter.wake()
        self.__is_shut_down.wait()

    def handle_request(self) -> _Any:
        """Handle one request, possibly blocking.

        Respects self.timeout.
        """
        # Support people who used socket.settimeout() to escape
        # handle_request before self.timeout was available.
        timeout = self.socket.gettimeout()  # type: ignore[attr-defined]
        if timeout is None:
            timeout = self.timeout
        elif self.timeout is not None:
            timeout = min(timeout, self.timeout)
        if timeout is not None:
            deadline = _time() + timeout

        fd = _fileobj_to_fd(self)
        # The loop accommodates early wakeups, as the stdlib's does.
        while True:
            if _native.wait_readable(fd, timeout):
                return self._handle_request_noblock()  # type: ignore[attr-defined]
            if timeout is not None:
                timeout = deadline - _time()
                if timeout < 0:
                    return self.handle_timeout()

    # Mangled names of the stdlib's state, declared for type checkers.
    __is_shut_down: _Any
    __shutdown_request: bool
    __waiter: _Any


class TCPServer(BaseServer, _std.TCPServer):
    """``socketserver.TCPServer`` whose listening socket is a ``ferrosock.socket``, so
    ``accept()`` hands the request handler ``ferrosock.socket`` connections."""

    def __init__(
        self,
        server_address: _Any,
        RequestHandlerClass: _Any,  # the stdlib's parameter name
        bind_and_activate: bool = True,
    ) -> None:
        """Constructor.  May be extended, do not override."""
        BaseServer.__init__(self, server_address, RequestHandlerClass)
        self.socket: _stdsocket.socket = _socket(self.address_family, self.socket_type)
        if bind_and_activate:
            try:
                self.server_bind()
                self.server_activate()
            except:  # as the stdlib: close on anything, KeyboardInterrupt included
                self.server_close()
                raise


class UDPServer(TCPServer, _std.UDPServer):
    """``socketserver.UDPServer``; requests are ``(data, ferrosock.socket)`` tuples."""


if hasattr(_os, "fork"):

    class ForkingUDPServer(ForkingMixIn, UDPServer):
        pass

    class ForkingTCPServer(ForkingMixIn, TCPServer):
        pass


class ThreadingUDPServer(ThreadingMixIn, UDPServer):
    pass


class ThreadingTCPServer(ThreadingMixIn, TCPServer):
    pass


if hasattr(_stdsocket, "AF_UNIX"):

    class UnixStreamServer(TCPServer, _std.UnixStreamServer):
        pass

    class UnixDatagramServer(UDPServer, _std.UnixDatagramServer):
        pass

    class ThreadingUnixStreamServer(ThreadingMixIn, UnixStreamServer):
        pass

    class ThreadingUnixDatagramServer(ThreadingMixIn, UnixDatagramServer):
        pass

    # The stdlib grew these in 3.12: whether this interpreter's has them is read off the
    # module itself, so the names here are always exactly the running stdlib's.
    if hasattr(_std, "ForkingUnixStreamServer"):

        class ForkingUnixStreamServer(ForkingMixIn, UnixStreamServer):
            pass

        class ForkingUnixDatagramServer(ForkingMixIn, UnixDatagramServer):
            pass


# The stdlib module's other public names (the modules it imports, ``BufferedIOBase``), as
# the very same objects, so ``dir()`` matches it: code does write ``socketserver.socket``.
globals().update(
    {
        _name: _value
        for _name, _value in vars(_std).items()
        if not _name.startswith("_") and _name not in globals()
    }
)
