"""UDP echo, Unix-domain echo (stale socket file, permission denied) and socketpair() with
os.fork() (seed 000)."""

from __future__ import annotations

import errno
import os
import pwd
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.example_runner import IMPLS, check_lines, free_port, run, running

pytestmark = [pytest.mark.parametrize("impl", IMPLS), pytest.mark.usefixtures("no_fd_leak")]

MESSAGE = b"This is the message.  It will be repeated."
CHUNKS = [b"This is the mess", b"age.  It will be", b" repeated."]
UDS_SERVER_OUTPUT = [
    "starting up on ./uds_socket",
    "waiting for a connection",
    "connection from ",  # the client's socket is unnamed: its address is ''
    *[line for c in CHUNKS for line in (f"received {c!r}", "sending data back to the client")],
    "received b''",
    "no data from ",
    "waiting for a connection",
]
UDS_CLIENT_OUTPUT = [
    "connecting to ./uds_socket",
    f"sending {MESSAGE!r}",
    *[f"received {c!r}" for c in CHUNKS],
    "closing socket",
]


def test_udp_echo(impl: str) -> None:
    port = free_port(socket.SOCK_DGRAM)
    args = ("--port", str(port))
    with running("socket_echo_server_dgram", *args, impl=impl, ready="^waiting to receive") as srv:
        client = run("socket_echo_client_dgram", *args, impl=impl)
        srv.wait_for(r"^sent .*\n\nwaiting to receive message\n")
    check_lines(
        client,
        [f"sending {MESSAGE!r}", "waiting to receive", f"received {MESSAGE!r}", "closing socket"],
    )
    peer = r"\('127\.0\.0\.1', \d+\)"
    check_lines(
        srv.output,
        [
            f"starting up on localhost port {port}",
            "",
            "waiting to receive message",
            re.compile(f"received 42 bytes from {peer}"),
            str(MESSAGE),
            re.compile(f"sent 42 bytes back to {peer}"),
            "",
            "waiting to receive message",
        ],
    )


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A scratch directory other users can enter (pytest's tmp_path is private to root),
    for the permission-denied case, where the client runs as another user."""
    d = Path(tempfile.mkdtemp(prefix="ferrosock-uds-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def _leave_stale_socket(path: Path) -> None:
    """What a killed server leaves behind: the socket's file, with nobody listening."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(path))
    assert stat.S_ISSOCK(path.lstat().st_mode)


def test_uds_echo_removes_stale_socket(impl: str, shared_dir: Path) -> None:
    _leave_stale_socket(shared_dir / "uds_socket")
    with running(
        "socket_echo_server_uds", impl=impl, cwd=shared_dir, ready="^waiting for a connection\n"
    ) as srv:
        client = run("socket_echo_client_uds", impl=impl, cwd=shared_dir)
        srv.wait_for(r"^no data from \nwaiting for a connection\n")
    check_lines(client, UDS_CLIENT_OUTPUT)
    check_lines(srv.output, UDS_SERVER_OUTPUT)


def test_uds_client_without_server(impl: str, shared_dir: Path) -> None:
    out = run("socket_echo_client_uds", impl=impl, cwd=shared_dir, returncode=1)
    check_lines(
        out, ["connecting to ./uds_socket", f"[Errno {errno.ENOENT}] {os.strerror(errno.ENOENT)}"]
    )


def test_uds_client_permission_denied(impl: str, shared_dir: Path) -> None:
    """The seed's 权限 section: the socket file belongs to root, mode srwxr-xr-x; a client
    running as another user may not write to it, so connect() fails with EACCES.

    As root (this machine), the client runs as `nobody`: the runner drops its privileges
    with os.setuid() before running the example. As another user, the file's owner write
    bit is removed instead, which denies the owner too."""
    root = os.geteuid() == 0
    if root:
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("running as root and there is no 'nobody' user to run the client as")
    with running(
        "socket_echo_server_uds", impl=impl, cwd=shared_dir, ready="^waiting for a connection\n"
    ) as srv:
        sock_file = shared_dir / "uds_socket"
        # `sudo chown root ./uds_socket` in the seed; the mode makes it independent of umask.
        sock_file.chmod(0o755 if root else 0o555)
        out = run(
            "socket_echo_client_uds",
            impl=impl,
            cwd=shared_dir,
            returncode=1,
            as_nobody=root,
        )
        # The server never saw a connection.
        check_lines(srv.output, UDS_SERVER_OUTPUT[:2])
    check_lines(
        out, ["connecting to ./uds_socket", f"[Errno {errno.EACCES}] {os.strerror(errno.EACCES)}"]
    )


def test_socketpair_fork(impl: str) -> None:
    # On a terminal, as in the seed: each line is written whole (see run(tty=True)).
    lines = run("socket_socketpair", impl=impl, tty=True).splitlines()
    # Two processes print the first two lines, in either order; the rest is causal.
    assert sorted(lines[:2]) == ["in child, waiting for message", "in parent, sending message"]
    assert lines[2:] == ["message from parent: b'ping'", "response from child: b'pong'"]
