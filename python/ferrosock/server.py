"""Event-loop servers in Rust that call Python only with whole messages.

``Server`` serves TCP (IPv4/IPv6) and Unix stream clients: the loop accepts, reads, cuts
the byte stream into messages (``framing='raw'``, ``'frame'`` or ``'line'``), calls the
handler once per message -- all messages of one poll iteration in one go, holding the GIL
once -- and writes the replies in order. ``DatagramServer`` does the same for UDP and Unix
datagram sockets with ``recvmmsg``/``sendmmsg``.

The waits for readiness run with the GIL released; Ctrl-C stops ``serve_forever`` at once
(the loop watches a ``signal.set_wakeup_fd`` pipe), and ``KeyboardInterrupt`` or
``SystemExit`` raised by a handler always propagates.

Handler errors (any ``Exception``) are logged on the ``"ferrosock.server"`` logger and
close only the connection whose handler raised; ``on_disconnect(conn, exc)`` receives the
exception. The other close reasons ``on_disconnect`` may see: ``None`` (clean close),
``OSError`` subclasses (``ConnectionResetError``...), ``EOFError`` (the peer closed in the
middle of a message), ``ferrosock.FrameError``/``ValueError`` (an oversized frame or line),
``TimeoutError`` (``idle_timeout`` / ``message_timeout``).
"""

from __future__ import annotations

import errno as _errno
import math
import os
import signal
import socket as _std
import stat
import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeAlias

from ferrosock import _workers
from ferrosock._native import Connection, DatagramServerCore, StreamServerCore
from ferrosock._workers import WorkerError

__all__ = ["Connection", "DatagramServer", "Server", "WorkerError"]

MiB = 1024 * 1024

Address: TypeAlias = "tuple[Any, ...] | str | bytes | os.PathLike[str] | os.PathLike[bytes]"
Reply: TypeAlias = "bytes | bytearray | memoryview | None"
Handler: TypeAlias = "Callable[[Connection, bytes], Reply]"
BatchHandler: TypeAlias = "Callable[[Connection, list[bytes]], Iterable[Reply] | None]"
DatagramHandler: TypeAlias = "Callable[[bytes, Any], Reply]"


def _is_path(address: object) -> bool:
    return isinstance(address, (str, bytes, os.PathLike))


def _check_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, not {value}")
    return value


def _check_timeout(name: str, value: object) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive, finite number of seconds or None")
    return float(value)


def _check_callable(name: str, value: object, required: bool = False) -> None:
    if value is None and not required:
        return
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")


def _stream_options(
    handler: Handler | None,
    batch_handler: BatchHandler | None,
    *,
    framing: str,
    header: str,
    delimiter: bytes,
    max_size: int,
    max_connections: int,
    idle_timeout: float | None,
    message_timeout: float | None,
    high_water: int,
    backlog: int | None,
    on_connect: Callable[[Connection], object] | None,
    on_disconnect: Callable[[Connection, BaseException | None], object] | None,
) -> dict[str, Any]:
    """Checks a stream server's options; returns ``StreamServerCore``'s keyword arguments
    (all but the socket). Shared by ``Server`` and ``ferrosock.asyncio.Server``."""
    if (handler is None) == (batch_handler is None):
        raise TypeError("Server() needs exactly one of handler and batch_handler")
    _check_callable("handler", handler if batch_handler is None else batch_handler, True)
    _check_callable("on_connect", on_connect)
    _check_callable("on_disconnect", on_disconnect)
    if framing not in ("raw", "frame", "line"):
        raise ValueError(f"framing must be 'raw', 'frame' or 'line', not {framing!r}")
    if not isinstance(header, str):
        raise TypeError(f"header must be a str, not {type(header).__name__}")
    if not isinstance(delimiter, bytes):
        raise TypeError(f"delimiter must be bytes, not {type(delimiter).__name__}")
    if not delimiter:
        raise ValueError("delimiter must not be empty")
    _check_int("max_size", max_size, 1)
    _check_int("max_connections", max_connections, 1)
    _check_int("high_water", high_water, 0)
    idle = _check_timeout("idle_timeout", idle_timeout)
    slow = _check_timeout("message_timeout", message_timeout)
    if backlog is not None:
        _check_int("backlog", backlog, 0)
    return {
        "handler": batch_handler if batch_handler is not None else handler,
        "batch": batch_handler is not None,
        "framing": framing,
        "header": header,
        "delimiter": delimiter,
        "max_size": max_size,
        "max_connections": max_connections,
        "idle_timeout": idle,
        "message_timeout": slow,
        "high_water": high_water,
        "on_connect": on_connect,
        "on_disconnect": on_disconnect,
    }


class _UnixPath:
    """A bound Unix socket file, removed on close if it is still the one we made."""

    __slots__ = ("dev", "ino", "path")

    def __init__(self, path: str | bytes) -> None:
        st = os.stat(path)
        self.path = path
        self.dev = st.st_dev
        self.ino = st.st_ino

    def remove(self) -> None:
        try:
            st = os.stat(self.path)
            if (st.st_dev, st.st_ino) == (self.dev, self.ino):
                os.unlink(self.path)
        except OSError:
            pass


def _remove_stale(path: str | bytes, kind: int) -> None:
    """Unlinks a socket file nobody listens on any more; a live one raises EADDRINUSE."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        return  # not ours to delete: bind() will fail with EADDRINUSE
    probe = _std.socket(_std.AF_UNIX, kind)
    try:
        probe.setblocking(False)
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    except BlockingIOError:
        pass  # a live listener with a full backlog
    except OSError:
        return
    finally:
        probe.close()
    raise OSError(
        _errno.EADDRINUSE, f"{os.strerror(_errno.EADDRINUSE)}: a server is running on {path!r}"
    )


def _bind(address: Address, kind: int, reuse_port: bool) -> tuple[_std.socket, _UnixPath | None]:
    """Creates and binds the server socket the way socketserver/asyncio do."""
    if _is_path(address):
        path = os.fspath(address)  # type: ignore[arg-type]
        abstract = path[:1] in ("\0", b"\0")
        if not abstract:
            _remove_stale(path, kind)
        sock = _std.socket(_std.AF_UNIX, kind)
        try:
            sock.bind(path)
            unix = None if abstract else _UnixPath(path)
        except BaseException:
            sock.close()
            raise
        return sock, unix
    if not isinstance(address, tuple) or len(address) not in (2, 4):
        raise TypeError(
            "address must be a (host, port) tuple, an IPv6 (host, port, flowinfo, scope_id) "
            f"tuple or a Unix socket path, not {type(address).__name__}"
        )
    host = address[0]
    if host is None:
        host = ""
        address = ("", *address[1:])
    if len(address) == 4 or (isinstance(host, str) and ":" in host):
        family = _std.AF_INET6
    else:
        family = _std.AF_INET
    sock = _std.socket(family, kind)
    try:
        if kind == _std.SOCK_STREAM:
            sock.setsockopt(_std.SOL_SOCKET, _std.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(_std.SOL_SOCKET, _std.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock, None


class _ServerBase:
    """What both servers share: the serve_forever/shutdown/close life cycle."""

    __slots__ = (
        "__weakref__",
        "_close_after_serve",
        "_inner",
        "_lock",
        "_on_worker_start",
        "_serving",
        "_stopped",
        "_unix",
        "server_address",
    )

    _inner: Any

    def _setup(
        self,
        inner: Any,
        address: Any,
        unix: _UnixPath | None,
        on_worker_start: Callable[[], object] | None = None,
    ) -> None:
        self._inner = inner
        self._on_worker_start = on_worker_start
        self._unix = unix
        self.server_address = address
        self._lock = threading.Lock()
        self._serving: int | None = None
        self._stopped = threading.Event()
        self._stopped.set()
        self._close_after_serve = False

    def _setup_workers(
        self,
        count: int,
        address: Address,
        kind: int,
        balance: str,
        backlog: int | None,
        make_core: Callable[[int], Any],
        on_worker_start: Callable[[], object] | None,
        reuse_port: bool,
    ) -> None:
        socks, bound, unix = _workers.open_sockets(
            _bind, address, kind, balance, count, backlog, reuse_port
        )
        try:
            make_core(socks[0].fileno()).close()  # bad options fail here, not in N workers
            inner = _workers.Supervisor(count, socks, make_core, on_worker_start)
        except BaseException:
            for s in socks:
                s.close()
            if unix is not None:
                unix.remove()
            raise
        self._setup(inner, bound, unix)

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Serves until ``shutdown()``, Ctrl-C or a ``BaseException`` from a callback.

        ``poll_interval`` is accepted for ``socketserver`` compatibility and ignored: the
        loop is woken by events, never by polling.
        """
        inner = self._inner
        if inner is None:
            raise OSError(_errno.EBADF, "server is closed")
        with self._lock:
            if self._serving is not None:
                raise RuntimeError("serve_forever() is already running")
            self._serving = threading.get_ident()
            self._stopped.clear()
            # One process (workers=1) is its own worker: the hook runs once, before serving.
            start, self._on_worker_start = self._on_worker_start, None
        installed = False
        old_fd = -1
        if threading.current_thread() is threading.main_thread():
            try:
                old_fd = signal.set_wakeup_fd(inner.wakeup_fd, warn_on_full_buffer=False)
                installed = True
            except ValueError:  # pragma: no cover - not the main interpreter
                pass
        try:
            if start is not None:
                start()
            inner.serve()
        finally:
            if installed:
                signal.set_wakeup_fd(old_fd)
            with self._lock:
                self._serving = None
                close = self._close_after_serve
            self._stopped.set()
            if close:
                self._release()

    def shutdown(self, timeout: float | None = 5.0) -> None:
        """Makes ``serve_forever`` return; callable from any thread (and from a handler).

        New connections stop being accepted and reading stops; pending replies are sent
        (for at most ``timeout`` seconds, ``None`` for no limit), then every connection is
        closed. From another thread, waits until ``serve_forever`` has returned. As with
        ``socketserver``, a request made while not serving makes the next
        ``serve_forever`` return at once.
        """
        inner = self._inner
        if inner is None:
            return
        inner.request_shutdown(math.inf if timeout is None else float(timeout))
        with self._lock:
            serving = self._serving
        if serving is not None and serving != threading.get_ident():
            self._stopped.wait()

    def close(self) -> None:
        """Stops serving (flushing replies as ``shutdown()`` does) and releases the
        listening socket, the loop and every connection; removes a Unix socket file."""
        if self._inner is None:
            return
        with self._lock:
            serving = self._serving
            if serving is not None and serving == threading.get_ident():
                # Called from a handler: finish when serve_forever unwinds.
                self._close_after_serve = True
        if serving is not None:
            if serving == threading.get_ident():
                self._inner.request_shutdown(5.0)
                return
            self.shutdown()
        self._release()

    def _release(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.close()
        if self._unix is not None:
            self._unix.remove()
            self._unix = None

    @property
    def closed(self) -> bool:
        return self._inner is None

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """The pids of the worker processes running now; ``()`` for ``workers=1``."""
        return getattr(self._inner, "worker_pids", ())

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._inner is None else f"address={self.server_address!r}"
        return f"<{type(self).__module__}.{type(self).__qualname__} {state}>"


class Server(_ServerBase):
    """A stream server (TCP over IPv4/IPv6, or Unix) whose event loop runs in Rust.

    ``handler(conn, message)`` is called with each complete message; a bytes-like return
    value is sent back (framed like the input: a length header for ``'frame'``, the
    delimiter appended for ``'line'``), ``None`` sends nothing. Alternatively,
    ``batch_handler(conn, messages)`` gets every message of a read at once and returns an
    iterable of replies (or ``None``).

    ``address`` is ``(host, port)`` (port 0 picks a free port; see ``server_address``), an
    IPv6 ``(host, port, flowinfo, scope_id)``, or a path for a Unix socket (a stale socket
    file is replaced; the file is removed on ``close()``).

    - ``framing``: ``'raw'`` (each chunk as read, at most ``max_size`` bytes), ``'frame'``
      (length-prefixed with ``header``, any format ``ferrosock.framing`` takes: ``'!I'``,
      ``'<H'``, ``'!Q'``...), ``'line'`` (split on ``delimiter``, which is stripped).
    - ``max_size``: the largest frame or line; a longer one closes that connection
      (``FrameError``), refused at its header without allocating the claimed size.
    - ``max_connections``: connections beyond it are accepted and closed at once.
    - ``idle_timeout``: a connection on which no byte was received or sent for that many
      seconds is closed (``TimeoutError``).
    - ``message_timeout``: a connection whose frame or line is still incomplete that many
      seconds after its first byte arrived is closed (``TimeoutError``).
    - ``high_water``: a connection whose unsent output exceeds it is not read until the
      output drains below a quarter of it.
    - ``reuse_port`` sets ``SO_REUSEPORT``; ``backlog`` defaults to ``socket.SOMAXCONN``.
      ``SO_REUSEADDR`` is set on TCP listeners, as asyncio does.
    - ``on_connect(conn)`` runs before the connection's first message;
      ``on_disconnect(conn, exc)`` runs once it is closed, for every connection
      ``on_connect`` saw.

    A connection closes gracefully (its queued replies flushed first, for at most 10 s)
    after ``conn.close()``, a peer's end of stream, a handler exception or a framing error.

    ``workers=N`` (``0`` or ``'auto'``: one per usable CPU) serves from N forked processes
    that ``serve_forever()`` supervises (see ``ferrosock._workers`` for what it does and
    what a handler module may do before the fork); ``balance`` is ``'reuseport'`` (default
    for TCP) or ``'shared'`` (Unix sockets); ``on_worker_start()`` runs in each worker
    before it serves. ``connection_count`` is then 0: connections live in the workers.
    """

    __slots__ = ()

    def __init__(
        self,
        address: Address,
        handler: Handler | None = None,
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
        workers: int | Literal["auto"] = 1,
        balance: Literal["reuseport", "shared"] | None = None,
        on_worker_start: Callable[[], object] | None = None,
    ) -> None:
        self._inner = None
        self._unix = None
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
        count = _workers.worker_count(workers)
        mode = _workers.balance_mode(balance, _is_path(address))
        _check_callable("on_worker_start", on_worker_start)

        def make_core(fd: int) -> StreamServerCore:
            return StreamServerCore(fd, **options)

        if count > 1:
            self._setup_workers(
                count,
                address,
                _std.SOCK_STREAM,
                mode,
                backlog,
                make_core,
                on_worker_start,
                bool(reuse_port),
            )
            return
        sock, unix = _bind(address, _std.SOCK_STREAM, bool(reuse_port))
        try:
            sock.listen(_std.SOMAXCONN if backlog is None else backlog)
            bound = sock.getsockname()
            inner = make_core(sock.fileno())
        except BaseException:
            if unix is not None:
                unix.remove()
            raise
        finally:
            sock.close()
        self._setup(inner, bound, unix, on_worker_start)

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return 0 if self._inner is None else self._inner.connection_count


class DatagramServer(_ServerBase):
    """A UDP (IPv4/IPv6) or Unix datagram server whose loop runs in Rust.

    Datagrams are received in batches with ``recvmmsg``; ``handler(message, address)`` is
    called for each (all of a batch under one GIL acquisition) and a bytes-like return
    value is sent back to ``address``; the replies of a batch leave in one ``sendmmsg``.
    A datagram longer than ``max_size`` is dropped (and logged), never truncated.

    ``workers=N`` serves from N supervised processes, as for ``Server``: UDP with one
    ``SO_REUSEPORT`` socket per worker, Unix datagram sockets with one shared socket.
    ``dropped`` is then 0: the counts live in the workers.
    """

    __slots__ = ()

    def __init__(
        self,
        address: Address,
        handler: DatagramHandler,
        *,
        max_size: int = 65535,
        batch_size: int = 64,
        high_water: int = 4 * MiB,
        reuse_port: bool = False,
        workers: int | Literal["auto"] = 1,
        on_worker_start: Callable[[], object] | None = None,
    ) -> None:
        self._inner = None
        self._unix = None
        _check_callable("handler", handler, True)
        _check_callable("on_worker_start", on_worker_start)
        _check_int("max_size", max_size, 1)
        _check_int("batch_size", batch_size, 1)
        _check_int("high_water", high_water, 0)
        if batch_size > 1024:
            raise ValueError("batch_size must be <= 1024")
        count = _workers.worker_count(workers)

        def make_core(fd: int) -> DatagramServerCore:
            return DatagramServerCore(
                fd, handler, max_size=max_size, batch_size=batch_size, high_water=high_water
            )

        if count > 1:
            mode = _workers.balance_mode(None, _is_path(address), datagram=True)
            self._setup_workers(
                count,
                address,
                _std.SOCK_DGRAM,
                mode,
                None,
                make_core,
                on_worker_start,
                bool(reuse_port),
            )
            return
        sock, unix = _bind(address, _std.SOCK_DGRAM, bool(reuse_port))
        try:
            bound = sock.getsockname()
            inner = make_core(sock.fileno())
        except BaseException:
            if unix is not None:
                unix.remove()
            raise
        finally:
            sock.close()
        self._setup(inner, bound, unix, on_worker_start)

    @property
    def dropped(self) -> int:
        """Datagrams dropped because they were longer than ``max_size``."""
        return 0 if self._inner is None else self._inner.dropped


# --- python -m ferrosock serve ----------------------------------------------------------


def _parse_endpoint(text: str) -> Address:
    """``HOST:PORT``, ``[IPV6]:PORT``, ``:PORT`` (all interfaces) or a Unix socket path."""
    if "/" in text:
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, [HOST]:PORT or a Unix socket path, not {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host, int(port))


def _echo(conn: Connection, message: bytes) -> bytes:
    return message


def serve_main(argv: Iterable[str]) -> int:
    """``python -m ferrosock serve --echo HOST:PORT [--framing ...]``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m ferrosock serve",
        description="Run a ferrosock.Server from the command line.",
    )
    parser.add_argument(
        "--echo",
        metavar="HOST:PORT",
        required=True,
        help="serve an echo server on HOST:PORT ([::1]:PORT for IPv6, a path for a Unix "
        "socket; port 0 picks a free port)",
    )
    parser.add_argument("--framing", choices=("raw", "frame", "line"), default="raw")
    parser.add_argument("--header", default="!I", help="frame header format (default !I)")
    parser.add_argument(
        "--delimiter",
        default="\\n",
        help="line delimiter, with Python escapes (default \\n)",
    )
    parser.add_argument("--max-size", type=int, default=16 * MiB)
    parser.add_argument("--max-connections", type=int, default=10_000)
    parser.add_argument("--idle-timeout", type=float, default=None)
    parser.add_argument("--reuse-port", action="store_true")
    parser.add_argument(
        "--workers",
        default="1",
        help="worker processes; 0 or 'auto' for one per usable CPU (default 1: no extra process)",
    )
    parser.add_argument("--balance", choices=("reuseport", "shared"), default=None)
    args = parser.parse_args(list(argv))
    try:
        address = _parse_endpoint(args.echo)
        delimiter = args.delimiter.encode("latin-1").decode("unicode_escape").encode("latin-1")
        workers = args.workers if args.workers == "auto" else int(args.workers)
        server = Server(
            address,
            _echo,
            framing=args.framing,
            header=args.header,
            delimiter=delimiter,
            max_size=args.max_size,
            max_connections=args.max_connections,
            idle_timeout=args.idle_timeout,
            reuse_port=args.reuse_port,
            workers=workers,
            balance=args.balance,
        )
    except (OSError, ValueError, TypeError) as exc:
        parser.exit(1, f"{parser.prog}: error: {exc}\n")
    with server:
        print(
            f"serving echo on {server.server_address!r} (framing={args.framing}, "
            f"workers={_workers.worker_count(workers)})",
            file=sys.stderr,
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("interrupted, exiting", file=sys.stderr, flush=True)
    return 0
