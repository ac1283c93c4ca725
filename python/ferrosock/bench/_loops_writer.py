"""Peer process for the socket-loop benchmarks: writes on request, with the stdlib only.

Run as ``python -m ferrosock.bench._loops_writer FD``: reads 9-byte commands (``op``, ``n``
as ``'!BQ'``) from the stream socket FD and answers each with a burst:

- ``FRAMES``: ``n`` length-prefixed frames (``'!I'`` header, 64-byte payloads);
- ``MESSAGES``: the same ``n`` payloads without headers;
- ``BULK``: ``n`` bytes of a repeating 4 MiB pattern.

A separate process, so the writer never competes with the reader for the GIL.
"""

from __future__ import annotations

import socket
import struct
import sys

COMMAND = struct.Struct("!BQ")
FRAMES, MESSAGES, BULK = 1, 2, 3
PAYLOAD = 64
PATTERN = bytes(range(256)) * (16 * 1024)  # 4 MiB


def payload(i: int) -> bytes:
    """The i-th 64-byte message: its index, then a fixed filler."""
    return i.to_bytes(8, "big") + bytes(range(PAYLOAD - 8))


def messages(n: int) -> bytes:
    return b"".join(payload(i) for i in range(n))


def frames(n: int) -> bytes:
    head = struct.pack("!I", PAYLOAD)
    return b"".join(head + payload(i) for i in range(n))


def main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    cache: dict[tuple[int, int], bytes] = {}
    while True:
        cmd = b""
        while len(cmd) < COMMAND.size:
            chunk = sock.recv(COMMAND.size - len(cmd))
            if not chunk:
                return
            cmd += chunk
        op, n = COMMAND.unpack(cmd)
        if op == BULK:
            view = memoryview(PATTERN)
            while n:
                k = min(n, len(PATTERN))
                sock.sendall(view[:k])
                n -= k
            continue
        key = (op, n)
        if key not in cache:
            if len(cache) > 4:
                cache.clear()
            cache[key] = frames(n) if op == FRAMES else messages(n)
        sock.sendall(cache[key])


if __name__ == "__main__":
    main(int(sys.argv[1]))
