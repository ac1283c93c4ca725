"""Instructions per message of ``ferrosock.Server``, counted by callgrind.

Wall-clock figures on the shared 2-core machine move by 10-30 % between runs; instruction
counts do not. This runs the benchmark's echo server (``ferrosock.bench._servers``, the same
handler as the headline) under ``valgrind --tool=callgrind`` twice, with a fixed, lock-step
traffic of N and 2N rounds, and reports the difference divided by the extra messages: the
marginal cost of one message, with interpreter start-up, connection set-up and shutdown
cancelled out.

One round: each of ``--connections`` connections writes ``--depth`` 64-byte ``'!I'``-framed
messages in one ``send``, then every reply is read back and checked. The server, slowed
~50x by callgrind, sees each connection's ``depth`` messages in one read, so 'raw' mode
calls its handler once per ``depth`` messages and 'frame' mode once per message.

    python benches/server_instructions.py                  # frame and raw, 300/600 rounds
    python benches/server_instructions.py --framing frame --annotate
    python benches/server_instructions.py --keep /tmp/cg   # then callgrind_annotate them

Only the serving loop (``StreamLoop::run`` and what it calls) is counted. ``--annotate``
prints ``callgrind_annotate``'s view of the longer run, exclusive and inclusive.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HEADER = struct.Struct("!I")


def traffic(address: tuple[str, int], rounds: int, connections: int, depth: int) -> int:
    """Runs the lock-step rounds; returns the number of messages echoed."""
    payloads = [bytes([(c + i) % 251 for i in range(64)]) for c in range(connections)]
    socks = []
    for _ in range(connections):
        s = socket.create_connection(address, timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
    batches = [(HEADER.pack(64) + p) * depth for p in payloads]
    try:
        for _ in range(rounds):
            for s, b in zip(socks, batches, strict=True):
                s.sendall(b)
            for s, b in zip(socks, batches, strict=True):
                got = bytearray()
                while len(got) < len(b):
                    chunk = s.recv(len(b) - len(got))
                    if not chunk:
                        raise SystemExit("server closed the connection")
                    got += chunk
                if got != b:
                    raise SystemExit("echo mismatch")
    finally:
        for s in socks:
            s.close()
    return rounds * connections * depth


def total_instructions(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def run_once(framing: str, rounds: int, args: argparse.Namespace, out: str) -> tuple[int, int]:
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONUNBUFFERED="1")
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        # Only the serving loop: start-up is 300M+ instructions of imports that would
        # swamp the profile (the two-run difference cancels it either way).
        "--toggle-collect=*StreamLoop::run*",
        sys.executable,
        "-m",
        "ferrosock.bench._servers",
        "ferrosock",
        "--framing",
        framing,
        "--bind",
        "tcp4",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("READY"):
            raise SystemExit(f"server did not start: {line!r}")
        host, port = json.loads(line.split(None, 1)[1])
        messages = traffic((host, port), rounds, args.connections, args.depth)
        # Let the server finish the last batch before it is stopped.
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    return total_instructions(out), messages


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framing", nargs="+", default=["frame", "raw"], choices=["frame", "raw"])
    p.add_argument("--rounds", type=int, default=300, help="N: the runs do N and 2N rounds")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--depth", type=int, default=16)
    p.add_argument("--annotate", action="store_true")
    p.add_argument("--keep", metavar="DIR", help="write the callgrind profiles to DIR")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ferrosock-cg-") as tmp:
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            tmp = args.keep
        for framing in args.framing:
            short = os.path.join(tmp, f"{framing}-short.out")
            long = os.path.join(tmp, f"{framing}-long.out")
            ir1, m1 = run_once(framing, args.rounds, args, short)
            ir2, m2 = run_once(framing, 2 * args.rounds, args, long)
            per = (ir2 - ir1) / (m2 - m1)
            print(
                f"{framing}: {per:,.0f} instructions/message "
                f"({ir2 - ir1:,} over {m2 - m1:,} messages; runs: {ir1:,} and {ir2:,})",
                flush=True,
            )
            if args.annotate:
                for inclusive in ("no", "yes"):
                    text = subprocess.run(
                        ["callgrind_annotate", f"--inclusive={inclusive}", "--threshold=99", long],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    print(re.sub(r"\n{3,}", "\n\n", text))


if __name__ == "__main__":
    main()
