"""Address packing: each single-call function against the stdlib's C function, and the
batch forms against the list comprehension users write today."""

from __future__ import annotations

import random
import socket as std

import ferrosock
from ferrosock.bench._harness import Case

SINGLE_TARGET = 1 / 1.15  # parity: at most 1.15x the stdlib's time
BATCH_TARGET = 5.0


def _addresses(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    v4 = [".".join(str(rng.randrange(256)) for _ in range(4)) for _ in range(n)]
    v6 = []
    for _ in range(n):
        words = [rng.choice((0, 0, rng.randrange(1 << 16))) for _ in range(8)]
        v6.append(std.inet_ntop(std.AF_INET6, b"".join(w.to_bytes(2, "big") for w in words)))
    return v4, v6


def cases(quick: bool) -> list[Case]:
    single_n = 1_000
    batch_n = 20_000 if quick else 100_000
    v4, v6 = _addresses(batch_n, seed=7)
    s4, s6 = v4[:single_n], v6[:single_n]
    p4 = [std.inet_aton(s) for s in s4]
    p6 = [std.inet_pton(std.AF_INET6, s) for s in s6]
    ints16 = [random.Random(1).randrange(1 << 16) for _ in range(single_n)]
    ints32 = [random.Random(2).randrange(1 << 32) for _ in range(single_n)]
    packed4 = b"".join(std.inet_aton(s) for s in v4)
    packed6 = b"".join(std.inet_pton(std.AF_INET6, s) for s in v6)
    af4 = [std.AF_INET] * single_n
    af6 = [std.AF_INET6] * single_n
    fs = ferrosock

    def single(name: str, std_fn, fs_fn, *args: list) -> Case:
        return Case(
            name=name,
            group="addr",
            baseline=lambda: list(map(std_fn, *args)),
            candidate=lambda: list(map(fs_fn, *args)),
            ops=single_n,
            target=SINGLE_TARGET,
            clock="cpu",
        )

    out = [
        single("inet_aton", std.inet_aton, fs.inet_aton, s4),
        single("inet_ntoa", std.inet_ntoa, fs.inet_ntoa, p4),
        single("inet_pton(AF_INET)", std.inet_pton, fs.inet_pton, af4, s4),
        single("inet_pton(AF_INET6)", std.inet_pton, fs.inet_pton, af6, s6),
        single("inet_ntop(AF_INET)", std.inet_ntop, fs.inet_ntop, af4, p4),
        single("inet_ntop(AF_INET6)", std.inet_ntop, fs.inet_ntop, af6, p6),
        single("htons", std.htons, fs.htons, ints16),
        single("ntohs", std.ntohs, fs.ntohs, ints16),
        single("htonl", std.htonl, fs.htonl, ints32),
        single("ntohl", std.ntohl, fs.ntohl, ints32),
    ]

    def batch(name: str, baseline, candidate, n: int) -> Case:
        return Case(
            name=name,
            group="addr",
            baseline=baseline,
            candidate=candidate,
            ops=n,
            target=BATCH_TARGET,
            baseline_label="comprehension",
            clock="cpu",
        )

    af6_ = std.AF_INET6
    out += [
        batch(
            "inet_aton_many",
            lambda: b"".join([std.inet_aton(s) for s in v4]),
            lambda: fs.inet_aton_many(v4),
            batch_n,
        ),
        batch(
            "inet_ntoa_many",
            lambda: [std.inet_ntoa(packed4[i : i + 4]) for i in range(0, len(packed4), 4)],
            lambda: fs.inet_ntoa_many(packed4),
            batch_n,
        ),
        batch(
            "inet_pton_many(AF_INET6)",
            lambda: b"".join([std.inet_pton(af6_, s) for s in v6]),
            lambda: fs.inet_pton_many(af6_, v6),
            batch_n,
        ),
        batch(
            "inet_ntop_many(AF_INET6)",
            lambda: [std.inet_ntop(af6_, packed6[i : i + 16]) for i in range(0, len(packed6), 16)],
            lambda: fs.inet_ntop_many(af6_, packed6),
            batch_n,
        ),
    ]
    return out
