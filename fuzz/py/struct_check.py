"""The struct_pack fuzz target's checks: ferrosock's native `Struct` against the stdlib's.

`check(data)`: the bytes before the first NUL are a format, the rest feeds values and
buffers. Every call must give what the stdlib gives: the same sizes, the same values (NaN
as NaN, -0.0 as -0.0), the same bytes, or an exception of the same class with the same
message. An AssertionError here is a finding.
"""

import math
import struct as std

import _native

FStruct = _native.Struct


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def run(f):
    try:
        return (True, f())
    except Exception as e:  # every exception is compared
        return (False, (type(e), str(e)))


def agree(what, f, g):
    """Runs f (stdlib) and g (ferrosock); asserts the same outcome; returns it. `what` makes
    the description, only for a failure (reprs of long records are slow)."""
    a, b = run(f), run(g)
    ok = a[0] and b[0] and same(a[1], b[1])
    both_failed_alike = not a[0] and not b[0] and a[1] == b[1]
    assert ok or both_failed_alike, f"{what()}: stdlib {a!r} ferrosock {b!r}"
    return a


def mutate(values, rest):
    """Values near the unpacked ones: off by one, out of range, of another type."""
    out = []
    for i, v in enumerate(values):
        k = rest[i % len(rest)] if rest else 0
        kind = k % 8
        if isinstance(v, bool):
            v = [v, not v, 2, None, 0.5, b"", [], v][kind]
        elif isinstance(v, int):
            v = [v, v + 1, v - 1, v + (1 << (k % 70)), -v - 1, float(v), str(v), None][kind]
        elif isinstance(v, float):
            v = [v, -v, v * 1e300, math.inf, math.nan, 65520.0, 3.4028236e38, 1][kind]
        elif isinstance(v, bytes):
            v = [v, v + b"x", v[:-1], b"", bytearray(v), "s", 1, b"\xff" * 300][kind]
        out.append(v)
    return out


def check(data):
    fmt_bytes, _, rest = bytes(data).partition(b"\0")
    try:
        fmt = fmt_bytes.decode("ascii")
    except UnicodeDecodeError:
        return
    ok, s = agree(
        lambda: f"Struct({fmt!r})", lambda: std.Struct(fmt).size, lambda: FStruct(fmt).size
    )
    if not ok:
        return
    ss, fs = std.Struct(fmt), FStruct(fmt)
    assert ss.format == fs.format, (ss.format, fs.format)
    if s > 1 << 16:
        return
    agree(lambda: f"{fmt!r}.unpack(rest)", lambda: ss.unpack(rest), lambda: fs.unpack(rest))
    buf = rest[:s].ljust(s, b"\0")
    values = agree(
        lambda: f"{fmt!r}.unpack({buf!r})", lambda: ss.unpack(buf), lambda: fs.unpack(buf)
    )[1]
    packed = agree(
        lambda: f"{fmt!r}.pack{values!r}", lambda: ss.pack(*values), lambda: fs.pack(*values)
    )
    if packed[0]:
        again = fs.unpack(packed[1])
        assert same(again, ss.unpack(packed[1])), (fmt, values, again)
    changed = mutate(values, rest)
    agree(lambda: f"{fmt!r}.pack{changed!r}", lambda: ss.pack(*changed), lambda: fs.pack(*changed))
    off = (rest[0] % 8) - 4 if rest else 0
    agree(
        lambda: f"{fmt!r}.unpack_from(rest, {off})",
        lambda: ss.unpack_from(rest, off),
        lambda: fs.unpack_from(rest, off),
    )
    a, b = bytearray(len(rest)), bytearray(len(rest))
    agree(
        lambda: f"{fmt!r}.pack_into(buf, {off}, ...)",
        lambda: ss.pack_into(a, off, *values),
        lambda: fs.pack_into(b, off, *values),
    )
    assert a == b, (fmt, a, b)
    if s:
        agree(
            lambda: f"{fmt!r}.iter_unpack(rest)",
            lambda: tuple(ss.iter_unpack(rest)),
            lambda: tuple(fs.iter_unpack(rest)),
        )
