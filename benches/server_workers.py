"""``Server(workers=N)``: balance, server CPU per message and throughput, 1 vs 2 workers.

The load generator needs a core of its own, so on a 2-core machine two workers cannot
show scaling; what is measured instead:

1. Balance: 64 connections (the native load generator, 64-byte frames, one in flight
   each) against 2 workers with ``balance='reuseport'`` and, for comparison,
   ``'shared'``. Per trial (a fresh set of 64 connections), the connections each worker
   holds, counted from ``/proc/PID/fd`` while the load runs; reported: busiest/idlest per
   trial (median and worst) and the share of trials within 1.5x.
2. The headline load of the server benchmark (``'!I'``-framed 64-byte messages, 32
   connections x 16 in flight) against 1 and 2 workers in alternating rounds: throughput
   medians, paired ratio, and server CPU per message (supervisor and workers together).
3. Life cycle: from ``kill -9`` of a worker to a reply from its replacement, and from
   ``SIGTERM`` to the supervisor's exit (every worker gone), each over a few repeats.

With ``--pin``, the load generator runs on the first CPU and the servers (supervisor and
workers) on the others: the server side then has the same CPUs with 1 worker as with 2, and
CPU per message compares the work itself rather than how 3 busy processes share 2 cores.
On 2 CPUs both workers share one core then; where there are more, each has its own.

    python benches/server_workers.py [--rounds 15] [--duration 0.2] [--trials 20] [--pin]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

from ferrosock import _native
from ferrosock.bench._serverbench import (
    Load,
    ServerProcess,
    ServerSpec,
    child_pids,
    paired_ratio,
    run_load,
)

HEADLINE = Load("frame 64 B, 32 conns x 16 in flight", "frame", 64, 32, 16)


class Cpus:
    """Where the load generator and the servers run (``--pin``): servers started inside
    ``for_servers()`` inherit its CPUs, the rest of this process (the load generator's
    threads) runs on ``load``."""

    def __init__(self, pin: bool) -> None:
        cpus = sorted(os.sched_getaffinity(0))
        self.pin = pin and len(cpus) > 1
        self.all = set(cpus)
        self.load = {cpus[0]} if self.pin else self.all
        self.servers = set(cpus[1:]) if self.pin else self.all
        os.sched_setaffinity(0, self.load)

    def server(self, spec: ServerSpec) -> ServerProcess:
        os.sched_setaffinity(0, self.servers)
        try:
            return ServerProcess(spec, "tcp4")
        finally:
            os.sched_setaffinity(0, self.load)

    def describe(self) -> str:
        if not self.pin:
            return "not pinned"
        return f"load generator on CPU {sorted(self.load)}, servers on {sorted(self.servers)}"


def socket_count(pid: int) -> int:
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return n


def balance_trials(proc: ServerProcess, trials: int, duration: float) -> list[list[int]]:
    """Connections per worker, one list per trial, counted while each run goes on."""
    workers = sorted(child_pids(proc.proc.pid))
    base = {pid: socket_count(pid) for pid in workers}
    out: list[list[int]] = []

    def sample(counts: list[int]) -> None:
        # Until every connection is accepted (a loaded machine may lag behind the client).
        stop = time.monotonic() + duration * 0.9
        time.sleep(duration / 4)
        while True:
            counts[:] = [socket_count(pid) - base[pid] for pid in workers]
            if sum(counts) == 64 or time.monotonic() > stop:
                return
            time.sleep(0.005)

    for _ in range(trials):
        counts: list[int] = []
        t = threading.Thread(target=sample, args=(counts,))
        t.start()
        res = _native.loadgen(proc.address, 64, 1, 64, "frame", duration, warmup=0.05)
        t.join()
        if res["verified"] <= 0 or sum(counts) != 64:
            raise SystemExit(f"trial saw {counts} connections, {res['verified']} echoes")
        out.append(counts)
    return out


PID_SERVER = """
import json, os, sys
import ferrosock
srv = ferrosock.Server(("127.0.0.1", 0), lambda c, m: str(os.getpid()).encode(), workers=2)
print(json.dumps(srv.server_address[:2]), flush=True)
srv.serve_forever()
srv.close()
"""


def _ask_pid(address: tuple[str, int]) -> int:
    with socket.create_connection(address, timeout=10) as c:
        c.sendall(b"pid")
        return int(c.recv(64))


def life_cycle(repeats: int) -> tuple[list[float], list[float]]:
    """Seconds from ``kill -9`` of a worker to the first reply from its replacement, and
    from ``SIGTERM`` to the supervisor's exit, ``repeats`` times each."""
    replace: list[float] = []
    stop: list[float] = []
    for _ in range(repeats):
        proc = subprocess.Popen([sys.executable, "-c", PID_SERVER], stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            address = tuple(json.loads(proc.stdout.readline()))
            deadline = time.monotonic() + 20
            while len(child_pids(proc.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            old = set(child_pids(proc.pid))
            while {_ask_pid(address) for _ in range(16)} != old:  # both serving
                pass
            t0 = time.monotonic()
            os.kill(min(old), signal.SIGKILL)
            while _ask_pid(address) in old:  # a reply from a pid not seen before
                pass
            replace.append(time.monotonic() - t0)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
            stop.append(time.monotonic() - t0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    return replace, stop


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--duration", type=float, default=0.2)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5, help="life-cycle repeats")
    p.add_argument("--pin", action="store_true", help="load generator on its own CPU")
    args = p.parse_args(argv)
    cpus = Cpus(args.pin)
    print(f"{os.uname().nodename}: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"CPUs: {cpus.describe()}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")

    for balance in ("reuseport", "shared"):
        spec = ServerSpec(f"2 workers {balance}", "ferrosock", "frame", 2, balance)
        proc = cpus.server(spec)
        try:
            proc.wait_ready()
            per_trial = balance_trials(proc, args.trials, args.duration)
        finally:
            proc.stop()
        ratios = [max(c) / max(min(c), 1) for c in per_trial]
        within = sum(r <= 1.5 for r in ratios)
        print(
            f"balance={balance}: 64 connections over 2 workers, {args.trials} trials:"
            f" busiest/idlest median {statistics.median(ratios):.2f}x, worst"
            f" {max(ratios):.2f}x, within 1.5x in {within}/{len(ratios)};"
            f" splits {sorted(tuple(sorted(c)) for c in per_trial)}"
        )

    specs = [
        ServerSpec("1 worker", "ferrosock", "frame"),
        ServerSpec("2 workers", "ferrosock", "frame", 2, "reuseport"),
    ]
    procs = {s.label: cpus.server(s) for s in specs}
    try:
        for proc in procs.values():
            proc.wait_ready()
        rows = run_load(
            specs, HEADLINE, rounds=args.rounds, duration=args.duration, warmup=0.05,
            procs=procs,
        )  # fmt: skip
    finally:
        for proc in procs.values():
            proc.stop()
    if not all(row.ok for row in rows):
        raise SystemExit("; ".join(f"{row.spec.label}: {row.error}" for row in rows if not row.ok))
    one, two = rows
    print(f"{HEADLINE.name}, {args.rounds} alternating rounds x {args.duration:g} s")
    for row in rows:
        print(
            f"  {row.spec.label:10s} {row.median('msgs_per_sec'):>11,.0f} msgs/s"
            f"  +-{row.spread():.0%}  p99 {row.median('p99_us'):,.0f} us"
            f"  server CPU {row.cpu_us_per_msg:.3f} us/msg"
            f"  client CPU {row.median('client_cpu_frac'):.0%}"
        )
    print(
        f"  2 workers / 1 worker: msgs/s {paired_ratio(two, one):.2f}x,"
        f" server CPU/msg {two.cpu_us_per_msg / one.cpu_us_per_msg:.2f}x"
    )
    replace, stop = life_cycle(args.repeats)
    print(
        f"kill -9 of a worker -> reply from its replacement: median"
        f" {1e3 * statistics.median(replace):.0f} ms, worst {1e3 * max(replace):.0f} ms;"
        f" SIGTERM -> supervisor exited: median {1e3 * statistics.median(stop):.0f} ms,"
        f" worst {1e3 * max(stop):.0f} ms ({args.repeats} repeats)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
