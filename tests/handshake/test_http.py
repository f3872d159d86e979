"""Tests for ws.handshake._http: header field checks and response serialization."""

from __future__ import annotations

import pytest

from ws.errors import LocalProtocolError
from ws.handshake._http import check_field, drop_reserved, serialize_response


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"X", b""),
        (b"X-Y", b"a"),
        (b"x", b"a  b\tc"),
        (b"!#$%&'*+-.^_`|~", b"\x80\xff"),
        (b"A", b"\x21\x7e"),
    ],
)
def test_valid_fields(name: bytes, value: bytes) -> None:
    """Token names and values of visible characters with inner whitespace are valid."""
    check_field(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"", b"a"),
        (b"A B", b"a"),
        (b"A:", b"a"),
        (b"A", b" a"),
        (b"A", b"a "),
        (b"A", b"a\r\nB: c"),
        (b"A", b"a\nb"),
        (b"A", b"a\x00"),
        (b"A", b"a\x01b"),
        (b"A", b"\x7f"),
    ],
)
def test_invalid_fields(name: bytes, value: bytes) -> None:
    """Names that are not tokens and values with control characters or edge spaces are refused."""
    with pytest.raises(LocalProtocolError, match="invalid header field"):
        check_field(name, value)


def test_drop_reserved() -> None:
    """Reserved names are left out case-insensitively; the rest keep their order."""
    headers = [(b"A", b"1"), (b"Upgrade", b"x"), (b"B", b"2"), (b"UPGRADE", b"y")]
    assert drop_reserved(headers, frozenset({b"upgrade"})) == [(b"A", b"1"), (b"B", b"2")]


def test_drop_reserved_checks_every_field() -> None:
    """Even a reserved field must be well formed."""
    with pytest.raises(LocalProtocolError):
        drop_reserved([(b"Upgrade", b"a\r\n")], frozenset({b"upgrade"}))


def test_serialize_response() -> None:
    """A response head is the status line, the fields and an empty line."""
    assert serialize_response(101, [(b"Upgrade", b"websocket")]) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    )
    assert serialize_response(299, []) == b"HTTP/1.1 299 \r\n\r\n"
