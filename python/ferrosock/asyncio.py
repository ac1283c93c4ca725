"""asyncio integration: ferrosock's native servers run by a running asyncio loop.

``ferrosock.asyncio.Server`` and ``DatagramServer`` have the options of ``ferrosock.Server``
and ``ferrosock.DatagramServer`` and the methods of ``asyncio.Server``; their handlers may
be ``async def``.
"""

from ferrosock._aioserver import DatagramServer, Server

__all__ = ["DatagramServer", "Server"]
