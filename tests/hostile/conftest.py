"""Fixtures for the attack tests: a virtual clock for real sockets, a log check.

Clock choice. Timeout attacks (slowloris, idle and silent peers, unanswered
closes) use ``trio.testing.MockClock`` rather than real sleeps, even though
the bytes go through real loopback sockets. This works because Trio treats
a task waiting on a socket as blocked: when every task has been blocked for
``autojump_threshold`` of *real* time, the virtual clock jumps to the next
deadline. We use a threshold of 50 ms instead of 0: a loopback ``send()``
queues the bytes on the receiving socket before it returns, so a reader is
woken at once, but a threshold of 0 would also jump while the event loop
merely polls for a wakeup that is already due, firing a connect or
disconnect timeout spuriously. 50 ms of complete idleness only happens when
everybody really waits for a timer. A 10-second virtual timeout then costs
a handful of 50 ms jumps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import trio.testing


@pytest.fixture
def autojump() -> trio.testing.MockClock:
    """A virtual clock that jumps after 50 ms of real idleness (see the module docstring)."""
    return trio.testing.MockClock(autojump_threshold=0.05)


@pytest.fixture(autouse=True)
def no_ws_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test if ``ws`` logged an error (an unexpected exception inside the library)."""
    caplog.set_level(logging.WARNING, logger="ws")
    yield
    errors = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.name.startswith("ws") and record.levelno >= logging.ERROR
    ]
    assert not errors, errors
