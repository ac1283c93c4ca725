"""ferrosock.asyncio.Server: the native server stepped by a running asyncio loop (default
loop and uvloop), with plain and coroutine handlers."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import ferrosock
import ferrosock.asyncio as fasyncio
from tests.conftest import open_fds

pytestmark = pytest.mark.timeout(60)

LOOPS = ["asyncio", "uvloop"]


def run(kind: str, main: Callable[[], Awaitable[Any]]) -> Any:
    """Runs ``main()`` on a fresh loop of ``kind``; afterwards no descriptor is left open."""
    if kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory: Any = uvloop.new_event_loop
        # uvloop's first loop in a process opens a pipe that stays open for good.
        factory().close()
    else:
        factory = asyncio.new_event_loop
    fds_before = open_fds()

    async def checked() -> Any:
        result = await main()
        # Everything the server started is over once wait_closed() returned.
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return result

    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(checked())
    gc.collect()
    leaked = open_fds() - fds_before
    assert not leaked, f"leaked file descriptors: {sorted(leaked)}"
    return result


class _Errors(logging.Handler):
    """The server's log records as (message, exception type, exception text): keeping the
    exceptions would keep their tracebacks, the handlers' frames, their connections and so
    the server's descriptors alive past the leak check."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, type | None, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        self.seen.append((record.getMessage(), type(exc) if exc else None, str(exc)))


@pytest.fixture
def server_log() -> Any:
    handler = _Errors()
    logger = logging.getLogger("ferrosock.server")
    logger.addHandler(handler)
    try:
        yield handler.seen
    finally:
        logger.removeHandler(handler)


@pytest.fixture(params=LOOPS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    return request.param


async def open_client(srv: fasyncio.Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = srv.server_address[:2]
    return await asyncio.open_connection(host, port)


def framed(msg: bytes) -> bytes:
    return struct.pack("!I", len(msg)) + msg


async def read_frame(r: asyncio.StreamReader) -> bytes:
    (n,) = struct.unpack("!I", await r.readexactly(4))
    return await r.readexactly(n)


async def close_client(w: asyncio.StreamWriter) -> None:
    w.close()
    try:
        await w.wait_closed()
    except OSError:
        pass


# --- basics ---------------------------------------------------------------------------------


def plain_upper(conn: Any, msg: bytes) -> bytes:
    return msg.upper()


async def async_now(conn: Any, msg: bytes) -> bytes:
    return msg.upper()


async def async_suspends(conn: Any, msg: bytes) -> bytes:
    await asyncio.sleep(0)
    return msg.upper()


async def async_future(conn: Any, msg: bytes) -> bytes:
    fut = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.001, fut.set_result, msg.upper())
    return await fut


@pytest.mark.parametrize("handler", [plain_upper, async_now, async_suspends, async_future])
def test_handlers_reply_on_many_connections(loop_kind: str, handler: Any) -> None:
    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            assert not srv.is_serving()
            await srv.start_serving()
            assert srv.is_serving()
            assert srv.get_loop() is asyncio.get_running_loop()
            assert srv.sockets[0].getsockname() == srv.server_address

            async def client(i: int) -> list[bytes]:
                r, w = await open_client(srv)
                msgs = [f"c{i}m{j}".encode() for j in range(20)]
                w.write(b"".join(framed(m) for m in msgs))
                got = [await read_frame(r) for _ in msgs]
                await close_client(w)
                assert got == [m.upper() for m in msgs]
                return got

            results = await asyncio.gather(*(client(i) for i in range(8)))
            assert len(results) == 8
        assert not srv.is_serving()
        assert srv.sockets == ()

    run(loop_kind, main)


def test_serve_forever_in_async_with(loop_kind: str) -> None:
    """The issue's example: ``async with Server(...) as srv: await srv.serve_forever()``."""

    async def main() -> None:
        got: list[bytes] = []
        srv_box: list[fasyncio.Server] = []

        async def handler(conn: Any, msg: bytes) -> bytes | None:
            got.append(msg)
            if msg == b"stop":
                srv_box[0].close()
                return None
            await asyncio.sleep(0)
            return b"ok:" + msg

        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="line") as srv:
            srv_box.append(srv)
            serving = asyncio.ensure_future(srv.serve_forever())
            await asyncio.sleep(0)
            r, w = await open_client(srv)
            w.write(b"a\nb\n")
            assert await r.readline() == b"ok:a\n"
            assert await r.readline() == b"ok:b\n"
            w.write(b"stop\n")
            assert await r.read() == b""  # closed by the shutdown
            await close_client(w)
            with pytest.raises(asyncio.CancelledError):
                await serving
        assert got == [b"a", b"b", b"stop"]

    run(loop_kind, main)


def test_serve_forever_twice_and_after_close() -> None:
    async def main() -> None:
        srv = fasyncio.Server(("127.0.0.1", 0), plain_upper)
        task = asyncio.ensure_future(srv.serve_forever())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already being awaited"):
            await srv.serve_forever()
        srv.close()
        await srv.wait_closed()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(RuntimeError, match="is closed"):
            await srv.serve_forever()
        srv.close()  # idempotent

    run("asyncio", main)


def test_close_before_serving_releases_everything() -> None:
    async def main() -> None:
        srv = fasyncio.Server(("127.0.0.1", 0), plain_upper)
        port = srv.server_address[1]
        srv.close()
        await srv.wait_closed()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))  # the port is free again

    run("asyncio", main)


def test_unix_socket_file_removed(tmp_path: Any, loop_kind: str) -> None:
    path = str(tmp_path / "s.sock")

    async def main() -> None:
        async with fasyncio.Server(path, async_suspends, framing="frame") as srv:
            await srv.start_serving()
            r, w = await asyncio.open_unix_connection(path)
            w.write(framed(b"hi"))
            assert await read_frame(r) == b"HI"
            await close_client(w)
        assert not os.path.exists(path)

    run(loop_kind, main)


def test_invalid_options() -> None:
    with pytest.raises(ValueError, match="pipeline"):
        fasyncio.Server(("127.0.0.1", 0), plain_upper, pipeline=0)
    with pytest.raises(TypeError):
        fasyncio.Server(("127.0.0.1", 0), 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="framing"):
        fasyncio.Server(("127.0.0.1", 0), plain_upper, framing="nope")  # type: ignore[arg-type]


# --- ordering and pipelining ----------------------------------------------------------------


@pytest.mark.parametrize("pipeline", [1, 4])
def test_reply_order_under_random_delays(loop_kind: str, pipeline: int) -> None:
    rng = random.Random(1234)
    running: dict[int, int] = {}
    peak: dict[int, int] = {}

    async def handler(conn: Any, msg: bytes) -> bytes:
        running[conn.id] = running.get(conn.id, 0) + 1
        peak[conn.id] = max(peak.get(conn.id, 0), running[conn.id])
        try:
            kind = rng.randrange(3)
            if kind == 1:
                await asyncio.sleep(0)
            elif kind == 2:
                await asyncio.sleep(rng.random() * 0.003)
            return b"r" + msg
        finally:
            running[conn.id] -= 1

    async def main() -> None:
        async with fasyncio.Server(
            ("127.0.0.1", 0), handler, framing="frame", pipeline=pipeline
        ) as srv:
            await srv.start_serving()

            async def client(i: int) -> None:
                r, w = await open_client(srv)
                msgs = [f"{i}:{j}".encode() for j in range(60)]
                w.write(b"".join(framed(m) for m in msgs))
                got = [await read_frame(r) for _ in msgs]
                assert got == [b"r" + m for m in msgs]
                await close_client(w)

            await asyncio.gather(*(client(i) for i in range(6)))

    run(loop_kind, main)
    assert max(peak.values()) <= pipeline
    if pipeline > 1:
        assert max(peak.values()) > 1  # the pipeline was actually used


def test_connections_run_concurrently(loop_kind: str) -> None:
    """A handler waiting on one connection does not hold up another."""

    async def main() -> None:
        gate = asyncio.Event()

        async def handler(conn: Any, msg: bytes) -> bytes:
            if msg == b"wait":
                await gate.wait()
            elif msg == b"open":
                gate.set()
            return msg

        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            r1, w1 = await open_client(srv)
            r2, w2 = await open_client(srv)
            w1.write(framed(b"wait"))
            await asyncio.sleep(0.01)
            w2.write(framed(b"open"))
            assert await read_frame(r2) == b"open"
            assert await read_frame(r1) == b"wait"
            await close_client(w1)
            await close_client(w2)

    run(loop_kind, main)


def test_mixed_plain_and_suspending_replies_keep_order(loop_kind: str) -> None:
    """With pipelining, a reply that is ready at once waits for the earlier one."""

    def handler(conn: Any, msg: bytes) -> Any:
        if msg.startswith(b"slow"):

            async def later() -> bytes:
                await asyncio.sleep(0.005)
                return msg

            return later()
        return msg

    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame", pipeline=8) as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            msgs = [b"slow1", b"a", b"b", b"slow2", b"c", None, b"d"]
            w.write(b"".join(framed(m or b"") for m in msgs))
            got = [await read_frame(r) for _ in msgs]
            assert got == [m or b"" for m in msgs]
            await close_client(w)

    run(loop_kind, main)


# --- backpressure ---------------------------------------------------------------------------


def test_unfinished_handlers_stop_reading(loop_kind: str) -> None:
    """A connection whose handler does not finish is not read further: one call per
    ``pipeline``, however much the client sends; the rest is served once it finishes."""
    calls: list[bytes] = []

    async def main() -> None:
        gate = asyncio.Event()

        async def handler(conn: Any, msg: bytes) -> bytes:
            calls.append(msg)
            await gate.wait()
            return msg

        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame", pipeline=2) as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            msgs = [b"%d" % i for i in range(500)]
            w.write(b"".join(framed(m) for m in msgs))
            await w.drain()
            for _ in range(20):
                await asyncio.sleep(0.005)
            assert len(calls) == 2
            gate.set()
            got = [await read_frame(r) for _ in msgs]
            assert got == msgs
            await close_client(w)
        assert calls == msgs

    run(loop_kind, main)


def test_client_that_never_reads_is_not_read(loop_kind: str) -> None:
    """Replies a client does not read pile up to ``high_water``, then the connection is not
    read any more: the handler stops being called long before all requests are served."""
    calls = 0
    reply = b"x" * 65536

    async def main() -> None:
        async def handler(conn: Any, msg: bytes) -> bytes:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0)
            return reply

        async with fasyncio.Server(
            ("127.0.0.1", 0), handler, framing="frame", high_water=256 * 1024
        ) as srv:
            await srv.start_serving()
            host, port = srv.server_address[:2]
            client = socket.create_connection((host, port))
            client.setblocking(False)
            requests = framed(b"q") * 20_000
            sent = 0
            # Send without ever reading, until the server stops taking requests.
            stalled = 0
            while sent < len(requests) and stalled < 40:
                try:
                    n = client.send(requests[sent : sent + 65536])
                    sent += n
                    stalled = 0
                except BlockingIOError:
                    stalled += 1
                await asyncio.sleep(0.005)
            # The kernel's buffers take some replies; then calls stop for good.
            quiet = 0
            for _ in range(500):
                before = calls
                await asyncio.sleep(0.02)
                quiet = quiet + 1 if calls == before else 0
                if quiet == 10:
                    break
            assert quiet == 10, "the handler kept being called for a client that never reads"
            assert calls < 20_000
            assert srv.connection_count == 1
            client.close()

    run(loop_kind, main)
    assert calls > 0


# --- failures and cancellation --------------------------------------------------------------


def test_handler_exception_closes_only_that_connection(loop_kind: str, server_log: Any) -> None:
    disconnects: list[type] = []

    async def handler(conn: Any, msg: bytes) -> bytes:
        if msg == b"boom-now":
            raise ValueError("boom now")
        await asyncio.sleep(0)
        if msg == b"boom-later":
            raise KeyError("boom later")
        return msg

    async def on_disconnect(conn: Any, exc: BaseException | None) -> None:
        await asyncio.sleep(0)
        disconnects.append(type(exc))

    async def main() -> None:
        async with fasyncio.Server(
            ("127.0.0.1", 0), handler, framing="frame", on_disconnect=on_disconnect
        ) as srv:
            await srv.start_serving()
            for bad in (b"boom-now", b"boom-later"):
                r, w = await open_client(srv)
                w.write(framed(b"fine") + framed(bad) + framed(b"never"))
                assert await read_frame(r) == b"fine"
                assert await r.read() == b""  # closed after the reply before the failure
                await close_client(w)
            r, w = await open_client(srv)  # the server still serves
            w.write(framed(b"again"))
            assert await read_frame(r) == b"again"
            await close_client(w)

    run(loop_kind, main)
    assert len(server_log) == 2
    assert all("handler raised" in m for m, _, _ in server_log)
    assert sorted(t.__name__ for t in disconnects) == ["KeyError", "NoneType", "ValueError"]


def test_pipelined_failure_waits_for_earlier_replies(loop_kind: str) -> None:
    async def handler(conn: Any, msg: bytes) -> bytes:
        if msg == b"bad":
            raise RuntimeError("bad")
        await asyncio.sleep(0.005)
        return msg

    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame", pipeline=4) as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"one") + framed(b"two") + framed(b"bad") + framed(b"after"))
            assert await read_frame(r) == b"one"
            assert await read_frame(r) == b"two"
            assert await r.read() == b""
            await close_client(w)

    logging.getLogger("ferrosock.server").disabled = True
    try:
        run(loop_kind, main)
    finally:
        logging.getLogger("ferrosock.server").disabled = False


def test_bad_reply_from_coroutine_is_a_handler_error(loop_kind: str, server_log: Any) -> None:
    async def handler(conn: Any, msg: bytes) -> Any:
        await asyncio.sleep(0)
        return 42

    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"x"))
            assert await r.read() == b""
            await close_client(w)

    run(loop_kind, main)
    assert any("bytes-like" in text for _, _, text in server_log)


def test_cancelling_serve_forever_cancels_handlers(loop_kind: str, server_log: Any) -> None:
    events: list[str] = []
    disconnects: list[BaseException | None] = []

    async def main() -> None:
        started = asyncio.Event()

        async def handler(conn: Any, msg: bytes) -> bytes:
            events.append(msg.decode())
            if msg == b"quick":
                return msg
            started.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            return msg

        srv = fasyncio.Server(
            ("127.0.0.1", 0),
            handler,
            framing="frame",
            on_disconnect=lambda c, e: disconnects.append(e),
        )
        serving = asyncio.ensure_future(srv.serve_forever())
        await asyncio.sleep(0)
        r, w = await open_client(srv)
        w.write(framed(b"quick") + framed(b"slow") + framed(b"queued"))
        assert await read_frame(r) == b"quick"
        await started.wait()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        # serve_forever waited for the shutdown: the connection is gone, the task is over.
        assert await r.read() == b""
        assert srv.connection_count == 0
        assert not srv.is_serving()
        await close_client(w)

    run(loop_kind, main)
    # "queued" waited behind "slow" and was dropped unstarted.
    assert events == ["quick", "slow", "cancelled"]
    assert disconnects == [None]
    assert server_log == []


def test_close_flushes_replies_already_made(loop_kind: str) -> None:
    async def main() -> None:
        srv_box: list[fasyncio.Server] = []

        def handler(conn: Any, msg: bytes) -> bytes:
            if msg == b"close":
                srv_box[0].close()
            return b"reply:" + msg

        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            srv_box.append(srv)
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"a") + framed(b"close"))
            assert await read_frame(r) == b"reply:a"
            assert await read_frame(r) == b"reply:close"
            assert await r.read() == b""
            await close_client(w)
            await srv.wait_closed()

    run(loop_kind, main)


def test_keyboard_interrupt_in_handler_propagates() -> None:
    def handler(conn: Any, msg: bytes) -> bytes:
        raise KeyboardInterrupt

    async def main() -> None:
        srv = fasyncio.Server(("127.0.0.1", 0), handler, framing="frame")
        await srv.start_serving()
        _r, w = await open_client(srv)
        w.write(framed(b"x"))
        try:
            await asyncio.sleep(5)
        finally:
            w.close()
            srv.close()

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())


SIGINT_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import ferrosock.asyncio

    if sys.argv[1] == "uvloop":
        import uvloop
        uvloop.new_event_loop().close()  # its first loop opens a pipe for good
    fds_before = len(os.listdir("/proc/self/fd"))
    cancelled = []

    async def handler(conn, msg):
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    async def main():
        async with ferrosock.asyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            print(srv.server_address[1], flush=True)
            await srv.serve_forever()

    if sys.argv[1] == "uvloop":
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    try:
        with runner:
            runner.run(main())
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    print("cancelled", len(cancelled), flush=True)
    print("fds restored", len(os.listdir("/proc/self/fd")) == fds_before, flush=True)
    """
)


def test_sigint_under_asyncio_run(loop_kind: str) -> None:
    if loop_kind == "uvloop":
        pytest.importorskip("uvloop")
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_SCRIPT, loop_kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip().isdigit(), (line, proc.stderr.read() if proc.stderr else "")
        with socket.create_connection(("127.0.0.1", int(line)), timeout=10) as c:
            c.sendall(framed(b"hang"))
            c.settimeout(0.2)
            with pytest.raises(TimeoutError):
                c.recv(1)  # the handler is running
            proc.send_signal(signal.SIGINT)
            c.settimeout(10)
            assert c.recv(1) == b""  # closed by the shutdown
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "interrupted" in out, (out, err)
    assert "cancelled 1" in out, (out, err)
    assert "fds restored True" in out, (out, err)


# --- callbacks ------------------------------------------------------------------------------


def test_async_on_connect_runs_before_messages_and_send_from_coroutine(loop_kind: str) -> None:
    order: list[str] = []

    async def on_connect(conn: Any) -> None:
        await asyncio.sleep(0.01)
        order.append("connect")
        conn.send(b"hello")

    async def handler(conn: Any, msg: bytes) -> None:
        order.append("message")
        await asyncio.sleep(0)
        conn.send(b"1:" + msg)
        await asyncio.sleep(0)
        conn.send(b"2:" + msg)
        return None

    async def on_disconnect(conn: Any, exc: BaseException | None) -> None:
        await asyncio.sleep(0)
        order.append(f"disconnect {exc!r}")

    async def main() -> None:
        async with fasyncio.Server(
            ("127.0.0.1", 0),
            handler,
            framing="frame",
            on_connect=on_connect,
            on_disconnect=on_disconnect,
        ) as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"m"))  # arrives while on_connect is still running
            assert await read_frame(r) == b"hello"
            assert await read_frame(r) == b"1:m"
            assert await read_frame(r) == b"2:m"
            await close_client(w)
            while not any(o.startswith("disconnect") for o in order):
                await asyncio.sleep(0.001)

    run(loop_kind, main)
    assert order == ["connect", "message", "disconnect None"]


def test_failing_async_on_connect_closes_connection(loop_kind: str, server_log: Any) -> None:
    calls: list[bytes] = []
    disconnects: list[type] = []

    async def on_connect(conn: Any) -> None:
        await asyncio.sleep(0)
        raise OSError("refused")

    async def main() -> None:
        async with fasyncio.Server(
            ("127.0.0.1", 0),
            lambda c, m: calls.append(m),
            framing="frame",
            on_connect=on_connect,
            on_disconnect=lambda c, e: disconnects.append(type(e)),
        ) as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"m"))
            assert await r.read() == b""
            await close_client(w)

    run(loop_kind, main)
    assert calls == []
    assert disconnects == [OSError]
    assert [m for m, _, _ in server_log] == ["on_connect raised; closing the connection"]


def test_idle_timeout_fires_inside_asyncio(loop_kind: str) -> None:
    disconnects: list[BaseException | None] = []

    async def main() -> None:
        async with fasyncio.Server(
            ("127.0.0.1", 0),
            plain_upper,
            framing="frame",
            idle_timeout=0.1,
            on_disconnect=lambda c, e: disconnects.append(e),
        ) as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"a"))
            assert await read_frame(r) == b"A"
            assert await asyncio.wait_for(r.read(), 10) == b""  # closed when idle
            await close_client(w)

    run(loop_kind, main)
    assert len(disconnects) == 1 and isinstance(disconnects[0], TimeoutError)


@pytest.mark.skipif(
    not hasattr(asyncio.Server, "close_clients"), reason="asyncio.Server.close_clients is 3.13+"
)
def test_close_clients_and_abort_clients() -> None:
    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), plain_upper, framing="frame") as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"a"))
            assert await read_frame(r) == b"A"
            srv.close_clients()
            assert await r.read() == b""
            await close_client(w)
            r, w = await open_client(srv)  # still accepting
            w.write(framed(b"b"))
            assert await read_frame(r) == b"B"
            srv.abort_clients()
            assert await r.read() == b""
            await close_client(w)
            assert srv.is_serving()

    run("asyncio", main)


def test_blocking_server_refuses_coroutine_handlers(caplog: pytest.LogCaptureFixture) -> None:
    """Outside asyncio, a coroutine reply is a handler error (and is closed, unrun)."""
    from tests._server_util import connect, frame, recv_until_eof, running

    async def handler(conn: Any, msg: bytes) -> bytes:
        raise AssertionError("never run")

    srv = ferrosock.Server(("127.0.0.1", 0), handler, framing="frame")
    with caplog.at_level(logging.ERROR, logger="ferrosock.server"), running(srv):
        with connect(srv) as c:
            c.sendall(frame(b"x"))
            assert recv_until_eof(c) == b""
    assert any("ferrosock.asyncio" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_handlers_after_a_suspension_run_in_their_own_task(loop_kind: str) -> None:
    """Once a handler has suspended, it runs in a task; a task whose handler finishes goes
    on with the connection's next message, which is then that task's own: a timeout set
    there cancels that handler and nothing else."""
    seen: list[tuple[bytes, bool]] = []

    async def handler(conn: Any, msg: bytes) -> bytes:
        await asyncio.sleep(0)
        task = asyncio.current_task()
        seen.append((msg, task is not None))
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(10)
        except TimeoutError:
            return b"timeout:" + msg
        return b"slept:" + msg

    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            clients = [await open_client(srv) for _ in range(3)]
            msgs = [b"%d" % i for i in range(6)]
            for _, w in clients:
                w.write(b"".join(framed(m) for m in msgs))
            for r, w in clients:
                assert [await read_frame(r) for _ in msgs] == [b"timeout:" + m for m in msgs]
                await close_client(w)

    run(loop_kind, main)
    assert len(seen) == 18 and all(in_task for _, in_task in seen)


def test_a_handler_starts_in_the_task_that_runs_it(loop_kind: str) -> None:
    """A coroutine handler's first statement already runs in a task, the one that carries
    it on if it suspends: `asyncio.wait_for` (a timeout inside, from 3.12 on) and
    `asyncio.timeout` work there, and a timeout set there cancels that handler only."""
    seen: list[tuple[bool, bool]] = []

    async def lookup(msg: bytes, delay: float) -> bytes:
        await asyncio.sleep(delay)
        return msg.upper()

    async def handler(conn: Any, msg: bytes) -> bytes:
        first = asyncio.current_task()
        if msg.startswith(b"wait"):
            reply = await asyncio.wait_for(lookup(msg, 0), 10)
        else:
            try:
                reply = await asyncio.wait_for(lookup(msg, 10), 0.01)
            except TimeoutError:
                reply = b"timeout:" + msg
        seen.append((first is not None, first is asyncio.current_task()))
        return reply

    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            clients = [await open_client(srv) for _ in range(3)]
            msgs = [b"wait%d" % i if i % 2 else b"slow%d" % i for i in range(6)]
            for _, w in clients:
                w.write(b"".join(framed(m) for m in msgs))
            want = [m.upper() if i % 2 else b"timeout:" + m for i, m in enumerate(msgs)]
            for r, w in clients:
                assert [await read_frame(r) for _ in msgs] == want
                await close_client(w)

    run(loop_kind, main)
    assert seen == [(True, True)] * 18


def test_asyncio_timeout_as_a_handlers_first_statement(loop_kind: str) -> None:
    async def handler(conn: Any, msg: bytes) -> bytes:
        try:
            async with asyncio.timeout(0.01 if msg == b"slow" else 10):
                await asyncio.sleep(10 if msg == b"slow" else 0)
        except TimeoutError:
            return b"timeout"
        return b"done"

    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"slow") + framed(b"fast") + framed(b"slow"))
            assert [await read_frame(r) for _ in range(3)] == [b"timeout", b"done", b"timeout"]
            await close_client(w)

    run(loop_kind, main)


def test_handlers_that_end_at_once_share_one_standby_task(loop_kind: str) -> None:
    """No task per call for a coroutine that does not suspend: one task stands by (it is
    `asyncio.current_task()` in those calls), and only calls that suspend take one. If
    something cancels the standby task, the next call gets another."""
    created: list[Any] = []
    current: list[Any] = []

    async def handler(conn: Any, msg: bytes) -> bytes:
        current.append(asyncio.current_task())
        if msg == b"suspend":
            await asyncio.sleep(0)
        return msg

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def factory(loop: Any, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            task = asyncio.Task(coro, loop=loop, **kwargs)
            created.append(task)
            return task

        loop.set_task_factory(factory)
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            for _ in range(20):
                w.write(b"".join(framed(b"now%d" % i) for i in range(10)))
                assert [await read_frame(r) for _ in range(10)] == [b"now%d" % i for i in range(10)]
            assert len(created) == 1 and set(current) == {created[0]}
            w.write(framed(b"suspend"))
            assert await read_frame(r) == b"suspend"
            w.write(framed(b"now"))
            assert await read_frame(r) == b"now"
            assert len(created) == 2 and current[-2] is created[0] and current[-1] is created[1]
            created[1].cancel()
            await asyncio.sleep(0)
            w.write(framed(b"again"))
            assert await read_frame(r) == b"again"
            assert len(created) == 3 and current[-1] is created[2] and created[1].cancelled()
            await close_client(w)
        loop.set_task_factory(None)

    run(loop_kind, main)


class _TaskAtLog(logging.Filter):
    """Records asyncio's current task whenever the server logs."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[Any] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.tasks.append(asyncio.current_task())
        return True


def test_the_server_logs_outside_the_standby_task(loop_kind: str) -> None:
    """First steps of one dispatch share an entering of the standby task: it is left
    before the server logs a failure, so a record carries no task, as asyncio's own."""
    at_log = _TaskAtLog()
    logger = logging.getLogger("ferrosock.server")
    logger.addFilter(at_log)

    async def handler(conn: Any, msg: bytes) -> bytes:
        if msg == b"boom":
            raise ValueError("boom")
        return msg

    async def datagram(msg: bytes, addr: Any) -> bytes:
        if msg == b"boom":
            raise ValueError("boom")
        return msg

    async def main() -> None:
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"ok1") + framed(b"ok2") + framed(b"boom"))
            assert [await read_frame(r) for _ in range(2)] == [b"ok1", b"ok2"]
            assert await r.read() == b""
            await close_client(w)
        async with fasyncio.DatagramServer(("127.0.0.1", 0), datagram) as dsrv:
            await dsrv.start_serving()
            transport, proto = await datagram_client(dsrv.server_address)
            try:
                for m in (b"d1", b"boom", b"d2"):
                    transport.sendto(m)
                got = {await asyncio.wait_for(proto.got.get(), 10) for _ in range(2)}
                assert got == {b"d1", b"d2"}
            finally:
                transport.close()

    try:
        run(loop_kind, main)
    finally:
        logger.removeFilter(at_log)
    assert at_log.tasks == [None, None]


REQUEST = contextvars.ContextVar("REQUEST", default=b"-")


@pytest.mark.parametrize("factory", [None, "two-argument"])
def test_context_variables_set_by_a_handler_survive_its_suspension(
    loop_kind: str, factory: str | None
) -> None:
    """A handler's first step runs in its task's context: what it sets there it still
    sees after an `await`, and a handler that suspended leaves nothing behind for the next.
    With a task factory that takes no `context` (as written before 3.11) the task still
    starts before the first statement."""

    if factory is not None and loop_kind == "uvloop":
        pytest.skip("uvloop passes context= to any task factory")

    async def handler(conn: Any, msg: bytes) -> bytes:
        before = REQUEST.get()
        REQUEST.set(msg)
        await asyncio.sleep(0)
        return (
            before + b"/" + REQUEST.get() + b"/" + repr(asyncio.current_task() is not None).encode()
        )

    async def main() -> None:
        if factory is not None:
            asyncio.get_running_loop().set_task_factory(
                lambda loop, coro: asyncio.Task(coro, loop=loop)
            )
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            for m in (b"a", b"b", b"c"):
                w.write(framed(m))
                got = await read_frame(r)
                if factory is None:
                    assert got == b"-/" + m + b"/True"
                else:  # the first step runs in the reader callback's context then
                    assert got.endswith(b"/True")
            await close_client(w)
        asyncio.get_running_loop().set_task_factory(None)

    run(loop_kind, main)


PURE_PYTHON_TASKS_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["_asyncio"] = None  # asyncio falls back to its pure-Python tasks
    import asyncio
    import struct
    import ferrosock.asyncio

    async def lookup(msg):
        await asyncio.sleep(0)
        return msg.upper()

    async def handler(conn, msg):
        first = asyncio.current_task()
        reply = await asyncio.wait_for(lookup(msg), 10)
        assert first is not None and first is asyncio.current_task()
        return reply

    async def main():
        async with ferrosock.asyncio.Server(("127.0.0.1", 0), handler, framing="frame") as srv:
            await srv.start_serving()
            r, w = await asyncio.open_connection(*srv.server_address)
            w.write(b"".join(struct.pack("!I", 2) + b"m%d" % i for i in range(3)))
            for i in range(3):
                (n,) = struct.unpack("!I", await r.readexactly(4))
                print((await r.readexactly(n)).decode(), flush=True)
            w.close()
            await w.wait_closed()
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())
    print("ok", asyncio.Task.__module__)
    """
)


def test_handlers_start_in_a_task_with_pure_python_asyncio_tasks() -> None:
    """Where asyncio's C tasks are absent, the standby task is entered with asyncio's own
    `_enter_task` (the C tasks' current-task dict is the fast path elsewhere)."""
    out = subprocess.run(
        [sys.executable, "-c", PURE_PYTHON_TASKS_SCRIPT],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["M0", "M1", "M2", "ok", "asyncio.tasks"]


def test_coroutine_callbacks_start_in_a_task(loop_kind: str) -> None:
    """on_connect, on_disconnect and datagram handlers too."""
    seen: list[str] = []

    def note(what: str) -> None:
        if asyncio.current_task() is not None:
            seen.append(what)

    async def on_connect(conn: Any) -> None:
        note("connect")

    async def on_disconnect(conn: Any, exc: BaseException | None) -> None:
        note("disconnect")

    async def handler(conn: Any, msg: bytes) -> bytes:
        note("message")
        return msg

    async def datagram(msg: bytes, addr: Any) -> bytes:
        note("datagram")
        return msg

    async def main() -> None:
        async with fasyncio.Server(
            ("127.0.0.1", 0),
            handler,
            framing="frame",
            on_connect=on_connect,
            on_disconnect=on_disconnect,
        ) as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            w.write(framed(b"m"))
            assert await read_frame(r) == b"m"
            await close_client(w)
            while "disconnect" not in seen:
                await asyncio.sleep(0.001)
        async with fasyncio.DatagramServer(("127.0.0.1", 0), datagram) as dsrv:
            await dsrv.start_serving()
            transport, proto = await datagram_client(dsrv.server_address)
            try:
                transport.sendto(b"d")
                assert await asyncio.wait_for(proto.got.get(), 10) == b"d"
            finally:
                transport.close()

    run(loop_kind, main)
    assert seen == ["connect", "message", "disconnect", "datagram"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    [
        "aio:ferrosock:asyncio:async",
        "aio:ferrosock16:asyncio:sleep0",
        "aio:ferrosock:uvloop:plain",
        "aio:streams:asyncio:sleep0",
        "aio:consumer:uvloop:async",
    ],
)
def test_benchmark_servers_echo_correctly(kind: str) -> None:
    """The asyncio benchmark's servers answer every message right (the load generator
    verifies every byte)."""
    if "uvloop" in kind:
        pytest.importorskip("uvloop")
    from ferrosock import _native
    from ferrosock.bench._serverbench import ServerProcess, ServerSpec

    proc = ServerProcess(ServerSpec(kind, kind, "frame"), "tcp4")
    try:
        proc.wait_ready()
        for conns, depth, size in ((1, 1, 64), (4, 16, 1000)):
            r = _native.loadgen(proc.address, conns, depth, size, "frame", 0.05, warmup=0.01)
            assert r["bytes_received"] == r["bytes_sent"] == r["verified"] * r["wire_size"]
            assert r["messages"] > 0
    finally:
        proc.stop()
    assert proc.proc.returncode is not None


# --- DatagramServer -------------------------------------------------------------------------


class _DatagramClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.put_nowait(data)


async def datagram_client(address: Any) -> tuple[asyncio.DatagramTransport, _DatagramClient]:
    """A UDP endpoint connected to ``address`` whose datagrams queue up in ``proto.got``."""
    return await asyncio.get_running_loop().create_datagram_endpoint(
        _DatagramClient, remote_addr=address
    )


@pytest.mark.parametrize("kind", ["plain", "now", "suspends"])
def test_datagram_server_replies(loop_kind: str, kind: str) -> None:
    async def suspends(msg: bytes, addr: Any) -> bytes:
        # Later datagrams finish first: replies are not held back for order.
        await asyncio.sleep(0.02 if msg == b"0" else 0)
        return b"r" + msg

    async def now(msg: bytes, addr: Any) -> bytes:
        return b"r" + msg

    handler = {"plain": lambda m, a: b"r" + m, "now": now, "suspends": suspends}[kind]

    async def main() -> None:
        async with fasyncio.DatagramServer(("127.0.0.1", 0), handler) as srv:
            await srv.start_serving()
            transport, proto = await datagram_client(srv.server_address)
            try:
                msgs = [b"%d" % i for i in range(10)]
                for m in msgs:
                    transport.sendto(m)
                got = [await asyncio.wait_for(proto.got.get(), 10) for _ in msgs]
                assert sorted(got) == sorted(b"r" + m for m in msgs)
                if kind == "suspends":
                    assert got[-1] == b"r0"
            finally:
                transport.close()

    run(loop_kind, main)


def test_datagram_server_handler_errors_and_shutdown(loop_kind: str, server_log: Any) -> None:
    cancelled: list[bytes] = []

    async def handler(msg: bytes, addr: Any) -> bytes | None:
        if msg == b"raise":
            await asyncio.sleep(0)
            raise ValueError("bad datagram")
        if msg == b"hang":
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(msg)
                raise
        return msg

    async def main() -> None:
        srv = fasyncio.DatagramServer(("127.0.0.1", 0), handler)
        serving = asyncio.ensure_future(srv.serve_forever())
        await asyncio.sleep(0)
        transport, proto = await datagram_client(srv.server_address)
        try:
            transport.sendto(b"raise")
            transport.sendto(b"hang")
            transport.sendto(b"ok")
            assert await asyncio.wait_for(proto.got.get(), 10) == b"ok"
            while not server_log:
                await asyncio.sleep(0.001)
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await serving
        finally:
            transport.close()

    run(loop_kind, main)
    assert cancelled == [b"hang"]
    assert [(m, t) for m, t, _ in server_log] == [("handler raised", ValueError)]


def test_datagram_server_stops_reading_at_max_pending() -> None:
    calls: list[bytes] = []

    async def main() -> None:
        gate = asyncio.Event()

        async def handler(msg: bytes, addr: Any) -> bytes:
            calls.append(msg)
            await gate.wait()
            return msg

        async with fasyncio.DatagramServer(("127.0.0.1", 0), handler, max_pending=3) as srv:
            await srv.start_serving()
            transport, proto = await datagram_client(srv.server_address)
            try:
                for i in range(10):
                    transport.sendto(b"%d" % i)
                for _ in range(20):
                    await asyncio.sleep(0.005)
                assert len(calls) == 3  # the rest waits in the socket's buffer
                gate.set()
                got = [await asyncio.wait_for(proto.got.get(), 10) for _ in range(10)]
                assert sorted(got) == sorted(b"%d" % i for i in range(10))
            finally:
                transport.close()

    run("asyncio", main)


@pytest.mark.skipif(not hasattr(asyncio, "eager_task_factory"), reason="eager tasks are 3.12+")
def test_eager_task_factory() -> None:
    """A task factory that runs the first step at once (inside the server's own step).
    Default loop only: uvloop's create_task rejects asyncio's eager factory on 3.13."""

    async def handler(conn: Any, msg: bytes) -> bytes:
        await asyncio.sleep(0)
        assert asyncio.current_task() is not None
        await asyncio.sleep(0.001)
        return msg[::-1]

    async def main() -> None:
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        async with fasyncio.Server(("127.0.0.1", 0), handler, framing="frame", pipeline=3) as srv:
            await srv.start_serving()
            r, w = await open_client(srv)
            msgs = [b"ab%d" % i for i in range(30)]
            w.write(b"".join(framed(m) for m in msgs))
            assert [await read_frame(r) for _ in msgs] == [m[::-1] for m in msgs]
            await close_client(w)

    run("asyncio", main)


@pytest.mark.parametrize("pipeline", [1, 16])
@pytest.mark.parametrize(
    "loop_kind,factory",
    [("asyncio", "default"), ("uvloop", "default"), ("asyncio", "eager")],
)
def test_sleep_0_resumes_after_what_was_scheduled_before_it(
    loop_kind: str, factory: str, pipeline: int
) -> None:
    """`await asyncio.sleep(0)` in a handler gives the loop one iteration, as it does in a
    task: a callback scheduled before it has run when it returns, one scheduled after it
    has not. The server resumes handed-over handlers without a second iteration, and must
    not resume them in the first (an eager task factory runs a new task's step at once)."""
    if factory == "eager" and not hasattr(asyncio, "eager_task_factory"):
        pytest.skip("eager tasks are 3.12+")
    wrong: list[bytes] = []
    iterations: list[int] = []

    async def handler(conn: Any, msg: bytes) -> bytes:
        if msg == b"now":
            return msg
        loop = asyncio.get_running_loop()
        if msg == b"count":
            # How many loop iterations one sleep(0) takes: a ticker scheduled just before
            # it runs once per iteration.
            ticks = [0]

            def tick() -> None:
                ticks[0] += 1
                if ticks[0] < 10:
                    loop.call_soon(tick)

            loop.call_soon(tick)
            await asyncio.sleep(0)
            iterations.append(ticks[0])
            return msg
        ran: list[str] = []
        loop.call_soon(ran.append, "before")
        await asyncio.sleep(0)
        if ran != ["before"]:
            wrong.append(msg)
        loop.call_soon(ran.append, "after")
        await asyncio.sleep(0)
        if ran != ["before", "after"]:
            wrong.append(msg)
        return msg[::-1]

    async def main() -> None:
        if factory == "eager":
            asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        async with fasyncio.Server(
            ("127.0.0.1", 0), handler, framing="frame", pipeline=pipeline
        ) as srv:
            await srv.start_serving()
            clients = [await open_client(srv) for _ in range(4)]
            # A handler that returns at once leaves the server's standby task unused;
            # it parks, and the next handler to suspend is handed to it, woken by a
            # callback scheduled after its yield.
            r, w = clients[0]
            for msg in (b"now", b"count", b"now", b"count"):
                w.write(framed(msg))
                assert await read_frame(r) == msg
                await asyncio.sleep(0.01)
            msgs = [b"m%d" % i for i in range(40)]
            for _, w in clients:
                w.write(b"".join(framed(m) for m in msgs))
            for r, _ in clients:
                assert [await read_frame(r) for _ in msgs] == [m[::-1] for m in msgs]
            for _, w in clients:
                await close_client(w)
        asyncio.get_running_loop().set_task_factory(None)

    run(loop_kind, main)
    assert wrong == []
    # As in a task: one iteration (a standby woken after the yield goes on at once).
    assert iterations == [1, 1]
