"""The Trio connection: a public facade over a message queue, a writer, a reader and keepalive.

See :mod:`ws.connection._connection` for how the parts fit together.
"""

from __future__ import annotations

from ws.connection._connection import WebSocketConnection, assemble, reader_of, start_reader
from ws.connection._reader import CLOSE_FRAME_GRACE, ReaderState

__all__ = [
    "CLOSE_FRAME_GRACE",
    "ReaderState",
    "WebSocketConnection",
    "assemble",
    "reader_of",
    "start_reader",
]
