"""Tests for the public names of ws.transports."""

from __future__ import annotations

import ws.transports


def test_all_names_exist_once() -> None:
    """Every name in __all__ exists and is listed once."""
    for name in ws.transports.__all__:
        assert hasattr(ws.transports, name), name
    assert len(set(ws.transports.__all__)) == len(ws.transports.__all__)


def test_public_callables_are_documented() -> None:
    """Every public class and function has a docstring."""
    for name in ws.transports.__all__:
        value = getattr(ws.transports, name)
        if callable(value) and not isinstance(value, type(int | str)):
            assert value.__doc__, name
