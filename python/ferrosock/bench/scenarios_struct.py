"""struct: each per-call operation against the stdlib's C implementation, and the batch forms
against what users write today (``b''.join(s.pack(*r) for r in records)``,
``list(s.iter_unpack(buf))``).

The per-call cases drive both sides through ``map``/``starmap`` over 1,000 records, so the
interpreter's own loop overhead (the same on both sides) does not dilute the ratio.
"""

from __future__ import annotations

import random
import struct as std
from itertools import starmap
from typing import Any

from ferrosock import struct as fs
from ferrosock.bench._harness import Case

SINGLE_TARGET = 1 / 1.2  # parity: at most 1.2x the stdlib's time
PACK_MANY_TARGET = 2.0
UNPACK_MANY_TARGET = 1.3

# The seed programs' formats: a record, a network header, a wide record, a CAN frame.
FORMATS = ["I 2s f", "!HHI", "<qd16s", "=IB3x8s"]


def _records(fmt: str, n: int, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    out: list[tuple[Any, ...]] = []
    for _ in range(n):
        if fmt == "I 2s f":
            out.append((rng.randrange(1 << 32), rng.randbytes(2), float(rng.randrange(1 << 20))))
        elif fmt == "!HHI":
            out.append((rng.randrange(1 << 16), rng.randrange(1 << 16), rng.randrange(1 << 32)))
        elif fmt == "<qd16s":
            out.append((rng.randrange(-(1 << 63), 1 << 63), rng.random(), rng.randbytes(16)))
        else:
            out.append((rng.randrange(1 << 29), rng.randrange(9), rng.randbytes(8)))
    return out


def cases(quick: bool) -> list[Case]:
    single_n = 1_000
    batch_n = 20_000 if quick else 100_000
    recv_n = 10_000
    out: list[Case] = []
    for fmt in FORMATS:
        records = _records(fmt, single_n, seed=len(fmt))
        s, f = std.Struct(fmt), fs.Struct(fmt)
        bufs = [s.pack(*r) for r in records]
        fmts = [fmt] * single_n

        def single(op: str, baseline: Any, candidate: Any, fmt: str = fmt) -> Case:
            return Case(
                name=f"{op}({fmt!r})",
                group="struct",
                baseline=baseline,
                candidate=candidate,
                ops=single_n,
                target=SINGLE_TARGET,
                clock="cpu",
            )

        out += [
            single(
                "Struct.pack",
                lambda s=s, r=records: list(starmap(s.pack, r)),
                lambda f=f, r=records: list(starmap(f.pack, r)),
            ),
            single(
                "Struct.unpack",
                lambda s=s, b=bufs: list(map(s.unpack, b)),
                lambda f=f, b=bufs: list(map(f.unpack, b)),
            ),
            single(
                "Struct.unpack_from",
                lambda s=s, b=bufs: list(map(s.unpack_from, b)),
                lambda f=f, b=bufs: list(map(f.unpack_from, b)),
            ),
            single(
                "pack",
                lambda r=[(fmt, *r) for r in records]: list(starmap(std.pack, r)),
                lambda r=[(fmt, *r) for r in records]: list(starmap(fs.pack, r)),
            ),
            single(
                "unpack",
                lambda b=bufs, m=fmts: list(map(std.unpack, m, b)),
                lambda b=bufs, m=fmts: list(map(fs.unpack, m, b)),
            ),
            single(
                "unpack_from",
                lambda b=bufs, m=fmts: list(map(std.unpack_from, m, b)),
                lambda b=bufs, m=fmts: list(map(fs.unpack_from, m, b)),
            ),
        ]

    for fmt in FORMATS:
        records = _records(fmt, batch_n, seed=len(fmt) + 100)
        s, f = std.Struct(fmt), fs.Struct(fmt)
        out.append(
            Case(
                name=f"Struct.pack_many({fmt!r}) x{batch_n}",
                group="struct",
                baseline=lambda s=s, r=records: b"".join(s.pack(*x) for x in r),
                candidate=lambda f=f, r=records: f.pack_many(r),
                ops=batch_n,
                target=PACK_MANY_TARGET,
                baseline_label="join(pack)",
                clock="cpu",
            )
        )
        # Two buffer sizes: a receive buffer's worth, and a batch as large as pack_many's,
        # where allocating and freeing the result objects (equal on both sides) dominates.
        for n in (recv_n, batch_n):
            packed = b"".join(s.pack(*r) for r in records[:n])
            out.append(
                Case(
                    name=f"Struct.unpack_many({fmt!r}) x{n}",
                    group="struct",
                    baseline=lambda s=s, p=packed: list(s.iter_unpack(p)),
                    candidate=lambda f=f, p=packed: f.unpack_many(p),
                    ops=n,
                    target=UNPACK_MANY_TARGET,
                    baseline_label="list(iter_unpack)",
                    clock="cpu",
                )
            )
    return out
