"""The differential oracle: run the stdlib and ferrosock on the same input and demand the
same outcome: equal results of the same type, or the same exception class and message."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except Exception as exc:
        return "raise", exc


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    return type(a) is type(b) and a == b


def assert_same(
    std_fn: Callable[..., Any],
    fs_fn: Callable[..., Any],
    *args: Any,
    check_message: bool = True,
    **kwargs: Any,
) -> Any:
    """Asserts both calls agree; returns the stdlib's result (or exception)."""
    kind_a, a = outcome(std_fn, *args, **kwargs)
    kind_b, b = outcome(fs_fn, *args, **kwargs)
    assert kind_a == kind_b, f"{args!r}: stdlib {kind_a} {a!r}, ferrosock {kind_b} {b!r}"
    if kind_a == "ok":
        assert _equal(a, b), f"{args!r}: stdlib {a!r}, ferrosock {b!r}"
    else:
        assert type(a) is type(b), f"{args!r}: stdlib {a!r}, ferrosock {b!r}"
        if check_message:
            assert str(a) == str(b), f"{args!r}: stdlib {a!r}, ferrosock {b!r}"
        if isinstance(a, OSError):
            assert a.errno == b.errno
    return a
