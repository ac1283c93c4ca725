"""``Server(workers=N)`` / ``DatagramServer(workers=N)``: supervised worker processes.

The supervisor runs in a subprocess (it forks, and the tests send it signals); the test
talks to it over loopback and watches its children through ``/proc``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import ferrosock
from tests._server_util import recv_exact, recv_until_eof, running

pytestmark = pytest.mark.timeout(60)

SUPERVISOR = textwrap.dedent(
    """
    import json, logging, os, signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import ferrosock

    opts = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")

    def handler(conn, msg):
        if msg == b"pid":
            return str(os.getpid()).encode()
        if msg.startswith(b"sleep"):
            time.sleep(float(msg[5:]))
            return b"slept " + str(os.getpid()).encode()
        if msg == b"boom":
            raise ValueError("boom")
        return msg

    def on_worker_start():
        if opts.get("fail"):
            raise ImportError("cannot import name 'app' from 'handlers'")
        out(worker_start=os.getpid())

    def out(**kw):
        os.write(1, (json.dumps(kw) + "\\n").encode())  # one write: workers share the pipe

    fds_before = len(os.listdir("/proc/self/fd"))
    address = opts["address"] if isinstance(opts["address"], str) else tuple(opts["address"])
    if opts.get("datagram"):
        srv = ferrosock.DatagramServer(
            address,
            lambda m, a: str(os.getpid()).encode(),
            workers=opts["workers"],
            on_worker_start=on_worker_start,
        )
    else:
        srv = ferrosock.Server(
            address,
            handler,
            workers=opts["workers"],
            balance=opts.get("balance"),
            on_worker_start=on_worker_start,
        )
    signal.signal(signal.SIGUSR1, lambda *a: out(pids=srv.worker_pids))
    signal.signal(signal.SIGUSR2, lambda *a: srv.shutdown(opts.get("shutdown_timeout", 5.0)))
    out(address=srv.server_address)
    if opts.get("thread_shutdown"):
        import threading

        def stop_when_up():
            while len(srv.worker_pids) < opts["workers"]:
                time.sleep(0.01)
            srv.shutdown()
            out(shutdown_returned=True, pids=srv.worker_pids)

        threading.Thread(target=stop_when_up).start()
    try:
        srv.serve_forever()
        out(returned=True, pids=srv.worker_pids)
    except KeyboardInterrupt:
        out(interrupted=True, pids=srv.worker_pids)
    except ferrosock.WorkerError as e:
        out(error=str(e), cause=type(e.__cause__).__name__, notes=getattr(e, "__notes__", []))
    srv.close()
    out(closed=True, fds_restored=len(os.listdir("/proc/self/fd")) == fds_before)
    """
)


def children(pid: int) -> set[int]:
    """Live (non-zombie) processes whose parent is ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


class Supervisor:
    def __init__(self, **opts: Any) -> None:
        opts.setdefault("address", ["127.0.0.1", 0])
        opts.setdefault("workers", 2)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, json.dumps(opts)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.started: list[int] = []
        first = self.read("address")
        addr = first["address"]
        self.address = addr if isinstance(addr, str) else tuple(addr)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read(self, key: str) -> dict[str, Any]:
        """The next line the script prints that has ``key`` (worker starts are noted)."""
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, f"supervisor exited: {self.proc.stderr.read() if self.proc.stderr else ''}"
            msg = json.loads(line)
            if "worker_start" in msg:
                self.started.append(msg["worker_start"])
            if key in msg:
                return msg

    def workers(self, n: int = 2) -> set[int]:
        """Waits until ``n`` workers have started and returns the live ones."""
        while len(self.started) < n:
            self.read("worker_start")

        def exactly_n() -> set[int] | None:
            kids = children(self.pid)
            return kids if len(kids) == n else None

        return wait_for(exactly_n)

    def connect(self, timeout: float = 10.0) -> socket.socket:
        if isinstance(self.address, str):
            s = socket.socket(socket.AF_UNIX)
        else:
            s = socket.socket(socket.AF_INET)
        s.settimeout(timeout)
        s.connect(self.address)
        return s

    def finish(self) -> tuple[str, str]:
        out, err = self.proc.communicate(timeout=20)
        return out, err

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=20)


@contextlib.contextmanager
def supervisor(**opts: Any) -> Iterator[Supervisor]:
    sup = Supervisor(**opts)
    try:
        yield sup
    finally:
        if sup.proc.poll() is None:
            sup.kill()
        # Whatever happened, no worker outlives the test.
        wait_for(lambda: not children(sup.pid), 5)
        for pipe in (sup.proc.stdout, sup.proc.stderr):
            if pipe is not None:
                pipe.close()


def ask_pid(c: socket.socket) -> int:
    c.sendall(b"pid")
    return int(c.recv(64))


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


# --- in-process: options and workers=1 ----------------------------------------------------


def test_worker_count_and_balance_are_checked() -> None:
    with pytest.raises(ValueError, match="workers"):
        ferrosock.Server(("127.0.0.1", 0), lambda c, m: m, workers=-1)
    with pytest.raises(TypeError, match="workers"):
        ferrosock.Server(("127.0.0.1", 0), lambda c, m: m, workers=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="balance"):
        ferrosock.Server(("127.0.0.1", 0), lambda c, m: m, workers=2, balance="random")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_worker_start"):
        ferrosock.Server(("127.0.0.1", 0), lambda c, m: m, on_worker_start=3)  # type: ignore[arg-type]


def test_unix_sockets_refuse_reuseport(tmp_path) -> None:
    path = str(tmp_path / "w.sock")
    with pytest.raises(ValueError, match="SO_REUSEPORT"):
        ferrosock.Server(path, lambda c, m: m, workers=2, balance="reuseport")
    assert not os.path.exists(path)


def test_auto_means_one_per_usable_cpu() -> None:
    from ferrosock import _workers

    cpus = len(os.sched_getaffinity(0))
    assert _workers.worker_count("auto") == cpus
    assert _workers.worker_count(0) == cpus
    assert _workers.worker_count(3) == 3


def test_bad_options_fail_in_the_constructor_not_in_the_workers(no_fd_leak) -> None:
    with pytest.raises(ValueError):
        ferrosock.Server(("127.0.0.1", 0), lambda c, m: m, framing="frame", header="!z", workers=2)


def test_one_worker_is_this_process(no_fd_leak) -> None:
    started: list[int] = []
    srv = ferrosock.Server(
        ("127.0.0.1", 0), lambda c, m: m, on_worker_start=lambda: started.append(os.getpid())
    )
    with running(srv):
        with socket.create_connection(srv.server_address, timeout=10) as c:
            c.sendall(b"hi")
            assert recv_exact(c, 2) == b"hi"
        assert srv.worker_pids == ()
    assert started == [os.getpid()]


def test_supervisor_closed_without_serving_releases_everything(no_fd_leak, tmp_path) -> None:
    path = str(tmp_path / "s.sock")
    srv = ferrosock.Server(path, lambda c, m: m, workers=3)
    assert srv.worker_pids == ()
    srv.close()
    assert not os.path.exists(path)
    srv = ferrosock.DatagramServer(("127.0.0.1", 0), lambda m, a: m, workers=2)
    srv.close()


def test_parent_death_signal_roundtrip() -> None:
    from ferrosock._native import parent_death_signal, set_parent_death_signal

    assert parent_death_signal() == 0
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            set_parent_death_signal(signal.SIGTERM)
            os._exit(0 if parent_death_signal() == signal.SIGTERM else 3)
        finally:
            os._exit(4)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    with pytest.raises(ValueError):
        set_parent_death_signal(1000)


# --- supervised workers ----------------------------------------------------------------


@pytest.mark.parametrize("balance", ["reuseport", "shared"])
def test_64_connections_are_served_by_the_workers(balance: str) -> None:
    with supervisor(balance=balance) as sup:
        pids = sup.workers(2)
        os.kill(sup.pid, signal.SIGUSR1)
        assert set(sup.read("pids")["pids"]) == pids  # server.worker_pids
        conns = [sup.connect() for _ in range(64)]
        served = Counter(ask_pid(c) for c in conns)
        for c in conns:
            c.close()
        assert set(served) <= pids
        assert sum(served.values()) == 64
        if balance == "reuseport":
            # The kernel hashes each connection to one listener: both get some (the odds
            # of 64 hashing alike are 2**-63). The evenness is measured in bench/.
            assert set(served) == pids
        os.kill(sup.pid, signal.SIGTERM)
        out, err = sup.finish()
    assert sup.proc.returncode == 0, err
    assert {"returned": True, "pids": []} in lines(out)


def test_kill_9_of_a_worker_under_load() -> None:
    with supervisor(balance="reuseport") as sup:
        pids = sup.workers(2)
        conns = [sup.connect() for _ in range(32)]
        owner = {c: ask_pid(c) for c in conns}
        victim = max(pids, key=lambda p: list(owner.values()).count(p))
        for c in conns:  # requests in flight on every connection as the worker dies
            c.sendall(b"in-flight")
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: not alive(victim))
        # Connections made while the worker is dead wait in its slot's listener.
        during = [sup.connect() for _ in range(16)]
        for c in conns:
            if owner[c] == victim:
                with contextlib.suppress(OSError):
                    c.sendall(b"after")
                assert recv_until_eof(c) in (b"", b"in-flight")  # its connections fail...
            else:
                assert recv_exact(c, 9) == b"in-flight"
                for i in range(20):  # ...the others' continue
                    c.sendall(b"msg%d" % i)
                    want = b"msg%d" % i
                    assert recv_exact(c, len(want)) == want
        replacement = wait_for(lambda: children(sup.pid) - pids, 5)
        assert len(replacement) == 1, children(sup.pid)
        assert "killed by SIGKILL" in _stderr_line_with(sup, str(victim))
        # Nothing else is lost: every connection made during the restart is served, and
        # new ones reach the replacement.
        served = {ask_pid(c) for c in during}
        assert served <= (pids - {victim}) | replacement
        more = [sup.connect() for _ in range(64)]
        served |= {ask_pid(c) for c in more}
        assert replacement <= served
        for c in conns + during + more:
            c.close()
        os.kill(sup.pid, signal.SIGTERM)
        _, err = sup.finish()
    assert sup.proc.returncode == 0, err


def _stderr_line_with(sup: Supervisor, text: str) -> str:
    """Reads the supervisor's stderr (it is still running) up to the line with ``text``."""
    assert sup.proc.stderr is not None
    for _ in range(100):
        line = sup.proc.stderr.readline()
        if text in line or not line:
            return line
    return ""


@pytest.mark.parametrize("how", ["SIGTERM", "shutdown"])
def test_graceful_stop_flushes_replies_in_flight(how: str) -> None:
    with supervisor() as sup:
        pids = sup.workers(2)
        owner: dict[socket.socket, int] = {}
        spare = []
        while set(owner.values()) != pids:  # one connection on each worker
            c = sup.connect()
            pid = ask_pid(c)
            (spare if pid in owner.values() else owner.setdefault(c, pid) and []).append(c)
        conns = list(owner)
        for c in conns:
            c.sendall(b"sleep0.3")
        time.sleep(0.1)  # the handlers are now sleeping
        os.kill(sup.pid, signal.SIGTERM if how == "SIGTERM" else signal.SIGUSR2)
        for c in conns:
            assert recv_until_eof(c) == b"slept %d" % owner[c]
            c.close()
        for c in spare:
            c.close()
        out, err = sup.finish()
    assert sup.proc.returncode == 0, err
    msgs = lines(out)
    assert {"returned": True, "pids": []} in msgs
    assert {"closed": True, "fds_restored": True} in msgs
    assert not any(alive(p) for p in pids)


def test_ctrl_c_to_the_process_group_stops_every_worker() -> None:
    with supervisor() as sup:
        pids = sup.workers(2)
        with sup.connect() as c:
            assert ask_pid(c) in pids
            os.killpg(sup.pid, signal.SIGINT)  # what a terminal does
            assert recv_until_eof(c) == b""
        out, err = sup.finish()
    assert sup.proc.returncode == 0, err
    assert {"interrupted": True, "pids": []} in lines(out)
    assert not any(alive(p) for p in pids)


def test_sigkill_of_the_supervisor_leaves_no_worker() -> None:
    with supervisor() as sup:
        pids = sup.workers(2)
        os.kill(sup.pid, signal.SIGKILL)
        sup.proc.wait(timeout=10)
        assert wait_for(lambda: not any(alive(p) for p in pids), 10)


def test_a_worker_that_fails_at_start_stops_the_server_with_its_error() -> None:
    with supervisor(fail=True) as sup:
        out, err = sup.finish()
        assert not children(sup.pid)
    assert sup.proc.returncode == 0, err
    (report,) = [m for m in lines(out) if "error" in m]
    assert report["cause"] == "ImportError"
    assert "failed at start" in report["error"]
    assert "cannot import name 'app' from 'handlers'" in report["error"]
    assert any("on_worker_start" in n for n in report["notes"])  # the worker's traceback
    assert "starting another" in err  # it was retried before giving up
    assert {"closed": True, "fds_restored": True} in lines(out)


def test_handler_errors_name_the_worker(tmp_path) -> None:
    with supervisor() as sup:
        pids = sup.workers(2)
        with sup.connect() as c:
            pid = ask_pid(c)
            c.sendall(b"boom")
            assert recv_until_eof(c) == b""
        os.kill(sup.pid, signal.SIGTERM)
        _, err = sup.finish()
    assert sup.proc.returncode == 0, err
    assert pid in pids
    assert f"worker {pid}: handler raised" in err
    assert f"(raised in ferrosock worker process {pid})" in err


def test_unix_socket_workers_share_one_listener_and_remove_the_file(tmp_path) -> None:
    path = str(tmp_path / "workers.sock")
    with supervisor(address=path) as sup:
        pids = sup.workers(2)
        conns = [sup.connect() for _ in range(8)]
        assert {ask_pid(c) for c in conns} <= pids
        for c in conns:
            c.close()
        os.kill(sup.pid, signal.SIGTERM)
        out, err = sup.finish()
    assert sup.proc.returncode == 0, err
    assert {"closed": True, "fds_restored": True} in lines(out)
    assert not os.path.exists(path)


def test_datagram_workers_share_the_port() -> None:
    with supervisor(datagram=True) as sup:
        pids = sup.workers(2)
        served = set()
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
        for s in clients:
            s.settimeout(10)
            s.sendto(b"pid", sup.address)
            served.add(int(s.recvfrom(64)[0]))
            s.close()
        assert served == pids  # 64 source ports hash to both sockets (odds as for TCP)
        os.kill(sup.pid, signal.SIGTERM)
        out, err = sup.finish()
    assert sup.proc.returncode == 0, err
    assert {"closed": True, "fds_restored": True} in lines(out)


def test_cli_serve_workers() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrosock", "serve", "--echo", "127.0.0.1:0", "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "workers=2" in line, line
        port = int(line.split("', ")[1].split(")")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"hello")
            assert recv_exact(c, 5) == b"hello"
        assert len(wait_for(lambda: len(kids := children(proc.pid)) == 2 and kids)) == 2
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert "interrupted" in err
    assert not children(proc.pid)


def test_shutdown_from_another_thread_warns_about_forking_with_threads() -> None:
    with supervisor(thread_shutdown=True) as sup:
        out, err = sup.finish()
    assert sup.proc.returncode == 0, err
    msgs = lines(out)
    # shutdown() returns only once serve_forever() has, every worker gone.
    assert {"shutdown_returned": True, "pids": []} in msgs
    assert {"returned": True, "pids": []} in msgs
    assert "RuntimeWarning: ferrosock workers are forked while other threads run" in err


def test_shutdown_timeout_bounds_the_flush_then_kills() -> None:
    with supervisor(shutdown_timeout=0.05) as sup:
        pids = sup.workers(2)
        with sup.connect() as c:
            c.sendall(b"sleep30")  # a handler that will not finish
            time.sleep(0.1)
            os.kill(sup.pid, signal.SIGUSR2)
            assert recv_until_eof(c) == b""  # killed after the flush bound, no reply
        out, err = sup.finish()
    assert sup.proc.returncode == 0, err
    assert {"returned": True, "pids": []} in lines(out)
    assert "exited unexpectedly" not in err
    assert not any(alive(p) for p in pids)
