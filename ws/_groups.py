"""Keep Trio's exception groups inside ws.

Under ``strict_exception_groups=True`` (Trio's default) every nursery wraps
what escapes it in an ``ExceptionGroup``. The public API promises the
documented exception types, so the functions that own a nursery unwrap a
group that holds a single exception and raise that exception itself, with
its own cause and traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["collapse_exception_groups", "single_exception"]


def single_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside ``group`` (however deeply nested), or ``None``."""
    while len(group.exceptions) == 1:
        inner = group.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        group = inner
    return None


@contextlib.contextmanager
def collapse_exception_groups() -> Iterator[None]:
    """Re-raise a group of one exception as that exception; leave other groups alone."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaf = single_exception(group)
        if leaf is None:
            raise
        cause = leaf.__cause__
        suppress = leaf.__suppress_context__
        try:
            raise leaf from cause
        finally:
            leaf.__suppress_context__ = suppress or cause is None
            del leaf, group
