"""Pings in flight and the tasks waiting for their pongs."""

from __future__ import annotations

import os

import attrs
import trio

__all__ = ["PendingPing", "Pings"]


@attrs.define(eq=False)
class PendingPing:
    """One ping waiting for its pong."""

    event: trio.Event = attrs.Factory(trio.Event)
    answered: bool = False


@attrs.define(eq=False)
class Pings:
    """The pings sent and not yet answered, oldest first.

    A pong answers the ping with its payload and every ping sent before it
    (RFC 6455 section 5.5.3 lets a peer answer only the most recent one).
    """

    _pending: dict[bytes, PendingPing] = attrs.Factory(dict)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def __contains__(self, payload: bytes) -> bool:
        return payload in self._pending

    def fresh_payload(self) -> bytes:
        """A random 4-byte payload that no ping in flight has."""
        payload = os.urandom(4)
        while payload in self._pending:
            payload = os.urandom(4)
        return payload

    def add(self, payload: bytes) -> PendingPing:
        """Track a ping with ``payload`` (which no ping in flight has)."""
        pending = self._pending[payload] = PendingPing()
        return pending

    def forget(self, payload: bytes, pending: PendingPing) -> None:
        """Stop tracking ``pending`` (its waiter gave up, or was answered)."""
        if self._pending.get(payload) is pending:
            del self._pending[payload]

    def acknowledge(self, payload: bytes) -> list[bytes]:
        """A pong with ``payload`` arrived: wake its ping and every older one.

        Returns:
            The payloads acknowledged, oldest first (none if no ping had it).
        """
        pending = self._pending
        if payload not in pending:
            return []
        answered = []
        while pending:
            key = next(iter(pending))
            ping = pending.pop(key)
            ping.answered = True
            ping.event.set()
            answered.append(key)
            if key == payload:
                break
        return answered

    def fail_all(self) -> None:
        """The connection ended: wake every waiter unanswered."""
        for ping in self._pending.values():
            ping.event.set()
        self._pending.clear()
