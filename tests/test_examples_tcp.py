"""TCP echo servers and clients (seeds 000, 002 and 003).

Each test starts the server as a subprocess on a free port, waits for it to say it is
listening, runs the client to completion, then waits for the server to report the end of the
connection, kills it and checks both outputs line by line.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket

import pytest

from tests.example_runner import IMPLS, check_lines, free_port, run, running

pytestmark = [pytest.mark.parametrize("impl", IMPLS), pytest.mark.usefixtures("no_fd_leak")]

MESSAGE = b"This is the message.  It will be repeated."
CHUNKS = [MESSAGE[i : i + 16] for i in range(0, len(MESSAGE), 16)]
PEER = r"\('127\.0\.0\.1', \d+\)"


def _loopback_hostname() -> str:
    """This machine's own name if it resolves to loopback (it does here), else localhost."""
    name = socket.gethostname()
    try:
        return name if socket.gethostbyname(name).startswith("127.") else "localhost"
    except OSError:
        return "localhost"


def test_echo_server_and_client(impl: str) -> None:
    port = free_port()
    args = ("--port", str(port))
    with running("socket_echo_server", *args, impl=impl, ready="^waiting") as server:
        client = run("socket_echo_client", *args, impl=impl)
        server.wait_for(r"^no data from .*\nwaiting for a connection\n")
    check_lines(
        client,
        [
            f"connecting to localhost port {port}",
            f"sending {MESSAGE!r}",
            *[f"received {c!r}" for c in CHUNKS],
            "closing socket",
        ],
    )
    assert CHUNKS == [b"This is the mess", b"age.  It will be", b" repeated."]
    check_lines(
        server.output,
        [
            f"starting up on localhost port {port}",
            "waiting for a connection",
            re.compile(f"connection from {PEER}"),
            *[
                line
                for c in CHUNKS
                for line in (f"received {c!r}", "sending data back to the client")
            ],
            "received b''",
            re.compile(f"no data from {PEER}"),
            "waiting for a connection",
        ],
    )


def test_echo_client_easy_create_connection(impl: str) -> None:
    port = free_port()
    args = ("--port", str(port))
    with running("socket_echo_server", *args, impl=impl, ready="^waiting") as server:
        client = run("socket_echo_client_easy", *args, impl=impl)
        server.wait_for(r"^no data from .*\nwaiting for a connection\n")
    check_lines(
        client,
        [
            "Family  : AF_INET",
            "Type    : SOCK_STREAM",
            "Protocol: IPPROTO_TCP",
            "",
            f"sending {MESSAGE!r}",
            *[f"received {c!r}" for c in CHUNKS],
            "closing socket",
        ],
    )
    assert server.output.count("sending data back to the client") == 3


def test_echo_explicit_address(impl: str) -> None:
    name, port = _loopback_hostname(), free_port()
    args = (name, "--port", str(port))
    with running("socket_echo_server_explicit", *args, impl=impl, ready="^waiting") as server:
        client = run("socket_echo_client_explicit", *args, impl=impl)
        server.wait_for(r"^received b''\nwaiting for a connection\n")
    check_lines(
        client,
        [
            f"connecting to {name} port {port}",
            f"sending {MESSAGE!r}",
            *[f"received {c!r}" for c in CHUNKS],
        ],
    )
    check_lines(
        server.output,
        [
            f"starting up on {name} port {port}",
            "waiting for a connection",
            re.compile(f"client connected: {PEER}"),
            *[f"received {c!r}" for c in CHUNKS],
            "received b''",
            "waiting for a connection",
        ],
    )


@pytest.mark.parametrize(("host", "shown"), [(("--host", ""), "0.0.0.0"), ((), "127.0.0.1")])
def test_echo_server_any(impl: str, host: tuple[str, ...], shown: str) -> None:
    # --host '' is the seed's INADDR_ANY; the client still talks over loopback.
    port = free_port()
    with running(
        "socket_echo_server_any", *host, "--port", str(port), impl=impl, ready="^waiting"
    ) as server:
        client = run("socket_echo_client", "--port", str(port), impl=impl)
        server.wait_for(r"^received b''\nwaiting for a connection\n")
    assert f"received {CHUNKS[-1]!r}" in client
    check_lines(
        server.output,
        [
            f"starting up on {shown} port {port}",
            "waiting for a connection",
            re.compile(f"client connected: {PEER}"),
            *[f"received {c!r}" for c in CHUNKS],
            "received b''",
            "waiting for a connection",
        ],
    )


def test_docs_echo_pair(impl: str) -> None:
    port = free_port()
    args = ("--port", str(port))
    with running("docs_echo_server", *args, impl=impl, listening=port) as server:
        client = run("docs_echo_client", *args, impl=impl)
        assert server.wait() == 0  # serves one client, then exits
    check_lines(client, ["Received b'Hello, world'"])
    check_lines(server.output, [re.compile(f"Connected by {PEER}")])


@pytest.mark.parametrize(
    ("host", "peer"),
    [("localhost", PEER), ("127.0.0.1", PEER), ("::1", r"\('::1', \d+, 0, 0\)")],
)
def test_docs_dualstack_echo_pair(impl: str, host: str, peer: str) -> None:
    port = free_port(host="::1" if host == "::1" else "127.0.0.1")
    args = ("--host", host, "--port", str(port))
    with running("docs_echo_server_dualstack", *args, impl=impl, listening=port) as server:
        client = run("docs_echo_client_dualstack", *args, impl=impl)
        assert server.wait() == 0
    check_lines(client, ["Received b'Hello, world'"])
    check_lines(server.output, [re.compile(f"Connected by {peer}")])


def test_docs_dualstack_client_without_server(impl: str) -> None:
    # Every address refuses: the client's loop runs out and it says so.
    port = free_port()
    out = run("docs_echo_client_dualstack", "--port", str(port), impl=impl, returncode=1)
    check_lines(out, ["could not open socket"])


def test_reuseaddr(impl: str) -> None:
    port = free_port()
    check_lines(
        run("socket_reuseaddr", "--port", str(port), impl=impl),
        [
            *[
                line
                for n in (1, 2)
                for line in (
                    f"run {n}: SO_REUSEADDR=1",
                    f"run {n}: listening on ('127.0.0.1', {port})",
                    f"run {n}: client got b'bye', then b''",
                )
            ],
            "run 3: SO_REUSEADDR=0",
            f"run 3: OSError: [Errno {errno.EADDRINUSE}] {os.strerror(errno.EADDRINUSE)}",
        ],
    )


@pytest.mark.parametrize("name", ["socket_echo_server", "docs_echo_server", "info_server"])
def test_servers_stop_on_ctrl_c(impl: str, name: str) -> None:
    """The servers run "until stopped (Ctrl-C)": SIGINT interrupts the blocking accept() with
    KeyboardInterrupt, and the interpreter ends by the signal, as on the stdlib."""
    port = free_port()
    with running(name, "--port", str(port), impl=impl, listening=port) as srv:
        assert srv.interrupt() == -signal.SIGINT
    assert srv.errors.splitlines()[-1] == "KeyboardInterrupt"
