"""Builders of raw opening requests and responses for the handshake tests."""

from __future__ import annotations

from collections.abc import Collection, Sequence

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

BASE_REQUEST_HEADERS: list[tuple[bytes, bytes]] = [
    (b"Host", b"example.com"),
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", KEY.encode()),
    (b"Sec-WebSocket-Version", b"13"),
]

BASE_RESPONSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Accept", ACCEPT.encode()),
]


def _head(start: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    return start + b"\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"


def _edit(
    base: Sequence[tuple[bytes, bytes]],
    drop: Collection[bytes],
    extra: Sequence[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    return [(n, v) for n, v in base if n.lower() not in drop] + list(extra)


def request(
    *,
    method: bytes = b"GET",
    target: bytes = b"/chat",
    version: bytes = b"HTTP/1.1",
    drop: Collection[bytes] = (),
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    """A valid opening request, minus the fields named in ``drop`` plus ``extra``."""
    headers = _edit(BASE_REQUEST_HEADERS, drop, extra)
    return _head(method + b" " + target + b" " + version, headers)


def response(
    *,
    status: bytes = b"101 Switching Protocols",
    drop: Collection[bytes] = (),
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> bytes:
    """A valid 101 for KEY, minus the fields named in ``drop`` plus ``extra``."""
    return _head(b"HTTP/1.1 " + status, _edit(BASE_RESPONSE_HEADERS, drop, extra))
