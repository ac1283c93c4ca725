"""Exceptions of ferrosock's socket loops.

Both subclass the stdlib class they stand in for, so existing ``except EOFError`` /
``except ValueError`` clauses keep working; the native code raises these very classes.
"""

from __future__ import annotations

__all__ = ["FrameError", "IncompleteReadError"]


class IncompleteReadError(EOFError):
    """The stream ended before the requested number of bytes arrived.

    ``partial`` holds the bytes that were received (and so consumed from the socket) before
    the end of the stream, ``expected`` the number that was asked for. Same shape as
    ``asyncio.IncompleteReadError``.
    """

    def __init__(self, partial: bytes, expected: int | None) -> None:
        r_expected = "undefined" if expected is None else repr(expected)
        super().__init__(f"{len(partial)} bytes read on a total of {r_expected} expected bytes")
        self.partial = partial
        self.expected = expected

    def __reduce__(self) -> tuple[type[IncompleteReadError], tuple[bytes, int | None]]:
        return type(self), (self.partial, self.expected)


class FrameError(ValueError):
    """A length-prefixed frame could not be accepted: its declared length exceeds the
    reader's ``max_size``. The stream's framing is lost after it; stop reading it."""


IncompleteReadError.__module__ = "ferrosock"
FrameError.__module__ = "ferrosock"
