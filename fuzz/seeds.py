"""Writes the committed seed corpus, fuzz/seeds/<target>/, from the cases the tests use.

Run from anywhere: `python3 fuzz/seeds.py`. The files are named by content hash, as
libFuzzer names its own, so rerunning changes nothing.
"""

from __future__ import annotations

import hashlib
import pathlib
import socket
import struct

HERE = pathlib.Path(__file__).resolve().parent

V4 = """0.0.0.0 00 01.2.3.4 0177.0.0.1 08.0.0.1 0x7f.1 1..2 1.16777215 1.2 1.2.3 1.2.3.04
1.2.3.4 1.2.3.4. 1.2.3.4.5 1.2.65535 127.0.0.1 127.1 255.255.255.255 256.0.0.0 256.1
4294967295 4294967296 999999999999999999999 192.168.1.1/24 10.0.0.0 255.255.0.0
0.0.0.255 1.2.3.4\tjunk 1.2.3.4\x0b""".split()
V6 = """:: ::1 ::2 1:: 1:2:3:4:5:6:7:8 0:0:0:0:0:0:0:0 0:0:0:0:0:0:0:1 0:0:0:0:0:ffff:0:1 0:1::
1:0:0:1:0:0:0:1 1:0:0:2:0:0:3:4 1:2:3:4:5:6:1.2.3.4 1:2:3:4:5:6:7:1.2.3.4 1:2:3:4:5:6:7:8:9
1:2:3:4:5:6:7:8:: 1:2:3:4:5:6:7:: 1::2::3 ::0.0.1.2 ::1.2.3.4 ::1234.1.1.1 ::1:2:3:4:5:6:7
::2:0:0:0:0:0 ::: ::a.2.3.4 ::ffff:01.2.3.4 ::ffff:0:0 ::ffff:0:0:1 ::ffff:1.2.3 ::ffff:1.2.3.4
::ffff:127.0.0.1 FE80::ABCD fe80::1%eth0 fe80::1%1 12345:: 1: :1 2001:db8::/32
ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255
2001:0db8:0000:0000:0000:ff00:0042:8329 64 128 0 255.255.255.0 0.0.0.255""".split()
FORMATS = [
    *"""x !HHI !P !bi 0 0i 0p 0p0p 0pb 0ph 0px 0s0p0x 1 1000000000000i 1000000000000s 12
1p 256p 2p 3b3h3i3q 3i 3p 3s 3x3 3x3s 4611686018427387904h 4sL 5p 9223372036854775807x <2h
<H <I2sf <bi <d <f <hB <hiq2s <hq3s <n <q <qd16s =IB3x8s =bi =f >Q @e ?c P bhilqnNefd
BHILQN""".split(),
    *["3 i", "<h 2s", " ", "i\0", "\t<i\n"],
]

# struct_pack cases: a format, a NUL, then the bytes its values and buffers come from.
STRUCT_CASES = [
    b"<hiq2s\0" + bytes(range(40)),
    b"@bhilqnNefd?P\0" + bytes(range(200)),
    b"!HHI\0\xff" * 3,
    b"3p5p\0\x09abcdefgh\x00" * 2,
    b"e\0\x00\x7c\x00\xfc\x01\x7e",
    b">Q\0" + b"\xff" * 16,
    b"=IB3x8s\0hello world 1234",
    b"f d\0" + struct.pack("<fd", 1e38, -0.0),
    b"0s0p0x\0",
    b"10000000000s\0",
    b"c?\0\x00\x02",
    b"<n\0abc",
]


def frame_input(sel: int, max_size: int, cuts: bytes, stream: bytes) -> bytes:
    return bytes([sel]) + struct.pack("<I", max_size) + bytes([0, len(cuts)]) + cuts + stream


def server_input(sel: int, max_size: int, cuts: bytes, stream: bytes, delim: bytes = b"") -> bytes:
    return bytes([sel]) + struct.pack("<H", max_size) + bytes([len(cuts)]) + delim + cuts + stream


def sockaddr_input(length: int, storage: bytes, name: bytes = b"") -> bytes:
    return struct.pack("<H", length) + storage.ljust(128, b"\0") + name


def seeds() -> dict[str, list[bytes]]:
    v4 = [s.encode() for s in V4]
    v6 = [s.encode() for s in V6]
    frames = b"".join(struct.pack("!I", len(p)) + p for p in (b"hello", b"", b"x" * 40))
    frame4 = struct.pack("!I", 5) + b"hello"
    sin = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 8080) + bytes([127, 0, 0, 1])
    sin6 = (
        struct.pack("=H", socket.AF_INET6)
        + struct.pack("!HI", 443, 7)
        + socket.inet_pton(socket.AF_INET6, "fe80::1")
        + struct.pack("=I", 2)
    )
    unix = struct.pack("=H", socket.AF_UNIX)
    return {
        "inet_pton6": v6 + v4,
        "inet_aton4": v4,
        "ipaddress": v4 + v6,
        # ipaddress_py: a family byte, then its payload: each text to the three families
        # (properties, format(), network operations) of one constructor, byte strings to
        # the integer, summarize, collapse and exclude families (30 to 35).
        "ipaddress_py": [
            bytes([i % 10 * 3 + aspect]) + t for i, t in enumerate(v4 + v6) for aspect in range(3)
        ]
        + [
            bytes([f]) + b
            for b in (bytes(range(16)), bytes(range(1, 18)), b"\xff" * 9, b"\x0a\x18\xc0\x10\x08")
            for f in range(30, 36)
        ],
        # addr_py: a family byte (0 aton, 1 pton, 2 ntoa, 3 ntop, 4 and 5 byte order), then
        # its payload: the texts for the parsers, the byte strings for every family.
        "addr_py": [bytes([f]) + t for t in v4 + v6 for f in (0, 1)]
        + [
            bytes([f]) + b
            for b in (bytes(range(16)), b"\x00" * 4, b"\xff" * 9, b"a\x00b")
            for f in range(6)
        ],
        "struct_format": [f.encode() for f in FORMATS],
        # struct_pack: a family byte (0 round trip, 1 wrong values, 2 offsets, 3
        # iteration) before each case.
        "struct_pack": [bytes([f]) + case for case in STRUCT_CASES for f in range(4)],
        "frame_decoder": [
            frame_input(2, 1 << 20, b"", frames),  # "I": native order, 4 bytes
            frame_input(7, 1 << 20, bytes([0, 2, 5, 0]), frames),  # "!I", cut small
            frame_input(7, 16, b"", frames),  # the 40-byte frame is too large
            frame_input(9, 0xFFFFFFFF, b"", b"\xff" * 9),  # "!Q", nearly 2**64 declared
            frame_input(0, 0, b"\x00", b"\x00\x00\x01x"),  # "B", empty frames
        ],
        "server_decode": [
            server_input(0, 100, bytes([1, 0, 3]), b"raw bytes in pieces"),
            server_input(4, 100, bytes([0, 1]), frames),  # frame "!H" (sel 1 + 3)
            server_input(2, 10, bytes([2]), b"one\ntwo\nthree-too-long\n", b"\n"),
            server_input(5, 100, bytes([0, 0, 0]), b"a\r\nb\r\n\r\n", b"\r\n"),
            server_input(22, 0xFFFF, b"", b"\xff" * 9),  # frame "!Q"
        ],
        "aio_recvbuf": [
            # header "!I" (2), max_size 100: feed a frame in two pieces, take it, find b"\n".
            aio_input(
                2, 100, [(0, frame4[:3]), (0, frame4[3:]), (3,), (0, b"ab\ncd"), (2, b"\n", 0)]
            ),
            # header "B" (0), max_size 4: a frame declaring 9 bytes is too large.
            aio_input(0, 4, [(0, b"\x09abc"), (3,), (1, 2), (4,)]),
            # header ">Q" (4): the length straddles two feeds; consume past the end.
            aio_input(4, 4000, [(0, b"\0" * 7), (3,), (0, b"\x02hi"), (3,), (1, 200)]),
            aio_input(
                1, 10, [(0, b"line one\r\nline two\r\n"), (2, b"\r\n", 3), (1, 10), (2, b"two", 0)]
            ),
        ],
        "sockaddr": [
            sockaddr_input(16, sin, b"127.0.0.1"),
            sockaddr_input(28, sin6, b"fe80::1"),
            sockaddr_input(2 + 9, unix + b"/tmp/sock", b"<broadcast>"),
            sockaddr_input(2 + 5, unix + b"\0abst", b"::ffff:1.2.3.4"),
            sockaddr_input(2, unix, b"255.255.255.255"),
            sockaddr_input(0, b"", b""),
            sockaddr_input(16, struct.pack("=H", 17) + bytes(range(14)), b"fe80::1%eth0"),
            sockaddr_input(200, sin6, b"localhost"),
        ],
    }


def aio_input(sel: int, max_size: int, ops: list[tuple]) -> bytes:
    """aio_recvbuf's input: header selector, max_size, then (op, operands...) as it reads
    them: 0 feed (length byte, bytes), 1 consume (n), 2 find (length-1 byte, separator,
    offset), 3 front frame, 4 clear."""
    out = bytearray([sel]) + struct.pack("<I", max_size)
    for op in ops:
        if op[0] == 0:
            out += bytes([0, len(op[1])]) + op[1]
        elif op[0] == 1:
            out += bytes([1, op[1]])
        elif op[0] == 2:
            out += bytes([2, len(op[1]) - 1]) + op[1] + bytes([op[2]])
        else:
            out += bytes([op[0]])
    return bytes(out)


def main() -> None:
    for target, cases in seeds().items():
        d = HERE / "seeds" / target
        d.mkdir(parents=True, exist_ok=True)
        names = {hashlib.sha1(case).hexdigest(): case for case in cases}
        for stale in d.iterdir():
            if stale.name not in names:  # from an earlier input layout
                stale.unlink()
        for name, case in names.items():
            (d / name).write_bytes(case)
        print(f"{target}: {len(names)} seeds")


if __name__ == "__main__":
    main()
