"""The addr_py fuzz target's checks: ferrosock's address functions against the stdlib's.

`check(data)`: the input as text (latin-1) and as bytes goes to `inet_aton` and `inet_pton`;
its bytes, whole and cut to 4 and 16, to `inet_ntoa` and `inet_ntop`; integers made of them
(negative and too large ones too) to `htons`/`ntohs`/`htonl`/`ntohl`. Every call must give
the stdlib's result, or an exception of the same class with the same message (and the same
`errno` for an OSError). An AssertionError here is a finding.
"""

import socket as std
import sys

import _native

sys.modules.setdefault("ferrosock._native", _native)
sys.path.insert(0, PYTHON_DIR)  # noqa: F821 - set by the fuzz target before this runs
import ferrosock as fs  # noqa: E402


def run(f):
    try:
        return (True, f())
    except Exception as e:  # every exception is compared
        return (False, (type(e).__name__, str(e), getattr(e, "errno", None)))


def agree(what, f, g):
    a, b = run(f), run(g)
    assert a == b, f"{what()}: stdlib {a!r} ferrosock {b!r}"


def check(data):
    raw = bytes(data)
    text = raw.decode("latin-1")
    for arg in (text, raw, bytearray(raw)):
        agree(
            lambda a=arg: f"inet_aton({a!r})",
            lambda a=arg: std.inet_aton(a),
            lambda a=arg: fs.inet_aton(a),
        )
        for fam in (std.AF_INET, std.AF_INET6, raw[0] if raw else 0):
            agree(
                lambda a=arg, f=fam: f"inet_pton({f}, {a!r})",
                lambda a=arg, f=fam: std.inet_pton(f, a),
                lambda a=arg, f=fam: fs.inet_pton(f, a),
            )
    for packed in (raw, raw[:4], raw[:16], bytearray(raw[:4]), memoryview(raw[:16]), text[:4]):
        agree(
            lambda p=packed: f"inet_ntoa({p!r})",
            lambda p=packed: std.inet_ntoa(p),
            lambda p=packed: fs.inet_ntoa(p),
        )
        for fam in (std.AF_INET, std.AF_INET6):
            agree(
                lambda p=packed, f=fam: f"inet_ntop({f}, {p!r})",
                lambda p=packed, f=fam: std.inet_ntop(f, p),
                lambda p=packed, f=fam: fs.inet_ntop(f, p),
            )
    n = int.from_bytes(raw[:9], "little", signed=True)
    for x in (n, n >> 40, n & 0xFFFF, n & 0xFFFFFFFF, float(n & 0xFF), str(n & 0xFF)):
        for name in ("htons", "ntohs", "htonl", "ntohl"):
            agree(
                lambda v=x, nm=name: f"{nm}({v!r})",
                lambda v=x, nm=name: getattr(std, nm)(v),
                lambda v=x, nm=name: getattr(fs, nm)(v),
            )
