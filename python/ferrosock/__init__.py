"""ferrosock: Python's socket toolkit with the slow loops taken out of Python.

``import ferrosock as socket`` is a drop-in for the stdlib ``socket`` module: every public
name the stdlib module has on this platform is here with the same value (the very same
constants, enums, exception classes and name-resolution functions), ``ferrosock.socket`` is
a subclass of ``socket.socket``, and address packing runs in Rust.
"""

import socket as _std

from ferrosock import _native
from ferrosock._errors import FrameError as FrameError, IncompleteReadError as IncompleteReadError
from ferrosock._native import (
    htonl as htonl,
    htons as htons,
    inet_aton as inet_aton,
    inet_aton_many as inet_aton_many,
    inet_ntoa as inet_ntoa,
    inet_ntoa_many as inet_ntoa_many,
    inet_ntop as inet_ntop,
    inet_ntop_many as inet_ntop_many,
    inet_pton as inet_pton,
    inet_pton_many as inet_pton_many,
    ntohl as ntohl,
    ntohs as ntohs,
)
from ferrosock._socket_class import (
    create_connection as create_connection,
    create_server as create_server,
    fromfd as fromfd,
    socket as socket,
    socketpair as socketpair,
)
from ferrosock.server import (
    Connection as Connection,
    DatagramServer as DatagramServer,
    Server as Server,
    WorkerError as WorkerError,
)

# Every other name of the stdlib module, as the very same object: constants, enums,
# exceptions, the functions ferrosock has no reason to replace (name resolution is C
# calling libc already), the modules it imports (code does write `socket.errno.EPIPE`),
# and its private helpers too (`_GLOBAL_DEFAULT_TIMEOUT` is the default of
# `create_connection(timeout=...)` that wrappers pass through; `_socket`, the C module,
# and `_intenum_converter` are reached for by code that subclasses or patches `socket`).
# Read from the running interpreter's module, so what a version adds or drops follows;
# only the dunders that describe the module itself (`__name__`, `__file__`, ...) stay ours.
globals().update(
    {
        _name: _value
        for _name, _value in vars(_std).items()
        if not (_name.startswith("__") and _name.endswith("__")) and _name not in globals()
    }
)

__version__: str = _native.__version__

__all__ = [
    *_std.__all__,
    "Connection",
    "DatagramServer",
    "Server",
    "WorkerError",
    "FrameError",
    "IncompleteReadError",
    "inet_aton_many",
    "inet_ntoa_many",
    "inet_ntop_many",
    "inet_pton_many",
]
