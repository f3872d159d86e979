"""Keep Trio's exception groups inside ws.

Under ``strict_exception_groups=True`` (Trio's default) every nursery wraps
what escapes it in an ``ExceptionGroup``. The public API promises the
documented exception types, so the functions that own a nursery unwrap a
group that holds a single exception and raise that exception itself, with
its own cause and traceback.
"""

from __future__ import annotations

from types import TracebackType

__all__ = ["collapse_exception_groups", "single_exception"]


def single_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside ``group`` (however deeply nested), or ``None``."""
    while len(group.exceptions) == 1:
        inner = group.exceptions[0]
        if not isinstance(inner, BaseExceptionGroup):
            return inner
        group = inner
    return None


class collapse_exception_groups:  # noqa: N801 - used like contextlib.suppress
    """Re-raise a group of one exception as that exception; leave other groups alone.

    A context manager (``with collapse_exception_groups(): ...``). A class
    rather than a ``@contextmanager`` generator: every client connection
    enters one, and the generator machinery cost about 6% of a sequential
    connect + handshake + close (py-spy, in one process).
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not isinstance(exc, BaseExceptionGroup):
            return  # no exception, or not a group: it goes on as it is
        leaf = single_exception(exc)
        if leaf is None:
            return
        cause = leaf.__cause__
        suppress = leaf.__suppress_context__
        try:
            raise leaf from cause
        finally:
            leaf.__suppress_context__ = suppress or cause is None
            del leaf, exc
