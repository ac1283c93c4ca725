"""ferrosock: Python's socket toolkit with the slow loops taken out of Python.

``import ferrosock as socket`` is a drop-in for the stdlib ``socket`` module: every public
name the stdlib module has on this platform is here with the same value (the very same
constants, enums, exception classes and name-resolution functions), ``ferrosock.socket`` is
a subclass of ``socket.socket``, and address packing runs in Rust.
"""

import socket as _std

# Every public name of the stdlib module, first: constants, enums, exceptions and the
# functions ferrosock has no reason to replace (name resolution is C calling libc already).
globals().update(
    {
        _name: _value
        for _name, _value in vars(_std).items()
        if not _name.startswith("_") and not isinstance(_value, type(_std))
    }
)

from ferrosock import _native  # noqa: E402
from ferrosock._native import (  # noqa: E402
    htonl,
    htons,
    inet_aton,
    inet_aton_many,
    inet_ntoa,
    inet_ntoa_many,
    inet_ntop,
    inet_ntop_many,
    inet_pton,
    inet_pton_many,
    ntohl,
    ntohs,
)
from ferrosock._errors import FrameError, IncompleteReadError  # noqa: E402
from ferrosock._socket import (  # noqa: E402
    create_connection,
    create_server,
    fromfd,
    socket,
    socketpair,
)

from ferrosock import framing  # noqa: E402  (ferrosock.framing after `import ferrosock`)

__version__: str = _native.__version__

__all__ = [
    *_std.__all__,
    "FrameError",
    "IncompleteReadError",
    "inet_aton_many",
    "inet_ntoa_many",
    "inet_ntop_many",
    "inet_pton_many",
]
