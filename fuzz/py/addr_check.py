"""The addr_py fuzz target's checks: ferrosock's address functions against the stdlib's.

`check(data)`: the first byte selects one family of checks (its value modulo 6), the rest
is the payload:

0. `inet_aton` of the payload as text (latin-1), as bytes and as a bytearray;
1. `inet_pton` of those three, each with `AF_INET`, `AF_INET6` and the payload's first
   byte as the family number;
2. `inet_ntoa` of the payload whole and cut to 4 and 16 bytes, as bytes, bytearray,
   memoryview and text;
3. `inet_ntop` of those six, with `AF_INET` and `AF_INET6`;
4. `htons`/`ntohs` and 5. `htonl`/`ntohl` of integers made of the payload's first nine
   bytes (signed, shifted, masked to 16 and 32 bits) and of a float and a str.

Every call must give the stdlib's result, or an exception of the same class with the same
message (and the same `errno` for an OSError). An AssertionError here is a finding. One
family per input keeps an execution cheap (the fuzzer's coverage feedback then steers
between families); every family is reached by one byte of the input.
"""

import socket as std
import sys

import _native

sys.modules.setdefault("ferrosock._native", _native)
sys.path.insert(0, PYTHON_DIR)  # noqa: F821 - set by the fuzz target before this runs
import ferrosock as fs  # noqa: E402


def run(f, args):
    try:
        return (True, f(*args))
    except Exception as e:  # every exception is compared
        return (False, (type(e).__name__, str(e), getattr(e, "errno", None)))


def agree(name, *args):
    a, b = run(getattr(std, name), args), run(getattr(fs, name), args)
    assert a == b, f"{name}{args!r}: stdlib {a!r} ferrosock {b!r}"


def texts(raw):
    return (raw.decode("latin-1"), raw, bytearray(raw))


def packeds(raw):
    return (
        raw,
        raw[:4],
        raw[:16],
        bytearray(raw[:4]),
        memoryview(raw[:16]),
        raw.decode("latin-1")[:4],
    )


def integers(raw):
    n = int.from_bytes(raw[:9], "little", signed=True)
    return (n, n >> 40, n & 0xFFFF, n & 0xFFFFFFFF, float(n & 0xFF), str(n & 0xFF))


def check_aton(raw):
    for arg in texts(raw):
        agree("inet_aton", arg)


def check_pton(raw):
    for arg in texts(raw):
        for fam in (std.AF_INET, std.AF_INET6, raw[0] if raw else 0):
            agree("inet_pton", fam, arg)


def check_ntoa(raw):
    for packed in packeds(raw):
        agree("inet_ntoa", packed)


def check_ntop(raw):
    for packed in packeds(raw):
        agree("inet_ntop", std.AF_INET, packed)
        agree("inet_ntop", std.AF_INET6, packed)


def check_16(raw):
    for x in integers(raw):
        agree("htons", x)
        agree("ntohs", x)


def check_32(raw):
    for x in integers(raw):
        agree("htonl", x)
        agree("ntohl", x)


FAMILIES = (check_aton, check_pton, check_ntoa, check_ntop, check_16, check_32)


def check(data):
    raw = bytes(data)
    if raw:
        FAMILIES[raw[0] % len(FAMILIES)](raw[1:])
    else:
        for family in FAMILIES:
            family(raw)
