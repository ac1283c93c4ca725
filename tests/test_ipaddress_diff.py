"""Differential tests: ``ferrosock.ipaddress`` against the stdlib ``ipaddress`` on the same
generated inputs. Every outcome is compared after mapping both libraries' objects to
(class name, str, repr): results, properties, iteration, ordering, hashes, and exceptions
(same class, same message)."""

from __future__ import annotations

import ipaddress as S
import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import example, given, strategies as st

from ferrosock import ipaddress as F

MODS = (S, F)
CLASS_NAMES = {
    "IPv4Address",
    "IPv6Address",
    "IPv4Interface",
    "IPv6Interface",
    "IPv4Network",
    "IPv6Network",
}
ITER_LIMIT = 70


def canon(x: Any) -> Any:
    """A library-neutral description of a result."""
    name = type(x).__name__
    if name in CLASS_NAMES and type(x).__module__ in ("ipaddress", "ferrosock.ipaddress"):
        return ("ip", name, str(x), repr(x))
    if x is None or x is NotImplemented or isinstance(x, (bool, int, str, bytes, float)):
        return (type(x).__name__, x)
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, tuple(canon(i) for i in x))
    if hasattr(x, "__next__"):
        return ("iter", tuple(canon(i) for i in itertools.islice(x, ITER_LIMIT)))
    if isinstance(x, type):
        return ("type", x.__name__)
    raise AssertionError(f"cannot describe {x!r}")


def run(fn: Callable[[Any], Any], mod: Any) -> tuple[str, Any]:
    try:
        return ("ok", canon(fn(mod)))
    except Exception as exc:
        return ("raise", (type(exc), str(exc)))


def same(fn: Callable[[Any], Any]) -> tuple[str, Any]:
    """Runs ``fn(stdlib)`` and ``fn(ferrosock)`` and asserts identical outcomes."""
    a = run(fn, S)
    b = run(fn, F)
    assert a == b, f"\nstdlib:    {a}\nferrosock: {b}"
    return a


# ---------------------------------------------------------------------------------------
# Facts: everything observable about one object
# ---------------------------------------------------------------------------------------

ADDRESS_ATTRS = [
    "version",
    "max_prefixlen",
    "packed",
    "exploded",
    "compressed",
    "reverse_pointer",
    "is_private",
    "is_global",
    "is_reserved",
    "is_multicast",
    "is_unspecified",
    "is_loopback",
    "is_link_local",
    "is_site_local",
    "ipv4_mapped",
    "ipv6_mapped",
    "sixtofour",
    "teredo",
    "scope_id",
    # interfaces
    "ip",
    "network",
    "netmask",
    "hostmask",
    "with_prefixlen",
    "with_netmask",
    "with_hostmask",
]
NETWORK_ATTRS = [
    "version",
    "max_prefixlen",
    "network_address",
    "broadcast_address",
    "netmask",
    "hostmask",
    "prefixlen",
    "num_addresses",
    "with_prefixlen",
    "with_netmask",
    "with_hostmask",
    "exploded",
    "compressed",
    "reverse_pointer",
    "is_private",
    "is_global",
    "is_reserved",
    "is_multicast",
    "is_unspecified",
    "is_loopback",
    "is_link_local",
    "is_site_local",
]
FORMAT_SPECS = ["", "s", "b", "x", "X", "n", "#b", "#x", "#X", "#n", "_b", "_x", "#_X", "#_n"]
FORMAT_SPECS += [">50s", "^9s", "_n", "d", ",b", "_#b", "xx", "10x", " ", "=", "#"]


def facts(build: Callable[[Any], Any]) -> None:
    """Builds the object in both libraries and compares everything observable."""
    kind, desc = same(build)
    if kind != "ok":
        return
    is_net = "Network" in desc[1]
    attrs = NETWORK_ATTRS if is_net else ADDRESS_ATTRS
    for attr in attrs:
        same(lambda m, attr=attr: getattr(build(m), attr))
    same(lambda m: hash(build(m)))
    same(lambda m: build(m) == build(m))
    same(lambda m: build(m) != build(m))
    same(lambda m: build(m) < build(m))
    same(lambda m: build(m) >= build(m))
    same(lambda m: bool(build(m)))
    same(lambda m: build(m).__reduce__())
    if is_net:
        network_facts(build)
    else:
        same(lambda m: int(build(m)))
        for spec in FORMAT_SPECS:
            same(lambda m, spec=spec: format(build(m), spec))
        for delta in (0, 1, -1, 255, 2**32, -(2**32), 2**128, 2**200):
            same(lambda m, d=delta: build(m) + d)
            same(lambda m, d=delta: build(m) - d)
        same(lambda m: build(m) + 1.0)
        same(lambda m: 1 + build(m))
        same(lambda m: build(m) + "1")


def network_facts(build: Callable[[Any], Any]) -> None:
    same(lambda m: build(m).hosts())
    same(lambda m: iter(build(m)))
    same(lambda m: len(build(m)))
    for i in (0, 1, 2, -1, -2, 255, 256, -256, -257, 2**32, -(2**32), 2**127, -(2**128)):
        same(lambda m, i=i: build(m)[i])
    same(lambda m: build(m)[build(m).num_addresses - 1])
    same(lambda m: build(m)[-build(m).num_addresses])
    same(lambda m: build(m)[build(m).num_addresses])
    same(lambda m: build(m)[-build(m).num_addresses - 1])
    same(lambda m: build(m)["1"])
    same(lambda m: build(m).supernet())
    same(lambda m: build(m).supernet(prefixlen_diff=3))
    same(lambda m: build(m).supernet(new_prefix=0))
    same(lambda m: build(m).supernet(new_prefix=build(m).prefixlen + 1))
    same(lambda m: build(m).supernet(prefixlen_diff=-1))
    same(lambda m: build(m).supernet(prefixlen_diff=2, new_prefix=4))
    same(lambda m: build(m).supernet(prefixlen_diff=200))
    same(lambda m: build(m).subnets())
    same(lambda m: build(m).subnets(prefixlen_diff=3))
    same(lambda m: build(m).subnets(new_prefix=build(m).prefixlen + 2))
    same(lambda m: build(m).subnets(new_prefix=build(m).prefixlen - 1))
    same(lambda m: build(m).subnets(prefixlen_diff=2, new_prefix=30))
    same(lambda m: build(m).subnets(prefixlen_diff=-1))
    same(lambda m: build(m).subnets(prefixlen_diff=200))
    same(lambda m: build(m).subnets(prefixlen_diff=0))
    same(lambda m: build(m).address_exclude(build(m)))
    same(lambda m: build(m).overlaps(build(m)))
    same(lambda m: build(m).subnet_of(build(m)))
    same(lambda m: build(m).supernet_of(build(m)))
    same(lambda m: build(m).compare_networks(build(m)))
    same(lambda m: build(m).network_address in build(m))
    same(lambda m: build(m).broadcast_address in build(m))
    same(lambda m: build(m) in build(m))
    same(lambda m: "1.2.3.4" in build(m))
    same(lambda m: m.get_mixed_type_key(build(m)))


# ---------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------

V4_MAX = 2**32 - 1
V6_MAX = 2**128 - 1


def _edges(nets: list[Any]) -> list[int]:
    out = []
    for n in nets:
        lo, hi = int(n.network_address), int(n.broadcast_address)
        out += [lo, hi, max(lo - 1, 0), hi + 1]
    return out


V4_EDGES = [
    x
    for x in _edges(
        [
            *S._IPv4Constants._private_networks,
            # both sides of every rule set's tables (gh-113171), whichever stdlib runs
            S.IPv4Network("192.0.0.0/24"),
            S.IPv4Network("192.0.0.0/29"),
            S.IPv4Network("192.0.0.9/32"),
            S.IPv4Network("192.0.0.10/32"),
            S.IPv4Network("100.64.0.0/10"),
            S.IPv4Network("224.0.0.0/4"),
        ]
    )
    if x <= V4_MAX
]
V6_EDGES = [
    x
    for x in _edges(
        S._IPv6Constants._private_networks
        + S._IPv6Constants._reserved_networks
        + [S.IPv6Network("fec0::/10"), S.IPv6Network("ff00::/8"), S.IPv6Network("2002::/16")]
        # both sides of every rule set's tables (gh-113171, RFC 9637), whichever stdlib runs
        + [
            S.IPv6Network(n)
            for n in (
                "64:ff9b:1::/48",
                "2001:2::/48",
                "2001:10::/28",
                "2001:1::1/128",
                "2001:1::2/128",
                "2001:3::/32",
                "2001:4:112::/48",
                "2001:20::/28",
                "2001:30::/28",
                "3fff::/20",
            )
        ]
    )
    if x <= V6_MAX
]

v4_ints = st.one_of(
    st.integers(0, V4_MAX), st.sampled_from(V4_EDGES), st.sampled_from([0, 1, V4_MAX])
)
hextets = st.one_of(st.just(0), st.just(0), st.just(0xFFFF), st.integers(0, 0xFFFF))
v6_from_hextets = st.lists(hextets, min_size=8, max_size=8).map(
    lambda hs: int.from_bytes(b"".join(h.to_bytes(2, "big") for h in hs), "big")
)
v6_ints = st.one_of(
    st.integers(0, V6_MAX),
    v6_from_hextets,
    st.sampled_from(V6_EDGES),
    v4_ints.map(lambda x: (0xFFFF << 32) | x),
    v4_ints.map(lambda x: (0x2002 << 112) | (x << 80)),
    st.tuples(v4_ints, v4_ints).map(lambda t: (0x20010000 << 96) | (t[0] << 64) | t[1]),
    st.sampled_from([0, 1, V6_MAX]),
)
scopes = st.text(alphabet="eth0:.-_xé\u0661%", min_size=0, max_size=5)


@st.composite
def v6_texts(draw: Any) -> str:
    ip = S.IPv6Address(draw(v6_ints))
    form = draw(st.sampled_from(["compressed", "exploded", "upper", "v4tail"]))
    if form == "exploded":
        text = ip.exploded
    elif form == "upper":
        text = str(ip).upper()
    elif form == "v4tail":
        text = ":".join(ip.exploded.split(":")[:6]) + ":" + str(S.IPv4Address(int(ip) & V4_MAX))
    else:
        text = str(ip)
    if draw(st.booleans()):
        text += "%" + draw(scopes)
    return text


def _mutate(draw: Any, text: str) -> str:
    ops = draw(st.lists(st.integers(0, 7), max_size=3))
    alphabet = "0123456789abcdefABCDEFg:.%/ \t-+x\u0661é"
    for op in ops:
        i = draw(st.integers(0, len(text)))
        c = draw(st.sampled_from(alphabet))
        if op == 0:
            text = text[:i] + c + text[i:]
        elif op == 1 and text:
            text = text[:i] + text[i + 1 :]
        elif op == 2:
            text = text[:i] + "0" + text[i:]
        elif op == 3:
            text = text[:i] + ":" + text[i:]
        elif op == 4:
            text = text[:i] + "." + text[i:]
        elif op == 5:
            text = text.replace("::", ":", 1)
        elif op == 6:
            text = text + text[:i]
        elif op == 7:
            text = text[:i]
    return text


@st.composite
def address_texts(draw: Any) -> str:
    kind = draw(st.sampled_from(["v4", "v6", "garbage", "parts"]))
    if kind == "v4":
        text = str(S.IPv4Address(draw(v4_ints)))
    elif kind == "v6":
        text = draw(v6_texts())
    elif kind == "parts":
        part = st.text(alphabet="0123456789abcdefg ", max_size=6)
        sep = draw(st.sampled_from([".", ":"]))
        text = sep.join(draw(st.lists(part, max_size=11)))
    else:
        text = draw(st.text(alphabet="0123456789abcdefABCDEFg:.%/ -+x\u0661é", max_size=45))
    if draw(st.integers(0, 2)) == 0:
        text = _mutate(draw, text)
    return text


@st.composite
def mask_texts(draw: Any) -> str:
    kind = draw(st.sampled_from(["prefix", "netmask", "hostmask", "text", "zeros"]))
    if kind == "prefix":
        return str(draw(st.integers(-2, 130)))
    if kind == "zeros":
        return "0" * draw(st.integers(1, 3)) + str(draw(st.integers(0, 33)))
    if kind in ("netmask", "hostmask"):
        p = draw(st.integers(0, 32))
        n = S.IPv4Network(f"0.0.0.0/{p}")
        mask = n.netmask if kind == "netmask" else n.hostmask
        text = str(mask)
        return _mutate(draw, text) if draw(st.booleans()) else text
    return draw(st.text(alphabet="0123456789.:+- x/\u0661", max_size=16))


@st.composite
def network_texts(draw: Any) -> str:
    addr = draw(address_texts())
    if draw(st.integers(0, 5)) == 0:
        return addr
    return addr + "/" + draw(mask_texts())


@st.composite
def valid_network_specs(draw: Any) -> tuple[str, Any]:
    """(constructor, argument) for a network or interface that exists."""
    v6 = draw(st.booleans())
    bits = 128 if v6 else 32
    ip = draw(v6_ints if v6 else v4_ints)
    prefix = draw(st.one_of(st.integers(0, bits), st.integers(bits - 8, bits)))
    net = (S.IPv6Network if v6 else S.IPv4Network)((ip, prefix), strict=False)
    ctor = draw(st.sampled_from(["net", "iface"]))
    host = draw(st.booleans())
    if ctor == "net":
        text = f"{net.network_address}/{prefix}"
        if v6 and draw(st.integers(0, 4)) == 0:
            scope = draw(scopes.filter(lambda s: s and "%" not in s))
            text = f"{net.network_address}%{scope}/{prefix}"
        return ("ip_network", text)
    addr_cls = S.IPv6Address if v6 else S.IPv4Address
    text = f"{addr_cls(ip) if host else net.network_address}/{prefix}"
    return ("ip_interface", text)


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


@given(address_texts())
@example("1.2.3.4")
@example("01.2.3.4")
@example("::ffff:1.2.3.4")
@example("fe80::1%eth0")
@example("fe80::1%")
@example("1.2.3.4/24")
@example("\ud800")
@example("fe80::%\ud800")
@example("")
@example("::1.2.3")
@example("1:2:3:4:5:6:7:8:9")
@example(":::")
def test_address_from_text(text: str) -> None:
    for ctor in ("IPv4Address", "IPv6Address", "ip_address", "IPv4Interface", "IPv6Interface"):
        facts(lambda m, ctor=ctor: getattr(m, ctor)(text))


@given(st.one_of(v4_ints, v6_ints, st.integers(-(2**130), 2**130)))
def test_address_from_int(n: int) -> None:
    for ctor in ("IPv4Address", "IPv6Address", "ip_address", "ip_network", "ip_interface"):
        facts(lambda m, ctor=ctor: getattr(m, ctor)(n))


@given(st.binary(max_size=20))
@example(b"\x01\x02\x03\x04")
@example(b"\x00" * 16)
def test_address_from_bytes(b: bytes) -> None:
    for ctor in ("IPv4Address", "IPv6Address", "ip_address", "IPv4Network", "IPv6Interface"):
        facts(lambda m, ctor=ctor: getattr(m, ctor)(b))


@given(network_texts(), st.booleans())
@example("1.2.3.0/24", True)
@example("1.2.3.4/24", True)
@example("1.2.3.4/255.255.255.0", False)
@example("1.2.3.4/0.0.0.255", False)
@example("1.2.3.4/255.0.255.0", False)
@example("1.2.3.4/", False)
@example("1.2.3.4/24/1", False)
@example("::1/64", True)
@example("fe80::1%eth0/64", False)
@example("fe80::%eth0/64", True)
@example("2001:db8::/32", True)
def test_network_from_text(text: str, strict: bool) -> None:
    for ctor in ("IPv4Network", "IPv6Network", "ip_network"):
        facts(lambda m, ctor=ctor: getattr(m, ctor)(text, strict=strict))
    for ctor in ("IPv4Interface", "IPv6Interface", "ip_interface"):
        facts(lambda m, ctor=ctor: getattr(m, ctor)(text))


masks = st.one_of(st.integers(-2, 130), mask_texts(), st.just(None), st.just([24]), st.just(b"24"))


@given(
    st.one_of(v4_ints, v6_ints, address_texts(), st.binary(max_size=17)),
    masks,
    st.booleans(),
    st.integers(0, 3),
)
def test_network_from_tuple(addr: Any, mask: Any, strict: bool, shape: int) -> None:
    arg: tuple[Any, ...] = ((addr, mask), (addr,), (), (addr, mask, 1))[shape]
    for ctor in ("IPv4Network", "IPv6Network", "ip_network"):
        facts(lambda m, ctor=ctor: getattr(m, ctor)(arg, strict))
    for ctor in ("IPv4Interface", "IPv6Interface", "ip_interface"):
        facts(lambda m, ctor=ctor: getattr(m, ctor)(arg))


@st.composite
def any_specs(draw: Any) -> tuple[str, Any]:
    """A spec for any kind of object (address, interface, network; either version)."""
    kind = draw(st.sampled_from(["a4", "a6", "a6s", "net", "iface"]))
    if kind == "a4":
        return ("IPv4Address", draw(v4_ints))
    if kind == "a6":
        return ("IPv6Address", draw(v6_ints))
    if kind == "a6s":
        ip = S.IPv6Address(draw(v6_ints))
        return ("IPv6Address", f"{ip}%{draw(st.sampled_from(['a', 'b']))}")
    return draw(valid_network_specs())


def build(spec: tuple[str, Any]) -> Callable[[Any], Any]:
    ctor, arg = spec
    return lambda m: getattr(m, ctor)(arg)


@given(valid_network_specs())
@example(("ip_network", "0.0.0.0/0"))
@example(("ip_network", "::/0"))
@example(("ip_network", "::/127"))
@example(("ip_network", "1.2.3.4/31"))
@example(("ip_network", "1.2.3.4/32"))
@example(("ip_network", "fe80::1%eth0/128"))
@example(("ip_interface", "0.0.0.0/8"))
@example(("ip_interface", "::/128"))
@example(("ip_interface", "::1/128"))
@example(("ip_interface", "::1/127"))
def test_valid_networks_and_interfaces(spec: tuple[str, Any]) -> None:
    facts(build(spec))


@given(any_specs(), any_specs())
def test_pairs(x: tuple[str, Any], y: tuple[str, Any]) -> None:
    a, b = build(x), build(y)
    for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        same(lambda m, op=op: getattr(a(m), op)(b(m)))
    same(lambda m: a(m) == b(m))
    same(lambda m: a(m) != b(m))
    same(lambda m: a(m) < b(m))
    same(lambda m: a(m) <= b(m))
    same(lambda m: a(m) > b(m))
    same(lambda m: a(m) >= b(m))
    same(lambda m: hash(a(m)) == hash(b(m)))
    same(lambda m: sorted([a(m), b(m)], key=m.get_mixed_type_key))
    for method in (
        "overlaps",
        "subnet_of",
        "supernet_of",
        "compare_networks",
        "address_exclude",
        "__contains__",
    ):
        same(lambda m, meth=method: getattr(a(m), meth)(b(m)))
    same(lambda m: b(m) in a(m))
    same(lambda m: m.summarize_address_range(a(m), b(m)))
    same(lambda m: m.collapse_addresses([a(m), b(m)]))
    same(lambda m: {a(m): 1, b(m): 2}.get(a(m)))


@st.composite
def nearby_networks(draw: Any) -> tuple[str, str]:
    """Two networks of one version close enough to overlap, contain or exclude."""
    v6 = draw(st.booleans())
    bits = 128 if v6 else 32
    base = draw(v6_ints if v6 else v4_ints)
    p1 = draw(st.integers(max(0, bits - 12), bits))
    p2 = draw(st.integers(max(0, bits - 12), bits))
    off = draw(st.integers(0, 2**12))
    cls = S.IPv6Network if v6 else S.IPv4Network
    n1 = cls((base, p1), strict=False)
    n2 = cls((min(base + off, 2**bits - 1), p2), strict=False)
    return str(n1), str(n2)


@given(nearby_networks())
@example(("192.0.2.0/28", "192.0.2.1/32"))
@example(("2001:db8::/120", "2001:db8::1/128"))
def test_network_pairs(pair: tuple[str, str]) -> None:
    x, y = pair
    for a, b in ((x, y), (y, x)):
        same(lambda m, a=a, b=b: m.ip_network(a).address_exclude(m.ip_network(b)))
        same(lambda m, a=a, b=b: m.ip_network(a).overlaps(m.ip_network(b)))
        same(lambda m, a=a, b=b: m.ip_network(a).subnet_of(m.ip_network(b)))
        same(lambda m, a=a, b=b: m.ip_network(a).supernet_of(m.ip_network(b)))
        same(lambda m, a=a, b=b: m.ip_network(a).compare_networks(m.ip_network(b)))
        same(
            lambda m, a=a, b=b: m.summarize_address_range(
                m.ip_network(a).network_address, m.ip_network(b).broadcast_address
            )
        )


@st.composite
def collapse_inputs(draw: Any) -> list[tuple[str, Any]]:
    v6 = draw(st.booleans())
    bits = 128 if v6 else 32
    base = draw(v6_ints if v6 else v4_ints) & ~0xFF
    items = []
    for _ in range(draw(st.integers(0, 25))):
        off = draw(st.integers(0, 300))
        ip = min(base + off, 2**bits - 1)
        kind = draw(st.sampled_from(["addr", "addr", "net32", "net", "iface", "other"]))
        cls = "IPv6" if v6 else "IPv4"
        if kind == "addr":
            items.append((f"{cls}Address", ip))
        elif kind == "net32":
            items.append((f"{cls}Network", (ip, bits)))
        elif kind == "net":
            items.append(
                (
                    f"{cls}Network",
                    f"{S.ip_network((ip, draw(st.integers(bits - 8, bits))), strict=False)}",
                )
            )
        elif kind == "iface":
            items.append((f"{cls}Interface", (ip, draw(st.integers(bits - 8, bits)))))
        else:
            items.append(draw(any_specs()))
    return items


@given(collapse_inputs())
def test_collapse_addresses(items: list[tuple[str, Any]]) -> None:
    same(lambda m: m.collapse_addresses([build(i)(m) for i in items]))
    same(lambda m: m.collapse_addresses(iter([build(i)(m) for i in items])))
    same(lambda m: sorted([build(i)(m) for i in items], key=m.get_mixed_type_key))


@given(st.lists(st.one_of(v4_ints, v4_ints.map(lambda x: (x & ~0xFFF) | 0x10)), max_size=60))
def test_collapse_many_v4_addresses(ints: list[int]) -> None:
    same(lambda m: m.collapse_addresses([m.IPv4Address(i) for i in ints]))
    same(lambda m: m.collapse_addresses([m.IPv4Network((i, 32)) for i in ints]))


@given(st.one_of(st.integers(-(2**129), 2**129), v4_ints, v6_ints, st.just("1"), st.just(1.0)))
def test_int_to_packed(n: Any) -> None:
    same(lambda m: m.v4_int_to_packed(n))
    same(lambda m: m.v6_int_to_packed(n))


@given(st.lists(address_texts(), max_size=8))
def test_parse_many_matches_ip_address(texts: list[str]) -> None:
    expected = run(lambda m: [m.ip_address(t) for t in texts], S)
    got = run(lambda m: m.parse_many(texts), F)
    if expected[0] == "ok":
        assert got == expected
    else:
        # The first bad item's ip_address() error, with its index appended.
        bad = next(
            i for i, t in enumerate(texts) if run(lambda m, t=t: m.ip_address(t), S)[0] != "ok"
        )
        single = run(lambda m: m.ip_address(texts[bad]), S)[1]
        assert got == ("raise", (single[0], f"{single[1]} (at index {bad})"))


@given(valid_network_specs(), st.lists(st.one_of(v4_ints, v6_ints), max_size=10))
def test_contains_many_matches_in(spec: tuple[str, Any], ints: list[int]) -> None:
    net = build(spec)(F)
    if not isinstance(net, (F.IPv4Network, F.IPv6Network)):
        net = net.network
    addrs = [F.ip_address(i) for i in ints]
    assert net.contains_many(addrs) == [a in net for a in addrs]
    assert net.contains_many([str(a) for a in addrs]) == [a in net for a in addrs]
    snet = net.to_stdlib()
    assert net.contains_many(addrs) == [a.to_stdlib() in snet for a in addrs]
