"""Close frame payloads (RFC 6455 section 5.5.1) and :class:`CloseReason`."""

from __future__ import annotations

import struct

import attrs

from ws.errors import InvalidPayload, LocalProtocolError, RemoteProtocolError
from ws.frames.frame import MAX_CONTROL_PAYLOAD, CloseCode

__all__ = [
    "MAX_CLOSE_REASON",
    "CloseReason",
    "close_code_name",
    "is_valid_close_code",
    "parse_close",
    "serialize_close",
]

#: A close payload is a 2-byte code and a UTF-8 reason in at most 125 bytes.
MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2

# Codes that may appear in a close frame on the wire: the defined 1000-1003
# and 1007-1014, plus 3000-4999 (registered and private use). 1004 is
# reserved; 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close
# control frame by an endpoint" (RFC 6455 section 7.4.1).
_WIRE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})

_CODE = struct.Struct("!H")


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may be sent in a close frame (RFC 6455 section 7.4)."""
    return code in _WIRE_CODES or 3000 <= code <= 4999


def close_code_name(code: int) -> str:
    """A readable name for a close code: the ``CloseCode`` member name, or its range."""
    try:
        return CloseCode(code).name
    except ValueError:
        pass
    if 1000 <= code <= 2999:
        return "RFC_RESERVED"
    if 3000 <= code <= 3999:
        return "IANA_RESERVED"
    if 4000 <= code <= 4999:
        return "PRIVATE_RESERVED"
    return "INVALID_CODE"


@attrs.frozen(repr=False)
class CloseReason:
    """Why a WebSocket connection closed.

    Attributes:
        code: The numeric close code (RFC 6455 section 7.4); 1005 when the
            close frame had no code, 1006 when the connection dropped without
            a close frame.
        reason: The close reason the peer (or we) gave, or ``None`` when
            there was none (an empty reason reads as ``None``).
    """

    code: int
    reason: str | None = None

    @property
    def name(self) -> str:
        """The close code's name, e.g. ``NORMAL_CLOSURE``."""
        return close_code_name(self.code)

    def __repr__(self) -> str:
        # trio-websocket's form, for str() too (str(ConnectionClosed) shows it).
        return f"CloseReason<code={self.code}, name={self.name}, reason={self.reason}>"

    __str__ = __repr__


def parse_close(payload: bytes) -> CloseReason:
    """Decode the payload of a close frame the peer sent.

    Args:
        payload: The unmasked payload (at most 125 bytes).

    Returns:
        The close reason; code 1005 (NO_STATUS_RCVD) for an empty payload.

    Raises:
        RemoteProtocolError: A 1-byte payload or a code that is not valid on
            the wire (1002).
        InvalidPayload: The reason is not valid UTF-8 (1007).
    """
    n = len(payload)
    if n == 0:
        return CloseReason(CloseCode.NO_STATUS_RCVD, None)
    if n == 1:
        raise RemoteProtocolError("close frame payload of 1 byte: a code takes 2")
    (code,) = _CODE.unpack_from(payload)
    if not is_valid_close_code(code):
        raise RemoteProtocolError(f"invalid close code {code} in close frame")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPayload("close reason is not valid UTF-8") from exc
    return CloseReason(code, reason or None)


def serialize_close(code: int | None, reason: str | None = None) -> bytes:
    """Encode a close frame payload.

    Args:
        code: The close code, or ``None`` to send an empty close frame
            (which the peer reads as 1005).
        reason: An optional reason; at most 123 bytes once UTF-8 encoded.

    Returns:
        The payload.

    Raises:
        LocalProtocolError: The code may not be sent, a reason comes without
            a code, or the reason is too long.
    """
    if code is None:
        if reason:
            raise LocalProtocolError("a close reason needs a close code")
        return b""
    if not is_valid_close_code(code):
        raise LocalProtocolError(f"close code {code} may not be sent in a close frame")
    if not reason:
        return _CODE.pack(code)
    data = reason.encode("utf-8")
    if len(data) > MAX_CLOSE_REASON:
        raise LocalProtocolError(
            f"close reason is {len(data)} bytes in UTF-8; at most {MAX_CLOSE_REASON} fit"
        )
    return _CODE.pack(code) + data
