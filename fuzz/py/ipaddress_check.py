"""The ipaddress_py fuzz target's checks: `ferrosock.ipaddress` against the stdlib's.

`check(data)`: the first byte selects one family of checks (its value modulo 36), the rest
is the payload. Families 0 to 29 read the payload as text (latin-1, so every byte is a
character) and give it to one constructor (family // 3 of: `ip_address`, `ip_network`,
`ip_interface`, the six classes, `ip_network(strict=False)`), which must give an object of
the same class with the same `str` and `repr`, or the same exception and message; then, by
family % 3, that object's
  0. properties (every one of PROPERTIES, or the same exception) and hash stability,
  1. `format()` output for every spec of FORMAT_SPECS,
  2. for networks: hosts and iteration (up to 64 addresses), `subnets()`,
     `supernet()` and `supernet(3)`.
With at least five payload bytes, an integer and a prefix made of them: 30 (IPv4) and 31
(IPv6), the integer to `ip_address`, the (integer, prefix) pair to `IPv4Network`/
`IPv6Network` (strict and not) and `IPv4Interface`/`IPv6Interface`; 32 (IPv4) and 33
(IPv6), `summarize_address_range` from the integer over a span of up to 255 * 2**39
addresses; 34, `collapse_addresses` of twelve IPv4 networks made of the bytes; 35,
`address_exclude` (the first eight results) and comparisons of two of them.

Every call must give what the stdlib gives: objects of the same class with the same `str`
and `repr`, the same values, or an exception of the same class with the same message. An
AssertionError here is a finding. One family per input keeps an execution cheap (the
stdlib's side is pure Python; the fuzzer's coverage feedback steers between families);
every family is one byte away.
"""

import ipaddress as std
import sys

import _native

sys.modules.setdefault("ferrosock._native", _native)
sys.path.insert(0, PYTHON_DIR)  # noqa: F821 - set by the fuzz target before this runs
from ferrosock import ipaddress as fs  # noqa: E402

CONSTRUCTORS = [
    ("ip_address", {}),
    ("ip_network", {}),
    ("ip_interface", {}),
    ("IPv4Address", {}),
    ("IPv6Address", {}),
    ("IPv4Network", {}),
    ("IPv6Network", {}),
    ("IPv4Interface", {}),
    ("IPv6Interface", {}),
    ("ip_network", {"strict": False}),
]
PROPERTIES = [
    "compressed",
    "exploded",
    "packed",
    "version",
    "max_prefixlen",
    "is_private",
    "is_global",
    "is_multicast",
    "is_reserved",
    "is_loopback",
    "is_link_local",
    "is_unspecified",
    "is_site_local",
    "ipv4_mapped",
    "teredo",
    "sixtofour",
    "scope_id",
    "reverse_pointer",
    "network_address",
    "broadcast_address",
    "netmask",
    "hostmask",
    "prefixlen",
    "num_addresses",
    "with_prefixlen",
    "with_netmask",
    "with_hostmask",
    "ip",
    "network",
]
FORMAT_SPECS = ("", "s", "b", "x", "#_X", "n", "_n", ">50s")


def describe(x):
    if isinstance(x, list | tuple):
        return [describe(i) for i in x]
    if x is None or isinstance(x, bool | int | str | bytes):
        return x
    return (type(x).__name__, str(x), repr(x))


def run(f):
    try:
        value = f()
        return True, describe(value), value
    except Exception as e:  # every exception is compared
        return False, (type(e).__name__, str(e)), None


def agree(what, f, g):
    """Runs f (stdlib) and g (ferrosock); asserts the same outcome (objects described by
    class, `str` and `repr`); returns both results (None where they failed). `what` makes
    the description, only for a failure."""
    (a_ok, a, a_value), (b_ok, b, b_value) = run(f), run(g)
    assert (a_ok, a) == (b_ok, b), f"{what()}: stdlib {(a_ok, a)!r} ferrosock {(b_ok, b)!r}"
    return a_value, b_value


def check_properties(name, s_obj, f_obj):
    for prop in PROPERTIES:
        # Not hasattr: a property may raise something else (the stdlib's `exploded` of a
        # scoped IPv6 address raises AddressValueError), which must agree too.
        agree(
            lambda p=prop: f"{name}.{p}",
            lambda p=prop: getattr(s_obj, p),
            lambda p=prop: getattr(f_obj, p),
        )
    agree(
        lambda: f"hash {name}",
        lambda: hash(s_obj) == hash(s_obj),
        lambda: hash(f_obj) == hash(f_obj),
    )


def check_formats(name, s_obj, f_obj):
    for spec in FORMAT_SPECS:
        agree(
            lambda sp=spec: f"format({name}, {sp!r})",
            lambda sp=spec: format(s_obj, sp),
            lambda sp=spec: format(f_obj, sp),
        )


def check_network(name, s_obj, f_obj):
    if not isinstance(s_obj, std._BaseNetwork):
        return
    if s_obj.num_addresses <= 64:
        agree(lambda: f"hosts {name}", lambda: list(s_obj.hosts()), lambda: list(f_obj.hosts()))
        agree(lambda: f"list {name}", lambda: list(s_obj), lambda: list(f_obj))
    agree(
        lambda: f"subnets {name}",
        lambda: list(s_obj.subnets())[:4],
        lambda: list(f_obj.subnets())[:4],
    )
    agree(lambda: f"supernet {name}", lambda: s_obj.supernet(), lambda: f_obj.supernet())
    agree(lambda: f"supernet 3 {name}", lambda: s_obj.supernet(3), lambda: f_obj.supernet(3))


ASPECTS = (check_properties, check_formats, check_network)


def text_family(constructor, kwargs, aspect):
    s_make, f_make = getattr(std, constructor), getattr(fs, constructor)

    def family(raw):
        text = raw.decode("latin-1")
        name = f"{constructor}({text!r}, **{kwargs})"
        s_obj, f_obj = agree(
            lambda: name, lambda: s_make(text, **kwargs), lambda: f_make(text, **kwargs)
        )
        if s_obj is not None:
            aspect(name, s_obj, f_obj)

    return family


def numbers_family(version, what):
    def family(raw):
        if len(raw) < 5:
            return
        n = int.from_bytes(raw[:-1] if len(raw) <= 17 else raw[:16], "big")
        what(version, n % (1 << (32 if version == 4 else 128)), raw[-1], raw)

    return family


def check_integers(version, ip, p, raw):
    cls = "IPv4" if version == 4 else "IPv6"
    agree(lambda: f"ip_address({ip})", lambda: std.ip_address(ip), lambda: fs.ip_address(ip))
    for strict in (True, False):
        agree(
            lambda st=strict: f"{cls}Network(({ip}, {p}), {st})",
            lambda st=strict: getattr(std, cls + "Network")((ip, p), strict=st),
            lambda st=strict: getattr(fs, cls + "Network")((ip, p), strict=st),
        )
    agree(
        lambda: f"{cls}Interface(({ip}, {p}))",
        lambda: getattr(std, cls + "Interface")((ip, p)),
        lambda: getattr(fs, cls + "Interface")((ip, p)),
    )


def check_summarize(version, ip, p, raw):
    cls = "IPv4" if version == 4 else "IPv6"
    last = ip + raw[0] * (1 << (raw[1] % 40))
    agree(
        lambda: f"summarize {ip}..{last}",
        lambda: list(
            std.summarize_address_range(
                getattr(std, cls + "Address")(ip), getattr(std, cls + "Address")(last)
            )
        ),
        lambda: list(
            fs.summarize_address_range(
                getattr(fs, cls + "Address")(ip), getattr(fs, cls + "Address")(last)
            )
        ),
    )


def networks(raw):
    """Twelve IPv4 (address, prefix) pairs made of the bytes."""
    return [(b << 24, raw[(i + 1) % len(raw)] % 33) for i, b in enumerate(raw[:12])]


def check_collapse(raw):
    if len(raw) < 5:
        return
    nets = networks(raw)
    agree(
        lambda: f"collapse {nets}",
        lambda: list(std.collapse_addresses(std.IPv4Network(x, strict=False) for x in nets)),
        lambda: list(fs.collapse_addresses(fs.IPv4Network(x, strict=False) for x in nets)),
    )


def check_exclude(raw):
    if len(raw) < 5:
        return
    nets = networks(raw)
    a, b = std.IPv4Network(nets[0], strict=False), std.IPv4Network(nets[1], strict=False)
    fa, fb = fs.IPv4Network(nets[0], strict=False), fs.IPv4Network(nets[1], strict=False)
    agree(
        lambda: f"exclude {a} {b}",
        lambda: list(a.address_exclude(b))[:8],
        lambda: list(fa.address_exclude(fb))[:8],
    )
    agree(
        lambda: f"compare {a} {b}",
        lambda: (a < b, a == b, a.overlaps(b), a.subnet_of(b)),
        lambda: (fa < fb, fa == fb, fa.overlaps(fb), fa.subnet_of(fb)),
    )


FAMILIES = [
    *(text_family(c, kw, aspect) for c, kw in CONSTRUCTORS for aspect in ASPECTS),
    numbers_family(4, check_integers),
    numbers_family(6, check_integers),
    numbers_family(4, check_summarize),
    numbers_family(6, check_summarize),
    check_collapse,
    check_exclude,
]


def check(data):
    raw = bytes(data)
    if raw:  # an empty input has no family: a one-byte input is the empty payload
        FAMILIES[raw[0] % len(FAMILIES)](raw[1:])
