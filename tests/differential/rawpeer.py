"""Pieces of a hand-played WebSocket peer, for scenarios where a peer must misbehave."""

from __future__ import annotations

import base64
import hashlib
from typing import Final

import trio

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


async def read_head(stream: trio.abc.Stream, *, complete: bool = False) -> bytes:
    """Read an HTTP head (and whatever came with it) from ``stream``.

    At the end of the stream, return what came; with ``complete``, raise
    AssertionError instead.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some()
        if not chunk:
            if complete:
                raise AssertionError(f"the stream ended inside the HTTP head: {data!r}")
            break
        data += chunk
    return data
