"""Keepalive timing: when to ping, and when a missing pong means the peer is gone.

Sans-IO: it reads no clock and does no I/O; the reader asks it what is due
at the time it passes in. Deadlines are ``math.inf`` when nothing is due.
"""

from __future__ import annotations

import enum
import math

import attrs

__all__ = ["Due", "Keepalive"]


class Due(enum.Enum):
    """What :meth:`Keepalive.due` asks the caller to do."""

    NOTHING = "nothing"
    PING = "ping"  # send a keepalive ping, then call ping_sent()
    TIMEOUT = "timeout"  # no pong in time: fail the connection (1011)


@attrs.define(eq=False)
class Keepalive:
    """Ping every ``interval`` seconds; give up when a pong takes more than ``timeout``.

    Args:
        interval: Seconds between pings, or ``None`` for no keepalive.
        timeout: Seconds to wait for a pong, or ``None`` to wait for ever.
    """

    interval: float | None
    timeout: float | None
    _next_ping_at: float = attrs.field(default=math.inf, init=False)
    _pong_due_at: float = attrs.field(default=math.inf, init=False)
    _in_flight: bytes | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        for name, value in (("ping_interval", self.interval), ("ping_timeout", self.timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, not {value!r}")

    @property
    def in_flight(self) -> bytes | None:
        """The payload of the keepalive ping waiting for its pong, if any."""
        return self._in_flight

    def start(self, now: float) -> None:
        """Arm the first ping (at most once: later calls change nothing)."""
        if self.interval is not None and self._next_ping_at == math.inf and self._in_flight is None:
            self._next_ping_at = now + self.interval

    def next_deadline(self, now: float) -> float:
        """When :meth:`due` will next have something to do (``math.inf``: never)."""
        if self._in_flight is not None:
            return self._pong_due_at
        return self._next_ping_at

    def due(self, now: float) -> Due:
        """What is due at ``now``."""
        if self._in_flight is not None:
            return Due.TIMEOUT if now >= self._pong_due_at else Due.NOTHING
        return Due.PING if now >= self._next_ping_at else Due.NOTHING

    def ping_sent(self, payload: bytes, now: float) -> None:
        """The keepalive ping with ``payload`` was handed to the protocol at ``now``."""
        self._in_flight = payload
        self._next_ping_at = math.inf
        self._pong_due_at = math.inf if self.timeout is None else now + self.timeout

    def on_pong(self, answered: bytes | None, now: float) -> None:
        """A pong arrived; ``answered`` is the keepalive payload it acknowledged, if it did.

        A pong answers its ping and every ping sent before it, so the caller
        passes the keepalive payload when the pong's payload was that one or
        a later one.
        """
        if answered is not None and answered == self._in_flight and self.interval is not None:
            self._in_flight = None
            self._pong_due_at = math.inf
            self._next_ping_at = now + self.interval

    def pause(self, seconds: float) -> None:
        """Shift every deadline by ``seconds`` (the reader was not reading meanwhile)."""
        self._next_ping_at += seconds
        self._pong_due_at += seconds
