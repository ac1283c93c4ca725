"""ferrosock.asyncio streams: asyncio's StreamReader/StreamWriter shape with native frames.

asyncio's own classes are the oracle: the differential tests drive asyncio's reader and
ferrosock's with the same bytes, chunkings and calls and compare results, exceptions and the
transport's pause/resume calls. Every test runs on the default loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import socket
import ssl
import struct
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, strategies as st

import ferrosock
import ferrosock.asyncio as fa
from ferrosock import _native
from tests.loops_support import open_fds

try:
    import uvloop
except ImportError:  # pragma: no cover - the test extra installs it
    uvloop = None

pytestmark = pytest.mark.timeout(60)

LOOPS = ["asyncio", "uvloop"] if uvloop is not None else ["asyncio"]
if uvloop is not None:
    # libuv opens process-wide descriptors with its first loop and keeps them: open them
    # now so the per-test accounting sees only what a test leaves behind.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as _runner:
        _runner.run(asyncio.sleep(0))
RUN_TIMEOUT = 20.0


def loop_factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return uvloop.new_event_loop if kind == "uvloop" else asyncio.new_event_loop


def run(kind: str, main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Runs `main()` on a fresh loop of `kind`, bounded in time; fails if it leaves tasks."""

    async def bounded() -> Any:
        result = await asyncio.wait_for(main(), RUN_TIMEOUT)
        await asyncio.sleep(0)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, f"leaked tasks: {others}"
        return result

    with asyncio.Runner(loop_factory=loop_factory(kind)) as runner:
        return runner.run(bounded())


@pytest.fixture(params=LOOPS)
def loop_kind(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def no_fd_leaks():
    before = open_fds()
    threads = threading.active_count()
    yield
    gc.collect()
    leaked = open_fds() - before
    assert not leaked, f"file descriptors leaked: {sorted(leaked)}"
    assert threading.active_count() <= threads, "threads leaked"


def wire(frames: list[bytes], header: str = "!I") -> bytes:
    return b"".join(struct.pack(header, len(f)) + f for f in frames)


# --- the module's shape --------------------------------------------------------------------


def test_exceptions_are_both_asyncio_and_ferrosock():
    e = fa.IncompleteReadError(b"ab", 5)
    assert isinstance(e, asyncio.IncompleteReadError)
    assert isinstance(e, ferrosock.IncompleteReadError)
    assert isinstance(e, EOFError)
    assert (e.partial, e.expected) == (b"ab", 5)
    assert str(e) == str(asyncio.IncompleteReadError(b"ab", 5))
    assert str(fa.IncompleteReadError(b"", None)) == str(asyncio.IncompleteReadError(b"", None))
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is fa.IncompleteReadError
    assert (again.partial, again.expected) == (b"ab", 5)
    assert fa.LimitOverrunError is asyncio.LimitOverrunError
    assert fa.FrameError is ferrosock.FrameError
    assert issubclass(fa.FrameError, ValueError)
    assert set(fa.__all__) <= set(dir(fa))


def test_reader_arguments():
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="Limit cannot be <= 0"):
            fa.StreamReader(0, loop)
        with pytest.raises(ValueError, match="unsupported frame header"):
            fa.StreamReader(loop=loop, header="!x")
        with pytest.raises(ValueError):
            fa.StreamReader(loop=loop, max_size=-1)
    finally:
        loop.close()


# --- differential: asyncio.StreamReader vs ferrosock's, fed the same bytes ---------------


class RecordingTransport:
    """Records the reader's flow-control calls; asyncio's reader makes the same ones."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


def outcome(exc: BaseException) -> tuple:
    """What a differential test compares about an exception."""
    if isinstance(exc, asyncio.IncompleteReadError):
        return ("IncompleteReadError", exc.partial, exc.expected, str(exc))
    if isinstance(exc, asyncio.LimitOverrunError):
        return ("LimitOverrunError", exc.consumed, exc.args)
    return (type(exc).__name__, exc.args)


SEPARATORS = [b"\n", b"ab", b"xyz", b"a"]
if sys.version_info >= (3, 13):
    SEPARATORS += [(b"\n", b"ab"), (b"xyz", b"a")]

op_strategy = st.one_of(
    st.tuples(st.just("read"), st.integers(-1, 24)),
    st.tuples(st.just("readexactly"), st.integers(-1, 24)),
    st.tuples(st.just("readline"), st.none()),
    st.tuples(st.just("readuntil"), st.sampled_from(SEPARATORS)),
    st.tuples(st.just("at_eof"), st.none()),
)
byte_strategy = st.binary(max_size=120).map(
    # Enough separators to make lines and matches common.
    lambda b: bytes(b"\nabxyz"[x % 6] if x % 3 else x for x in b)
)


async def drive(reader: Any, chunks: list[bytes], ops: list, transport: Any) -> list:
    """Feeds `chunks` (then EOF) while running `ops` on `reader`; returns what happened."""
    reader.set_transport(transport)
    log: list = []

    async def feeder() -> None:
        for chunk in chunks:
            reader.feed_data(chunk)
            log.append(("fed", len(chunk), reader.at_eof()))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        reader.feed_eof()

    async def user() -> None:
        for name, arg in ops:
            try:
                if name == "at_eof":
                    result: Any = reader.at_eof()
                elif name == "readline":
                    result = await reader.readline()
                else:
                    result = await getattr(reader, name)(arg)
            except (EOFError, ValueError, asyncio.LimitOverrunError) as e:
                log.append((name, arg, "raised", outcome(e)))
            else:
                log.append((name, arg, result))
        log.append(("rest", await reader.read()))

    await asyncio.gather(feeder(), user())
    log.append(("flow", transport.calls, reader.at_eof()))
    return log


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for p in [*points, len(data)]:
        if p > start:
            pieces.append(data[start:p])
            start = p
    return pieces


@given(
    data=byte_strategy,
    cuts=st.lists(st.integers(0, 200), max_size=8),
    ops=st.lists(op_strategy, max_size=8),
    limit=st.integers(1, 12),
)
@pytest.mark.parametrize("kind", LOOPS)
def test_byte_reads_match_asyncio(kind, data, cuts, ops, limit):
    chunks = split(data, cuts)

    async def main() -> tuple[list, list]:
        loop = asyncio.get_running_loop()
        expected = await drive(asyncio.StreamReader(limit, loop), chunks, ops, RecordingTransport())
        got = await drive(fa.StreamReader(limit, loop), chunks, ops, RecordingTransport())
        return expected, got

    expected, got = run(kind, main)
    assert got == expected


@given(data=byte_strategy, cuts=st.lists(st.integers(0, 200), max_size=6))
@pytest.mark.parametrize("kind", LOOPS)
def test_line_iteration_matches_asyncio(kind, data, cuts):
    chunks = split(data, cuts)

    async def lines(reader: Any) -> list:
        reader.set_transport(RecordingTransport())

        async def feeder() -> None:
            for chunk in chunks:
                reader.feed_data(chunk)
                await asyncio.sleep(0)
            reader.feed_eof()

        task = asyncio.ensure_future(feeder())
        out = []
        try:
            async for line in reader:
                out.append(line)
        except ValueError as e:
            out.append(outcome(e))
        await task
        return out

    async def main() -> tuple[list, list]:
        loop = asyncio.get_running_loop()
        return await lines(asyncio.StreamReader(8, loop)), await lines(fa.StreamReader(8, loop))

    expected, got = run(kind, main)
    assert got == expected


def test_concurrent_reads_are_refused_as_asyncio_does(loop_kind):
    async def attempt(reader: Any) -> tuple:
        first = asyncio.ensure_future(reader.read(1))
        await asyncio.sleep(0)
        try:
            await reader.readexactly(2)
        except RuntimeError as e:
            result = ("RuntimeError", str(e))
        reader.feed_data(b"x")
        return result, await first

    async def main() -> tuple:
        loop = asyncio.get_running_loop()
        return await attempt(asyncio.StreamReader(loop=loop)), await attempt(
            fa.StreamReader(loop=loop)
        )

    expected, got = run(loop_kind, main)
    assert got == expected


def test_set_exception_matches_asyncio(loop_kind):
    async def attempt(reader: Any) -> list:
        out = []
        waiting = asyncio.ensure_future(reader.read(5))
        await asyncio.sleep(0)
        reader.feed_data(b"abc")
        reader.set_exception(ConnectionResetError(104, "reset"))
        out.append(await waiting)
        for call in (reader.read(1), reader.readexactly(1), reader.readline()):
            try:
                out.append(await call)
            except ConnectionResetError as e:
                out.append(("reset", e.args))
        out.append(reader.exception().args)
        return out

    async def main() -> tuple:
        loop = asyncio.get_running_loop()
        return await attempt(asyncio.StreamReader(loop=loop)), await attempt(
            fa.StreamReader(loop=loop)
        )

    expected, got = run(loop_kind, main)
    assert got == expected


write_op = st.one_of(
    st.tuples(st.just("write"), st.binary(max_size=20)),
    # No empty list or item: CPython 3.12.1's selector transport asserts on writelines([])
    # and stops sending after writelines([b""]) behind buffered data.
    st.tuples(
        st.just("writelines"),
        st.lists(st.binary(min_size=1, max_size=10), min_size=1, max_size=3),
    ),
    st.tuples(st.just("frame"), st.binary(max_size=20)),
    st.tuples(st.just("frames"), st.lists(st.binary(max_size=10), max_size=3)),
    st.tuples(st.just("drain"), st.none()),
    st.tuples(st.just("yield"), st.none()),
    st.tuples(st.just("can_write_eof"), st.none()),
    st.tuples(st.just("is_closing"), st.none()),
)


async def write_ops(writer: Any, ops: list, native: bool) -> tuple[list, bytes]:
    """Runs `ops` on `writer`; frames go through write_frame(s) on ferrosock's writer and
    through write(struct.pack(...) + data) on asyncio's, the oracle."""
    results: list = []
    for name, arg in ops:
        if name == "frame":
            result = writer.write_frame(arg) if native else writer.write(wire([arg]))
        elif name == "frames":
            result = writer.write_frames(arg) if native else writer.write(wire(arg))
        elif name == "drain":
            result = await writer.drain()
        elif name == "yield":
            result = await asyncio.sleep(0)
        elif name in ("write", "writelines"):
            result = getattr(writer, name)(arg)
        else:
            result = getattr(writer, name)()
        results.append((name, result))
    writer.write_eof()
    with pytest.raises(RuntimeError) as info:
        writer.write_frame(b"late") if native else writer.write(wire([b"late"]))
    results.append(("after eof", str(info.value)))
    return results


@given(ops=st.lists(write_op, max_size=10))
@pytest.mark.parametrize("kind", LOOPS)
def test_writes_match_asyncio(kind, ops):
    async def one(native: bool) -> tuple[list, bytes]:
        ours, peer = socket.socketpair()
        with peer:
            opener = fa.open_unix_connection if native else asyncio.open_unix_connection
            _reader, writer = await opener(sock=ours)
            receiving = asyncio.ensure_future(asyncio.to_thread(recv_all, peer))
            results = await write_ops(writer, ops, native)
            received = await receiving
            results.append(("closing", writer.is_closing()))
            writer.close()
            await writer.wait_closed()
            return results, received

    async def main() -> tuple:
        return await one(False), await one(True)

    expected, got = run(kind, main)
    assert got == expected


@given(
    chunks=st.lists(byte_strategy, max_size=4),
    taken=st.integers(0, 50),
    sep=st.sampled_from([b"\n", b"ab", b"xyz", b"", b"a\nb"]),
    start=st.integers(0, 60),
)
def test_stream_buffer_searches_like_bytearray(chunks, taken, sep, start):
    # The native buffer behind the reader's byte methods, against the bytearray asyncio uses.
    buf = _native.StreamBuffer("!I", 1 << 20)
    model = bytearray()
    for chunk in chunks:
        assert buf.feed(chunk) == len(model) + len(chunk)
        model += chunk
    assert buf.take(taken) == bytes(model[:taken])
    del model[:taken]
    assert len(buf) == len(model)
    assert buf.find(sep, start) == model.find(sep, start)
    assert buf.startswith(sep, start) == model.startswith(sep, start)
    buf.consume(start)
    del model[:start]
    assert buf.take_all() == bytes(model)
    assert len(buf) == 0


# --- frames without I/O --------------------------------------------------------------------


@given(
    frames=st.lists(st.binary(max_size=40), max_size=12),
    cuts=st.lists(st.integers(0, 600), max_size=10),
    header=st.sampled_from(["!B", "!H", "!I", "<I", "!Q"]),
    cut_tail=st.integers(0, 8),
)
@pytest.mark.parametrize("kind", LOOPS)
def test_read_frame_any_chunking(kind, frames, cuts, header, cut_tail):
    data = wire(frames, header)
    whole = data
    if cut_tail and frames:
        data = data[:-cut_tail]  # the stream ends mid-frame
    chunks = split(data, cuts)

    async def main() -> tuple[list, Any]:
        loop = asyncio.get_running_loop()
        reader = fa.StreamReader(loop=loop, header=header, max_size=1000)

        async def feeder() -> None:
            for chunk in chunks:
                reader.feed_data(chunk)
                await asyncio.sleep(0)
            reader.feed_eof()

        task = asyncio.ensure_future(feeder())
        got = []
        try:
            while True:
                got.append(await reader.read_frame())
        except asyncio.IncompleteReadError as e:
            end = e
        await task
        return got, end

    got, end = run(kind, main)
    consumed = wire(got, header)
    assert whole.startswith(consumed)
    assert end.partial == data[len(consumed) :]
    hsize = struct.calcsize(header)
    if len(end.partial) >= hsize:
        assert end.expected == hsize + struct.unpack(header, end.partial[:hsize])[0]
        assert len(end.partial) < end.expected
    else:
        assert end.expected == hsize
    if data == whole:
        assert got == frames and end.partial == b""
    else:
        assert got == frames[: len(got)] and len(got) < len(frames)


# --- over sockets ------------------------------------------------------------------------


def socket_kinds() -> list[str]:
    return ["tcp", "unix"]


async def connect_pair(kind: str, **kwds: Any) -> tuple[Any, Any, socket.socket]:
    """A ferrosock (reader, writer) connected to a plain blocking stdlib socket (the peer)."""
    if kind == "unix":
        ours, peer = socket.socketpair()
        reader, writer = await fa.open_unix_connection(sock=ours, **kwds)
    else:
        with socket.socket() as lsock:
            lsock.bind(("127.0.0.1", 0))
            lsock.listen()
            reader, writer = await fa.open_connection(*lsock.getsockname(), **kwds)
            peer, _ = lsock.accept()
    return reader, writer, peer


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    sock.settimeout(RUN_TIMEOUT)  # a thread blocked for ever would hang the loop's shutdown
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the peer ended early"
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    sock.settimeout(RUN_TIMEOUT)  # a thread blocked for ever would hang the loop's shutdown
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


async def handlers_done(tasks: list[asyncio.Task], count: int) -> None:
    """Waits for `count` connection handlers to have started and finished."""
    while len(tasks) < count:
        await asyncio.sleep(0.001)
    await asyncio.wait(tasks)


async def close(writer: Any) -> None:
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("kind", socket_kinds())
def test_frames_split_across_reads_and_many_in_one(loop_kind, kind):
    frames = [os.urandom(n) for n in (0, 1, 7, 300, 70_000, 5)] * 3

    async def main() -> None:
        reader, writer, peer = await connect_pair(kind)
        with peer:
            data = wire(frames)
            # Byte by byte at first (frames split across many reads), then all at once
            # (many frames in one read), from a thread: the socket buffers may hold less.
            for i in range(40):
                peer.sendall(data[i : i + 1])
                await asyncio.sleep(0.001)
            sending = asyncio.ensure_future(asyncio.to_thread(peer.sendall, data[40:]))
            got = [await reader.read_frame() for _ in frames]
            await sending
            assert got == frames
            # Replies go back framed, in order.
            writer.write_frame(b"one")
            writer.write_frames([b"two", bytearray(b"three"), memoryview(b"four")])
            await writer.drain()
            expect = wire([b"one", b"two", b"three", b"four"])
            assert await asyncio.to_thread(recv_exactly, peer, len(expect)) == expect
            await close(writer)

    run(loop_kind, main)


def test_mixed_frames_and_bytes(loop_kind):
    async def main() -> None:
        reader, writer, peer = await connect_pair("unix")
        with peer:
            peer.sendall(b"hello\n" + wire([b"frame"]) + b"tail:" + wire([b"x"], "!I"))
            assert await reader.readline() == b"hello\n"
            assert await reader.read_frame() == b"frame"
            assert await reader.readuntil(b":") == b"tail:"
            assert await reader.readexactly(4) == b"\x00\x00\x00\x01"
            assert await reader.read(10) == b"x"
            # Writes keep their order: bytes after frames go after them.
            writer.write_frame(b"a")
            writer.write(b"raw")
            writer.write_frame(b"b")
            writer.writelines([b"c", b"d"])
            writer.write_eof()
            received = await asyncio.to_thread(recv_all, peer)
            assert received == wire([b"a"]) + b"raw" + wire([b"b"]) + b"cd"
            peer.shutdown(socket.SHUT_WR)
            assert await reader.read() == b""
            assert reader.at_eof()
            await close(writer)

    run(loop_kind, main)


def test_oversized_frame_raises_frame_error(loop_kind):
    async def main() -> None:
        reader, writer, peer = await connect_pair("unix", max_size=1024)
        with peer:
            peer.sendall(wire([b"ok"]) + struct.pack("!I", 0xFFFFFFF0) + b"zz")
            assert await reader.read_frame() == b"ok"
            with pytest.raises(ferrosock.FrameError, match="exceeds max_size"):
                await reader.read_frame()
            # Nothing was consumed: the offending header is still there to inspect.
            assert await reader.readexactly(4) == struct.pack("!I", 0xFFFFFFF0)
            # A second writer on the same transport: closing `writer` closes it too.
            narrow = fa.StreamWriter(
                writer.transport, writer._protocol, None, writer._loop, header="!B"
            )
            with pytest.raises(ValueError, match="too long for header"):
                narrow.write_frame(b"x" * 256)
            await close(writer)

    run(loop_kind, main)


def test_eof_mid_frame_raises_incomplete_read(loop_kind):
    async def main() -> None:
        reader, writer, peer = await connect_pair("tcp", header="!H")
        with peer:
            peer.sendall(wire([b"whole"], "!H") + struct.pack("!H", 10) + b"part")
            peer.shutdown(socket.SHUT_WR)
            assert await reader.read_frame() == b"whole"
            with pytest.raises(asyncio.IncompleteReadError) as info:
                await reader.read_frame()
            assert isinstance(info.value, ferrosock.IncompleteReadError)
            assert info.value.partial == struct.pack("!H", 10) + b"part"
            assert info.value.expected == 12
            # Then the end between frames: nothing left.
            with pytest.raises(ferrosock.IncompleteReadError) as info:
                await reader.read_frame()
            assert info.value.partial == b""
            await close(writer)

    run(loop_kind, main)


def test_drain_blocks_while_the_peer_does_not_read(loop_kind):
    async def main() -> None:
        _reader, writer, peer = await connect_pair("unix")
        with peer:
            writer.transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
            payload = b"p" * 1000
            sent = 0
            # Far more than the socket buffers hold, so the transport must buffer and pause.
            for _ in range(8000):
                writer.write_frame(payload)
                sent += 4 + len(payload)
            drain = asyncio.ensure_future(writer.drain())
            for _ in range(20):
                await asyncio.sleep(0.005)
            assert not drain.done()
            assert writer.transport.get_write_buffer_size() > 64 * 1024

            received = 0

            def consume() -> None:
                nonlocal received
                while received < sent:
                    received += len(peer.recv(1 << 16))

            thread = threading.Thread(target=consume)
            thread.start()
            await drain
            await asyncio.get_running_loop().run_in_executor(None, thread.join)
            assert received == sent
            await close(writer)

    run(loop_kind, main)


def test_reading_pauses_above_the_limit_and_resumes(loop_kind):
    async def main() -> None:
        reader, writer, peer = await connect_pair("unix", limit=1024)
        with peer:
            frames = [bytes([i]) * 500 for i in range(40)]
            peer.setblocking(False)
            data = wire(frames)
            sent = peer.send(data)
            while not reader._paused:
                await asyncio.sleep(0.001)
            assert not writer.transport.is_reading()
            got = []
            while len(got) < len(frames):
                if sent < len(data):
                    try:
                        sent += peer.send(data[sent:])
                    except BlockingIOError:
                        pass
                got.append(await reader.read_frame())
            assert got == frames
            assert writer.transport.is_reading()
            await close(writer)

    run(loop_kind, main)


def test_frame_larger_than_the_buffer_limit(loop_kind):
    # Reading pauses at twice the limit; read_frame must resume it to complete the frame.
    big = os.urandom(300_000)

    async def main() -> None:
        reader, writer, peer = await connect_pair("unix", limit=1024, max_size=1 << 20)
        with peer:
            sending = asyncio.ensure_future(asyncio.to_thread(peer.sendall, wire([big, b"x"])))
            assert await reader.read_frame() == big
            assert await reader.read_frame() == b"x"
            await sending
            assert writer.transport.is_reading()
            await close(writer)

    run(loop_kind, main)


def test_start_server_life_cycle(loop_kind):
    handler_tasks: list[asyncio.Task] = []
    handled: list[bytes] = []

    async def handler(reader: fa.StreamReader, writer: fa.StreamWriter) -> None:
        handler_tasks.append(asyncio.current_task())
        assert isinstance(reader, fa.StreamReader) and isinstance(writer, fa.StreamWriter)
        try:
            while True:
                frame = await reader.read_frame()
                handled.append(frame)
                writer.write_frame(frame.upper())
                await writer.drain()
        except fa.IncompleteReadError:
            pass
        finally:
            writer.close()
            await writer.wait_closed()

    async def client(port: int, i: int) -> None:
        reader, writer = await fa.open_connection("127.0.0.1", port)
        assert writer.get_extra_info("peername")[1] == port
        for j in range(20):
            writer.write_frame(b"c%d-%d" % (i, j))
        await writer.drain()
        assert [await reader.read_frame() for _ in range(20)] == [
            b"C%d-%d" % (i, j) for j in range(20)
        ]
        writer.write_eof()
        with pytest.raises(asyncio.IncompleteReadError):
            await reader.read_frame()
        await close(writer)

    async def main() -> None:
        server = await fa.start_server(handler, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            await asyncio.gather(*(client(port, i) for i in range(8)))
            # Let the handlers see EOF and finish.
            await handlers_done(handler_tasks, 8)
        await server.wait_closed()

    run(loop_kind, main)
    assert len(handled) == 160


def test_start_unix_server_life_cycle(loop_kind):
    handler_tasks: list[asyncio.Task] = []

    async def handler(reader: fa.StreamReader, writer: fa.StreamWriter) -> None:
        handler_tasks.append(asyncio.current_task())
        async for line in reader:
            writer.write(line[::-1])
        writer.close()

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "s")
            server = await fa.start_unix_server(handler, path)
            async with server:
                reader, writer = await fa.open_unix_connection(path)
                writer.writelines([b"abc\n", b"de\n"])
                writer.write_eof()
                assert await reader.read() == b"\ncba\ned"
                assert reader.at_eof()
                await close(writer)
                await handlers_done(handler_tasks, 1)
            await server.wait_closed()

    run(loop_kind, main)


def test_handler_exception_goes_to_the_loop_and_closes(loop_kind):
    async def handler(reader: fa.StreamReader, writer: fa.StreamWriter) -> None:
        await reader.read_frame()
        raise RuntimeError("boom")

    async def main() -> list:
        seen: list = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: seen.append(ctx))
        server = await fa.start_server(handler, "127.0.0.1", 0)
        async with server:
            reader, writer = await fa.open_connection(*server.sockets[0].getsockname())
            writer.write_frame(b"x")
            assert await reader.read() == b""  # the server closed the connection
            await close(writer)
        await server.wait_closed()
        return seen

    seen = run(loop_kind, main)
    assert [str(ctx["exception"]) for ctx in seen] == ["boom"]


def test_ssl(loop_kind):
    handler_tasks: list[asyncio.Task] = []
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def handler(reader: fa.StreamReader, writer: fa.StreamWriter) -> None:
        handler_tasks.append(asyncio.current_task())
        assert writer.get_extra_info("ssl_object") is not None
        writer.write_frames([await reader.read_frame() * 2, await reader.readline()])
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server = await fa.start_server(handler, "127.0.0.1", 0, ssl=server_ctx)
        async with server:
            host, port = server.sockets[0].getsockname()
            reader, writer = await fa.open_connection(
                host, port, ssl=client_ctx, server_hostname="localhost"
            )
            assert writer.get_extra_info("peercert")["subjectAltName"]
            writer.write_frame(b"secret")
            writer.write(b"line\n")
            await writer.drain()
            assert await reader.read_frame() == b"secretsecret"
            assert await reader.read_frame() == b"line\n"
            with pytest.raises(asyncio.IncompleteReadError):
                await reader.read_frame()
            await close(writer)
            await handlers_done(handler_tasks, 1)
        await server.wait_closed()

    run(loop_kind, main)


def test_start_tls_upgrades_both_ends(loop_kind):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    handler_tasks: list[asyncio.Task] = []

    async def handler(reader: fa.StreamReader, writer: fa.StreamWriter) -> None:
        handler_tasks.append(asyncio.current_task())
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"GO\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        writer.write_frame(await reader.read_frame())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server = await fa.start_server(handler, "127.0.0.1", 0)
        async with server:
            reader, writer = await fa.open_connection(*server.sockets[0].getsockname())
            writer.write(b"STARTTLS\n")
            assert await reader.readline() == b"GO\n"
            await writer.start_tls(client_ctx, server_hostname="localhost")
            assert writer.get_extra_info("ssl_object") is not None
            writer.write_frame(b"over tls")
            assert await reader.read_frame() == b"over tls"
            await close(writer)
            await handlers_done(handler_tasks, 1)
        await server.wait_closed()

    run(loop_kind, main)


def test_drain_after_the_peer_closed_raises(loop_kind):
    async def main() -> None:
        reader, writer, peer = await connect_pair("unix")
        peer.close()
        assert await reader.read() == b""
        with pytest.raises(ConnectionError):
            for _ in range(100):
                writer.write_frame(b"x" * 1000)
                await writer.drain()
        writer.close()
        with pytest.raises(ConnectionError):
            await writer.wait_closed()

    run(loop_kind, main)
