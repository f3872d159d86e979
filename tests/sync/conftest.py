"""Fixtures for the ws.sync tests: after each test, no thread of ours is left."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ws.sync._runtime import runtime

#: Threads a test may leave on purpose, by name prefix: see ``leaves_threads``.
ALLOWED_MARK = "leaves_threads"


@pytest.fixture(autouse=True)
def _no_thread_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if the runtime, or any thread the test started, outlives it.

    ``close()`` of the last connection and ``shutdown()`` of the last server
    join the runtime's thread and the handler threads before they return,
    so there is nothing to wait for here: whatever is alive now is a leak.
    A test that abandons a blocked handler on purpose says so with
    ``@pytest.mark.leaves_threads("ws.sync.server handler")``. An async test
    may leave idle threads of Trio's cache ("Trio thread N"): its own
    ``trio.lowlevel.open_process`` starts one, which stays for seconds.
    ``ws.sync`` never uses that cache, so a plain test allows none.
    """
    before = set(threading.enumerate())
    yield
    assert not runtime.running, "the ws.sync runtime still runs after the test"
    marker = request.node.get_closest_marker(ALLOWED_MARK)
    allowed = tuple(marker.args) if marker is not None else ()
    if request.node.get_closest_marker("trio") is not None:  # pytest-trio marks async tests
        allowed += ("Trio thread ",)
    left = [
        thread
        for thread in threading.enumerate()
        if thread not in before
        and thread.is_alive()
        and not (allowed and thread.name.startswith(allowed))
    ]
    assert not left, f"threads left after the test: {left}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{ALLOWED_MARK}(*prefixes): the test leaves threads named so running on purpose",
    )
