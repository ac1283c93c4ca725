"""Examples on `ferrosock.socketserver` (seed 002): the ThreadingTCPServer echo with three
clients, the seed's file transfer and its framed fix.

The seed's file transfer relies on TCP delivering the client's size and name in two separate
recv() calls, which it does not promise: run together, the seed's two programs can hang. So
each side of the seed's version is tested against a peer driven by the test, which paces the
exchange on what the other side prints or reads exactly what was sent, and a third test shows
the hang deterministically by sending size and name in one segment. The framed version is run
end to end.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.example_runner import (
    IMPLS,
    check_lines,
    free_port,
    run,
    running,
)

pytestmark = pytest.mark.usefixtures("no_fd_leak")

GREETING = "客户端:loser,我要给你发送文件了,准备好了吗?".encode()
READY = "来自服务端的回复:我是loser,我准备好了,请发吧"
GOT_NAME = "文件名和文件路径都已经接受完毕,请发送文件内容吧!!!"
DONE = "文件收完了,断开连接吧!"
BEGIN = "--------------连接开始----------------"
END = "--------------此次连接结束,等待下一个连接----------------"


def _repr_pattern(impl: str, port: int) -> str:
    """The handler's socket as the seed prints it: `<socket.socket fd=..., ...>` on the
    stdlib; ferrosock's socketserver hands out ferrosock.socket objects."""
    cls = "socket.socket" if impl == "stdlib" else "ferrosock.socket"
    return (
        rf"<{re.escape(cls)} fd=\d+, family=2, type=1, proto=0, "
        rf"laddr=\('127\.0\.0\.1', {port}\), raddr=\('127\.0\.0\.1', \d+\)>"
    )


@pytest.fixture
def payload() -> Iterator[Path]:
    """A binary file (the seed sends a picture, mashiro.jpg) in a fresh directory, with an
    `out` directory next to it for the server to write into."""
    d = Path(tempfile.mkdtemp(prefix="ferrosock-ft-"))
    try:
        (d / "out").mkdir()
        path = d / "mashiro.jpg"
        path.write_bytes(bytes(range(256)) * 74 + os.urandom(20))  # 18964 bytes, as the seed's
        yield path
    finally:
        shutil.rmtree(d)


@pytest.mark.parametrize("impl", IMPLS)
def test_threading_server_three_clients(impl: str) -> None:
    """The seed's three identical clients, connected at the same time: each is served by its
    own thread."""
    port = free_port()
    args = ("--port", str(port))
    prompt = "请输入你要发送的内容:"
    with (
        running("socketserver_echo_server", *args, impl=impl, listening=port) as srv,
        contextlib.ExitStack() as stack,
    ):
        clients = [
            stack.enter_context(running("socketserver_echo_client", *args, impl=impl, stdin=True))
            for _ in range(3)
        ]
        for n, c in enumerate(clients, 1):  # three connections open at once
            c.send(f"客户端{n}: 你好\n")
            c.wait_for(f"客户端{n}: 你好我是你爸\n")
        for n, c in enumerate(reversed(clients), 1):
            c.send(f"second {n}\n")
            c.wait_for(f"second {n}我是你爸\n")
            c.close_stdin()
            assert c.wait() == 0
    for n, c in enumerate(clients, 1):
        check_lines(
            c.output,
            [f"{prompt}客户端{n}: 你好我是你爸", f"{prompt}second {4 - n}我是你爸", prompt],
        )
    check_lines(
        srv.output,
        ["客户端1: 你好", "客户端2: 你好", "客户端3: 你好", "second 1", "second 2", "second 3"],
    )


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["socketserver_echo_server", "file_transfer_framed_server"])
def test_serve_forever_stops_on_ctrl_c(impl: str, name: str) -> None:
    """serve_forever() (a native wait in ferrosock's socketserver) is interrupted by Ctrl-C:
    KeyboardInterrupt, then the interpreter ends by the signal, as on the stdlib."""
    port = free_port()
    with running(name, "--port", str(port), impl=impl, listening=port) as srv:
        assert srv.interrupt() == -signal.SIGINT
    assert srv.errors.splitlines()[-1] == "KeyboardInterrupt"


@pytest.mark.parametrize("impl", IMPLS)
def test_seed_file_server(impl: str, payload: Path) -> None:
    """The seed's server, with a client that sends the name only once the server has printed
    the size (what the seed's client silently hopes for); the file arrives byte for byte."""
    port = free_port()
    out_dir = payload.parent / "out"
    data = payload.read_bytes()
    with running(
        "file_transfer_server",
        "--port",
        str(port),
        "--directory",
        str(out_dir),
        impl=impl,
        listening=port,
    ) as srv:
        with socket.create_connection(("localhost", port)) as c:
            c.sendall(GREETING)
            assert c.recv(1024).decode() == READY
            c.sendall(str(len(data)).encode())
            srv.wait_for(f"^文件大小: b'{len(data)}'\n")
            c.sendall(payload.name.encode())
            assert c.recv(1024).decode() == GOT_NAME
            c.sendall(data)
            assert c.recv(1024).decode() == DONE
            assert c.recv(1024) == b""  # the server closes the connection
        srv.wait_for(f"^{END}\n")
    assert (out_dir / payload.name).read_bytes() == data
    check_lines(
        srv.output,
        [
            BEGIN,
            GREETING.decode(),
            "文件大小: b'18964'",
            "文件名为: mashiro.jpg",
            "文件已经传输完毕,向客户端发送信息,告知客户端",
            "服务端已经主动断开连接······",
            re.compile(f"和{_repr_pattern(impl, port)}之间的连接已经结束·······"),
            END,
        ],
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_seed_file_client(impl: str, payload: Path) -> None:
    """The seed's client, with a server that reads exactly the bytes the protocol sends
    (size and name may come in one piece or two); the file arrives byte for byte."""
    data = payload.read_bytes()
    received: dict[str, bytes] = {}

    def serve(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn:
            received["greeting"] = _recv_exactly(conn, len(GREETING))
            conn.sendall(READY.encode())
            received["size+name"] = _recv_exactly(
                conn, len(str(len(data))) + len(payload.name.encode())
            )
            conn.sendall(GOT_NAME.encode())
            received["content"] = _recv_exactly(conn, len(data))
            conn.sendall(DONE.encode())

    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=serve, args=(listener,))
        server.start()
        try:
            out = run(
                "file_transfer_client",
                "--port",
                str(listener.getsockname()[1]),
                impl=impl,
                stdin_text=f"{payload}\n",
            )
        finally:
            server.join(10)
    assert received == {
        "greeting": GREETING,
        "size+name": b"18964mashiro.jpg",
        "content": data,
    }
    check_lines(
        out,
        [
            READY,
            "那个loser准备好了,那么我开始发吧",
            f"请输入你要发送的文件的路径:{GOT_NAME}",
            DONE,
        ],
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_seed_file_server_hangs_when_size_and_name_arrive_together(impl: str) -> None:
    """What goes wrong with the seed's protocol: when size and name come in one segment, the
    server takes both for the size and waits for a name that already came. Only closing the
    connection ends the wait; no file is written."""
    port = free_port()
    out_dir = Path(tempfile.mkdtemp(prefix="ferrosock-ft-"))
    try:
        with running(
            "file_transfer_server",
            "--port",
            str(port),
            "--directory",
            str(out_dir),
            impl=impl,
            listening=port,
        ) as srv:
            with socket.create_connection(("localhost", port)) as c:
                c.sendall(GREETING)
                assert c.recv(1024).decode() == READY
                c.sendall(b"18964mashiro.jpg")  # what a merged size + name looks like
                srv.wait_for("^文件大小: b'18964mashiro.jpg'\n")
                # The server now waits in recv() for the name; the client would wait in recv()
                # for the server's answer. Closing our side ends the wait.
                c.shutdown(socket.SHUT_WR)
                assert c.recv(1024) == b""
            srv.wait_for(f"^{END}\n")
        assert list(out_dir.iterdir()) == []
    finally:
        shutil.rmtree(out_dir)
    check_lines(
        srv.output,
        [
            BEGIN,
            GREETING.decode(),
            "文件大小: b'18964mashiro.jpg'",
            re.compile(f"和{_repr_pattern(impl, port)}之间的连接已经结束·······"),
            END,
        ],
    )


def test_framed_file_transfer(payload: Path) -> None:
    """The fixed version, end to end: framed messages cannot merge or split, so the pair
    runs together; the file arrives byte for byte. (ferrosock only: the stdlib has no
    send_frame/recv_frame.)"""
    port = free_port()
    out_dir = payload.parent / "out"
    with running(
        "file_transfer_framed_server",
        "--port",
        str(port),
        "--directory",
        str(out_dir),
        listening=port,
    ) as srv:
        out = run("file_transfer_framed_client", "--port", str(port), stdin_text=f"{payload}\n")
        srv.wait_for(f"^{END}\n")
    assert (out_dir / payload.name).read_bytes() == payload.read_bytes()
    check_lines(
        out,
        [
            READY,
            "那个loser准备好了,那么我开始发吧",
            f"请输入你要发送的文件的路径:{GOT_NAME}",
            DONE,
        ],
    )
    peer = r"\('127\.0\.0\.1', \d+\)"
    check_lines(
        srv.output,
        [
            BEGIN,
            GREETING.decode(),
            "文件大小: 18964",
            "文件名为: mashiro.jpg",
            "文件已经传输完毕,向客户端发送信息,告知客户端",
            "服务端已经主动断开连接······",
            re.compile(f"和{peer}之间的连接已经结束·······"),
            END,
        ],
    )


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    buf = b""
    conn.settimeout(10)
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf
