"""Type aliases shared by every layer of ``ws``.

This module imports nothing else of ours, so every layer may import it.
"""

from __future__ import annotations

import enum
from typing import NewType

__all__ = [
    "BytesLike",
    "Data",
    "ExtensionName",
    "ExtensionParameter",
    "Headers",
    "StateEnum",
    "Subprotocol",
]

#: A subprotocol name, as in ``Sec-WebSocket-Protocol`` (RFC 6455 section 11.3.4).
Subprotocol = NewType("Subprotocol", str)

#: An extension token, as in ``Sec-WebSocket-Extensions`` (RFC 6455 section 9.1).
ExtensionName = NewType("ExtensionName", str)

#: One extension parameter: a name and a value, or ``None`` for a bare name.
ExtensionParameter = tuple[str, str | None]

#: Anything our send paths accept as binary data without copying first.
BytesLike = bytes | bytearray | memoryview

#: A whole message: ``str`` for text, ``bytes`` for binary.
Data = str | bytes

#: HTTP header fields as ``(name, value)`` byte pairs, in order.
Headers = list[tuple[bytes, bytes]]


class StateEnum(enum.Enum):
    """An Enum for states and events of a state machine, hashed by identity.

    Members are singletons, so hashing them by identity (in C) agrees with
    their equality; Enum's own ``__hash__`` runs Python code, twice for every
    lookup of a ``(state, event)`` pair in a transition table.
    """

    __hash__ = object.__hash__
