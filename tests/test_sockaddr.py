"""Address conversion (rust/sockaddr.rs) against the stdlib's own.

The oracle is a stdlib UDP socket's ``connect`` (CPython's ``getsockaddrarg``; no packet
leaves the host) followed by ``getpeername`` (CPython's ``makesockaddr``): ours must raise
the same exception class with the same message, or produce the same address.
"""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import given, strategies as st

from ferrosock import _native

roundtrip = _native.sockaddr_roundtrip

INET_CASES = [
    ("127.0.0.1",),
    ("127.0.0.1", 1, 2),
    "x",
    ["127.0.0.1", 5],
    ("127.0.0.1", -1),
    ("127.0.0.1", 70000),
    ("127.0.0.1", 2**40),
    ("127.0.0.1", "80"),
    ("127.0.0.1", 5.0),
    ("127.0.0.1", None),
    (1, 5),
    (None, 5),
    (b"127.0.0.1", 9),
    (bytearray(b"127.0.0.1"), 9),
    (memoryview(b"127.0.0.1"), 9),
    ("a\0b", 9),
    (b"a\0b", 9),
    ("", 9),
    ("<broadcast>", 9),
    ("255.255.255.255", 9),
    ("localhost", 9),
    ("nonexistent.invalid", 9),
    ("::1", 9),
    ("::ffff:127.0.0.1", 9),
    ("1.2.3", 9),
    ("127.1", 9),
    ("ü.invalid", 9),
    ("\udcff", 9),
    ("127.0.0.1", True),
    ("127.0.0.1", 0),
    ("127.0.0.1", 65535),
    ("::1", 9, 2**20),
    ("::1", 9, 2**20 - 1),
    ("::1", 9, -1),
    ("::1", 9, 0, 2**32),
    ("::1", 9, 0, 2**32 + 5),
    ("::1", 9, 0, -1),
    ("::1", 9, 1.0),
    ("::1", 9, 0, 0, 0),
    ("::1", 9, 1, 1),
    ("fe80::1%lo", 9),
    ("fe80::1%nonexistentif0", 9),
]


def stdlib_convert(family: int, address: object) -> tuple[str, object]:
    """('ok', address as getpeername reports it) or ('err', (type, str(exc)))."""
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect(address)
        except OSError as e:
            if e.errno is not None and not isinstance(e, socket.gaierror):
                # The kernel refused a well-formed address: the conversion succeeded.
                return "kernel", e.errno
            return "err", (type(e), str(e))
        except (TypeError, ValueError, OverflowError, UnicodeError) as e:
            return "err", (type(e), str(e))
        try:
            return "ok", s.getpeername()
        except OSError as e:  # port 0: Linux leaves a UDP socket unconnected
            return "kernel", e.errno


def ours(family: int, address: object) -> tuple[str, object]:
    try:
        return "ok", roundtrip(family, address, "connect")
    except (OSError, TypeError, ValueError, OverflowError, UnicodeError) as e:
        return "err", (type(e), str(e))


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
@pytest.mark.parametrize("address", INET_CASES, ids=repr)
def test_inet_matches_stdlib(family: int, address: object) -> None:
    expected = stdlib_convert(family, address)
    got = ours(family, address)
    if expected[0] == "kernel":
        assert got[0] == "ok", got
    elif expected[0] == "ok" and got[0] == "ok":
        # getpeername reports what the kernel connected to: the wildcard becomes loopback,
        # and an IPv6 flow label is not kept, so compare host (modulo that) and port.
        (exp_host, exp_port, *_), (host, port, *_) = expected[1], got[1]
        assert port == exp_port
        assert host == exp_host or (host, exp_host) in (("0.0.0.0", "127.0.0.1"), ("::", "::1"))
        assert len(got[1]) == len(expected[1])
    else:
        assert got == expected


@given(
    host=st.one_of(
        st.ip_addresses(v=4).map(str),
        st.ip_addresses(v=6).map(str),
        st.sampled_from(["", "<broadcast>", "localhost", "1.2", "0x7f.1", "::", ":::"]),
        st.text("0123456789.:", max_size=20),
    ),
    port=st.one_of(st.integers(-(2**33), 2**33), st.integers(0, 65535)),
    extra=st.lists(st.integers(-(2**33), 2**33), max_size=3),
)
def test_inet_property(host: str, port: int, extra: list[int]) -> None:
    for family in (socket.AF_INET, socket.AF_INET6):
        address = (host, port, *extra)
        expected = stdlib_convert(family, address)
        got = ours(family, address)
        if expected[0] == "err":
            assert got == expected
        else:
            assert got[0] == "ok"
            assert got[1][1] == port


def test_ipv4_and_ipv6_shapes() -> None:
    assert roundtrip(socket.AF_INET, ("127.0.0.1", 80)) == ("127.0.0.1", 80)
    assert roundtrip(socket.AF_INET6, ("::1", 80)) == ("::1", 80, 0, 0)
    assert roundtrip(socket.AF_INET6, ("::ffff:1.2.3.4", 1, 5, 6)) == ("::ffff:1.2.3.4", 1, 5, 6)
    assert roundtrip(socket.AF_INET6, ("0:0:0:0:0:0:0:1", 2)) == ("::1", 2, 0, 0)


UNIX_CASES = [
    "/nonexistent/x",
    b"/nonexistent/x",
    bytearray(b"/nonexistent/y"),
    memoryview(b"/nonexistent/z"),
    "a" * 107,
    "a" * 108,
    b"\0" + b"a" * 107,
    b"\0" + b"a" * 108,
    b"\0abc",
    "\0abc",
    5,
    ("a",),
    None,
    "\udcff",
]


@pytest.mark.parametrize("address", UNIX_CASES, ids=lambda a: repr(a)[:20])
def test_unix_matches_stdlib(address: object) -> None:
    expected = stdlib_convert(socket.AF_UNIX, address)
    got = ours(socket.AF_UNIX, address)
    if expected[0] == "err":
        assert got == expected
    else:
        assert got[0] == "ok"


def test_unix_shapes(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "s")
    assert roundtrip(socket.AF_UNIX, path) == path
    assert roundtrip(socket.AF_UNIX, os.fsencode(path)) == path
    assert roundtrip(socket.AF_UNIX, b"\0abstract") == b"\0abstract"
    assert roundtrip(socket.AF_UNIX, "\0abstract") == b"\0abstract"
    # Undecodable bytes come back with surrogateescape, as the stdlib's do.
    assert roundtrip(socket.AF_UNIX, b"/tmp/\xff") == "/tmp/\udcff"
    # An empty address is Linux's autobind request; read back it is an unnamed socket.
    assert roundtrip(socket.AF_UNIX, "") == ""


def test_unsupported_family() -> None:
    with pytest.raises(OSError, match=r"^sendto\(\): bad family$"):
        roundtrip(socket.AF_PACKET, ("lo", 0))
