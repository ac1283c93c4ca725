"""Address packing against the stdlib: same results, or the same exception and message."""

from __future__ import annotations

import array
import errno
import socket as std

import pytest
from hypothesis import example, given, strategies as st

import ferrosock as fs
from ferrosock import _native
from tests._oracle import assert_same

AF = [std.AF_INET, std.AF_INET6]

# --- strategies ---------------------------------------------------------------------------

WS = " \t\n\x0b\x0c\r"


@st.composite
def aton_like(draw):
    """Strings shaped like what inet_aton parses: 1-5 parts in decimal, octal or hex,
    sometimes out of range, sometimes followed by whitespace and junk."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        value = draw(st.one_of(st.integers(0, 255), st.integers(0, 2**33)))
        form = draw(st.sampled_from(["dec", "oct", "hex", "HEX", "raw"]))
        if form == "dec":
            parts.append(str(value))
        elif form == "oct":
            parts.append("0" + format(value, "o"))
        elif form in ("hex", "HEX"):
            text = format(value, "x" if form == "hex" else "X")
            parts.append(draw(st.sampled_from(["0x", "0X"])) + text)
        else:
            parts.append(draw(st.text("0123456789abcdefxX", min_size=0, max_size=4)))
    text = ".".join(parts)
    if draw(st.booleans()):
        text += draw(st.text(WS + "x.19\x00", max_size=4))
    return text


ipv6_text = st.binary(min_size=16, max_size=16).map(lambda b: std.inet_ntop(std.AF_INET6, b))


@st.composite
def colon_hex(draw):
    """Colon-hex text in every spelling glibc may meet: 0-9 groups of 0-5 hex digits in
    either case with leading zeros, and `::` anywhere (or twice), at the ends too; mostly
    valid, and invalid in every way the grammar can be broken."""
    groups = draw(st.lists(st.text("0123456789abcdefABCDEF", max_size=5), max_size=9))
    text = ":".join(groups)
    if draw(st.booleans()):
        i = draw(st.integers(0, len(text)))
        text = text[:i] + "::" + text[i:]
    return text


zero_run_v6_text = st.lists(
    st.sampled_from([0, 0, 0, 1, 0xA, 0xFFFF, 0x1234]), min_size=8, max_size=8
).map(lambda ws: std.inet_ntop(std.AF_INET6, b"".join(w.to_bytes(2, "big") for w in ws)))


@st.composite
def mutated(draw, base):
    """A valid address with a random edit: a char inserted, deleted or replaced."""
    text = draw(base)
    alphabet = "0123456789abcdefABCDEFxX:.% \x00g"
    if not text:
        return text
    i = draw(st.integers(0, len(text) - 1))
    op = draw(st.sampled_from(["ins", "del", "rep", "none"]))
    c = draw(st.sampled_from(alphabet))
    if op == "ins":
        return text[:i] + c + text[i:]
    if op == "del":
        return text[:i] + text[i + 1 :]
    if op == "rep":
        return text[:i] + c + text[i + 1 :]
    return text


ipv4_text = st.binary(min_size=4, max_size=4).map(std.inet_ntoa)
address_text = st.one_of(
    ipv4_text,
    ipv6_text,
    colon_hex(),
    zero_run_v6_text,
    mutated(ipv4_text),
    mutated(ipv6_text),
    mutated(zero_run_v6_text),
    aton_like(),
    st.text("0123456789abcdefABCDEF:.", max_size=45),
    st.text(max_size=20),
)
ints = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-5, 2**16 + 5),
    st.integers(2**31 - 5, 2**32 + 5),
    st.booleans(),
)

# --- single functions ---------------------------------------------------------------------


@given(aton_like())
def test_inet_aton_glibc_forms(text):
    assert_same(std.inet_aton, fs.inet_aton, text)


@given(address_text)
def test_inet_aton_any_text(text):
    assert_same(std.inet_aton, fs.inet_aton, text)


@given(st.sampled_from(AF), address_text)
@example(std.AF_INET, "1.2.3.4\x00")
@example(std.AF_INET6, "::ffff:1.2.3.4")
@example(std.AF_INET6, "1::2::3")
def test_inet_pton(af, text):
    assert_same(std.inet_pton, fs.inet_pton, af, text)


@given(st.sampled_from(AF), st.binary(max_size=20))
def test_inet_ntop(af, packed):
    assert_same(std.inet_ntop, fs.inet_ntop, af, packed)


@given(st.binary(min_size=16, max_size=16))
def test_inet_ntop_v6_round_trip(packed):
    text = assert_same(std.inet_ntop, fs.inet_ntop, std.AF_INET6, packed)
    assert fs.inet_pton(std.AF_INET6, text) == packed


@st.composite
def zero_heavy_v6(draw):
    """IPv6 addresses made of zero and 0xffff words: the `::` and IPv4-mapped/compatible
    formatting rules of glibc's inet_ntop all live there."""
    words = draw(st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x102]), min_size=8, max_size=8))
    return b"".join(w.to_bytes(2, "big") for w in words)


@given(zero_heavy_v6())
def test_inet_ntop_zero_runs(packed):
    assert_same(std.inet_ntop, fs.inet_ntop, std.AF_INET6, packed)


@given(st.binary(max_size=8))
def test_inet_ntoa(packed):
    assert_same(std.inet_ntoa, fs.inet_ntoa, packed)


@pytest.mark.parametrize("name", ["htons", "ntohs", "htonl", "ntohl"])
@given(value=ints)
def test_byte_order_functions(name, value):
    assert_same(getattr(std, name), getattr(fs, name), value)


# --- edge-case tables ---------------------------------------------------------------------

ATON_TABLE = [
    "127.0.0.1",
    "127.1",
    "0x7f.1",
    "0x7F.0.0.1",
    "0177.0.0.1",
    "08.0.0.1",
    "1.2.3.08",
    "1.2.65535",
    "1.16777215",
    "4294967295",
    "4294967296",
    "0x",
    "0x.1",
    "0xg",
    "00",
    "1.2.3.4 junk",
    "1.2.3.4\tjunk",
    "1.2.3.4\n",
    "1.2.3.4\x0b",
    "1.2.3.4x",
    "1.2.3.4.",
    "1.2.3.4.5",
    " 1.2.3.4",
    "+1.2.3.4",
    "-1",
    "",
    ".",
    "1..2",
    "999999999999999999999",
    "0xffffffff",
    "0x100000000",
    "1.2.3.256",
    "256.1",
    "1.2.3.4 \x00",
    "1.2.3.4\x00",
    "١.٢.٣.٤",  # noqa: RUF001 - non-ASCII digits must be refused
    "1.2.3.4\u00a0",
    "\ud800",
]


@pytest.mark.parametrize("text", ATON_TABLE)
def test_inet_aton_table(text):
    assert_same(std.inet_aton, fs.inet_aton, text)


PTON_TABLE = (
    [
        (std.AF_INET, t)
        for t in [
            "1.2.3.4",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "256.0.0.0",
            "0.0.0.0",
            "1.2.3.04",
            "1.2.3.4 ",
            "",
            "\x00",
        ]
    ]
    + [
        (std.AF_INET6, t)
        for t in [
            "::",
            "::1",
            ":::",
            "1:",
            ":1",
            "1::",
            "1::2::3",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7::",
            "::1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8::",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::ffff:1.2.3",
            "::ffff:01.2.3.4",
            "12345::",
            "fe80::1%eth0",
            "FE80::ABCD",
            "1.2.3.4",
            "::a.2.3.4",
            "::1234.1.1.1",
            "0:0:0:0:0:0:0:0",
            "",
            "\x00",
        ]
    ]
    + [(99, "1.2.3.4"), (99, "1\x00"), (-1, "::")]
)


@pytest.mark.parametrize(("af", "text"), PTON_TABLE)
def test_inet_pton_table(af, text):
    assert_same(std.inet_pton, fs.inet_pton, af, text)


NTOP6_TABLE = [
    "::",
    "::1",
    "::ffff:1.2.3.4",
    "::1.2.3.4",
    "::ffff:0:0",
    "1::",
    "1:0:0:1:0:0:0:1",
    "1:0:0:2:0:0:3:4",
    "0:1::",
    "::2:0:0:0:0:0",
    "1:2:3:4:5:6:7:8",
    "fe80::1",
    "::0.0.1.2",
    "0:0:0:0:0:ffff:0:1",
    "::ffff:0:0:1",
]


@pytest.mark.parametrize("text", NTOP6_TABLE)
def test_inet_ntop_v6_table(text):
    packed = std.inet_pton(std.AF_INET6, text)
    assert_same(std.inet_ntop, fs.inet_ntop, std.AF_INET6, packed)


# --- argument types -----------------------------------------------------------------------


class Index:
    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value


BUFFERS = [
    b"\x01\x02\x03\x04",
    bytearray(b"\x01\x02\x03\x04"),
    memoryview(b"\x00\x01\x02\x03\x04")[1:],
    array.array("I", [0x04030201]),
    array.array("b", [1, 2, 3, 4]),
]


@pytest.mark.parametrize("buf", BUFFERS, ids=lambda b: type(b).__name__)
def test_bytes_like_arguments(buf):
    assert_same(std.inet_ntoa, fs.inet_ntoa, buf)
    assert_same(std.inet_ntop, fs.inet_ntop, std.AF_INET, buf)


@pytest.mark.parametrize("bad", ["1.2.3.4", 1234, None, [1, 2, 3, 4], memoryview(b"12345678")[::2]])
def test_non_buffer_arguments(bad):
    assert_same(std.inet_ntoa, fs.inet_ntoa, bad)
    assert_same(std.inet_ntop, fs.inet_ntop, std.AF_INET, bad)


@pytest.mark.parametrize("bad", [b"1.2.3.4", bytearray(b"1.2.3.4"), 1, None])
def test_string_arguments_must_be_str(bad):
    assert_same(std.inet_aton, fs.inet_aton, bad)
    assert_same(std.inet_pton, fs.inet_pton, std.AF_INET, bad)


@pytest.mark.parametrize("af", [Index(int(std.AF_INET)), True, 2.0, "2", None, 2**40])
def test_family_argument(af):
    assert_same(std.inet_pton, fs.inet_pton, af, "1.2.3.4")
    assert_same(std.inet_ntop, fs.inet_ntop, af, b"\x01\x02\x03\x04")


@pytest.mark.parametrize("value", [Index(5), Index(-1), 5.0, "5", None, Index(2**40)])
def test_integer_protocols(value):
    for name in ("htons", "ntohs", "htonl", "ntohl"):
        assert_same(getattr(std, name), getattr(fs, name), value)


@pytest.mark.parametrize(
    "name", ["inet_aton", "inet_ntoa", "inet_pton", "inet_ntop", "htons", "htonl"]
)
def test_arguments_are_positional_only(name):
    with pytest.raises(TypeError):
        getattr(fs, name)(x=1)
    with pytest.raises(TypeError):
        getattr(fs, name)()


# --- batch forms --------------------------------------------------------------------------


@given(st.lists(ipv4_text, max_size=50))
def test_inet_aton_many_matches_the_comprehension(items):
    expected = b"".join(std.inet_aton(s) for s in items)
    assert fs.inet_aton_many(items) == expected
    assert fs.inet_aton_many(tuple(items)) == expected
    assert fs.inet_aton_many(iter(items)) == expected
    assert fs.inet_aton_many(s for s in items) == expected


@given(st.sampled_from(AF), st.lists(st.binary(min_size=16, max_size=16), max_size=30))
def test_pton_ntop_many_match_the_comprehension(af, raw):
    size = 4 if af == std.AF_INET else 16
    packed = b"".join(r[:size] for r in raw)
    texts = [std.inet_ntop(af, packed[i : i + size]) for i in range(0, len(packed), size)]
    assert fs.inet_ntop_many(af, packed) == texts
    assert fs.inet_ntop_many(af, bytearray(packed)) == texts
    assert fs.inet_pton_many(af, texts) == packed
    if af == std.AF_INET:
        assert fs.inet_ntoa_many(packed) == texts
        assert fs.inet_ntoa_many(memoryview(packed)) == texts


@given(st.lists(st.one_of(colon_hex(), zero_run_v6_text), max_size=30))
def test_inet_pton_many_v6_matches_the_comprehension(items):
    outcomes = []
    for s in items:
        try:
            outcomes.append(std.inet_pton(std.AF_INET6, s))
        except OSError as exc:
            outcomes.append(exc)
    first_bad = next((i for i, o in enumerate(outcomes) if isinstance(o, Exception)), None)
    for form in (list, tuple, iter):
        if first_bad is None:
            assert fs.inet_pton_many(std.AF_INET6, form(items)) == b"".join(outcomes)
        else:
            with pytest.raises(OSError) as info:
                fs.inet_pton_many(std.AF_INET6, form(items))
            assert str(info.value) == f"{outcomes[first_bad]} (at index {first_bad})"


@given(st.lists(address_text, min_size=1, max_size=20))
def test_inet_aton_many_bad_item_reports_its_index(items):
    outcomes = []
    for s in items:
        try:
            outcomes.append(std.inet_aton(s))
        except Exception as exc:
            outcomes.append(exc)
    first_bad = next((i for i, o in enumerate(outcomes) if isinstance(o, Exception)), None)
    if first_bad is None:
        assert fs.inet_aton_many(items) == b"".join(outcomes)
        return
    expected = outcomes[first_bad]
    with pytest.raises(type(expected)) as info:
        fs.inet_aton_many(items)
    assert str(info.value) == f"{expected} (at index {first_bad})"


def test_batch_errors_keep_the_single_form_class():
    with pytest.raises(
        OSError, match=r"illegal IP address string passed to inet_pton \(at index 1\)"
    ):
        fs.inet_pton_many(std.AF_INET6, ["::1", "nope", "::2"])
    with pytest.raises(TypeError, match=r"must be str, not bytes \(at index 0\)"):
        fs.inet_aton_many([b"1.2.3.4"])
    with pytest.raises(OSError) as info:
        fs.inet_pton_many(99, ["1.2.3.4"])
    assert info.value.errno == errno.EAFNOSUPPORT
    with pytest.raises(ValueError, match="unknown address family 99"):
        fs.inet_ntop_many(99, b"")
    with pytest.raises(TypeError):
        fs.inet_aton_many(5)


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (fs.inet_ntoa_many, (b"12345",)),
        (fs.inet_ntop_many, (std.AF_INET, b"1234567")),
        (fs.inet_ntop_many, (std.AF_INET6, b"\x00" * 17)),
    ],
)
def test_ragged_buffers_are_value_errors(fn, args):
    with pytest.raises(ValueError, match="not a multiple of the address size"):
        fn(*args)


def test_empty_batches():
    assert fs.inet_aton_many([]) == b""
    assert fs.inet_ntoa_many(b"") == []
    assert fs.inet_pton_many(std.AF_INET6, []) == b""
    assert fs.inet_ntop_many(std.AF_INET6, b"") == []


# --- the interpreter's argument rules ------------------------------------------------------
# CPython 3.13 moved `_socket`'s functions to Argument Clinic, which changed two messages.
# ferrosock picks the rule set by probing the running stdlib (rust/addr/rules.rs); the
# differential tests above check the probed set, these pin both sets on any interpreter.

GETARGS_SHORT_INT = {
    2**31: "signed integer is greater than maximum",
    -(2**31) - 1: "signed integer is less than minimum",
    2**40: "signed integer is greater than maximum",
    -(2**40): "signed integer is less than minimum",
    2**70: "Python int too large to convert to C long",
    -(2**70): "Python int too large to convert to C long",
}
CLINIC_SHORT_INT = dict.fromkeys(GETARGS_SHORT_INT, "Python int too large to convert to C int")
ATON_STR = {
    "getargs": "inet_aton() argument 1 must be str, not {}",
    "clinic": "inet_aton() argument must be str, not {}",
}


@pytest.fixture
def force_rules():
    """Sets `_native._set_addr_rules` for one test and goes back to the probed rules."""
    yield _native._set_addr_rules
    _native._set_addr_rules(None, None)


def stdlib_message(fn, *args):
    try:
        fn(*args)
    except Exception as exc:
        return str(exc)
    raise AssertionError("the stdlib accepted it")


def test_probed_rules_are_the_running_stdlibs():
    short_int = {
        GETARGS_SHORT_INT[2**31]: "getargs",
        CLINIC_SHORT_INT[2**31]: "clinic",
    }[stdlib_message(std.htons, 2**31)]
    aton_str = {
        ATON_STR["getargs"].format("None"): "getargs",
        ATON_STR["clinic"].format("None"): "clinic",
    }[stdlib_message(std.inet_aton, None)]
    assert _native._addr_rules() == (short_int, aton_str)


@pytest.mark.parametrize("parser", ["getargs", "clinic"])
@pytest.mark.parametrize("name", ["htons", "ntohs"])
def test_short_int_rules_pinned(force_rules, parser, name):
    force_rules(parser, None)
    assert _native._addr_rules()[0] == parser
    fn = getattr(fs, name)
    table = GETARGS_SHORT_INT if parser == "getargs" else CLINIC_SHORT_INT
    for value, message in table.items():
        for arg in (value, Index(value)):
            with pytest.raises(OverflowError) as info:
                fn(arg)
            assert str(info.value) == message, (arg, parser)
    # What both parsers agree on: the 16-bit range check after the C int conversion, the
    # integer protocol's TypeError, and the results.
    with pytest.raises(OverflowError, match=f"^{name}: can't convert negative Python int"):
        fn(-1)
    with pytest.raises(OverflowError, match=f"^{name}: Python int too large to convert to C 16"):
        fn(2**16)
    with pytest.raises(TypeError, match=r"^'float' object cannot be interpreted as an integer$"):
        fn(1.0)
    assert fn(0x1234) == fn(Index(0x1234)) == std.htons(0x1234)
    assert fn(True) == std.htons(1)


@pytest.mark.parametrize("parser", ["getargs", "clinic"])
@pytest.mark.parametrize("bad", [b"1.2.3.4", bytearray(b"1"), 1, None])
def test_aton_str_rules_pinned(force_rules, parser, bad):
    force_rules(None, parser)
    assert _native._addr_rules()[1] == parser
    name = "None" if bad is None else type(bad).__name__
    expected = ATON_STR[parser].format(name)
    with pytest.raises(TypeError) as info:
        fs.inet_aton(bad)
    assert str(info.value) == expected
    with pytest.raises(TypeError) as info:
        fs.inet_aton_many(["1.2.3.4", bad])
    assert str(info.value) == f"{expected} (at index 1)"
    # inet_pton still goes through PyArg_ParseTuple on every interpreter: numbered.
    with pytest.raises(TypeError, match=rf"^inet_pton\(\) argument 2 must be str, not {name}$"):
        fs.inet_pton(std.AF_INET, bad)
    assert fs.inet_aton("1.2.3.4") == b"\x01\x02\x03\x04"


def test_rules_refuse_unknown_names(force_rules):
    before = _native._addr_rules()
    with pytest.raises(ValueError, match="unknown argument parser"):
        force_rules("argparse", None)
    assert _native._addr_rules() == before


def test_byte_order_functions_are_meth_o_like_the_stdlibs():
    # One C-level argument, positional only, as the stdlib's (METH_O since 3.13).
    for name in ("htons", "ntohs", "htonl", "ntohl"):
        fn = getattr(fs, name)
        assert type(fn) is type(std.htons)
        with pytest.raises(TypeError, match="takes no keyword arguments"):
            fn(x=1)
        with pytest.raises(TypeError, match=r"takes exactly one argument \(2 given\)"):
            fn(1, 2)
