"""The chat-style server/client pairs whose client reads messages from stdin (seeds 001, 002
and 004): the test types the messages and checks the replies, the prompts and the
close/closed handshake."""

from __future__ import annotations

import re

import pytest

from tests.example_runner import IMPLS, check_lines, free_port, run, running

pytestmark = [pytest.mark.parametrize("impl", IMPLS), pytest.mark.usefixtures("no_fd_leak")]

PEER_TUPLE = r"\('127\.0\.0\.1', \d+\)"
PEER = r"127\.0\.0\.1:(\d+)"


def test_info_pair(impl: str) -> None:
    """Seed 001: `from socket import *` code; an empty line ends the client."""
    port = free_port()
    args = ("--port", str(port))
    with running("info_server", *args, impl=impl, ready=r"wait for connection\.\.\.\n") as srv:
        client = run("info_client", *args, impl=impl, stdin_text="hello\n你好, server\n\n")
        srv.wait_for(r"Connected by [^\n]*\n(.*\n)*\[info\]:wait for connection\.\.\.\n")
    prompt = "[info]:Please input msg:"
    check_lines(
        client,
        [
            f'{prompt}[info]:Server received "hello" [From server]',
            f'{prompt}[info]:Server received "你好, server" [From server]',
            prompt,
        ],
    )
    check_lines(
        srv.output,
        [
            f"[info]:Server start at: 127.0.0.1:{port}",
            "[info]:wait for connection...",
            re.compile(r"\[info\]:Connected by 127\.0\.0\.1:\d+"),
            "[info]:hello [From client]",
            "[info]:你好, server [From client]",
            "[info]:wait for connection...",
        ],
    )


def test_reply_pair(impl: str) -> None:
    """Seed 002: every message comes back with " 我收到了"; the end of input ends the client."""
    port = free_port()
    args = ("--port", str(port))
    with running("reply_server", *args, impl=impl, listening=port) as srv:
        client = run("reply_client", *args, impl=impl, stdin_text="hello\n第二条消息\n")
        srv.wait_for("断开链接\n")
        # The server goes back to accept(): a second client is served too.
        again = run("reply_client", *args, impl=impl, stdin_text="again\n")
        srv.wait_for("断开链接\n(.*\n)*.*断开链接\n")
    prompt = "你要发送的数据:"
    check_lines(client, [f"{prompt}hello 我收到了", f"{prompt}第二条消息 我收到了", prompt])
    check_lines(again, [f"{prompt}again 我收到了", prompt])
    check_lines(
        srv.output,
        [
            "hello",
            "第二条消息",
            re.compile(f"客户端{PEER_TUPLE}:断开链接"),
            "again",
            re.compile(f"客户端{PEER_TUPLE}:断开链接"),
        ],
    )


def test_chat_pair_close_closed(impl: str) -> None:
    """Seed 004: "accepted" for each message, then "close" -> "closed"; both sides exit."""
    port = free_port()
    args = ("--port", str(port))
    with running("chat_server", *args, impl=impl, ready="^Listening on") as srv:
        client = run("chat_client", *args, impl=impl, stdin_text="hello\nHow are you?\nclose\n")
        assert srv.wait() == 0
    check_lines(
        client,
        [
            "Enter message: Received: accepted",
            "Enter message: Received: accepted",
            "Enter message: Connection to server closed",
        ],
    )
    check_lines(
        srv.output,
        [
            f"Listening on 127.0.0.1:{port}",
            re.compile(f"Accepted connection from {PEER}"),
            "Received: hello",
            "Received: How are you?",
            "Connection to client closed",
        ],
    )


def test_chat_close_is_case_insensitive(impl: str) -> None:
    port = free_port()
    args = ("--port", str(port))
    with running("chat_server", *args, impl=impl, ready="^Listening on") as srv:
        client = run("chat_client", *args, impl=impl, stdin_text="CLOSE\n")
        assert srv.wait() == 0
    check_lines(client, ["Enter message: Connection to server closed"])
    assert srv.output.endswith("Connection to client closed\n")


def test_chat_threaded_server_two_clients_at_once(impl: str) -> None:
    """Seed 004's multi-threaded server: a second client is served while the first is still
    connected; each gets its close/closed handshake."""
    port = free_port()
    args = ("--port", str(port))
    with (
        running("chat_server_threaded", *args, impl=impl, ready="^Listening on") as srv,
        running("chat_client_safe", *args, impl=impl, stdin=True) as a,
    ):
        a.send("from A\n")
        a.wait_for("Received: accepted\n")
        with running("chat_client", *args, impl=impl, stdin=True) as b:
            b.send("from B\n")
            b.wait_for("Received: accepted\n")
            a.send("close\n")
            assert a.wait() == 0
            port_a = re.search(f"Accepted connection from {PEER}", srv.output).group(1)
            srv.wait_for(rf"Connection to client \(127\.0\.0\.1:{port_a}\) closed\n")
            b.send("close\n")
            assert b.wait() == 0
            srv.wait_for(r"(Connection to client .* closed\n(.*\n)*){2}")
    for out in (a.output, b.output):
        check_lines(
            out,
            [
                "Enter message: Received: accepted",
                "Enter message: Connection to server closed",
            ],
        )
    check_lines(
        srv.output,
        [
            f"Listening on 127.0.0.1:{port}",
            re.compile(f"Accepted connection from {PEER}"),
            "Received: from A",
            re.compile(f"Accepted connection from {PEER}"),
            "Received: from B",
            re.compile(rf"Connection to client \({PEER}\) closed"),
            re.compile(rf"Connection to client \({PEER}\) closed"),
        ],
    )
    ports = re.findall(PEER, srv.output)[1:]  # [0] is the listening port
    assert ports[0] == ports[2] and ports[1] == ports[3] and ports[0] != ports[1], ports


def test_chat_safe_client_end_of_input(impl: str) -> None:
    """The client with error handling, when input ends without "close": input() raises
    EOFError ("EOF when reading a line"), the client reports it and still closes its socket.
    The threaded server then reads b'' (the seed does not check for it): it prints an empty
    message and answers until the send fails; its handler reports the error and closes."""
    port = free_port()
    args = ("--port", str(port))
    with running("chat_server_threaded", *args, impl=impl, ready="^Listening on") as srv:
        client = run("chat_client_safe", *args, impl=impl, stdin_text="only line\n")
        srv.wait_for(r"Connection to client \(.*\) closed\n")
    check_lines(
        client,
        [
            "Enter message: Received: accepted",
            "Enter message: Error: EOF when reading a line",
            "Connection to server closed",
        ],
    )
    out = srv.output
    assert re.fullmatch(
        f"Listening on 127\\.0\\.0\\.1:{port}\n"
        f"Accepted connection from {PEER}\n"
        "Received: only line\n"
        "(Received: \n)+"
        r"Error when hanlding client: \[Errno \d+\] (Broken pipe|Connection reset by peer)\n"
        rf"Connection to client \({PEER}\) closed\n",
        out,
    ), out
