"""asyncio with ferrosock's native paths: streams whose reader cuts length-prefixed frames
natively (``open_connection``, ``start_server``, ...; see ``ferrosock._aiostreams``)."""

from __future__ import annotations

from ferrosock._aiostreams import (
    DEFAULT_LIMIT as DEFAULT_LIMIT,
    DEFAULT_MAX_FRAME as DEFAULT_MAX_FRAME,
    FrameError as FrameError,
    IncompleteReadError as IncompleteReadError,
    LimitOverrunError as LimitOverrunError,
    StreamReader as StreamReader,
    StreamWriter as StreamWriter,
    open_connection as open_connection,
    open_unix_connection as open_unix_connection,
    start_server as start_server,
    start_unix_server as start_unix_server,
)

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_FRAME",
    "FrameError",
    "IncompleteReadError",
    "LimitOverrunError",
    "StreamReader",
    "StreamWriter",
    "open_connection",
    "open_unix_connection",
    "start_server",
    "start_unix_server",
]
