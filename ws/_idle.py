"""Idle readers: one shared task watches the sockets of silent connections.

Theory of operation
-------------------

Every open connection has a reader task waiting for the peer's bytes. Most
of a connection's memory is that task: its Task object, its coroutine
frames, its cancel scope and its registration with Trio's I/O manager
(measured with tracemalloc on an idle server connection: about 4 KiB of
about 11). A server holding many quiet connections pays it for each.

So a connection's reader may *park*: after a period without data (see
``WebSocketConnection._reader``), when it has nothing else to wait for, it
hands its socket to the run's :class:`IdlePoller` and ends. The poller is
one system task per Trio run, started on first use. It keeps the parked
sockets in an epoll set of its own and waits for that set's descriptor to
become readable, with a deadline for the earliest keepalive ping due. When
a parked socket has data (or EOF, or an error), or its keepalive ping is
due, the poller starts the connection's reader again in the connection's
nursery. Anything else that needs the reader (closing, a ``ping()`` that
waits for its pong, a broken write) wakes it the same way, through
``WebSocketConnection._wake_reader``.

The poller never reads nor writes a parked socket itself, so a parked
connection is in exactly the state its reader left it in. Only plain
sockets on Linux park: a TLS stream may hold decrypted bytes that the
socket's readiness knows nothing about, and ``select.epoll`` is Linux-only.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import select
from typing import TYPE_CHECKING, Final

import trio

if TYPE_CHECKING:
    from ws.connection import WebSocketConnection

__all__ = ["AVAILABLE", "IdlePoller", "idle_poller"]

logger = logging.getLogger("ws")

#: Whether this platform can park readers (it needs ``select.epoll``).
AVAILABLE: Final = hasattr(select, "epoll")

#: How often the poller checks that its sockets are still open: one closed
#: under a parked connection (``connection.stream`` closed directly) would
#: otherwise leave the epoll set without a word, and the connection would
#: wait for ever.
SWEEP_EVERY: Final = 5.0

_poller: trio.lowlevel.RunVar[IdlePoller] = trio.lowlevel.RunVar("ws_idle_poller")


class IdlePoller:
    """The parked connections of one Trio run, and the task that wakes them."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._parked: dict[int, WebSocketConnection] = {}
        # (when, tie-breaker, connection, park number): keepalive wake-ups.
        # Entries of connections woken meanwhile stay until they are due
        # and are skipped then (their park number no longer matches).
        self._timers: list[tuple[float, int, WebSocketConnection, int]] = []
        self._order = itertools.count()
        self._scope: trio.CancelScope | None = None
        self._next_sweep = math.inf

    @property
    def parked(self) -> int:
        """How many connections are parked now."""
        return len(self._parked)

    def park(self, connection: WebSocketConnection, fd: int, wake_at: float, number: int) -> None:
        """Watch ``fd`` for ``connection``; wake it when readable or at ``wake_at``.

        Raises:
            OSError: The descriptor cannot be watched (the caller keeps reading).
        """
        stale = self._parked.pop(fd, None)
        if stale is not None:
            # Its socket was closed under it and the number reused: wake it,
            # its reader finds the socket closed and ends.
            self._wake(stale)
        self._epoll.register(fd, select.EPOLLIN | select.EPOLLONESHOT)
        self._parked[fd] = connection
        if self._next_sweep == math.inf:
            self._next_sweep = trio.current_time() + SWEEP_EVERY
            self._wake_up_by(self._next_sweep)
        if wake_at != math.inf:
            heapq.heappush(self._timers, (wake_at, next(self._order), connection, number))
            self._wake_up_by(wake_at)

    def _wake_up_by(self, when: float) -> None:
        scope = self._scope
        if scope is not None and when < scope.deadline:
            scope.deadline = when

    def forget(self, connection: WebSocketConnection, fd: int) -> None:
        """Stop watching ``fd`` for ``connection`` (nothing happens if it was not parked)."""
        if self._parked.get(fd) is connection:
            del self._parked[fd]
            try:
                self._epoll.unregister(fd)
            except (OSError, ValueError):  # already closed: the kernel dropped it
                pass

    async def run(self) -> None:
        """Wake parked connections for ever (until the run ends)."""
        epoll = self._epoll
        try:
            while True:
                timers = self._timers
                scope = self._scope = trio.CancelScope(
                    deadline=min(timers[0][0] if timers else math.inf, self._next_sweep)
                )
                with scope:
                    await trio.lowlevel.wait_readable(epoll.fileno())
                self._scope = None
                for fd, _ in epoll.poll(0):
                    connection = self._parked.get(fd)
                    if connection is not None:
                        self._wake(connection)
                now = trio.current_time()
                while timers and timers[0][0] <= now:
                    _, _, connection, number = heapq.heappop(timers)
                    if connection._idle and connection._idle_count == number:
                        self._wake(connection)
                if now >= self._next_sweep:
                    for connection in list(self._parked.values()):
                        if connection._idle_socket_closed():
                            self._wake(connection)
                    self._next_sweep = now + SWEEP_EVERY if self._parked else math.inf
        finally:
            self._parked.clear()
            epoll.close()

    @staticmethod
    def _wake(connection: WebSocketConnection) -> None:
        try:
            connection._wake_reader()
        except Exception:  # pragma: no cover - a bug in ws; the poller must live on
            logger.exception("ws: could not wake an idle connection's reader")


def idle_poller() -> IdlePoller:
    """The poller of the current Trio run, started on first use."""
    try:
        return _poller.get()
    except LookupError:
        poller = IdlePoller()
        _poller.set(poller)
        trio.lowlevel.spawn_system_task(poller.run, name="ws idle poller")
        return poller
