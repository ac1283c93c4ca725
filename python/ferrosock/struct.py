"""A drop-in for the stdlib ``struct`` module, implemented in Rust.

``from ferrosock import struct`` gives the same functions, the same ``Struct`` class and the
very same ``error`` class (``ferrosock.struct.error is struct.error``), with the behaviour of
the running interpreter's ``_struct``: format language, native sizes and alignment, value
range checks, ``__index__``, half floats, Pascal strings, buffer handling and error messages.
Compiled formats used by the module-level functions are cached the same way (``_clearcache``
empties the cache).

Where CPython releases differ (range error wording, empty ``0p`` fields, Argument Clinic's
keyword errors, ``repr(Struct)``), ``_probe_rules`` asks the stdlib's ``_struct`` once, at
import, and hands the answers to the native side (``rust/structfmt/rules.rs``).

Beyond the stdlib, ``Struct`` has two batch methods:

- ``Struct.pack_many(records) -> bytes``: ``b''.join(s.pack(*r) for r in records)``.
- ``Struct.unpack_many(buffer) -> list[tuple]``: ``list(s.iter_unpack(buffer))``.

A bad record raises what the single form would, with `` (at index N)`` added to the
message; nothing partial is returned.
"""

import _struct
import sys as _sys
from struct import error
from typing import Any as _Any

from ferrosock import _native

#: A keyword no function takes, for the probe of the unknown-keyword message.
_PROBE_KEYWORD = "ferrosock_probe"

#: CPython 3.11's unknown-keyword message, if the probe's message is not of a known shape.
_KEYWORD_FALLBACK = "'{name}' is an invalid keyword argument for {fname}()"


class _Huge:
    """An object whose ``__index__`` overflows every integer format."""

    def __index__(self) -> int:
        return 2**64


def _raised(call: _Any) -> BaseException | None:
    try:
        call()
    except Exception as exc:
        return exc
    return None


def _probe_rules(std: _Any = _struct) -> dict[str, _Any]:
    """The rule set of ``std`` (a ``struct`` module): one answer, taken from its behaviour,
    per question on which CPython releases differ; the keyword arguments of
    ``_native.struct_set_rules`` (``rust/structfmt/rules.rs`` says what each means)."""
    # Standard-size 'q' in the order that is not the host's goes through
    # _PyLong_AsByteArray, whose OverflowError 3.11 let through.
    foreign = ">" if _sys.byteorder == "little" else "<"
    keyword = _raised(lambda: std.Struct("h").unpack_from(b"\0\0", **{_PROBE_KEYWORD: 0}))
    template = str(keyword).replace(_PROBE_KEYWORD, "{name}").replace("unpack_from", "{fname}")
    if "{name}" not in template or "{fname}" not in template:
        template = _KEYWORD_FALLBACK
    return {
        "named_small_ranges": str(_raised(lambda: std.pack("b", 128))).startswith("byte "),
        "overflow_out_of_range": str(_raised(lambda: std.pack("b", 2**64)))
        == "argument out of range",
        "std_long_long_overflow_propagates": isinstance(
            _raised(lambda: std.pack(foreign + "q", _Huge())), OverflowError
        ),
        "empty_pascal_length": std.pack("0px", b"")[0],
        "empty_pascal_unpacks": _raised(lambda: std.unpack("0p", b"")) is None,
        "unexpected_keyword": template,
        "repr_shows_format": repr(std.Struct("i")) == "Struct('i')",
    }


_native.struct_set_rules(**_probe_rules())

Struct = _native.Struct
calcsize = _native.struct_calcsize
iter_unpack = _native.struct_iter_unpack
pack = _native.struct_pack
pack_into = _native.struct_pack_into
unpack = _native.struct_unpack
unpack_from = _native.struct_unpack_from
_clearcache = _native.struct_clearcache
del _native

__all__ = [
    "Struct",
    "calcsize",
    "error",
    "iter_unpack",
    "pack",
    "pack_into",
    "unpack",
    "unpack_from",
]
