"""Tests for ws.handshake.keys."""

from __future__ import annotations

import base64

import pytest

from ws.handshake.keys import WEBSOCKET_GUID, accept_key, generate_key, is_valid_key

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def test_accept_key_rfc_example() -> None:
    """The accept value for the RFC 6455 section 1.3 example key matches the RFC."""
    assert accept_key(RFC_KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_guid_is_the_rfc_guid() -> None:
    """The GUID is the one RFC 6455 section 1.3 fixes."""
    assert WEBSOCKET_GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_generate_key_is_16_random_bytes_base64() -> None:
    """A generated key is the base64 of 16 bytes, valid, and fresh each time."""
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 24
        assert len(base64.b64decode(key, validate=True)) == 16
        assert is_valid_key(key)


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        (RFC_KEY, True),
        ("AAAAAAAAAAAAAAAAAAAAAA==", True),
        ("dGhlIHNhbXBsZSBub25jZQ", False),  # no padding
        ("dGhlIHNhbXBsZSBub25j", False),  # 15 bytes
        ("dGhlIHNhbXBsZSBub25jZQ==AAAA", False),  # garbage after padding
        ("dGhlIHNhbXBsZSBub25jZQ1=", False),  # 17 bytes
        ("dGhlIHNhbXBsZSBub25jZQ=!", False),  # not base64
        ("dGhlIHNhbXBsZSB ub25jZQ=", False),  # space inside
        ("dGhlIHNhbXBsZSBub25jZé==", False),  # not ASCII
        ("", False),
    ],
)
def test_is_valid_key(key: str, valid: bool) -> None:
    """Only strict base64 of exactly 16 bytes is a valid key."""
    assert is_valid_key(key) is valid
