"""Examples that pack binary data with `ferrosock.struct`: the multicast sender and receiver,
the 'I 2s f' binary client and server (seed 000) and the CAN frames (seed 003)."""

from __future__ import annotations

import binascii
import re
import socket
import struct
import time

import pytest

from tests.example_runner import (
    IMPLS,
    check_lines,
    free_port,
    run,
    running,
)

pytestmark = [pytest.mark.parametrize("impl", IMPLS), pytest.mark.usefixtures("no_fd_leak")]

GROUP = "224.3.29.71"


def _multicast_on_loopback() -> str | None:
    """Why this machine cannot carry multicast over loopback, or None if it can: the same
    membership, options and round trip the examples use, tried here first."""
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
        ):
            rx.bind(("", 0))
            mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("127.0.0.1"))
            rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 1))
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
            tx.sendto(b"probe", (GROUP, rx.getsockname()[1]))
            rx.settimeout(2.0)
            rx.recvfrom(16)
    except TimeoutError:
        return "a multicast datagram sent over loopback was not delivered within 2 s"
    except OSError as e:
        return f"the kernel refuses multicast on loopback: {e!r}"
    return None


def test_multicast_sender_and_receiver(impl: str) -> None:
    reason = _multicast_on_loopback()
    if reason:
        pytest.skip(reason)
    port = free_port(socket.SOCK_DGRAM, host="0.0.0.0")
    args = ("--port", str(port))
    with running(
        "socket_multicast_receiver", *args, impl=impl, ready="^waiting to receive message\n"
    ) as receiver:
        sender = run("socket_multicast_sender", *args, impl=impl)
        receiver.wait_for(r"^sending acknowledgement to .*\n\nwaiting to receive message\n")
    check_lines(
        sender,
        [
            "sending b'very important data'",
            "waiting to receive",
            f"received b'ack' from ('127.0.0.1', {port})",
            "waiting to receive",
            "timed out, no more responses",
            "closing socket",
        ],
    )
    peer = r"\('127\.0\.0\.1', \d+\)"
    check_lines(
        receiver.output,
        [
            "",
            "waiting to receive message",
            re.compile(f"received 19 bytes from {peer}"),
            "b'very important data'",
            re.compile(f"sending acknowledgement to {peer}"),
            "",
            "waiting to receive message",
        ],
    )


def test_multicast_sender_without_receiver(impl: str) -> None:
    """Nobody in the group: the sender waits 0.2 s, then gives up (socket.timeout)."""
    reason = _multicast_on_loopback()
    if reason:
        pytest.skip(reason)
    t0 = time.monotonic()
    out = run("socket_multicast_sender", "--port", str(free_port(socket.SOCK_DGRAM)), impl=impl)
    assert time.monotonic() - t0 < 15  # bounded: the 0.2 s timeout ends the wait
    check_lines(
        out,
        [
            "sending b'very important data'",
            "waiting to receive",
            "timed out, no more responses",
            "closing socket",
        ],
    )


def test_binary_client_and_server(impl: str) -> None:
    port = free_port()
    args = ("--port", str(port))
    packed = struct.Struct("I 2s f").pack(1, b"ab", 2.7)
    assert binascii.hexlify(packed) == b"0100000061620000cdcc2c40"
    with running(
        "socket_binary_server", *args, impl=impl, ready="^waiting for a connection\n"
    ) as srv:
        client = run("socket_binary_client", *args, impl=impl)
        srv.wait_for(r"^unpacked: .*\n\nwaiting for a connection\n")
    check_lines(
        client,
        ["values = (1, b'ab', 2.7)", "sending b'0100000061620000cdcc2c40'", "closing socket"],
    )
    check_lines(
        srv.output,
        [
            "",
            "waiting for a connection",
            "received b'0100000061620000cdcc2c40'",
            "unpacked: (1, b'ab', 2.700000047683716)",
            "",
            "waiting for a connection",
        ],
    )


def test_can_frames(impl: str) -> None:
    check_lines(
        run("can_frames", impl=impl),
        [
            "can_frame_size = 16",
            "built:    b'01000000030000000102030000000000'",
            "Received: can_id=1, can_dlc=3, data=b'\\x01\\x02\\x03'",
            "built:    b'230100000500000068656c6c6f000000'",
            "Received: can_id=123, can_dlc=5, data=b'hello'",
            "built:    b'ff070000000000000000000000000000'",
            "Received: can_id=7ff, can_dlc=0, data=b''",
            "built:    b'ffffff9f080000003132333435363738'",
            "Received: can_id=9fffffff, can_dlc=8, data=b'12345678'",
        ],
    )


def test_can_frames_on_a_bus(impl: str) -> None:
    """The docs' loop needs a CAN interface; without one, opening or binding the raw CAN
    socket fails, and the example dies with the same error as the stdlib."""
    try:
        with socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW) as s:
            s.bind(("vcan0",))
    except OSError as e:
        expected = f"{type(e).__name__}: {e}"
    else:
        pytest.skip("this machine has a vcan0 interface: the docs' loop would wait for frames")
    err: list[str] = []
    out = run("can_frames", "--interface", "vcan0", impl=impl, returncode=1, stderr_sink=err)
    assert out == ""
    assert err[0].splitlines()[-1] == expected, err[0]
