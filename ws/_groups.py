"""Keep Trio's exception groups inside ws.

Under ``strict_exception_groups=True`` (Trio's default) every nursery wraps
what escapes it in an ``ExceptionGroup``. The public API promises the
documented exception types, so the functions that own a nursery unwrap a
group that holds a single exception and raise that exception itself, with
its own cause, context and traceback: a user's ``raise X from Y`` keeps
``Y``, and an exception raised while handling another keeps that one as
its ``__context__``, not the group.
"""

from __future__ import annotations

from types import TracebackType

import trio

__all__ = ["collapse_exception_groups", "single_exception"]


def single_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside ``group`` (however deeply nested), or ``None``.

    :class:`trio.Cancelled` exceptions next to one other exception do not
    count: that one is raised, and it leaves every cancelled scope on its
    way anyway. This is how an exception raised in a ``finally:`` while the
    block is cancelled gets out, next to the Cancelled of the reader task
    (trio issue 1559). A group of Cancelled alone is one Cancelled.
    """
    leaves = _leaves(group)
    errors = [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]
    if len(errors) == 1:
        return errors[0]
    if not errors:
        return leaves[0]
    return None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for child in group.exceptions:
        if isinstance(child, BaseExceptionGroup):
            leaves.extend(_leaves(child))
        else:
            leaves.append(child)
    return leaves


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
        # Raising it here would make the group its __context__ (the group is
        # being handled): put its own back. A bare raise keeps __cause__ and
        # __suppress_context__ as they are.
        context = leaf.__context__
        try:
            raise leaf
        finally:
            leaf.__context__ = context
            del leaf, exc, context
