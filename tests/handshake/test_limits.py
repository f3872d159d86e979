"""Tests for ws.handshake.limits."""

from __future__ import annotations

import attrs
import pytest

from ws.handshake.limits import HandshakeLimits


def test_defaults() -> None:
    """The defaults are 16 KiB of head, 128 fields, an 8 KiB start line and a 64 KiB body."""
    limits = HandshakeLimits()
    assert limits.max_head_size == 16384
    assert limits.max_headers == 128
    assert limits.max_start_line == 8192
    assert limits.max_body_size == 65536


def test_frozen() -> None:
    """Limits are an immutable value."""
    limits = HandshakeLimits()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        limits.max_headers = 1  # type: ignore[misc]
    assert limits == HandshakeLimits()


@pytest.mark.parametrize("field", ["max_head_size", "max_headers", "max_start_line"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10", None])
def test_positive_fields_reject_bad_values(field: str, value: object) -> None:
    """Size and count limits must be positive integers (not bools)."""
    with pytest.raises(ValueError, match=field):
        HandshakeLimits(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-1, False, 2.0, "1"])
def test_max_body_size_rejects_bad_values(value: object) -> None:
    """max_body_size must be a non-negative integer."""
    with pytest.raises(ValueError, match="max_body_size"):
        HandshakeLimits(max_body_size=value)  # type: ignore[arg-type]


def test_small_values_are_accepted() -> None:
    """1 is the smallest limit; a body limit of 0 keeps no body."""
    limits = HandshakeLimits(max_head_size=1, max_headers=1, max_start_line=1, max_body_size=0)
    assert limits.max_body_size == 0
