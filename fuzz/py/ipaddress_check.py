"""The ipaddress_py fuzz target's checks: `ferrosock.ipaddress` against the stdlib's.

`check(data)`: the input as text (latin-1, so every byte is a character) goes to every
constructor and factory; its bytes also make integers, (address, prefix) pairs and ranges.
Every call must give what the stdlib gives: objects of the same class with the same `str`
and `repr`, the same values, or an exception of the same class with the same message. An
AssertionError here is a finding.
"""

import ipaddress as std
import sys

import _native

sys.modules.setdefault("ferrosock._native", _native)
sys.path.insert(0, PYTHON_DIR)  # noqa: F821 - set by the fuzz target before this runs
from ferrosock import ipaddress as fs  # noqa: E402

CLASSES = [
    "ip_address",
    "ip_network",
    "ip_interface",
    "IPv4Address",
    "IPv6Address",
    "IPv4Network",
    "IPv6Network",
    "IPv4Interface",
    "IPv6Interface",
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


def describe(x):
    if isinstance(x, list | tuple):
        return [describe(i) for i in x]
    if x is None or isinstance(x, bool | int | str | bytes):
        return x
    return (type(x).__name__, str(x), repr(x))


def run(f):
    try:
        return (True, describe(f()))
    except Exception as e:  # every exception is compared
        return (False, (type(e).__name__, str(e)))


def agree(what, f, g):
    """Runs f (stdlib) and g (ferrosock); asserts the same outcome; returns the stdlib's
    object (or None). `what` makes the description, only for a failure."""
    a, b = run(f), run(g)
    assert a == b, f"{what()}: stdlib {a!r} ferrosock {b!r}"
    try:
        return f()
    except Exception:
        return None


def compare_object(name, s_obj, f_obj):
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
    for spec in ("", "s", "b", "x", "#_X", "n", "_n", ">50s"):
        agree(
            lambda sp=spec: f"format({name}, {sp!r})",
            lambda sp=spec: format(s_obj, sp),
            lambda sp=spec: format(f_obj, sp),
        )
    if isinstance(s_obj, std._BaseNetwork) and s_obj.num_addresses <= 64:
        agree(lambda: f"hosts {name}", lambda: list(s_obj.hosts()), lambda: list(f_obj.hosts()))
        agree(lambda: f"list {name}", lambda: list(s_obj), lambda: list(f_obj))
    if isinstance(s_obj, std._BaseNetwork):
        agree(
            lambda: f"subnets {name}",
            lambda: list(s_obj.subnets())[:4],
            lambda: list(f_obj.subnets())[:4],
        )
        agree(lambda: f"supernet {name}", lambda: s_obj.supernet(), lambda: f_obj.supernet())
        agree(lambda: f"supernet 3 {name}", lambda: s_obj.supernet(3), lambda: f_obj.supernet(3))


def check_numbers(version, n, p, raw):
    ip = n % (1 << (32 if version == 4 else 128))
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


def check(data):
    text = bytes(data).decode("latin-1")
    for name in CLASSES:
        s_obj = agree(
            lambda n=name: f"{n}({text!r})",
            lambda n=name: getattr(std, n)(text),
            lambda n=name: getattr(fs, n)(text),
        )
        if s_obj is not None:
            compare_object(f"{name}({text!r})", s_obj, getattr(fs, name)(text))
    agree(
        lambda: f"ip_network({text!r}, strict=False)",
        lambda: std.ip_network(text, strict=False),
        lambda: fs.ip_network(text, strict=False),
    )
    raw = bytes(data)
    if len(raw) >= 5:
        n = int.from_bytes(raw[:-1] if len(raw) <= 17 else raw[:16], "big")
        p = raw[-1]
        for version in (4, 6):
            check_numbers(version, n, p, raw)
        nets = [(b << 24, raw[(i + 1) % len(raw)] % 33) for i, b in enumerate(raw[:12])]
        agree(
            lambda: f"collapse {nets}",
            lambda: list(std.collapse_addresses(std.IPv4Network(x, strict=False) for x in nets)),
            lambda: list(fs.collapse_addresses(fs.IPv4Network(x, strict=False) for x in nets)),
        )
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
