"""What the sans-IO protocol reports after it reads bytes.

:meth:`ws.protocol.Protocol.events_received` returns these. They are made for
every message, so they are slotted mutable attrs classes for speed: treat
them as values and do not mutate them.
"""

from __future__ import annotations

import attrs

from ws.frames.close import CloseReason

__all__ = ["Close", "Event", "Fragment", "Message", "Ping", "Pong"]


@attrs.define
class Message:
    """A whole message: ``str`` for a text message, ``bytes`` for binary."""

    data: str | bytes


@attrs.define
class Fragment:
    """One piece of a message, when the protocol streams instead of assembling.

    Text arrives as ``str`` pieces, already validated and decoded (a piece
    may be empty when a UTF-8 sequence straddles two frames); binary as
    ``bytes``. ``first`` marks a message's first piece, ``final`` its last.
    """

    data: str | bytes
    first: bool
    final: bool

    def __len__(self) -> int:
        """The piece's size: characters for text, bytes for binary (what queues count)."""
        return len(self.data)


@attrs.define
class Ping:
    """The peer sent a ping; the protocol has already queued the pong."""

    payload: bytes


@attrs.define
class Pong:
    """The peer sent a pong (solicited or not)."""

    payload: bytes


@attrs.define
class Close:
    """The peer sent a close frame; the protocol has answered it if needed."""

    reason: CloseReason


Event = Message | Fragment | Ping | Pong | Close
