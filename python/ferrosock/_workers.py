"""Worker processes behind one address: ``Server(workers=N)`` and ``DatagramServer(workers=N)``.

The process that calls ``serve_forever()`` becomes a supervisor: it binds the listening
socket(s) once, forks N workers -- each builds its own native loop (an epoll instance and
an eventfd cannot be shared across ``fork``) and serves with its own interpreter -- and
then only watches them: a worker that dies is logged and replaced, one that keeps dying
at start stops the server with its error, and ``shutdown()``, Ctrl-C or ``SIGTERM`` stop
every worker, each flushing the replies it has already produced.

Balancing (``balance=``):

- ``"reuseport"`` (the default for TCP; UDP always): one ``SO_REUSEPORT`` socket per
  worker slot. The kernel hashes each new connection (or datagram flow) to one of them,
  so connections spread evenly and no accept wakes more than one process. A connection
  waits on the listener it was hashed to, even when that worker is busy and another is
  idle. The supervisor creates the sockets and keeps them open, so connections queued on
  a worker that dies wait for its replacement instead of being reset.
- ``"shared"`` (Unix sockets always): one listening socket inherited by every worker.
  Whichever worker is idle in ``epoll_wait`` takes the next connection, which favours
  idle workers but balances unevenly (the most recently idle worker tends to win) and
  wakes every idle worker for each connection.

The supervisor starts no thread: workers are forked from the thread that calls
``serve_forever()``, before anything of the server runs. A handler module may import,
configure and open files or sockets before forking; it must not start threads or event
loops, nor open connections meant to be used by each worker (they would be shared by all
of them): do that in ``on_worker_start()``, which runs in each worker before it serves.
"""

from __future__ import annotations

import errno as _errno
import logging
import mmap
import os
import pickle
import select
import signal
import socket as _std
import struct
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from ferrosock._native import set_parent_death_signal

__all__ = ["WorkerError"]

_log = logging.getLogger("ferrosock.server")

#: A worker that exits before it is ready, or this soon after, failed at start.
START_WINDOW = 1.0
#: Failures at start in a row, in one worker slot, that stop the server.
MAX_START_FAILURES = 5
#: Delay before restarting a slot after its n-th failure at start in a row.
_BACKOFF = (0.0, 0.05, 0.1, 0.2, 0.4)
#: How long a stopping worker flushes replies already produced, at most (``shutdown(t)``
#: with a smaller ``t`` flushes for ``t``)...
STOP_FLUSH = 0.8
#: ...and how long after that the supervisor kills what is left.
STOP_GRACE = 0.2
#: Bounds what a failing worker sends back (its traceback is cut to fit a pipe buffer).
_REPORT_MAX = 32 * 1024

_READY = b"R"
_ERROR = b"E"


class WorkerError(RuntimeError):
    """Worker processes kept failing at start, so the server stopped.

    ``__cause__`` is the exception the last failing worker raised, when it could be sent
    back (its traceback, formatted in the worker, is attached as a note); ``pid`` and
    ``exit_status`` describe that worker (``exit_status`` is negative for a signal, as in
    ``subprocess``).
    """

    def __init__(self, message: str, pid: int, exit_status: int) -> None:
        super().__init__(message)
        self.pid = pid
        self.exit_status = exit_status


def worker_count(workers: object) -> int:
    """``workers=`` as a number of processes: 0 or ``"auto"`` mean one per usable CPU."""
    if workers == "auto":
        workers = 0
    if not isinstance(workers, int) or isinstance(workers, bool):
        raise TypeError(f"workers must be an int or 'auto', not {type(workers).__name__}")
    if workers < 0:
        raise ValueError(f"workers must be >= 0 or 'auto', not {workers}")
    return workers or len(os.sched_getaffinity(0))


def balance_mode(balance: object, unix: bool, datagram: bool = False) -> str:
    """``balance=`` resolved for this socket: see the module docstring for the choice."""
    if balance is None:
        return "shared" if unix else "reuseport"
    if balance not in ("reuseport", "shared"):
        raise ValueError(f"balance must be 'reuseport' or 'shared', not {balance!r}")
    if unix and balance == "reuseport":
        raise ValueError("Unix sockets have no SO_REUSEPORT: use balance='shared'")
    if datagram and not unix and balance == "shared":
        raise ValueError("UDP workers use SO_REUSEPORT: use balance='reuseport'")
    return str(balance)


Bind = Callable[[Any, int, bool], "tuple[_std.socket, Any]"]


def open_sockets(
    bind: Bind,
    address: Any,
    kind: int,
    balance: str,
    count: int,
    backlog: int | None,
    reuse_port: bool = False,
) -> tuple[list[_std.socket], Any, Any]:
    """The sockets workers serve on: one per slot for ``"reuseport"`` (the first picks the
    port, the others join it), one for ``"shared"``. Returns them, the bound address and
    the Unix path record from ``bind``."""
    first, unix = bind(address, kind, reuse_port or balance == "reuseport")
    socks = [first]
    try:
        bound = first.getsockname()
        if balance == "reuseport":
            socks.extend(bind(bound, kind, True)[0] for _ in range(count - 1))
        if kind == _std.SOCK_STREAM:
            for s in socks:
                s.listen(_std.SOMAXCONN if backlog is None else backlog)
    except BaseException:
        for s in socks:
            s.close()
        if unix is not None:
            unix.remove()
        raise
    return socks, bound, unix


class _PidFilter(logging.Filter):
    """Marks the ``ferrosock.server`` records of a worker with its pid: in the message,
    as ``record.worker_pid``, and as a note on the exception of a handler-error record."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.note = f"(raised in ferrosock worker process {pid})"

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "worker_pid", None) is None:
            record.worker_pid = self.pid
            record.msg = f"worker {self.pid}: {record.msg}"
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None and self.note not in getattr(exc, "__notes__", ()):
                exc.add_note(self.note)
        return True


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Worker:
    __slots__ = ("eof", "pid", "pidfd", "ready_at", "report", "report_r", "slot", "started")

    def __init__(self, slot: int, pid: int, pidfd: int, report_r: int) -> None:
        self.slot = slot
        self.pid = pid
        self.pidfd = pidfd
        self.report_r = report_r
        self.report = bytearray()
        self.started = time.monotonic()
        self.ready_at: float | None = None
        self.eof = False  # the worker closed its end: stop watching the pipe

    def read_report(self) -> None:
        """Reads what the worker sent so far without blocking (a grandchild may hold the
        pipe open after the worker exits)."""
        while len(self.report) <= _REPORT_MAX + 1:
            try:
                chunk = os.read(self.report_r, 65536)
            except BlockingIOError:
                return
            if not chunk:
                self.eof = True
                return
            self.report += chunk
            if self.ready_at is None and self.report[:1] == _READY:
                self.ready_at = time.monotonic()

    def release(self) -> None:
        os.close(self.pidfd)
        os.close(self.report_r)


class Supervisor:
    """Stands where ``_ServerBase`` keeps its native core (``wakeup_fd``, ``serve()``,
    ``request_shutdown()``, ``close()``) and runs the workers instead of a loop."""

    def __init__(
        self,
        count: int,
        sockets: list[_std.socket],
        make_core: Callable[[int], Any],
        on_worker_start: Callable[[], object] | None,
    ) -> None:
        self._count = count
        self._sockets = sockets
        self._make_core = make_core
        self._on_worker_start = on_worker_start
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop = False
        # The flush bound of the current stop, in memory shared with the workers (an
        # anonymous mmap is MAP_SHARED): their SIGTERM handler reads it.
        self._flush = mmap.mmap(-1, 8)
        self._flush[:] = struct.pack("d", STOP_FLUSH)
        self._workers: dict[int, _Worker] = {}
        self._closed = False
        # Signals with Python handlers, blocked while the supervisor does its bookkeeping
        # (see serve()), and the mask to restore.
        self._blocked: set[int] = set()
        self._saved_mask: set[int] = set()

    # -- what _ServerBase calls -----------------------------------------------------------

    @property
    def wakeup_fd(self) -> int:
        return self._wake_w

    @property
    def worker_pids(self) -> tuple[int, ...]:
        return tuple(w.pid for w in list(self._workers.values()))  # list(): one step

    @property
    def closed(self) -> bool:
        return self._closed

    def request_shutdown(self, timeout: float) -> None:
        # A flag and a byte in a pipe: safe from any thread and from a signal handler.
        if not self._closed:
            self._flush[:] = struct.pack("d", max(0.0, min(timeout, STOP_FLUSH)))
        self._stop = True
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for s in self._sockets:
            s.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._flush.close()

    def serve(self) -> None:
        if self._closed:
            raise OSError(_errno.EBADF, "server is closed")
        if self._stop:  # shutdown() before serve_forever(): return at once, as socketserver
            self._stop = False
            return
        if threading.active_count() > 1:
            warnings.warn(
                "ferrosock workers are forked while other threads run; threads do not "
                "survive fork and locks they hold stay locked in the workers",
                RuntimeWarning,
                stacklevel=3,
            )
        old_term = None
        if threading.current_thread() is threading.main_thread():
            old_term = signal.signal(signal.SIGTERM, self._on_sigterm)
            # NOTE: a Python signal handler may raise (Ctrl-C) between any two bytecodes;
            # between a fork and the bookkeeping of its pid that would leave a worker
            # nobody supervises. So the signals that have Python handlers stay blocked
            # except while the supervisor waits in poll(), where raising is harmless.
            self._blocked = {s for s in signal.valid_signals() if callable(signal.getsignal(s))}
            self._saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, self._blocked)
        try:
            self._supervise()
        finally:
            try:
                self._stop_workers()
            finally:
                self._stop = False
                if self._blocked:
                    signal.pthread_sigmask(signal.SIG_SETMASK, self._saved_mask)
                    self._blocked = set()
                if old_term is not None:
                    signal.signal(signal.SIGTERM, old_term)

    def _poll(self, poller: select.poll, timeout: float | None) -> list[tuple[int, int]]:
        """``poller.poll`` (seconds; None waits for ever) with the blocked signals let in."""
        if not self._blocked:
            return poller.poll(None if timeout is None else timeout * 1000)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._saved_mask)
        try:
            return poller.poll(None if timeout is None else timeout * 1000)
        finally:
            signal.pthread_sigmask(signal.SIG_BLOCK, self._blocked)

    # -- supervision ----------------------------------------------------------------------

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self.request_shutdown(STOP_FLUSH)

    def _supervise(self) -> None:
        failures = dict.fromkeys(range(self._count), 0)
        due: dict[int, float] = {slot: 0.0 for slot in range(self._count)}
        while not self._stop:
            now = time.monotonic()
            for slot, when in sorted(due.items()):
                if when <= now:
                    del due[slot]
                    self._spawn(slot)
            if self._stop:
                break
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            by_fd: dict[int, _Worker] = {}
            for w in self._workers.values():
                by_fd[w.pidfd] = w
                poller.register(w.pidfd, select.POLLIN)
                if not w.eof:
                    by_fd[w.report_r] = w
                    poller.register(w.report_r, select.POLLIN)
            wait = None if not due else max(0.0, min(due.values()) - time.monotonic())
            events = self._poll(poller, wait)
            for fd, _ in events:
                if fd == self._wake_r:
                    self._drain_wake()
                    continue
                w = by_fd[fd]
                if self._workers.get(w.slot) is not w:
                    continue  # reaped by an earlier event of this batch
                if fd == w.report_r:
                    w.read_report()
                    continue
                status = self._reap(w)
                if self._stop:
                    continue
                fast = w.ready_at is None or time.monotonic() - w.ready_at < START_WINDOW
                failures[w.slot] = failures[w.slot] + 1 if fast else 0
                how = _describe(status)
                if failures[w.slot] >= MAX_START_FAILURES:
                    raise self._start_error(w, status, how, failures[w.slot])
                _, text, _ = _read_error(w.report)
                _log.error(
                    "worker %d exited unexpectedly (%s)%s; starting another",
                    w.pid,
                    how,
                    f" after {text.strip().splitlines()[-1]}" if text.strip() else "",
                )
                due[w.slot] = time.monotonic() + _BACKOFF[failures[w.slot]]

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _reap(self, w: _Worker) -> int:
        _, status = os.waitpid(w.pid, 0)
        w.read_report()
        del self._workers[w.slot]
        w.release()
        return status

    def _start_error(self, w: _Worker, status: int, how: str, tries: int) -> WorkerError:
        name, text, cause = _read_error(w.report)
        detail = text.strip().splitlines()[-1] if text.strip() else name or how
        err = WorkerError(
            f"worker processes failed at start {tries} times in a row "
            f"(last: pid {w.pid}, {how}): {detail}",
            w.pid,
            os.waitstatus_to_exitcode(status),
        )
        if text:
            err.add_note(f"traceback in worker {w.pid}:\n{text.rstrip()}")
        err.__cause__ = cause
        return err

    def _stop_workers(self) -> None:
        """SIGTERM to every worker (they flush and exit), SIGKILL to those still running at
        the deadline; returns once every worker is reaped. A second Ctrl-C meanwhile only
        moves the deadline to now."""
        if not self._workers:
            return
        for w in self._workers.values():
            _signal(w.pid, signal.SIGTERM)
        if not self._stop:  # Ctrl-C, or an error: the full flush bound
            self._flush[:] = struct.pack("d", STOP_FLUSH)
        flush = struct.unpack("d", self._flush[:])[0]
        deadline = time.monotonic() + flush + STOP_GRACE
        interrupted: BaseException | None = None
        while self._workers:
            left = deadline - time.monotonic()
            if left <= 0:
                for w in self._workers.values():
                    _signal(w.pid, signal.SIGKILL)
                deadline = float("inf")
                left = 1.0
            poller = select.poll()
            by_fd = {w.pidfd: w for w in self._workers.values()}
            for fd in by_fd:
                poller.register(fd, select.POLLIN)
            try:
                events = self._poll(poller, left)
            except (KeyboardInterrupt, SystemExit) as e:
                interrupted = interrupted or e
                deadline = 0.0
                continue
            for fd, _ in events:
                self._reap(by_fd[fd])
        if interrupted is not None:
            raise interrupted

    def _spawn(self, slot: int) -> None:
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        parent = os.getpid()
        # Unflushed output would be written twice, once by each process.
        _flush_std_streams()
        try:
            pid = os.fork()
        except BaseException:
            os.close(report_r)
            os.close(report_w)
            raise
        if pid == 0:  # pragma: no cover - runs in the worker, measured by the tests' effects
            os.close(report_r)
            self._worker_main(slot, parent, report_w)
        os.close(report_w)
        try:
            pidfd = os.pidfd_open(pid)
        except BaseException:
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(report_r)
            raise
        os.set_blocking(report_r, False)
        self._workers[slot] = _Worker(slot, pid, pidfd, report_r)

    # -- in the worker --------------------------------------------------------------------

    def _worker_main(self, slot: int, parent: int, report_w: int) -> NoReturn:
        status = 1
        try:
            # SIGKILL, not SIGTERM: nobody is left to escalate if the worker ignores it.
            # NOTE: the signal comes when the *thread* that forked exits; that thread runs
            # serve_forever(), which returns only after every worker has exited.
            set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != parent:  # the supervisor died before prctl took effect
                os._exit(1)
            # Ctrl-C reaches the whole process group; the supervisor decides what it means.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            for w in self._workers.values():
                w.release()
            self._workers.clear()
            mine = self._sockets[slot % len(self._sockets)]
            logging.getLogger("ferrosock.server").addFilter(_PidFilter(os.getpid()))
            if self._on_worker_start is not None:
                self._on_worker_start()
            core = self._make_core(mine.fileno())
            for s in self._sockets:
                s.close()
            flush = self._flush

            def on_sigterm(signum: int, frame: object) -> None:
                core.request_shutdown(struct.unpack("d", flush[:])[0])

            signal.signal(signal.SIGTERM, on_sigterm)
            signal.set_wakeup_fd(core.wakeup_fd, warn_on_full_buffer=False)
            if self._blocked:  # the supervisor's mask, inherited: a SIGTERM may be pending
                signal.pthread_sigmask(signal.SIG_SETMASK, self._saved_mask)
            os.write(report_w, _READY)
            core.serve()
            core.close()
            status = 0
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # everything goes back to the supervisor
            _send_error(report_w, e)
        finally:
            _flush_std_streams()
            os._exit(status)


def _read_error(report: bytes | bytearray) -> tuple[str, str, BaseException | None]:
    """The exception a worker sent (type name, formatted traceback, the exception itself
    when it could be sent), or empty values when it sent none."""
    body = bytes(report[1:] if report[:1] == _READY else report)
    if body[:1] != _ERROR:
        return "", "", None
    try:
        name, text, exc = pickle.loads(body[1:])
    except Exception:  # a cut or unloadable report: the exit status remains
        return "", "", None
    return str(name), str(text), exc if isinstance(exc, BaseException) else None


def _send_error(fd: int, exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))[-_REPORT_MAX // 2 :]
    try:
        payload = pickle.dumps((type(exc).__qualname__, text, exc))
        pickle.loads(payload)  # an exception whose constructor rejects its args won't load
    except Exception:  # send the text without the object
        payload = pickle.dumps((type(exc).__qualname__, text, None))
    if len(payload) > _REPORT_MAX:
        payload = pickle.dumps((type(exc).__qualname__, text, None))
    try:
        os.write(fd, _ERROR + payload)
    except OSError:
        pass


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
