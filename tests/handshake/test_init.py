"""Tests for the ws.handshake package exports."""

from __future__ import annotations

import ws.handshake


def test_all_names_exist() -> None:
    """Every name in __all__ is importable from ws.handshake."""
    for name in ws.handshake.__all__:
        assert hasattr(ws.handshake, name), name


def test_all_is_sorted_and_unique() -> None:
    """__all__ lists each public name once, sorted."""
    assert list(ws.handshake.__all__) == sorted(set(ws.handshake.__all__))
