"""``ferrosock.ipaddress`` against the stdlib's ``ipaddress``: parsing, membership,
properties, iteration, collapsing and the batch forms.

Single operations run over a list of inputs inside one call (a ``map`` or a plain ``for``
loop, the same shape on both sides), so the per-operation time includes the loop users
write. Results are compared as text (the two libraries' objects never compare equal).
"""

from __future__ import annotations

import ipaddress as std
import random
from collections.abc import Callable, Iterable
from itertools import repeat
from operator import attrgetter, contains
from typing import Any

from ferrosock import ipaddress as fs
from ferrosock.bench._harness import Case

PARSE_TARGET = 10.0
MEMBERSHIP_TARGET = 10.0
PROPERTY_TARGET = 5.0
BULK_TARGET = 20.0


def _texts(objs: Iterable[Any]) -> list[str]:
    return [str(o) for o in objs]


def _same_text(a: Iterable[Any], b: Iterable[Any]) -> bool:
    return _texts(a) == _texts(b)


def _v4_texts(rng: random.Random, n: int) -> list[str]:
    return [str(std.IPv4Address(rng.getrandbits(32))) for _ in range(n)]


def _v6_texts(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        words = [rng.choice((0, 0, rng.getrandbits(16))) for _ in range(8)]
        out.append(
            str(std.IPv6Address(int.from_bytes(b"".join(w.to_bytes(2, "big") for w in words))))
        )
    return out


def _count_in(net: Any, addrs: list[Any]) -> int:
    """``addr in net`` as user code writes it: in a loop."""
    n = 0
    for a in addrs:
        if a in net:
            n += 1
    return n


def _count_true(flags: list[bool]) -> int:
    """The loop of ``_count_in`` without its membership test."""
    n = 0
    for b in flags:
        if b:
            n += 1
    return n


def cases(quick: bool, full: bool = False) -> list[Case]:
    rng = random.Random(20240611)
    single_n = 1_000
    batch_n = 20_000 if quick else 100_000
    # The stdlib needs ~3 s to collapse 100,000 networks; the default run uses 20,000 to
    # stay under a minute, --full the 100,000 (the ratio barely moves with size).
    collapse_n = batch_n if full else 20_000

    v4 = _v4_texts(rng, single_n)
    v6 = _v6_texts(rng, single_n)
    nets = [
        str(std.IPv4Network((rng.getrandbits(32), p), strict=False))
        for p in (rng.randrange(8, 31) for _ in range(single_n))
    ]
    s_addrs = [
        std.IPv4Address(rng.getrandbits(32) & 0x0AFFFFFF | 0x0A000000) for _ in range(single_n)
    ]
    s_addrs += [std.IPv4Address(rng.getrandbits(32)) for _ in range(single_n)]
    f_addrs = [fs.IPv4Address(int(a)) for a in s_addrs]
    s_net, f_net = std.ip_network("10.0.0.0/8"), fs.ip_network("10.0.0.0/8")
    answers = [a in s_net for a in s_addrs]
    s_mixed = [std.ip_address(t) for t in v4[:500] + v6[:500]]
    f_mixed = [fs.ip_address(t) for t in v4[:500] + v6[:500]]

    def parse(
        name: str, std_fn: Callable[[str], Any], fs_fn: Callable[[str], Any], texts: list[str]
    ) -> Case:
        return Case(
            name=name,
            group="ipaddress",
            clock="cpu",
            baseline=lambda: list(map(std_fn, texts)),
            candidate=lambda: list(map(fs_fn, texts)),
            ops=len(texts),
            target=PARSE_TARGET,
            check=_same_text,
        )

    out = [
        parse("ip_address(str) v4", std.ip_address, fs.ip_address, v4),
        parse("ip_address(str) v6", std.ip_address, fs.ip_address, v6),
        parse("ip_network(str)", std.ip_network, fs.ip_network, nets),
        Case(
            name="addr in net",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: _count_in(s_net, s_addrs),
            candidate=lambda: _count_in(f_net, f_addrs),
            ops=len(s_addrs),
            target=MEMBERSHIP_TARGET,
            note="per item, inside a Python for loop on both sides",
        ),
        # The same loop over the precomputed answers, with no membership test at all: a
        # ceiling for the row above, where the loop (and its `n += 1` int churn), not the
        # membership test, is most of ferrosock's time.
        Case(
            name="floor: the addr-in-net loop without the test",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: _count_in(s_net, s_addrs),
            candidate=lambda: _count_true(answers),
            ops=len(s_addrs),
            target=None,
            baseline_label="stdlib addr in net",
            note="candidate is `if b: n += 1` over precomputed bools, not ferrosock",
        ),
        Case(
            name="addr in net, through operator.contains",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: list(map(contains, repeat(s_net), s_addrs)),
            candidate=lambda: list(map(contains, repeat(f_net), f_addrs)),
            ops=len(s_addrs),
            target=MEMBERSHIP_TARGET,
            note="the membership test with a C loop around it (map) instead of bytecode",
        ),
        Case(
            name="is_private",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: list(map(attrgetter("is_private"), s_mixed)),
            candidate=lambda: list(map(attrgetter("is_private"), f_mixed)),
            ops=len(s_mixed),
            target=PROPERTY_TARGET,
        ),
        Case(
            name="str(addr)",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: list(map(str, s_mixed)),
            candidate=lambda: list(map(str, f_mixed)),
            ops=len(s_mixed),
            target=PROPERTY_TARGET,
        ),
        Case(
            name="hash(addr) (dict lookups)",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: list(map(hash, s_mixed)),
            candidate=lambda: list(map(hash, f_mixed)),
            ops=len(s_mixed),
            target=None,
        ),
        Case(
            name="sorted(1,000 addresses)",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: sorted(s_addrs),
            candidate=lambda: sorted(f_addrs),
            ops=len(s_addrs),
            target=None,
            check=_same_text,
        ),
    ]

    s16, f16 = std.ip_network("10.1.0.0/16"), fs.ip_network("10.1.0.0/16")
    out.append(
        Case(
            name="list(hosts()) of a /16",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: list(s16.hosts()),
            candidate=lambda: list(f16.hosts()),
            ops=65_534,
            target=BULK_TARGET,
            check=_same_text,
        )
    )
    # The floor of any iterator that makes one object per item: CPython's own C code
    # producing one int per item. Read the hosts() ratio against this one.
    big = 10**12
    out.append(
        Case(
            name="floor: list(range(65534)) vs hosts()",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: list(s16.hosts()),
            candidate=lambda: list(range(big, big + 65_534)),
            ops=65_534,
            target=None,
            check=lambda a, b: len(a) == len(b),
            baseline_label="stdlib hosts()",
            note="candidate is CPython's list(range()), not ferrosock",
        )
    )

    # A block list: /32s drawn from a /14, so neighbours merge into larger networks.
    base = 0xC6120000
    ints = rng.sample(range(base, base + (1 << 18)), collapse_n)
    s32 = [std.IPv4Network((i, 32)) for i in ints]
    f32 = [fs.IPv4Network((i, 32)) for i in ints]
    out.append(
        Case(
            name=f"collapse_addresses({collapse_n:,} /32s)",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: list(std.collapse_addresses(s32)),
            candidate=lambda: list(fs.collapse_addresses(f32)),
            ops=collapse_n,
            target=BULK_TARGET,
            check=_same_text,
        )
    )

    many_v4 = _v4_texts(rng, batch_n)
    # Built in list order (as lines read from a file are): shuffling a list of str objects
    # scatters them in memory, and the cache misses then cost more than the parsing.
    many_mixed = [
        _v6_texts(rng, 1)[0] if rng.random() < 0.1 else _v4_texts(rng, 1)[0] for _ in range(batch_n)
    ]
    for label, texts in (("v4", many_v4), ("90% v4, 10% v6", many_mixed)):
        out.append(
            Case(
                name=f"parse_many({batch_n:,} strings, {label})",
                group="ipaddress",
                clock="cpu",
                baseline=lambda texts=texts: [std.ip_address(t) for t in texts],
                candidate=lambda texts=texts: fs.parse_many(texts),
                ops=batch_n,
                target=BULK_TARGET,
                check=_same_text,
                baseline_label="comprehension",
            )
        )
    many_addrs_s = [std.IPv4Address(int(std.IPv4Address(t))) for t in many_v4]
    many_addrs_f = [fs.IPv4Address(int(a)) for a in many_addrs_s]
    s_big, f_big = std.ip_network("128.0.0.0/2"), fs.ip_network("128.0.0.0/2")
    out.append(
        Case(
            name=f"contains_many({batch_n:,} addresses)",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: [a in s_big for a in many_addrs_s],
            candidate=lambda: f_big.contains_many(many_addrs_f),
            ops=batch_n,
            target=BULK_TARGET,
            baseline_label="comprehension",
        )
    )
    out.append(
        Case(
            name=f"contains_many({batch_n:,} strings)",
            group="ipaddress",
            clock="cpu",
            baseline=lambda: [std.ip_address(t) in s_big for t in many_v4],
            candidate=lambda: f_big.contains_many(many_v4),
            ops=batch_n,
            target=BULK_TARGET,
            baseline_label="comprehension",
        )
    )
    return out
