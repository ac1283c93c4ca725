"""Behaviour of ``ferrosock.ipaddress`` beyond single results: the API surface, exception
identity, pickling, hashing into dicts, subclassing, lazy generators, the batch forms and
the documented rule that ferrosock and stdlib objects do not mix."""

from __future__ import annotations

import copy
import gc
import ipaddress as S
import pickle
import sys
import tracemalloc
import weakref
from typing import Any

import pytest

from ferrosock import ipaddress as F

CLASSES = [
    "IPv4Address",
    "IPv6Address",
    "IPv4Interface",
    "IPv6Interface",
    "IPv4Network",
    "IPv6Network",
]
SAMPLES = {
    "IPv4Address": ["0.0.0.0", "192.0.2.1", "255.255.255.255"],
    "IPv6Address": ["::", "2001:db8::1", "fe80::1%eth0", "::ffff:1.2.3.4"],
    "IPv4Interface": ["192.0.2.5/24", "10.0.0.1/32", "0.0.0.0/0"],
    "IPv6Interface": ["2001:db8::5/64", "fe80::1%eth0/64", "::1/128"],
    "IPv4Network": ["192.0.2.0/24", "0.0.0.0/0", "10.1.2.3/32"],
    "IPv6Network": ["2001:db8::/32", "::/0", "fe80::%eth0/64"],
}


@pytest.fixture(params=["stdlib", "ferrosock"])
def impl(request: pytest.FixtureRequest) -> Any:
    return S if request.param == "stdlib" else F


def all_samples(mod: Any) -> list[Any]:
    return [getattr(mod, cls)(text) for cls, texts in SAMPLES.items() for text in texts]


# --- API surface -------------------------------------------------------------------------


def test_public_names_match_the_stdlib() -> None:
    public = {n for n in dir(S) if not n.startswith("_")} - {"functools"}
    missing = {n for n in public if not hasattr(F, n)}
    assert not missing


def test_exceptions_are_the_stdlibs_own() -> None:
    assert F.AddressValueError is S.AddressValueError
    assert F.NetmaskValueError is S.NetmaskValueError
    assert issubclass(F.AddressValueError, ValueError)
    with pytest.raises(S.AddressValueError):
        F.IPv4Address("1.2.3.256")
    with pytest.raises(S.NetmaskValueError):
        F.IPv4Network("1.2.3.0/33")


def test_constants() -> None:
    assert (F.IPV4LENGTH, F.IPV6LENGTH) == (32, 128)


@pytest.mark.parametrize("name", CLASSES)
def test_class_identity(name: str) -> None:
    cls = getattr(F, name)
    assert cls.__module__ == "ferrosock.ipaddress"
    assert cls.__name__ == cls.__qualname__ == name
    obj = cls(SAMPLES[name][1])
    assert repr(obj) == repr(getattr(S, name)(SAMPLES[name][1]))
    assert repr(obj).startswith(f"{name}('")


@pytest.mark.parametrize("name", CLASSES)
def test_class_members_cover_the_stdlibs(name: str) -> None:
    public = {n for n in dir(getattr(S, name)) if not n.startswith("_")}
    assert public <= set(dir(getattr(F, name)))
    obj_public = {n for n in dir(getattr(S, name)(SAMPLES[name][1])) if not n.startswith("_")}
    assert obj_public <= set(dir(getattr(F, name)(SAMPLES[name][1])))


def test_interfaces_are_addresses(impl: Any) -> None:
    assert issubclass(impl.IPv4Interface, impl.IPv4Address)
    assert issubclass(impl.IPv6Interface, impl.IPv6Address)
    assert not issubclass(impl.IPv4Network, impl.IPv4Address)


def test_private_bases_answer_isinstance(impl: Any) -> None:
    a, n = impl.ip_address("1.2.3.4"), impl.ip_network("::/8")
    assert isinstance(a, impl._BaseAddress) and isinstance(a, impl._IPAddressBase)
    assert isinstance(n, impl._BaseNetwork) and not isinstance(n, impl._BaseAddress)
    assert isinstance(impl.ip_interface("1.2.3.4/8"), impl._BaseAddress)


# --- value semantics ---------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(protocol: int) -> None:
    for obj in all_samples(F):
        data = pickle.dumps(obj, protocol)
        assert b"ferrosock.ipaddress" in data
        back = pickle.loads(data)
        assert type(back) is type(obj)
        assert back == obj and str(back) == str(obj) and hash(back) == hash(obj)


def test_copy_and_deepcopy() -> None:
    for obj in all_samples(F):
        for c in (copy.copy(obj), copy.deepcopy(obj)):
            assert type(c) is type(obj) and c == obj


def test_hashes_equal_the_stdlibs() -> None:
    for f, s in zip(all_samples(F), all_samples(S), strict=True):
        assert hash(f) == hash(s), f


def test_dict_keys_and_sets(impl: Any) -> None:
    d = {impl.ip_address("10.0.0.1"): "a", impl.ip_network("10.0.0.0/8"): "n"}
    assert d[impl.IPv4Address(0x0A000001)] == "a"
    assert d[impl.IPv4Network(("10.0.0.0", 8))] == "n"
    assert len({impl.ip_address("::1"), impl.IPv6Address(1), impl.ip_address("::1%x")}) == 2
    # An interface never equals its bare address.
    assert len({impl.ip_address("1.2.3.4"), impl.ip_interface("1.2.3.4/32")}) == 2


def test_mixed_versions_do_not_order(impl: Any) -> None:
    with pytest.raises(TypeError, match="are not of the same version"):
        _ = impl.ip_address("1.2.3.4") < impl.ip_address("::1")
    with pytest.raises(TypeError, match="not supported between instances of 'IPv4Address'"):
        _ = impl.ip_address("1.2.3.4") < impl.ip_network("1.2.3.0/24")
    assert impl.ip_address("1.2.3.4") != impl.ip_network("1.2.3.4/32")


def test_sorting_and_max(impl: Any) -> None:
    addrs = [impl.ip_address(f"10.0.0.{i}") for i in (5, 1, 9, 3)]
    assert [str(a) for a in sorted(addrs)] == ["10.0.0.1", "10.0.0.3", "10.0.0.5", "10.0.0.9"]
    assert str(max(addrs)) == "10.0.0.9" and str(min(addrs)) == "10.0.0.1"


def test_objects_are_immutable_and_weakrefable() -> None:
    a = F.ip_address("1.2.3.4")
    with pytest.raises(AttributeError):
        a.x = 1  # type: ignore[attr-defined]
    assert weakref.ref(a)() is a
    assert weakref.ref(F.ip_network("1.2.3.0/24"))() is not None


def test_native_objects_stay_out_of_the_cycle_collector() -> None:
    # They hold only numbers and a str; a Python subclass (which has a __dict__) is tracked.
    assert not gc.is_tracked(F.ip_address("1.2.3.4"))
    assert not gc.is_tracked(next(iter(F.ip_network("1.2.3.0/24"))))

    class Sub(F.IPv4Address):
        pass

    assert gc.is_tracked(Sub("1.2.3.4"))


def test_deallocation_releases_what_objects_hold() -> None:
    # The address and network classes are not GC types and free their instances in a
    # deallocator of ferrosock's: weak references, the scope id str, and Python
    # subclasses (GC types, freed by PyO3's deallocator) must all come out right.
    fired: list[str] = []
    for make in (
        lambda: F.ip_address("1.2.3.4"),
        lambda: F.ip_address("::1"),
        lambda: F.ip_network("1.2.3.0/24"),
        lambda: F.ip_network("fe80::/64"),
        lambda: F.ip_interface("1.2.3.4/24"),
        lambda: next(iter(F.ip_network("1.2.3.0/30"))),
    ):
        obj = make()
        ref = weakref.ref(obj, lambda r, text=str(obj): fired.append(text))
        del obj
        assert ref() is None
    assert len(fired) == 6

    # A scoped network's network_address shares the network's scope id str.
    scoped = F.ip_network("fe80::%eth0/64")
    scope = scoped.network_address.scope_id
    before = sys.getrefcount(scope)
    copies = [scoped.network_address for _ in range(100)]
    assert sys.getrefcount(scope) == before + 100
    del copies
    assert sys.getrefcount(scope) == before
    del scoped
    assert sys.getrefcount(scope) == before - 1

    class Cyclic(F.IPv4Address):
        pass

    c = Cyclic("1.2.3.4")
    c.me = c  # type: ignore[attr-defined]
    ref = weakref.ref(c)
    del c
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize(
    ("cls", "make"),
    [
        (F.IPv4Address, lambda: list(F.ip_network("10.0.0.0/24").hosts())),
        (F.IPv6Address, lambda: list(F.ip_network("fe80::/120").hosts())),
        (F.IPv4Network, lambda: list(F.ip_network("10.0.0.0/16").subnets(new_prefix=24))),
        (F.IPv6Network, lambda: list(F.ip_network("fe80::/56").subnets(new_prefix=64))),
    ],
)
def test_instances_hold_and_release_one_class_reference(cls: type, make: Any) -> None:
    # Every instance of a heap type owns a reference to its class: taken by the lean
    # constructor, given back by ferrosock's deallocator.
    before = sys.getrefcount(cls)
    objs = make()
    assert all(type(o) is cls for o in objs)
    assert sys.getrefcount(cls) == before + len(objs)
    del objs
    assert sys.getrefcount(cls) == before


def test_bulk_creation_returns_its_memory() -> None:
    net = F.ip_network("10.0.0.0/16")
    list(net.hosts())
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(3):
            hosts = list(net.hosts())
            del hosts
        assert tracemalloc.get_traced_memory()[0] - start < 64 * 1024
    finally:
        tracemalloc.stop()


# --- subclasses --------------------------------------------------------------------------


def test_python_subclasses_construct_through_their_class(impl: Any) -> None:
    class Addr(impl.IPv4Address):
        pass

    class Net(impl.IPv4Network):
        pass

    a = Addr("1.2.3.4")
    assert repr(a) == "Addr('1.2.3.4')"
    assert type(a + 1) is Addr and str(a + 1) == "1.2.3.5"
    n = Net("10.0.0.0/30")
    assert all(type(s) is Net for s in n.subnets())
    assert type(n.supernet()) is Net
    assert type(next(iter(n))) is impl.IPv4Address


def test_subclass_init_chains_to_the_base(impl: Any) -> None:
    class Tagged(impl.IPv4Address):
        def __init__(self, address: Any, tag: str = "") -> None:
            super().__init__(address)
            self.tag = tag

    class TaggedNet(impl.IPv6Network):
        def __init__(self, address: Any, strict: bool = True) -> None:
            super().__init__(address, strict)
            self.tag = "net"

    t = Tagged("1.2.3.4", "x")
    assert (str(t), t.tag) == ("1.2.3.4", "x")
    assert str(TaggedNet("::1/64", False)) == "::/64"


# --- generators ----------------------------------------------------------------------------


def test_generators_check_arguments_lazily(impl: Any) -> None:
    net = impl.ip_network("10.0.0.0/24")
    bad = net.subnets(new_prefix=8)
    with pytest.raises(ValueError, match="new prefix must be longer"):
        next(bad)
    rng = impl.summarize_address_range(impl.ip_address("1.2.3.4"), impl.ip_address("::1"))
    with pytest.raises(TypeError, match="not of the same version"):
        next(rng)
    exc = net.address_exclude(impl.ip_network("11.0.0.0/24"))
    with pytest.raises(ValueError, match="not contained in"):
        next(exc)


def test_hosts_shapes(impl: Any) -> None:
    assert [str(h) for h in impl.ip_network("1.2.3.4/32").hosts()] == ["1.2.3.4"]
    assert [str(h) for h in impl.ip_network("1.2.3.4/31").hosts()] == ["1.2.3.4", "1.2.3.5"]
    it = impl.ip_network("10.0.0.0/8").hosts()
    assert iter(it) is it
    assert str(next(it)) == "10.0.0.1"
    six = impl.ip_network("2001:db8::/126").hosts()
    assert [str(h) for h in six] == ["2001:db8::1", "2001:db8::2", "2001:db8::3"]


def test_huge_networks_stay_lazy(impl: Any) -> None:
    net = impl.ip_network("::/0")
    assert net.num_addresses == 2**128
    assert str(net[2**128 - 1]) == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    assert str(net[-(2**128)]) == "::"
    with pytest.raises(IndexError):
        net[2**128]
    assert str(next(iter(net.hosts()))) == "::1"
    subs = net.subnets(new_prefix=128)
    assert str(next(subs)) == "::/128"


def test_networks_have_no_len(impl: Any) -> None:
    with pytest.raises(TypeError, match="has no len"):
        len(impl.ip_network("10.0.0.0/8"))


# --- not mixing with the stdlib ------------------------------------------------------------


def test_stdlib_and_ferrosock_objects_do_not_mix() -> None:
    f, s = F.ip_address("10.0.0.1"), S.ip_address("10.0.0.1")
    assert f != s and s != f
    with pytest.raises(TypeError):
        _ = f < s
    with pytest.raises(TypeError, match="from_stdlib"):
        _ = s in F.ip_network("10.0.0.0/8")
    with pytest.raises(TypeError, match="from_stdlib"):
        list(F.collapse_addresses([s]))
    # The constructors read any object through str(), as the stdlib's do.
    assert F.ip_address(s) == f
    assert F.IPv4Network(S.ip_network("10.0.0.0/8")) == F.ip_network("10.0.0.0/8")


def test_conversions_both_ways() -> None:
    for f, s in zip(all_samples(F), all_samples(S), strict=True):
        assert f.to_stdlib() == s and type(f.to_stdlib()) is type(s)
        back = F.from_stdlib(s)
        assert back == f and type(back) is type(f)
    assert F.from_stdlib(F.ip_address("1.2.3.4")) == F.ip_address("1.2.3.4")
    with pytest.raises(TypeError):
        F.from_stdlib("1.2.3.4")


# --- batch forms ---------------------------------------------------------------------------


def test_parse_many() -> None:
    texts = ["1.2.3.4", "::1", "fe80::1%eth0", "255.255.255.255"]
    assert F.parse_many(texts) == [F.ip_address(t) for t in texts]
    assert F.parse_many(iter(texts)) == [F.ip_address(t) for t in texts]
    assert F.parse_many(t for t in texts) == [F.ip_address(t) for t in texts]
    assert F.parse_many([]) == []
    assert F.parse_many([1, b"\x01\x02\x03\x04"]) == [F.ip_address(1), F.ip_address("1.2.3.4")]


def test_parse_many_reports_the_bad_item() -> None:
    with pytest.raises(ValueError) as info:
        F.parse_many(["1.2.3.4", "1.2.3.999", "x"])
    assert str(info.value) == (
        "'1.2.3.999' does not appear to be an IPv4 or IPv6 address (at index 1)"
    )
    assert type(info.value) is ValueError
    with pytest.raises(TypeError):
        F.parse_many(5)


def test_contains_many() -> None:
    net = F.ip_network("10.0.0.0/8")
    items = [F.ip_address("10.1.2.3"), F.ip_address("11.0.0.0"), "10.9.9.9", "::1"]
    assert net.contains_many(items) == [True, False, True, False]
    six = F.ip_network("2001:db8::/32")
    assert six.contains_many(["2001:db8::1", F.ip_network("2001:db8::/48")]) == [True, False]
    with pytest.raises(ValueError, match=r"does not appear .* \(at index 1\)"):
        net.contains_many(["10.0.0.1", "10.0.0.256"])
    with pytest.raises(AttributeError, match=r"has no attribute '_version' \(at index 0\)"):
        net.contains_many([5])
    # Addresses first (read in place), then items that need Python: indexes still count.
    mixed = [
        F.ip_address("10.0.0.1"),
        F.ip_address("::1"),
        "10.0.0.2",
        F.ip_interface("10.1.1.1/8"),
    ]
    assert net.contains_many(mixed) == [True, False, True, True]
    with pytest.raises(AttributeError, match=r"\(at index 3\)"):
        net.contains_many([*mixed[:3], None])
    assert net.contains_many(tuple(mixed)) == net.contains_many(iter(mixed))


# --- seed program ----------------------------------------------------------------------------


def test_seed_inspection(impl: Any) -> None:
    """What the seeds do with an address (seed 002)."""
    addr = impl.ip_address("61.135.169.125")
    assert str(addr) == "61.135.169.125"
    assert addr.version == 4
    assert addr.is_private is False
    assert addr.packed.hex() == "3d87a97d"
    assert int(addr) == 1032300925


# --- inputs that are not addresses ------------------------------------------------------------


class BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no str")


WEIRD = [None, 1.5, [1, 2], {}, object(), BadStr(), bytearray(b"\x01\x02\x03\x04"), (), (1,)]
WEIRD += [("1.2.3.4", 24, 1), ("1.2.3.4", [24]), ("1.2.3.4", None), "1.2.3.4\x00", -1]


def _outcome(fn: Any) -> Any:
    try:
        r = fn()
        return ("ok", str(r), type(r).__name__)
    except Exception as exc:
        return ("raise", type(exc), str(exc))


@pytest.mark.parametrize("value", WEIRD, ids=repr)
@pytest.mark.parametrize(
    "ctor",
    ["ip_address", "ip_network", "ip_interface", *CLASSES],
)
def test_weird_arguments_fail_like_the_stdlib(ctor: str, value: Any) -> None:
    if value is WEIRD[4]:  # repr includes an id; compare the class only
        a = _outcome(lambda: getattr(S, ctor)(value))
        b = _outcome(lambda: getattr(F, ctor)(value))
        assert a[:2] == b[:2]
        return
    assert _outcome(lambda: getattr(S, ctor)(value)) == _outcome(lambda: getattr(F, ctor)(value))


@pytest.mark.parametrize("value", WEIRD, ids=repr)
def test_weird_operands_fail_like_the_stdlib(value: Any) -> None:
    if value is WEIRD[4] or isinstance(value, BadStr):
        return
    ops = [
        lambda x, v: x == v,
        lambda x, v: x < v,
        lambda x, v: x + v,
        lambda x, v: v in x,
        lambda x, v: x.subnet_of(v),
        lambda x, v: x.overlaps(v),
        lambda x, v: x.compare_networks(v),
        lambda x, v: list(x.address_exclude(v)),
    ]
    if not isinstance(value, float):
        # Documented difference: a float index or prefix length is a TypeError here; the
        # stdlib gets further with it and fails in various ways.
        ops += [
            lambda x, v: x[v],
            lambda x, v: list(x.subnets(v)),
            lambda x, v: list(x.subnets(new_prefix=v)),
            lambda x, v: list(x.subnets(v, new_prefix=30)),
            lambda x, v: x.supernet(v),
            lambda x, v: x.supernet(new_prefix=v),
            lambda x, v: x.supernet(v, new_prefix=1),
        ]
    for fs, st in zip(all_samples(F), all_samples(S), strict=True):
        for op in ops:
            expected = _outcome(lambda op=op, st=st: op(st, value))
            assert _outcome(lambda op=op, fs=fs: op(fs, value)) == expected, (st, value)


# --- Version rules ------------------------------------------------------------------------
# ferrosock probes the running stdlib once at import (``F._probe_rules``) and puts one rule
# set in force; these tests pin every known rule set, whichever interpreter runs them.

# ``_Rules`` field values: CPython 3.11.7 (and 3.12.1), 3.13.0, and 3.12.10 (the later 3.12
# fixes, without 3.13's dotted text and ``ipv6_mapped``).
RULE_SETS = {
    "3.11.7": F._RULES_3_11_7,
    "3.13.0": F._RULES_3_13_0,
    "3.12.10": F._Rules(
        registry_2024=True,
        private_3fff=True,
        mapped_dotted=False,
        mapped_loopback=True,
        mapped_properties=True,
        ipv6_mapped=False,
        single_host_iterator=False,
    ),
}
KNOWN_INTERPRETERS = {(3, 11, 7): "3.11.7", (3, 12, 1): "3.11.7", (3, 13, 0): "3.13.0"}

# (expression over the module ``m``, outcome on 3.11.7, on 3.13.0, on 3.12.10), recorded
# from those interpreters' stdlib; an outcome is ``repr(result)`` or ``"Class: message"``.
PINNED = [
    (
        "str(m.IPv6Address('::ffff:1.2.3.4'))",
        "'::ffff:102:304'",
        "'::ffff:1.2.3.4'",
        "'::ffff:102:304'",
    ),
    (
        "repr(m.IPv6Interface('::ffff:0.0.0.0/128'))",
        "\"IPv6Interface('::ffff:0:0/128')\"",
        "\"IPv6Interface('::ffff:0.0.0.0/128')\"",
        "\"IPv6Interface('::ffff:0:0/128')\"",
    ),
    (
        "m.IPv6Address('::ffff:1.2.3.4').exploded",
        "'0000:0000:0000:0000:0000:ffff:0102:0304'",
        "'0000:0000:0000:0000:0000:ffff:1.2.3.4'",
        "'0000:0000:0000:0000:0000:ffff:0102:0304'",
    ),
    (
        "m.IPv6Address('::ffff:1.2.3.4').reverse_pointer",
        "'4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa'",
        "'4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa'",
        "'4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa'",
    ),
    (
        "m.IPv6Interface('::ffff:1.2.3.4/96').exploded",
        "'0000:0000:0000:0000:0000:ffff:0102:0304/96'",
        "'0000:0000:0000:0000:0000:ffff:1.2.3.4'",
        "'0000:0000:0000:0000:0000:ffff:0102:0304/96'",
    ),
    (
        "m.IPv6Interface('::ffff:1.2.3.4/96').reverse_pointer",
        "'6.9./.4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa'",
        "'4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa'",
        "'6.9./.4.0.3.0.2.0.1.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa'",
    ),
    (
        "m.IPv6Interface('::ffff:1.2.3.4/96').with_prefixlen",
        "'::ffff:102:304/96'",
        "'::ffff:102:304/96'",
        "'::ffff:102:304/96'",
    ),
    (
        "m.IPv6Network('::/80').with_hostmask",
        "'::/::ffff:ffff:ffff'",
        "'::/::ffff:255.255.255.255'",
        "'::/::ffff:ffff:ffff'",
    ),
    (
        "str(m.IPv6Network('::ffff:1.2.3.0/120'))",
        "'::ffff:102:300/120'",
        "'::ffff:1.2.3.0/120'",
        "'::ffff:102:300/120'",
    ),
    (
        "m.IPv6Network('::ffff:1.2.3.0/120').exploded",
        "'0000:0000:0000:0000:0000:ffff:0102:0300/120'",
        "'0000:0000:0000:0000:0000:ffff:0102:0300/120'",
        "'0000:0000:0000:0000:0000:ffff:0102:0300/120'",
    ),
    (
        "m.IPv6Address('::ffff:1.2.3.4%eth0').exploded",
        "AddressValueError: Only hex digits permitted in '304%eth0' in '::ffff:102:304%eth0'",
        "AddressValueError: Only decimal digits permitted in '4%eth0' in '1.2.3.4%eth0'"
        " in '::ffff:1.2.3.4%eth0'",
        "AddressValueError: Only hex digits permitted in '304%eth0' in '::ffff:102:304%eth0'",
    ),
    (
        "format(m.IPv6Address('::ffff:1.2.3.4'), '>16')",
        "TypeError: unsupported format string passed to IPv6Address.__format__",
        "TypeError: unsupported format string passed to IPv6Address.__format__",
        "TypeError: unsupported format string passed to IPv6Address.__format__",
    ),
    (
        "m.IPv6Address('::ffff:1.2.3.4').__reduce__()[1]",
        "('::ffff:102:304',)",
        "('::ffff:1.2.3.4',)",
        "('::ffff:102:304',)",
    ),
    (
        "m.IPv6Network('::ffff:1.2.3.4/120')",
        "ValueError: ::ffff:102:304/120 has host bits set",
        "ValueError: ::ffff:1.2.3.4/120 has host bits set",
        "ValueError: ::ffff:102:304/120 has host bits set",
    ),
    (
        "[str(n) for n in m.collapse_addresses("
        "[m.IPv6Network('::ffff:1.2.3.0/121'), m.IPv6Network('::ffff:1.2.3.128/121')])]",
        "['::ffff:102:300/120']",
        "['::ffff:1.2.3.0/120']",
        "['::ffff:102:300/120']",
    ),
    ("m.IPv4Address('192.0.0.8').is_private", "False", "True", "True"),
    ("m.IPv4Address('192.0.0.9').is_global", "True", "True", "True"),
    ("m.IPv4Network('192.0.0.8/30').is_private", "False", "True", "True"),
    ("m.IPv4Network('192.0.0.8/31').is_private", "False", "False", "False"),
    ("m.IPv6Address('2002::1').is_private", "False", "True", "True"),
    ("m.IPv6Address('2001:2::1').is_private", "True", "True", "True"),
    ("m.IPv6Address('2001:20::1').is_global", "False", "True", "True"),
    ("m.IPv6Network('2001:3::/32').is_private", "True", "False", "False"),
    ("m.IPv6Address('3fff::1').is_private", "False", "False", "True"),
    ("m.IPv6Address('::ffff:127.0.0.1').is_loopback", "False", "True", "True"),
    ("m.IPv6Interface('::ffff:127.0.0.1/104').is_loopback", "False", "True", "True"),
    ("m.IPv6Network('::ffff:127.0.0.0/104').is_loopback", "False", "True", "True"),
    ("m.IPv6Address('::ffff:224.0.0.1').is_multicast", "False", "False", "True"),
    ("m.IPv6Address('::ffff:100.64.0.1').is_global", "True", "True", "False"),
    ("m.IPv6Address('::ffff:100.64.0.1').is_private", "False", "False", "False"),
    ("m.IPv6Address('::ffff:0.0.0.0').is_unspecified", "False", "False", "True"),
    ("m.IPv6Address('::ffff:169.254.1.1').is_link_local", "False", "False", "True"),
    ("m.IPv6Address('::ffff:1.2.3.4').is_reserved", "True", "True", "False"),
    ("m.IPv6Network('::ffff:224.0.0.0/100').is_multicast", "False", "False", "True"),
    ("hasattr(m.IPv4Address, 'ipv6_mapped')", "False", "True", "False"),
    (
        "m.IPv4Address('1.2.3.4').ipv6_mapped",
        "AttributeError: 'IPv4Address' object has no attribute 'ipv6_mapped'",
        "IPv6Address('::ffff:1.2.3.4')",
        "AttributeError: 'IPv4Address' object has no attribute 'ipv6_mapped'",
    ),
    (
        "m.IPv4Interface('1.2.3.4/24').ipv6_mapped",
        "AttributeError: 'IPv4Interface' object has no attribute 'ipv6_mapped'",
        "AddressValueError: Unexpected '/' in '::ffff:1.2.3.4/24'",
        "AttributeError: 'IPv4Interface' object has no attribute 'ipv6_mapped'",
    ),
    ("type(m.IPv4Network('1.2.3.4/32').hosts()).__name__", "'list'", "'list'", "'list'"),
]


def outcome(expr: str, m: Any) -> str:
    try:
        return repr(eval(expr, {"m": m}))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture
def pin_rules() -> Any:
    """Puts a rule set in force for one test; the probed one is back afterwards."""
    saved = F._current_rules()
    yield F._set_rules
    F._set_rules(saved)
    assert F._current_rules() == F._probe_rules(S)


def test_rules_are_the_running_stdlibs() -> None:
    assert F._current_rules() == F._probe_rules(S)
    known = KNOWN_INTERPRETERS.get(sys.version_info[:3])
    if known is not None:
        assert F._probe_rules(S) == RULE_SETS[known]


@pytest.mark.parametrize("name", CLASSES)
def test_version_dependent_members_follow_the_stdlib(name: str) -> None:
    assert hasattr(getattr(F, name), "ipv6_mapped") == hasattr(getattr(S, name), "ipv6_mapped")
    assert ("ipv6_mapped" in dir(getattr(F, name))) == ("ipv6_mapped" in dir(getattr(S, name)))


@pytest.mark.parametrize("version", list(RULE_SETS))
def test_pinned_rule_sets(version: str, pin_rules: Any) -> None:
    column = list(RULE_SETS).index(version) + 1
    pin_rules(RULE_SETS[version])
    running = F._probe_rules(S) == RULE_SETS[version]
    problems = []
    for row in PINNED:
        expr, want = row[0], row[column]
        if outcome(expr, F) != want:
            problems.append(f"{expr}: {outcome(expr, F)} != {want}")
        if running:
            # the table is the running stdlib's own behaviour
            assert outcome(expr, S) == want, expr
    assert not problems, "\n".join(problems)


def test_rules_flip_members_both_ways(pin_rules: Any) -> None:
    pin_rules(F._RULES_3_13_0)
    assert "ipv6_mapped" in dir(F.IPv4Address)
    assert F.IPv4Address("1.2.3.4").ipv6_mapped == F.IPv6Address("::ffff:1.2.3.4")
    pin_rules(F._RULES_3_11_7)
    assert "ipv6_mapped" not in dir(F.IPv4Address)
    assert not hasattr(F.IPv4Interface("1.2.3.4/24"), "ipv6_mapped")


def test_single_host_iterator_rule(pin_rules: Any) -> None:
    for flag in (False, True):
        pin_rules(F._RULES_3_13_0._replace(single_host_iterator=flag))
        for text in ("1.2.3.4/32", "fe80::1%eth0/128"):
            hosts = F.ip_network(text).hosts()
            assert isinstance(hosts, list) is not flag
            assert [str(h) for h in hosts] == [text.split("/")[0]]
            if flag:
                assert iter(hosts) is hosts


def test_probe_reads_each_rule_from_its_sample() -> None:
    """A stand-in stdlib whose samples answer one way: the probe picks the flags from them."""

    class Answer:
        def __init__(self, text: str) -> None:
            self.text = text
            yes = {"192.0.0.8", "::ffff:127.0.0.1"}
            self.is_private = self.is_loopback = text in yes or text == "3fff::1"
            self.is_multicast = False

        def __str__(self) -> str:
            return self.text

        def hosts(self) -> Any:
            return iter([])

    class Mod:
        IPv4Address = IPv6Address = IPv4Network = Answer

    got = F._probe_rules(Mod)
    assert got == F._Rules(True, True, True, True, False, False, True)
