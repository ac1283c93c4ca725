"""A drop-in for the stdlib's :mod:`ipaddress`, with the classes and functions in Rust.

``from ferrosock import ipaddress`` gives the same API as ``import ipaddress`` (the
running interpreter's stdlib is the specification): ``ip_address``, ``ip_network``,
``ip_interface``, the six classes, ``summarize_address_range``, ``collapse_addresses``,
``get_mixed_type_key``, ``v4_int_to_packed``, ``v6_int_to_packed``, ``IPV4LENGTH``,
``IPV6LENGTH``, and the stdlib's own ``AddressValueError`` and ``NetmaskValueError``
classes (so existing ``except`` clauses work). Results, ``str``/``repr``, hashes, ordering
and error messages are the stdlib's.

Batch forms: :func:`parse_many` (``[ip_address(s) for s in strings]`` in one call) and
``IPv4Network.contains_many`` / ``IPv6Network.contains_many`` (``[a in net for a in
addresses]``, ``str`` items parsed as by ``ip_address``).

ferrosock objects and the stdlib's are distinct classes and do not mix: a ferrosock
address never equals a stdlib one, and a stdlib object passed where a ferrosock one is
expected raises ``TypeError``. Convert with ``obj.to_stdlib()`` and :func:`from_stdlib`;
the constructors also accept a stdlib object (through its ``str()``), as the stdlib's do.
"""

from __future__ import annotations

import abc
import ipaddress as _std
from collections.abc import Iterable, Iterator
from ipaddress import IPV4LENGTH, IPV6LENGTH, AddressValueError, NetmaskValueError
from typing import Any, NamedTuple

from ferrosock import _native
from ferrosock._native import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    collapse_addresses,
    get_mixed_type_key,
    ip_address,
    ip_interface,
    ip_network,
    parse_many,
    summarize_address_range,
    v4_int_to_packed,
    v6_int_to_packed,
)

__all__ = [
    "IPV4LENGTH",
    "IPV6LENGTH",
    "AddressValueError",
    "IPv4Address",
    "IPv4Interface",
    "IPv4Network",
    "IPv6Address",
    "IPv6Interface",
    "IPv6Network",
    "NetmaskValueError",
    "collapse_addresses",
    "from_stdlib",
    "get_mixed_type_key",
    "ip_address",
    "ip_interface",
    "ip_network",
    "parse_many",
    "summarize_address_range",
    "v4_int_to_packed",
    "v6_int_to_packed",
]


# ---------------------------------------------------------------------------------------
# The version-dependent rules: decided here, once, at import, from the running stdlib.
# CPython changed ipaddress inside patch releases, so each rule is probed, not read off
# sys.version_info. The native side keeps the rule set in one atomic value
# (rust/ipaddr/rules.rs), read where a rule applies.
# ---------------------------------------------------------------------------------------


class _Rules(NamedTuple):
    """One flag per upstream change; ``False`` is CPython 3.11.7's behaviour."""

    #: gh-113171 (3.11.10, 3.12.4, 3.13.0): the 2024 special-purpose registries
    #: (``is_private``/``is_global``).
    registry_2024: bool
    #: RFC 9637 (later 3.12/3.13 patch releases): ``3fff::/20`` is private.
    private_3fff: bool
    #: 3.13: ``str(IPv6Address('::ffff:1.2.3.4')) == '::ffff:1.2.3.4'`` (and ``exploded``).
    mapped_dotted: bool
    #: 3.13.0 and later 3.12 patch releases (3.12.10, not 3.12.1): ``is_loopback`` of an
    #: IPv4-mapped address is the IPv4 address's.
    mapped_loopback: bool
    #: later 3.12/3.13 patch releases (3.12.10, not 3.13.0): ``is_multicast``, ``is_reserved``,
    #: ``is_link_local``, ``is_global``, ``is_unspecified`` likewise.
    mapped_properties: bool
    #: 3.13: ``IPv4Address.ipv6_mapped`` exists.
    ipv6_mapped: bool
    #: gh-141497 (later patch releases): ``hosts()`` of a one-address network is an
    #: iterator, not a list.
    single_host_iterator: bool


def _probe_rules(std: Any = _std) -> _Rules:
    """The rule set of the ``ipaddress`` module ``std``, from what it does on samples."""
    a4, a6 = std.IPv4Address, std.IPv6Address
    return _Rules(
        registry_2024=a4("192.0.0.8").is_private,
        private_3fff=a6("3fff::1").is_private,
        mapped_dotted=str(a6("::ffff:1.2.3.4")) == "::ffff:1.2.3.4",
        mapped_loopback=a6("::ffff:127.0.0.1").is_loopback,
        mapped_properties=a6("::ffff:224.0.0.1").is_multicast,
        ipv6_mapped=hasattr(a4, "ipv6_mapped"),
        single_host_iterator=not isinstance(std.IPv4Network("192.0.2.1/32").hosts(), list),
    )


#: CPython 3.11.7's rules (3.12.1's too).
_RULES_3_11_7 = _Rules(False, False, False, False, False, False, False)
#: CPython 3.13.0's rules.
_RULES_3_13_0 = _Rules(
    registry_2024=True,
    private_3fff=False,
    mapped_dotted=True,
    mapped_loopback=True,
    mapped_properties=False,
    ipv6_mapped=True,
    single_host_iterator=False,
)


def _set_rules(rules: _Rules) -> None:
    """Puts ``rules`` in force for the whole module (tests use it to pin a rule set); this
    also adds or removes the members only some versions have (``ipv6_mapped``)."""
    _native._ipaddress_set_rules(**rules._asdict())


def _current_rules() -> _Rules:
    """The rule set in force."""
    return _Rules(**_native._ipaddress_rules())


#: The rule set of the running interpreter's stdlib.
_RULES = _probe_rules()
_set_rules(_RULES)


# The stdlib's private bases, as ABCs, for code that tests isinstance() against them.
class _IPAddressBase(abc.ABC):  # noqa: B024
    """Any address, interface or network."""


class _BaseAddress(_IPAddressBase):
    """Addresses and interfaces."""


class _BaseNetwork(_IPAddressBase):
    """Networks."""


class _BaseV4(abc.ABC):  # noqa: B024
    """IPv4 objects."""


class _BaseV6(abc.ABC):  # noqa: B024
    """IPv6 objects."""


_BaseAddress.register(IPv4Address)
_BaseAddress.register(IPv6Address)
_BaseNetwork.register(IPv4Network)
_BaseNetwork.register(IPv6Network)
_BaseV4.register(IPv4Address)
_BaseV4.register(IPv4Network)
_BaseV6.register(IPv6Address)
_BaseV6.register(IPv6Network)

_FROM_STDLIB: list[tuple[Any, Any]] = [
    (_std.IPv4Interface, IPv4Interface),
    (_std.IPv6Interface, IPv6Interface),
    (_std.IPv4Address, IPv4Address),
    (_std.IPv6Address, IPv6Address),
    (_std.IPv4Network, IPv4Network),
    (_std.IPv6Network, IPv6Network),
]


def from_stdlib(obj: Any) -> Any:
    """The ferrosock object equal to a stdlib ``ipaddress`` object (``to_stdlib()`` back).

    A ferrosock object is returned unchanged; anything else is a ``TypeError``.
    """
    if isinstance(obj, _IPAddressBase):
        return obj
    for std_cls, cls in _FROM_STDLIB:
        if isinstance(obj, std_cls):
            if std_cls is _std.IPv4Address:
                return cls(int(obj))
            return cls(str(obj))
    raise TypeError(f"expected a stdlib ipaddress object, not {type(obj).__name__}")


def _collapse_generic(ips: list[Any], nets: list[Any]) -> Iterator[Any]:
    """``collapse_addresses`` after its type checks, for the inputs the native path leaves
    to the stdlib's algorithm (interfaces, scope ids, subclasses, mixed versions): the same
    steps over these objects, so results and errors are the stdlib's."""
    ordered = sorted(set(ips))
    addrs: list[Any] = []
    if ordered:
        first = last = ordered[0]
        for ip in ordered[1:]:
            if int(ip) != int(last) + 1:
                addrs.extend(summarize_address_range(first, last))
                first = ip
            last = ip
        addrs.extend(summarize_address_range(first, last))
    return _merge(addrs + nets)


def _merge(addresses: Iterable[Any]) -> Iterator[Any]:
    to_merge = list(addresses)
    by_supernet: dict[Any, Any] = {}
    while to_merge:
        net = to_merge.pop()
        supernet = net.supernet()
        existing = by_supernet.get(supernet)
        if existing is None:
            by_supernet[supernet] = net
        elif existing != net:
            del by_supernet[supernet]
            to_merge.append(supernet)
    last = None
    for net in sorted(by_supernet.values()):
        if last is not None and last.broadcast_address >= net.broadcast_address:
            continue
        yield net
        last = net
