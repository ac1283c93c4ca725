"""``ferrosock.socketserver`` against the stdlib's: what the native readiness wait changes.

Both modules wait in ``poll(2)`` with the GIL released (the stdlib through
``selectors.PollSelector``), so the native wait can only win on the Python around that call
and, mainly, on ``shutdown()``: the stdlib's loop notices a shutdown request only when its
poll times out (``poll_interval``, 0.5 s by default), ferrosock's wakes at once.

- ``serve_forever wait``: one wait on a ready socket (the per-request overhead of the loop).
- ``UDPServer round trip``: a datagram echo through ``UDPServer`` + ``DatagramRequestHandler``,
  client and server in this process: the wait is a small part of a request.
- ``shutdown() latency`` (a table): time for ``shutdown()`` to return with the default
  ``poll_interval``.
"""

from __future__ import annotations

import selectors
import socket
import socketserver as std
import statistics
import threading
import time
from typing import Any

import ferrosock.socketserver as fss
from ferrosock import _native
from ferrosock.bench._harness import Case, Table

WAITS = 1_000
ROUND_TRIPS = 50
JOIN = 10.0


def _wait_case() -> Case:
    state: dict[str, Any] = {}

    def setup() -> None:
        a, b = socket.socketpair()
        b.send(b"x")  # `a` stays readable: every wait returns at once
        sel = selectors.PollSelector()
        sel.register(a, selectors.EVENT_READ)
        state.update(a=a, b=b, sel=sel, waiter=_native.ReadinessWaiter(), fd=a.fileno())

    def teardown() -> None:
        state["sel"].close()
        state["waiter"].close()
        state["a"].close()
        state["b"].close()

    def stdlib() -> int:
        select = state["sel"].select
        return sum(1 for _ in range(WAITS) if select(0.5))

    def ferro() -> int:
        wait, fd = state["waiter"].wait, state["fd"]
        return sum(1 for _ in range(WAITS) if wait(fd, 0.5) & 1)

    return Case(
        name="serve_forever wait, fd ready",
        group="socketserver",
        baseline=stdlib,
        candidate=ferro,
        ops=WAITS,
        target=1.0,
        baseline_label="PollSelector.select",
        setup=setup,
        teardown=teardown,
        clock="cpu",  # the socket is always ready: the poll never blocks
    )


class _Upper(std.DatagramRequestHandler):
    def handle(self) -> None:
        self.wfile.write(self.rfile.read().upper())


def _udp_case() -> Case:
    state: dict[str, Any] = {}

    def start(module: Any) -> tuple[Any, threading.Thread, socket.socket]:
        server = module.UDPServer(("127.0.0.1", 0), _Upper)
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(JOIN)
        client.connect(server.server_address)
        return server, t, client

    def setup() -> None:
        state["std"] = start(std)
        state["fs"] = start(fss)

    def teardown() -> None:
        for server, t, client in (state["std"], state["fs"]):
            server.shutdown()
            t.join(JOIN)
            server.server_close()
            client.close()

    def round_trips(key: str) -> list[bytes]:
        client = state[key][2]
        out = []
        for i in range(ROUND_TRIPS):
            client.send(b"ping %d" % i)
            out.append(client.recv(100))
        return out

    return Case(
        name="UDPServer round trip",
        group="socketserver",
        baseline=lambda: round_trips("std"),
        candidate=lambda: round_trips("fs"),
        ops=ROUND_TRIPS,
        target=None,
        baseline_label="socketserver",
        setup=setup,
        teardown=teardown,
        note="client and server threads in one process; the wait is a small part of it",
    )


def cases(quick: bool) -> list[Case]:
    return [_wait_case(), _udp_case()]


class _Quiet(std.BaseRequestHandler):
    def handle(self) -> None:
        pass


def shutdown_latency(module: Any) -> float:
    """Seconds for ``shutdown()`` to return, called while ``serve_forever()`` (default
    ``poll_interval``) waits for a request that never comes."""
    server = module.TCPServer(("127.0.0.1", 0), _Quiet)
    t = threading.Thread(target=server.serve_forever)
    t.start()
    time.sleep(0.05)  # well inside the wait
    start = time.perf_counter()
    server.shutdown()
    elapsed = time.perf_counter() - start
    t.join(JOIN)
    server.server_close()
    return elapsed


def tables(quick: bool) -> list[Table]:
    trials = 1 if quick else 3
    # Alternate so both see the same machine.
    times: dict[str, list[float]] = {"socketserver": [], "ferrosock.socketserver": []}
    for _ in range(trials):
        times["socketserver"].append(shutdown_latency(std))
        times["ferrosock.socketserver"].append(shutdown_latency(fss))
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [[k, f"{v * 1e3:.2f}", "0.5 s"] for k, v in med.items()]
    ratio = med["socketserver"] / med["ferrosock.socketserver"]
    return [
        Table(
            title=f"socketserver: shutdown() latency ({trials} trials, median)",
            group="socketserver",
            columns=["module", "shutdown() ms", "poll_interval"],
            rows=rows,
            verdicts=[
                (
                    "ferrosock shutdown() does not wait for poll_interval: "
                    f"{med['ferrosock.socketserver'] * 1e3:.2f} ms (target < 50 ms)",
                    med["ferrosock.socketserver"] < 0.05,
                )
            ],
            notes=[
                f"{ratio:,.0f}x sooner; the stdlib returns when its poll times out, "
                "ferrosock's wait is woken by an eventfd"
            ],
        )
    ]
