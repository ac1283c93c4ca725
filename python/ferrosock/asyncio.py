"""asyncio with ferrosock's native paths.

``Server`` and ``DatagramServer`` are ``ferrosock.Server``/``DatagramServer`` run by the
running asyncio loop (their options, ``asyncio.Server``'s methods, ``async def`` handlers;
see ``ferrosock._aioserver``). ``open_connection``, ``start_server`` and the rest are
asyncio's streams over a reader that cuts length-prefixed frames natively (``read_frame``,
``write_frame``; see ``ferrosock._aiostreams``).
"""

from __future__ import annotations

from ferrosock._aioserver import DatagramServer as DatagramServer, Server as Server
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
    "DatagramServer",
    "FrameError",
    "IncompleteReadError",
    "LimitOverrunError",
    "Server",
    "StreamReader",
    "StreamWriter",
    "open_connection",
    "open_unix_connection",
    "start_server",
    "start_unix_server",
]
