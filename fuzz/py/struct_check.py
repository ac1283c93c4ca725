"""The struct_pack fuzz target's checks: ferrosock's native `Struct` against the stdlib's.

`check(data)`: the first byte selects a family of checks (its value modulo 4), the bytes
after it up to the first NUL are a format, the rest feeds values and buffers. Every input
compiles the format with both (the same size and `format`, or the same exception), then,
for records of at most 4096 bytes (MAX_SIZE):

0. round trip: `unpack` of the rest and of the rest cut or padded to the size; those values
   pack back to the same bytes, which unpack to them again;
1. wrong values: the unpacked values, some made off by one, out of range or of another type
   (the first 64 values; the rest stay as unpacked), pack to the same bytes or exception;
2. offsets: `unpack_from` of the rest and `pack_into` a buffer of its length, at an offset
   from -4 to 3, give the same values, bytes or exception;
3. iteration: `iter_unpack` of the rest.

Every call must give what the stdlib gives: the same sizes, the same values (NaN as NaN,
-0.0 as -0.0), the same bytes, or an exception of the same class with the same message. An
AssertionError here is a finding. One family per input keeps an execution cheap (the
fuzzer's coverage feedback then steers between families); every family is one byte away.
"""

import math
import struct as std
import sys
from itertools import chain, compress, repeat
from operator import is_, not_

import _native

# Through the facade, as users import it: its import tells the native side which of the
# running stdlib's rules (error messages that changed in 3.12, ...) to follow. `_native`
# alone keeps 3.11's, and differs from a 3.12 or 3.13 stdlib.
sys.modules.setdefault("ferrosock._native", _native)
sys.path.insert(0, PYTHON_DIR)  # noqa: F821 - set by the fuzz target before this runs
from ferrosock import struct as fstruct  # noqa: E402

FStruct = fstruct.Struct
MUTATED = 64  # values that `mutate` changes; packing stops at the first bad one anyway
# Larger records are only compiled: a 50,000-value record costs milliseconds to unpack and
# compare, and the codec's paths (code by code past 256 values) are all reached below this.
MAX_SIZE = 4096


def same(a, b):
    """Values alike: the same types, equal, NaN as NaN, -0.0 as -0.0. Records (tuples,
    and tuples of them from `iter_unpack`) are compared in C: types element by element,
    then `==`, the floats among them by their reprs (which tell NaN and -0.0 apart and
    round-trip)."""
    if type(a) is not type(b):
        return False
    if type(a) is not tuple:
        return a == b if type(a) is not float else repr(a) == repr(b)
    if a and type(a[0]) is tuple:  # iter_unpack's records
        if tuple(map(len, a)) != tuple(map(len, b)):
            return False
        a, b = tuple(chain.from_iterable(a)), tuple(chain.from_iterable(b))
    types = tuple(map(type, a))
    if types != tuple(map(type, b)):
        return False
    if float not in types:
        return a == b
    floats = tuple(map(is_, types, repeat(float)))
    others = tuple(map(not_, floats))
    return tuple(compress(a, others)) == tuple(compress(b, others)) and repr(
        tuple(compress(a, floats))
    ) == repr(tuple(compress(b, floats)))


def run(f, args):
    try:
        return (True, f(*args))
    except Exception as e:  # every exception is compared
        return (False, (type(e), str(e)))


def agree(what, f, g, *args):
    """Runs f (stdlib) and g (ferrosock) on args; asserts the same outcome; returns it."""
    a, b = run(f, args), run(g, args)
    if a[0] and b[0]:
        ok = same(a[1], b[1])
    else:
        ok = a == b
    assert ok, f"{what}{args!r}: stdlib {a!r} ferrosock {b!r}"
    return a


def mutate(values, rest):
    """Values near the unpacked ones: off by one, out of range, of another type."""
    out = list(values)
    for i, v in enumerate(values[:MUTATED]):
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
        out[i] = v
    return out


def unpacked(fmt, ss, fs, s, rest):
    """The values of the rest cut or padded to the size, alike from both (or None where
    both fail alike: the stdlib's `0p` raises SystemError)."""
    ok, values = agree(f"{fmt!r}.unpack", ss.unpack, fs.unpack, rest[:s].ljust(s, b"\0"))
    return values if ok else None


def check_round_trip(fmt, ss, fs, s, rest):
    agree(f"{fmt!r}.unpack", ss.unpack, fs.unpack, rest)
    values = unpacked(fmt, ss, fs, s, rest)
    if values is None:
        return
    packed = agree(f"{fmt!r}.pack", ss.pack, fs.pack, *values)
    if packed[0]:
        again = fs.unpack(packed[1])
        assert same(again, ss.unpack(packed[1])), (fmt, values, again)


def check_wrong_values(fmt, ss, fs, s, rest):
    values = unpacked(fmt, ss, fs, s, rest)
    if values is None:
        return
    changed = mutate(values, rest)
    agree(f"{fmt!r}.pack", ss.pack, fs.pack, *changed)


def check_offsets(fmt, ss, fs, s, rest):
    off = (rest[0] % 8) - 4 if rest else 0
    agree(f"{fmt!r}.unpack_from", ss.unpack_from, fs.unpack_from, rest, off)
    values = unpacked(fmt, ss, fs, s, rest)
    if values is None:
        return
    a, b = bytearray(len(rest)), bytearray(len(rest))
    agree(
        f"{fmt!r}.pack_into",
        lambda *v: ss.pack_into(a, off, *v),
        lambda *v: fs.pack_into(b, off, *v),
        *values,
    )
    assert a == b, (fmt, a, b)


def check_iteration(fmt, ss, fs, s, rest):
    if s:
        agree(
            f"{fmt!r}.iter_unpack",
            lambda r: tuple(ss.iter_unpack(r)),
            lambda r: tuple(fs.iter_unpack(r)),
            rest,
        )


FAMILIES = (check_round_trip, check_wrong_values, check_offsets, check_iteration)


def check(data):
    data = bytes(data)
    family = FAMILIES[data[0] % len(FAMILIES)] if data else check_round_trip
    fmt_bytes, _, rest = data[1:].partition(b"\0")
    try:
        fmt = fmt_bytes.decode("ascii")
    except UnicodeDecodeError:
        return
    ok, s = agree("Struct", lambda f: std.Struct(f).size, lambda f: FStruct(f).size, fmt)
    if not ok:
        return
    ss, fs = std.Struct(fmt), FStruct(fmt)
    assert ss.format == fs.format, (ss.format, fs.format)
    if s > MAX_SIZE:
        return
    family(fmt, ss, fs, s, rest)
