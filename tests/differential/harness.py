"""Run one scenario on trio-websocket 0.12.2 and on ws, and compare what each observed.

A scenario is written once, against the API the two libraries share, and
takes the library's module as ``lib``::

    @scenario(uses=["open_websocket", "WebSocketConnection.send_message"])
    async def test_echo_round_trip(lib: Lib, seen: Observations) -> None:
        ...
        seen["echo"] = await connection.get_message()
        with seen.raises("send after close"):
            await connection.send_message("late")

:func:`scenario` makes it a test that runs it on trio-websocket, then on
ws, each in a fresh Trio run, and asserts that every observation is equal
once made library-neutral (:func:`neutral`): exceptions become the
trio-websocket exception names they are instances of plus their message,
close reasons and endpoints their text forms. An observation that differs
on purpose names its entry of :data:`tests.differential.divergences.DIVERGENCES`
(``diverges={"key": "id"}``); the test then asserts that it does differ,
and in the documented way.

``uses`` lists the trio-websocket names the scenario exercises;
``test_coverage.py`` checks that the scenarios together use every public
name of trio-websocket 0.12.2 (and every public attribute of its classes).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import types
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Final

import attrs
import pytest
import trio
import trio.testing

from tests.differential.divergences import DIVERGENCES

#: trio-websocket's exception classes, by which observations name exceptions.
EXCEPTION_NAMES: Final = (
    "HandshakeError",
    "ConnectionTimeout",
    "DisconnectionTimeout",
    "ConnectionClosed",
    "ConnectionRejected",
)
#: Built-in exception classes an observation may name.
BUILTIN_EXCEPTIONS: Final = (
    TypeError,
    ValueError,
    RuntimeError,
    OSError,
    KeyError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    trio.TooSlowError,
)

#: Every scenario registered so far: name -> the trio-websocket names it uses.
USES: dict[str, frozenset[str]] = {}
#: Every divergence some scenario asserts.
ASSERTED_DIVERGENCES: set[str] = set()

Scenario = Callable[["Lib", "Observations"], Awaitable[None]]


@attrs.frozen
class Lib:
    """One of the two libraries: its import name and module."""

    name: str
    mod: types.ModuleType

    @property
    def is_ws(self) -> bool:
        """Whether this is ws (not trio-websocket)."""
        return self.name == "ws"


def load(name: str) -> Lib:
    """Import a library, or skip the test with how to get it."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        pytest.skip(
            f"{name} is not installed: run scripts/install-peers "
            "(or pip install trio-websocket==0.12.2) for the differential suite"
        )
    return Lib(name, module)


def neutral(lib: Lib, value: object) -> object:
    """``value`` in a form that can be compared across the two libraries."""
    if isinstance(value, BaseException):
        return _exception_shape(lib, value)
    mod = lib.mod
    if isinstance(value, mod.CloseReason):
        return ("CloseReason", value.code, value.name, value.reason, repr(value))
    if isinstance(value, mod.Endpoint):
        return ("Endpoint", repr(value), str(value), value.url)
    if isinstance(value, list):
        return [neutral(lib, item) for item in value]
    if isinstance(value, tuple):
        return tuple(neutral(lib, item) for item in value)
    if isinstance(value, dict):
        return {key: neutral(lib, item) for key, item in value.items()}
    return value


def _exception_shape(lib: Lib, exc: BaseException) -> object:
    kinds = tuple(name for name in EXCEPTION_NAMES if isinstance(exc, getattr(lib.mod, name)))
    builtin = tuple(cls.__name__ for cls in BUILTIN_EXCEPTIONS if isinstance(exc, cls))
    return ("raised", kinds + builtin, str(exc))


@attrs.define
class Observations:
    """What a scenario saw, by key, in library-neutral form."""

    lib: Lib
    items: dict[str, object] = attrs.Factory(dict)

    def __setitem__(self, key: str, value: object) -> None:
        if key in self.items:
            raise AssertionError(f"observation {key!r} recorded twice")
        self.items[key] = neutral(self.lib, value)

    @contextlib.contextmanager
    def raises(self, key: str) -> Iterator[None]:
        """Record the exception raised in the block (or that there was none) under ``key``."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - recording it is the point
            self[key] = exc
        else:
            self[key] = "no exception"


def scenario(
    *, uses: Sequence[str], diverges: Mapping[str, str] | None = None, autojump: bool = False
) -> Callable[[Scenario], Callable[[], None]]:
    """Make ``fn`` (named ``test_...``) a differential test, a plain synchronous pytest test.

    Args:
        uses: The trio-websocket names it exercises (``"open_websocket"``,
            ``"WebSocketConnection.ping"``, ...).
        diverges: Observation keys that differ on purpose, each with the id
            of its entry in DIVERGENCES.
        autojump: Run on :class:`trio.testing.MockClock` with autojump, for
            scenarios about timeouts. Use in-memory streams then
            (``trio.testing.memory_stream_pair`` with ``wrap_client_stream``
            and ``wrap_server_stream``): the clock jumps whenever every task
            waits, also while real sockets would still be delivering data.
    """
    divergent = dict(diverges or {})
    for key, ident in divergent.items():
        if ident not in DIVERGENCES:
            raise AssertionError(f"{key!r}: {ident!r} is not in DIVERGENCES")

    def decorate(fn: Scenario) -> Callable[[], None]:
        if not fn.__name__.startswith("test_"):
            raise AssertionError(f"name the scenario test_{fn.__name__}, so that pytest collects it")
        USES[fn.__name__] = frozenset(uses)
        ASSERTED_DIVERGENCES.update(divergent.values())

        @functools.wraps(fn)
        def test() -> None:
            theirs = run(load("trio_websocket"), fn, autojump=autojump)
            ours = run(load("ws"), fn, autojump=autojump)
            compare(theirs, ours, divergent)

        # Not async: each library gets its own trio.run (pytest-trio leaves it alone).
        del test.__wrapped__
        return test

    return decorate


def run(lib: Lib, fn: Scenario, *, autojump: bool = False) -> dict[str, object]:
    """Run the scenario on one library in a fresh Trio run; return its observations."""
    seen = Observations(lib)

    async def main() -> None:
        # Under the mock clock, 30 s pass in no time: give timeouts room.
        with trio.fail_after(3600 if autojump else 30):
            await fn(lib, seen)

    clock = trio.testing.MockClock(autojump_threshold=0) if autojump else None
    if lib.is_ws:
        trio.run(main, clock=clock)
        return seen.items
    # trio-websocket's client leaves sockets open in some failure paths (a
    # rejection, a close the server started); collect them here, quietly,
    # so that their ResourceWarning does not fail whichever test runs when
    # the garbage collector gets to them. ws's runs get no such shelter.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            trio.run(main, clock=clock)
        finally:
            gc.collect()
    return seen.items


def compare(theirs: dict[str, object], ours: dict[str, object], divergent: Mapping[str, str]) -> None:
    """Equal observations, except the divergent keys, which differ as documented."""
    assert list(theirs) == list(ours), "the two runs observed different things"
    for key, their_value in theirs.items():
        our_value = ours[key]
        ident = divergent.get(key)
        if ident is None:
            assert our_value == their_value, (
                f"{key!r}: ws observed {our_value!r}, trio-websocket {their_value!r}"
            )
            continue
        divergence = DIVERGENCES[ident]
        assert our_value != their_value, (
            f"{key!r} is listed as divergence {ident!r} but both observed {our_value!r}"
        )
        divergence.check(key, theirs=their_value, ours=our_value)
