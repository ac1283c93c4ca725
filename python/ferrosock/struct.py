"""A drop-in for the stdlib ``struct`` module, implemented in Rust.

``from ferrosock import struct`` gives the same functions, the same ``Struct`` class and the
very same ``error`` class (``ferrosock.struct.error is struct.error``), with the behaviour of
CPython 3.11's ``_struct``: format language, native sizes and alignment, value range checks,
``__index__``, half floats, Pascal strings, buffer handling and error messages. Compiled
formats used by the module-level functions are cached the same way (``_clearcache`` empties
the cache).

Beyond the stdlib, ``Struct`` has two batch methods:

- ``Struct.pack_many(records) -> bytes``: ``b''.join(s.pack(*r) for r in records)``.
- ``Struct.unpack_many(buffer) -> list[tuple]``: ``list(s.iter_unpack(buffer))``.

A bad record raises what the single form would, with `` (at index N)`` added to the
message; nothing partial is returned.
"""

from struct import error

from ferrosock import _native

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
