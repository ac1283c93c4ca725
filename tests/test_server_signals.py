"""Ctrl-C and the command line: servers run in a subprocess that gets a real SIGINT."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from tests._server_util import frame, recv_exact, recv_frame, recv_until_eof

pytestmark = pytest.mark.timeout(60)

SCRIPT = textwrap.dedent(
    """
    import os, signal, socket, sys, threading
    # A shell may start us with SIGINT ignored (background jobs): restore Python's handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import ferrosock

    kind = sys.argv[1]
    fds_before = len(os.listdir("/proc/self/fd"))
    disconnects = []
    if kind == "datagram":
        srv = ferrosock.DatagramServer(("127.0.0.1", 0), lambda m, a: m)
    else:
        srv = ferrosock.Server(
            ("127.0.0.1", 0), lambda c, m: m, on_disconnect=lambda c, e: disconnects.append(e)
        )
    print(srv.server_address[1], flush=True)
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    after = signal.set_wakeup_fd(-1)
    print("wakeup restored", after == before, flush=True)
    if kind != "datagram":
        print("open", srv.connection_count, "disconnects", len(disconnects), flush=True)
    srv.close()
    print("fds restored", len(os.listdir("/proc/self/fd")) == fds_before, flush=True)
    """
)


def _start(kind: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), (line, proc.stderr.read() if proc.stderr else "")
    return proc, int(line)


def test_sigint_stops_serve_forever_promptly_and_closes_connections() -> None:
    proc, port = _start("stream")
    try:
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
        for c in clients:
            c.sendall(b"ping")
            assert recv_exact(c, 4) == b"ping"
        time.sleep(0.1)  # the loop is now idle in epoll_wait
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        for c in clients:
            assert recv_until_eof(c) == b""  # every connection closed
            c.close()
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "interrupted" in out
    assert "wakeup restored True" in out
    assert "open 0 disconnects 5" in out
    assert "fds restored True" in out
    # Reported, not asserted tightly (shared CI machines): the bound is 100 ms.
    assert elapsed < 5, elapsed


def test_sigint_stops_datagram_server() -> None:
    proc, port = _start("datagram")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(10)
            c.sendto(b"ping", ("127.0.0.1", port))
            assert c.recvfrom(100)[0] == b"ping"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "interrupted" in out and "wakeup restored True" in out
    assert "fds restored True" in out


def test_sigint_during_a_busy_handler_batch() -> None:
    """A signal arriving while handlers run is raised from the loop, not lost."""
    proc, port = _start("stream")
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        stop = time.monotonic() + 0.5
        while time.monotonic() < stop:
            c.sendall(b"x" * 1000)
            c.recv(1 << 16)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        c.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "interrupted" in out


@pytest.mark.parametrize("framing", ["raw", "frame", "line"])
def test_cli_serve_echo(framing: str, tmp_path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrosock", "serve", "--echo", "127.0.0.1:0", "--framing", framing],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.search(r"\('127\.0\.0\.1', (\d+)\)", line)
        assert m, line
        with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10) as c:
            if framing == "frame":
                c.sendall(frame(b"hello") + frame(b""))
                assert recv_frame(c) == b"hello"
                assert recv_frame(c) == b""
            elif framing == "line":
                c.sendall(b"hello\nworld\n")
                assert recv_exact(c, 12) == b"hello\nworld\n"
            else:
                c.sendall(b"hello")
                assert recv_exact(c, 5) == b"hello"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "interrupted" in err


def test_cli_serve_unix_and_errors(tmp_path) -> None:
    path = str(tmp_path / "cli.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferrosock", "serve", "--echo", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stderr is not None
        assert "serving echo" in proc.stderr.readline()
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(10)
            c.connect(path)
            c.sendall(b"unix")
            assert recv_exact(c, 4) == b"unix"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert not os.path.exists(path)
    bad = subprocess.run(
        [sys.executable, "-m", "ferrosock", "serve", "--echo", "nonsense"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode != 0 and "HOST:PORT" in bad.stderr
