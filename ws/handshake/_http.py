"""Small HTTP/1.1 helpers shared by the client and the server handshakes."""

from __future__ import annotations

import http
import re
from collections.abc import Iterable, Sequence

from ws.errors import LocalProtocolError

__all__ = [
    "check_field",
    "drop_reserved",
    "parse_plain_101",
    "parse_plain_request",
    "serialize_request",
    "serialize_response",
]

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


# -- the plain fast path -------------------------------------------------------
#
# h11 parses every head, but it is not cheap: 24 us for a typical upgrade
# request and about 8 us to set up a client connection that can read the
# response (timeit; a sequential connect + handshake + close costs about
# 600 us in all). Nearly every handshake is the same plain shape, so these
# read that shape, and only that: CRLF line ends, GET in origin form or a
# 101, HTTP/1.1, fields of visible ASCII, no obs-fold, no body framing
# fields, exactly one Host. Anything else returns None and goes to h11,
# which stays the judge of every unusual or broken head. Whatever these
# accept, h11 reads the same way (tests/handshake/test_plain_heads.py
# checks it against h11 on generated heads).

_PLAIN_REQUEST_LINE = re.compile(rb"GET (/[\x21-\x7e]*) HTTP/1\.1")
_PLAIN_101_LINE = re.compile(rb"HTTP/1\.1 101(?: [\t\x20-\x7e]*)?")
# h11's header field (name ":" OWS value OWS), with visible ASCII only.
_PLAIN_FIELD = re.compile(
    rb"([-!#$%&'*+.^_`|~0-9a-zA-Z]+):[ \t]*((?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?)[ \t]*"
)
_FRAMING_FIELDS = frozenset({b"content-length", b"transfer-encoding"})
Fields = tuple[tuple[bytes, bytes], ...]


def _plain_lines(head: bytes) -> list[bytes] | None:
    # Every line ends in CRLF, with no other CR or LF anywhere.
    if not head.endswith(b"\r\n\r\n"):
        return None
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf:
        return None
    return head[:-4].split(b"\r\n")


def _plain_fields(lines: list[bytes]) -> Fields | None:
    # As h11 gives them: names in lower case, values without the OWS.
    fields: list[tuple[bytes, bytes]] = []
    match = _PLAIN_FIELD.fullmatch
    for line in lines:
        found = match(line)
        if found is None:
            return None
        name = found.group(1).lower()
        if name in _FRAMING_FIELDS:
            return None
        fields.append((name, found.group(2)))
    return tuple(fields)


def parse_plain_request(head: bytes) -> tuple[bytes, Fields] | None:
    """``(target, fields)`` of a plain GET request head, or ``None`` for h11 to parse."""
    lines = _plain_lines(head)
    if lines is None:
        return None
    request_line = _PLAIN_REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        return None
    fields = _plain_fields(lines[1:])
    if fields is None or sum(name == b"host" for name, _ in fields) != 1:
        return None  # h11 says what is wrong with no Host or two
    return request_line.group(1), fields


def parse_plain_101(head: bytes) -> Fields | None:
    """The fields of a plain HTTP/1.1 101 response head, or ``None`` for h11 to parse."""
    lines = _plain_lines(head)
    if lines is None or _PLAIN_101_LINE.fullmatch(lines[0]) is None:
        return None
    return _plain_fields(lines[1:])
