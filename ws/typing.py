"""Type aliases shared by every layer of ``ws``.

This module imports nothing else of ours, so every layer may import it.
"""

from __future__ import annotations

from typing import NewType

__all__ = [
    "BytesLike",
    "Data",
    "ExtensionName",
    "ExtensionParameter",
    "Headers",
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
