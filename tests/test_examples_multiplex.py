"""Non-blocking sockets and timeouts, select.select() and selectors (seeds 000, 001, 002, 003)."""

from __future__ import annotations

import errno
import http.server
import os
import re
import threading
from collections.abc import Iterator

import pytest

from tests.example_runner import IMPLS, check_lines, free_port, run, running

pytestmark = [pytest.mark.parametrize("impl", IMPLS), pytest.mark.usefixtures("no_fd_leak")]


def _err(code: int) -> str:
    return f"[Errno {code}] {os.strerror(code)}"


def test_nonblocking_and_timeouts(impl: str) -> None:
    again = f"socket.error (BlockingIOError): {_err(errno.EAGAIN)}"
    timed_out = "socket.timeout (TimeoutError): timed out"
    check_lines(
        run("socket_nonblocking_timeouts", "--port", str(free_port()), impl=impl),
        [
            "-- the three modes",
            "new socket      : timeout=None blocking=True",
            "setblocking(0)  : timeout=0.0 blocking=False",
            "settimeout(0.25): timeout=0.25 blocking=True",
            "settimeout(None): timeout=None blocking=True",
            "setblocking(1)  : timeout=None blocking=True",
            "-- a connection on loopback",
            "accepted socket : timeout=None blocking=True",
            "-- non-blocking: what is not ready fails at once",
            f"recv, nothing sent yet: {again}",
            f"accept, nobody connecting: {again}",
            "recv, once data has come: b'ready'",
            f"send until the buffers are full: {again}",
            "-- timeout: operations wait at most that long",
            f"recv, nothing sent back: {timed_out}",
            f"sendall into full buffers: {timed_out}",
            "-- connect",
            f"non-blocking connect: socket.error (BlockingIOError): {_err(errno.EINPROGRESS)}",
            "then, when writable, SO_ERROR = 0",
            "connect with a timeout, port not listening: "
            f"socket.error (ConnectionRefusedError): {_err(errno.ECONNREFUSED)}",
            f"connect_ex, port not listening: {errno.ECONNREFUSED}",
            "-- sockets returned by accept()",
            "listener in timeout mode -> accepted socket: timeout=None blocking=True",
            "after setdefaulttimeout(2.5), new socket: timeout=2.5 blocking=True",
            "after setdefaulttimeout(2.5), accepted socket: timeout=2.5 blocking=True",
        ],
    )


def test_select_server_and_client(impl: str) -> None:
    port = free_port()
    args = ("--port", str(port))
    with running("select_echo_server", *args, impl=impl, listening=port) as srv:
        # The pause between messages lets the server drain each queue before the next one.
        client = run("select_echo_client", *args, "--delay", "0.2", impl=impl)
        srv.wait_for("已经断开\n")
    check_lines(
        client,
        ["连接了", *[line for i in (1, 2, 3) for line in (f"第{i}次循环", f"number {i}我收到了")]],
    )
    peer = r"\('127\.0\.0\.1', (\d+)\)"
    check_lines(
        srv.output,
        [
            re.compile(f"来自{peer}的链接"),
            *[
                line
                for i in (1, 2, 3)
                for line in (
                    re.compile(f"收到来自于{peer}的信息number {i}"),
                    re.compile(f"发送b'number {i}'给{peer}"),
                    re.compile(f"{peer}对应队列为空"),
                )
            ],
            re.compile(f"链接{peer}已经断开"),
        ],
    )
    assert len(set(re.findall(peer, srv.output))) == 1  # one client throughout


def test_select_server_two_clients(impl: str) -> None:
    """The point of select(): one thread serves several connections at once."""
    port = free_port()
    args = ("--port", str(port))
    with (
        running("select_echo_server", *args, impl=impl, listening=port) as srv,
        running("select_echo_client", *args, "--delay", "0.3", impl=impl) as a,
        running("select_echo_client", *args, "--delay", "0.3", impl=impl) as b,
    ):
        assert a.wait() == 0 and b.wait() == 0
        srv.wait_for("已经断开\n(.*\n)*.*已经断开\n")
    for out in (a.output, b.output):
        assert out.splitlines()[-2:] == ["第3次循环", "number 3我收到了"]
    assert len(re.findall("的链接\n", srv.output)) == 2
    assert len(re.findall("我收到了", a.output + b.output)) == 6


BODY = ("ferrosock selectors example. " * 120).encode()  # > 1024 bytes: several reads


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        type(self).requests.append((self.requestline, str(self.headers)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def version_string(self) -> str:
        return "TestHTTP/1.0"

    def date_time_string(self, timestamp: float | None = None) -> str:
        return "Thu, 01 Jan 2026 00:00:00 GMT"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def http_server() -> Iterator[http.server.HTTPServer]:
    _Handler.requests = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_selectors_fetcher(impl: str, http_server: http.server.HTTPServer) -> None:
    port = http_server.server_address[1]
    out = run("selectors_fetcher", "--host", "localhost", "--port", str(port), impl=impl)
    assert _Handler.requests == [("GET / HTTP/1.1", "Host: localhost\nConnection: close\n\n")]
    response = (
        "HTTP/1.0 200 OK\r\n"
        "Server: TestHTTP/1.0\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
        "Content-Type: text/plain\r\n"
        f"Content-Length: {len(BODY)}\r\n"
        "\r\n" + BODY.decode()
    )
    # Each read_data() prints what one recv(1024) returned, then a newline; the last one, at
    # the end of the response, prints an empty string.
    assert out.endswith("\n\n")
    assert out.replace("\n", "") == response.replace("\n", "")
    assert out.count("\n") - response.count("\n") >= 1 + len(response) // 1024
