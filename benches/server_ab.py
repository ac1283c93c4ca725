"""Two builds of ``ferrosock.Server`` in the same alternating rounds: before/after figures
for a change, on a machine too noisy for comparing separate runs.

Each build is a Python interpreter with ferrosock installed (say a virtualenv with main's
wheel, and this checkout's ``.venv``). Both serve the headline traffic of the server
benchmark (``'!I'``-framed 64-byte messages, 32 connections x 16 in flight) in ``frame``
and ``raw`` mode, measured in rotating rounds by the native load generator; reported are
medians, server CPU per message, and paired ratios.

    python benches/server_ab.py --base /tmp/venv-main/bin/python --new .venv/bin/python
"""

from __future__ import annotations

import argparse
import sys

from ferrosock.bench._serverbench import (
    Load,
    ServerProcess,
    ServerSpec,
    paired_ratio,
    run_load,
)

HEADLINE = Load("frame 64 B, 32 conns x 16 in flight", "frame", 64, 32, 16)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="interpreter running the 'before' build")
    p.add_argument("--new", default=sys.executable, help="the 'after' build (default: this)")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--duration", type=float, default=0.07)
    args = p.parse_args(argv)
    procs: dict[str, ServerProcess] = {}
    try:
        for build, python in (("base", args.base), ("new", args.new)):
            for framing in ("frame", "raw"):
                spec = ServerSpec(f"{build} {framing}", "ferrosock", framing)
                procs[spec.label] = ServerProcess(spec, "tcp4", python)
        for proc in procs.values():
            proc.wait_ready()
        rows = run_load(
            [proc.spec for proc in procs.values()], HEADLINE, rounds=args.rounds,
            duration=args.duration, warmup=0.02, procs=procs,
        )  # fmt: skip
    finally:
        for proc in procs.values():
            proc.stop()
    r = {row.spec.label: row for row in rows}
    if not all(row.ok for row in rows):
        raise SystemExit("; ".join(f"{row.spec.label}: {row.error}" for row in rows if not row.ok))
    print(f"{HEADLINE.name}, {args.rounds} alternating rounds x {args.duration:g} s")
    for label, row in r.items():
        print(
            f"  {label:10s} {row.median('msgs_per_sec'):>11,.0f} msgs/s  +-{row.spread():.0%}"
            f"  CPU {row.cpu_us_per_msg:.3f} us/msg"
        )
    for framing in ("frame", "raw"):
        new, base = r[f"new {framing}"], r[f"base {framing}"]
        print(
            f"  {framing}: new/base msgs/s {paired_ratio(new, base):.2f}x,"
            f" CPU/msg {new.cpu_us_per_msg / base.cpu_us_per_msg:.2f}x"
        )
    for build in ("base", "new"):
        ratio = paired_ratio(r[f"{build} frame"], r[f"{build} raw"])
        print(f"  {build}: 'frame' msgs/s vs 'raw' {ratio:.2f}x")


if __name__ == "__main__":
    main()
