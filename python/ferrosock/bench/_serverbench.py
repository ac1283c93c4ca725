"""Machinery of the server benchmark: server processes, their CPU time, alternating rounds.

Each compared server runs in its own process (:mod:`ferrosock.bench._servers`), started with
readiness polling, so its CPU time can be read from ``/proc`` before its first run and after
its last: ``/proc/PID/stat`` (``utime + stime``, every thread included, even threads that
have exited, in 10 ms ticks), or, when the same threads were alive both times, the exact
per-thread ``/proc/PID/task/TID/schedstat`` sums. The
load comes from the native load generator (``ferrosock._native.loadgen``), which verifies
every echoed byte, so a server that answers wrongly fails loudly instead of scoring.

Rounds alternate the servers (the order rotates each round) and every figure reported is
a median over rounds (ratios: the median of per-round pairs), or for CPU the total over
the rounds, so noise from the other tenants of a shared machine moves all rows alike
instead of deciding the outcome.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from ferrosock import _native

_CLK_TCK = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 20.0


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads, live or exited), from
    fields 14 and 15 of ``/proc/PID/stat`` (clock ticks, ``SC_CLK_TCK`` per second)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name (field 2) is parenthesised and may contain spaces: split after it.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def child_pids(pid: int) -> list[int]:
    """The live children of ``pid`` (``/proc/PID/task/TID/children`` of each thread): the
    worker processes of a ``Server(workers=N)``."""
    kids: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return kids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                kids.extend(int(k) for k in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return kids


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of ``pid``, in nanosecond resolution, from
    ``/proc/PID/task/TID/schedstat`` (first field: time on CPU). Threads that exit while
    being listed are left out."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                out[int(tid)] = int(f.read().split()[0]) / 1e9
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return out


@dataclass(frozen=True)
class CpuReading:
    """A process's CPU time, read two ways."""

    total: float  # /proc/PID/stat: every thread ever, 10 ms ticks
    threads: dict[int, float]  # live threads, ns resolution

    @classmethod
    def of(cls, pid: int) -> CpuReading:
        """The process and its live children (worker processes) together."""
        total, threads = proc_cpu_seconds(pid), thread_cpu_seconds(pid)
        for kid in child_pids(pid):
            try:
                total += proc_cpu_seconds(kid)
                threads.update(thread_cpu_seconds(kid))
            except (FileNotFoundError, ProcessLookupError):
                continue
        return cls(total, threads)

    def until(self, later: CpuReading) -> float:
        """CPU seconds used between two readings: the exact per-thread sums when the
        same threads were there both times and nothing else ran (event-loop servers),
        else the ``/proc/PID/stat`` difference, which also counts threads that came and
        went in between (thread-per-connection servers)."""
        coarse = later.total - self.total
        if self.threads.keys() == later.threads.keys():
            fine = sum(later.threads.values()) - sum(self.threads.values())
            # Each of the four tick counts read is truncated by under one tick; more
            # than that missing means threads ran and exited between the readings.
            if abs(coarse - fine) <= 4 / _CLK_TCK:
                return fine
        return coarse


@dataclass(frozen=True)
class ServerSpec:
    """One compared server: a row of a report."""

    label: str
    kind: str  # a ferrosock.bench._servers kind
    framing: str  # the mode the server decodes: 'frame' or 'raw'
    workers: int = 1  # worker processes (kind 'ferrosock' only)
    balance: str | None = None  # Server(balance=...) when workers > 1


@dataclass(frozen=True)
class Load:
    """One traffic shape for the load generator."""

    name: str
    framing: str
    size: int
    connections: int
    depth: int


class ServerProcess:
    """A server from :mod:`ferrosock.bench._servers` in a child process."""

    def __init__(self, spec: ServerSpec, bind: str, python: str | None = None) -> None:
        """``python``: the interpreter to run the server with (default: this one), e.g.
        another virtualenv's, to compare two builds of ferrosock in the same rounds."""
        self.spec = spec
        self.bind = bind
        self._stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                python or sys.executable,
                "-m",
                "ferrosock.bench._servers",
                spec.kind,
                "--framing",
                spec.framing,
                "--bind",
                bind,
                *(["--workers", str(spec.workers)] if spec.workers != 1 else []),
                *(["--balance", spec.balance] if spec.balance else []),
            ],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self.address: Any = None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Waits for the ``READY`` line, then polls until a connection is accepted."""
        deadline = time.monotonic() + timeout
        line = b""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self._fail("did not report READY")
            if select.select([fd], [], [], min(left, 0.1))[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self._fail("exited before READY")
                line += chunk
        word, _, payload = line.strip().partition(b" ")
        if word != b"READY":
            self._fail(f"printed {line!r} instead of READY")
        address = json.loads(payload)
        self.address = tuple(address) if isinstance(address, list) else address
        # A supervisor listens before its workers run: wait for all of them.
        while self.spec.workers > 1 and len(child_pids(self.proc.pid)) < self.spec.workers:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self._fail("did not start its workers")
            time.sleep(0.01)
        while True:
            try:
                self._probe()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self._fail("does not accept connections")
                time.sleep(0.01)

    def _probe(self) -> None:
        if isinstance(self.address, str):
            family = socket.AF_UNIX
        elif ":" in self.address[0]:
            family = socket.AF_INET6
        else:
            family = socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(self.address)

    def _fail(self, what: str) -> None:
        self._terminate()
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace").strip()
        self.stop()
        raise RuntimeError(f"{self.spec.label} server {what}" + (f":\n{err}" if err else ""))

    def cpu(self) -> CpuReading:
        return CpuReading.of(self.proc.pid)

    def _terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3.0)

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 3 s) and releases its pipes."""
        self._terminate()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


@dataclass
class Sample:
    """One load run against one server."""

    msgs_per_sec: float
    p50_us: float
    p99_us: float
    messages: int  # every verified echo of the run (warm-up and drain included)
    client_cpu_frac: float  # load generator CPU / run wall time


@dataclass
class Row:
    """A server's results over the rounds of one load."""

    spec: ServerSpec
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None
    # Server CPU from before its first round to after its last (CpuReading.until). Between
    # its own runs a server is idle (the others are being measured), so this is the CPU its
    # rounds cost, read once instead of once per run.
    server_cpu_s: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)

    def spread(self, attr: str = "msgs_per_sec") -> float:
        """Half the interquartile range over the median: how much the rounds disagree
        (0.05 = the middle half of the rounds lies within about +-5 %)."""
        values = [getattr(s, attr) for s in self.samples]
        if len(values) < 2:
            return float("nan")
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        mid = statistics.median(values)
        return (q3 - q1) / 2 / mid if mid else float("nan")

    @property
    def cpu_us_per_msg(self) -> float:
        """Server CPU over every message it echoed in the rounds (warm-ups and drains
        included, as their CPU is too)."""
        msgs = sum(s.messages for s in self.samples)
        return 1e6 * self.server_cpu_s / msgs if msgs else float("nan")


def paired_ratio(a: Row, b: Row, attr: str = "msgs_per_sec") -> float:
    """Median over rounds of a/b, each round's pair measured back to back."""
    pairs = [
        getattr(x, attr) / getattr(y, attr)
        for x, y in zip(a.samples, b.samples, strict=False)
        if getattr(y, attr)
    ]
    return statistics.median(pairs) if pairs else float("nan")


def start_servers(specs: list[ServerSpec], bind: str | None, tmpdir: str) -> dict:
    """Starts every server (in parallel), then waits for each to be ready. ``bind`` None
    means a Unix socket in ``tmpdir``."""
    procs: dict[str, ServerProcess] = {}
    try:
        for i, spec in enumerate(specs):
            where = bind or "unix:" + os.path.join(tmpdir, f"s{i}.sock")
            procs[spec.label] = ServerProcess(spec, where)
        for p in procs.values():
            p.wait_ready()
    except BaseException:
        for p in procs.values():
            p.stop()
        raise
    return procs


def run_load(
    specs: list[ServerSpec],
    load: Load,
    *,
    bind: str | None = "tcp4",
    rounds: int,
    duration: float,
    warmup: float,
    procs: dict[str, ServerProcess] | None = None,
) -> list[Row]:
    """Measures ``load`` against every server in ``specs``, ``rounds`` times, rotating the
    order each round. Starts (and stops) the servers unless ``procs`` are given."""
    tmpdir = tempfile.mkdtemp(prefix="ferrosock-bench-")
    own = procs is None
    try:
        if procs is None:
            procs = start_servers(specs, bind, tmpdir)
        rows = {s.label: Row(s) for s in specs}
        order = [s.label for s in specs]
        cpu_start = {label: procs[label].cpu() for label in order}
        for r in range(rounds):
            k = r % len(order)
            for label in order[k:] + order[:k]:
                row = rows[label]
                if row.error is not None:
                    continue
                proc = procs[label]
                try:
                    res = _native.loadgen(
                        proc.address,
                        load.connections,
                        load.depth,
                        load.size,
                        load.framing,
                        duration,
                        warmup=warmup,
                    )
                except (OSError, RuntimeError) as e:
                    row.error = f"{type(e).__name__}: {e}"
                    continue
                row.samples.append(
                    Sample(
                        msgs_per_sec=res["msgs_per_sec"],
                        p50_us=res["p50_us"],
                        p99_us=res["p99_us"],
                        messages=res["verified"],
                        client_cpu_frac=res["client_cpu_s"] / (duration + warmup),
                    )
                )
        for label in order:
            rows[label].server_cpu_s = cpu_start[label].until(procs[label].cpu())
        return [rows[s.label] for s in specs]
    finally:
        if own and procs is not None:
            for p in procs.values():
                p.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)
