"""Small HTTP/1.1 helpers shared by the client and the server handshakes."""

from __future__ import annotations

import http
import re
from collections.abc import Iterable, Sequence

from ws.errors import LocalProtocolError

__all__ = ["check_field", "drop_reserved", "serialize_request", "serialize_response"]

# RFC 7230 section 3.2: field-name = token.
_FIELD_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# RFC 7230 section 3.2: field-content = field-vchar [ 1*( SP / HTAB ) field-vchar ],
# with the errata's fix allowing inner whitespace runs; no control characters.
_FIELD_VALUE = re.compile(
    rb"(?:[\x21-\x7e\x80-\xff](?:[\t \x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?"
)


def check_field(name: bytes, value: bytes) -> None:
    """Raise LocalProtocolError unless ``name: value`` is a valid header field."""
    if _FIELD_NAME.fullmatch(name) is None or _FIELD_VALUE.fullmatch(value) is None:
        raise LocalProtocolError(f"invalid header field: {name!r}: {value!r}")


def drop_reserved(
    headers: Iterable[tuple[bytes, bytes]], reserved: frozenset[bytes]
) -> list[tuple[bytes, bytes]]:
    """Check caller-supplied fields and leave out those the handshake sets itself."""
    kept: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        check_field(name, value)
        if name.lower() not in reserved:
            kept.append((name, value))
    return kept


def serialize_request(method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Serialize a request head (RFC 7230 section 3.1.1); fields must be checked already."""
    lines = [method + b" " + target + b" HTTP/1.1\r\n"]
    lines.extend(name + b": " + value + b"\r\n" for name, value in headers)
    lines.append(b"\r\n")
    return b"".join(lines)


def serialize_response(status_code: int, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Serialize a response head (RFC 7230 section 3.1.2); fields must be checked already."""
    try:
        reason = http.HTTPStatus(status_code).phrase.encode("ascii")
    except ValueError:
        reason = b""
    lines = [b"HTTP/1.1 %d %s\r\n" % (status_code, reason)]
    lines.extend(name + b": " + value + b"\r\n" for name, value in headers)
    lines.append(b"\r\n")
    return b"".join(lines)
