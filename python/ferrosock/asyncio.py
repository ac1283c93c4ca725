"""asyncio integration: ferrosock's native servers run by a running asyncio loop.

``ferrosock.asyncio.Server`` has ``ferrosock.Server``'s options and ``asyncio.Server``'s
methods; its handlers may be ``async def``.
"""

from ferrosock._aioserver import Server

__all__ = ["Server"]
