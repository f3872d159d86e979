"""Tests for ws.frames.close: close payloads (RFC 6455 section 5.5.1) and CloseReason."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import InvalidPayload, LocalProtocolError, RemoteProtocolError
from ws.frames.close import (
    MAX_CLOSE_REASON,
    CloseReason,
    close_code_name,
    is_valid_close_code,
    parse_close,
    serialize_close,
)
from ws.frames.frame import CloseCode

# Written out independently of ws.frames.close: 1000-1003, 1007-1014, 3000-4999.
VALID_CODES = frozenset([*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)])

# (payload, parsed): byte-exact close payloads the peer may send.
PARSE_TABLE = [
    (b"", CloseReason(1005, None)),
    (b"\x03\xe8", CloseReason(1000, None)),
    (b"\x03\xe8bye", CloseReason(1000, "bye")),
    (b"\x03\xe9", CloseReason(1001, None)),
    (b"\x03\xea", CloseReason(1002, None)),
    (b"\x03\xf3", CloseReason(1011, None)),
    (b"\x03\xf6", CloseReason(1014, None)),
    (b"\x0b\xb8", CloseReason(3000, None)),
    (b"\x13\x87", CloseReason(4999, None)),
    (b"\x0f\xa0app", CloseReason(4000, "app")),
    (b"\x03\xe8\xc3\xa9t\xc3\xa9", CloseReason(1000, "\u00e9t\u00e9")),
    (b"\x03\xe8\xf0\x9f\x91\x8b", CloseReason(1000, "\U0001f44b")),
    (b"\x03\xe8" + b"r" * 123, CloseReason(1000, "r" * 123)),
]

# (payload, error type, close code): close payloads the peer may not send.
PARSE_ERRORS = [
    (b"\x03", RemoteProtocolError, 1002),
    (b"\x00\x00", RemoteProtocolError, 1002),
    (b"\x03\xe7", RemoteProtocolError, 1002),  # 999
    (b"\x03\xec", RemoteProtocolError, 1002),  # 1004
    (b"\x03\xed", RemoteProtocolError, 1002),  # 1005
    (b"\x03\xee", RemoteProtocolError, 1002),  # 1006
    (b"\x03\xf7", RemoteProtocolError, 1002),  # 1015
    (b"\x0b\xb7", RemoteProtocolError, 1002),  # 2999
    (b"\x13\x88", RemoteProtocolError, 1002),  # 5000
    (b"\xff\xff", RemoteProtocolError, 1002),  # 65535
    (b"\x03\xedbye", RemoteProtocolError, 1002),  # a bad code wins over a good reason
    (b"\x03\xe8\x80", InvalidPayload, 1007),  # lone continuation byte
    (b"\x03\xe8\xc3", InvalidPayload, 1007),  # truncated 2-byte sequence
    (b"\x03\xe8\xc0\x80", InvalidPayload, 1007),  # overlong NUL
    (b"\x03\xe8\xed\xa0\x80", InvalidPayload, 1007),  # encoded surrogate U+D800
    (b"\x03\xe8\xf4\x90\x80\x80", InvalidPayload, 1007),  # above U+10FFFF
    (b"\x03\xe8ok\xff", InvalidPayload, 1007),
]

# (code, reason, payload): byte-exact close payloads we send.
SERIALIZE_TABLE: list[tuple[int | None, str | None, bytes]] = [
    (None, None, b""),
    (None, "", b""),
    (1000, None, b"\x03\xe8"),
    (1000, "", b"\x03\xe8"),
    (1000, "bye", b"\x03\xe8bye"),
    (CloseCode.GOING_AWAY, None, b"\x03\xe9"),
    (1014, None, b"\x03\xf6"),
    (3000, None, b"\x0b\xb8"),
    (4999, "x", b"\x13\x87x"),
    (1000, "\u00e9t\u00e9", b"\x03\xe8\xc3\xa9t\xc3\xa9"),
    (1000, "r" * 123, b"\x03\xe8" + b"r" * 123),
    (1000, "\u20ac" * 41, b"\x03\xe8" + "\u20ac".encode() * 41),  # 123 bytes
]

# (code, reason): close payloads we may not send.
SERIALIZE_ERRORS: list[tuple[int | None, str | None]] = [
    (None, "orphan reason"),
    (1005, None),
    (1006, None),
    (1015, None),
    (1004, None),
    (999, None),
    (5000, None),
    (1000, "r" * 124),
    (1000, "\u20ac" * 41 + "r"),  # 124 bytes in UTF-8, 42 characters
    (1000, "\u00e9" * 62),  # 124 bytes in UTF-8, 62 characters
    (1005, "reason"),
]

NAME_TABLE = [
    (1000, "NORMAL_CLOSURE"),
    (1001, "GOING_AWAY"),
    (1002, "PROTOCOL_ERROR"),
    (1003, "UNSUPPORTED_DATA"),
    (1004, "RFC_RESERVED"),
    (1005, "NO_STATUS_RCVD"),
    (1006, "ABNORMAL_CLOSURE"),
    (1007, "INVALID_FRAME_PAYLOAD_DATA"),
    (1008, "POLICY_VIOLATION"),
    (1009, "MESSAGE_TOO_BIG"),
    (1010, "MANDATORY_EXTENSION"),
    (1011, "INTERNAL_ERROR"),
    (1012, "SERVICE_RESTART"),
    (1013, "TRY_AGAIN_LATER"),
    (1014, "BAD_GATEWAY"),
    (1015, "TLS_HANDSHAKE"),
    (1016, "RFC_RESERVED"),
    (2999, "RFC_RESERVED"),
    (3000, "IANA_RESERVED"),
    (3999, "IANA_RESERVED"),
    (4000, "PRIVATE_RESERVED"),
    (4999, "PRIVATE_RESERVED"),
    (0, "INVALID_CODE"),
    (999, "INVALID_CODE"),
    (5000, "INVALID_CODE"),
    (65535, "INVALID_CODE"),
    (-1, "INVALID_CODE"),
]

STR_TABLE = [
    (CloseReason(1000), "CloseReason<code=1000, name=NORMAL_CLOSURE, reason=None>"),
    (CloseReason(1000, ""), "CloseReason<code=1000, name=NORMAL_CLOSURE, reason=>"),
    (CloseReason(1000, "bye"), "CloseReason<code=1000, name=NORMAL_CLOSURE, reason=bye>"),
    (CloseReason(1005), "CloseReason<code=1005, name=NO_STATUS_RCVD, reason=None>"),
    (CloseReason(1006), "CloseReason<code=1006, name=ABNORMAL_CLOSURE, reason=None>"),
    (CloseReason(4001, "it's"), "CloseReason<code=4001, name=PRIVATE_RESERVED, reason=it's>"),
    (CloseReason(3003, "x"), "CloseReason<code=3003, name=IANA_RESERVED, reason=x>"),
    (CloseReason(2000), "CloseReason<code=2000, name=RFC_RESERVED, reason=None>"),
    (CloseReason(12), "CloseReason<code=12, name=INVALID_CODE, reason=None>"),
    (
        CloseReason(CloseCode.GOING_AWAY, "\u00e9"),
        "CloseReason<code=1001, name=GOING_AWAY, reason=\u00e9>",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), PARSE_TABLE)
def test_parse_close(payload: bytes, expected: CloseReason) -> None:
    """parse_close decodes the code and the UTF-8 reason; no code is 1005, no reason None."""
    assert parse_close(payload) == expected


def test_parse_empty_payload_has_no_reason() -> None:
    """An empty close payload parses as NO_STATUS_RCVD with reason None."""
    reason = parse_close(b"")
    assert reason.code == CloseCode.NO_STATUS_RCVD
    assert reason.reason is None
    assert reason.name == "NO_STATUS_RCVD"


@pytest.mark.parametrize(("payload", "error", "close_code"), PARSE_ERRORS)
def test_parse_close_errors(
    payload: bytes, error: type[RemoteProtocolError], close_code: int
) -> None:
    """A bad close payload raises the right remote error with the right close code."""
    with pytest.raises(RemoteProtocolError) as excinfo:
        parse_close(payload)
    assert type(excinfo.value) is error
    assert excinfo.value.close_code == close_code


def test_invalid_reason_chains_decode_error() -> None:
    """InvalidPayload for a bad reason chains the UnicodeDecodeError."""
    with pytest.raises(InvalidPayload) as excinfo:
        parse_close(b"\x03\xe8\xff")
    assert isinstance(excinfo.value.__cause__, UnicodeDecodeError)


def test_every_code_is_classified() -> None:
    """Exactly 1000-1003, 1007-1014 and 3000-4999 are valid on the wire, over 0..65535."""
    wrong = [code for code in range(65536) if is_valid_close_code(code) != (code in VALID_CODES)]
    assert wrong == []
    assert not is_valid_close_code(-1)


def test_parse_every_code() -> None:
    """parse_close accepts every valid code in 0..5000 and rejects every other with 1002."""
    wrong: list[int] = []
    for code in range(5001):
        payload = code.to_bytes(2, "big") + b"ok"
        if code in VALID_CODES:
            if parse_close(payload) != CloseReason(code, "ok"):
                wrong.append(code)
        else:
            try:
                parse_close(payload)
            except RemoteProtocolError as exc:
                if type(exc) is not RemoteProtocolError or exc.close_code != 1002:
                    wrong.append(code)
            else:
                wrong.append(code)
    assert wrong == []


def test_serialize_every_code() -> None:
    """serialize_close encodes every valid code in 0..5000 and refuses every other."""
    wrong: list[int] = []
    for code in range(5001):
        if code in VALID_CODES:
            if serialize_close(code) != code.to_bytes(2, "big"):
                wrong.append(code)
        else:
            try:
                serialize_close(code)
            except LocalProtocolError:
                pass
            else:
                wrong.append(code)
    assert wrong == []


@pytest.mark.parametrize(("code", "reason", "payload"), SERIALIZE_TABLE)
def test_serialize_close(code: int | None, reason: str | None, payload: bytes) -> None:
    """serialize_close writes the code big-endian, then the reason in UTF-8."""
    assert serialize_close(code, reason) == payload


@pytest.mark.parametrize(("code", "reason"), SERIALIZE_ERRORS)
def test_serialize_close_errors(code: int | None, reason: str | None) -> None:
    """A code that may not be sent, a reason without a code or over 123 bytes is a local error."""
    with pytest.raises(LocalProtocolError) as excinfo:
        serialize_close(code, reason)
    assert excinfo.value.close_code == 1011


def test_max_close_reason() -> None:
    """A close reason holds at most 125 - 2 = 123 bytes."""
    assert MAX_CLOSE_REASON == 123


@settings(max_examples=300, deadline=None)
@given(
    code=st.sampled_from(sorted(VALID_CODES)),
    reason=st.text(max_size=MAX_CLOSE_REASON).filter(
        lambda r: len(r.encode("utf-8")) <= MAX_CLOSE_REASON
    ),
)
def test_close_round_trip(code: int, reason: str) -> None:
    """serialize_close then parse_close gives back the code and the reason (None if empty)."""
    payload = serialize_close(code, reason)
    assert len(payload) <= 125
    assert parse_close(payload) == CloseReason(code, reason or None)


@pytest.mark.parametrize(("code", "name"), NAME_TABLE)
def test_close_code_name(code: int, name: str) -> None:
    """close_code_name gives the CloseCode member name, or the range the code is in."""
    assert close_code_name(code) == name
    assert CloseReason(code).name == name


@pytest.mark.parametrize(("reason", "text"), STR_TABLE)
def test_close_reason_str(reason: CloseReason, text: str) -> None:
    """str and repr of a CloseReason are trio-websocket's: code, name and reason."""
    assert str(reason) == repr(reason) == text


def test_close_reason_value() -> None:
    """CloseReason is a frozen value compared field by field; reason defaults to None."""
    reason = CloseReason(1000)
    assert reason.reason is None
    assert reason == CloseReason(CloseCode.NORMAL_CLOSURE, None)
    assert reason != CloseReason(1000, "")
    assert hash(reason) == hash(CloseReason(1000, None))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        reason.code = 1001  # type: ignore[misc]
