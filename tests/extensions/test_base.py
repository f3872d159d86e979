"""Tests for ws.extensions.base: the extension interface."""

from __future__ import annotations

import pytest

import ws.extensions
from ws.extensions import base
from ws.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from ws.frames.frame import Frame, Opcode


class _Identity(Extension):
    """The smallest possible extension."""

    def encode(self, frame: Frame) -> Frame:
        return frame

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame


@pytest.mark.parametrize("cls", [Extension, ClientExtensionFactory, ServerExtensionFactory])
def test_interfaces_are_abstract(cls: type[object]) -> None:
    """The interface classes cannot be instantiated themselves."""
    with pytest.raises(TypeError, match="abstract"):
        cls()


def test_extension_owns_no_rsv_bits_by_default() -> None:
    """An extension that does not declare RSV bits owns none."""
    extension = _Identity()
    assert extension.rsv_mask == 0
    frame = Frame(Opcode.TEXT, b"x")
    assert extension.encode(frame) is frame
    assert extension.decode(frame, max_size=0) is frame


def test_extension_does_not_promise_plain_messages_by_default() -> None:
    """An extension must opt in before the protocol reads its plain messages early."""
    assert _Identity().passes_plain_messages is False


def test_public_names_are_exported() -> None:
    """ws.extensions re-exports the interface and every public name it lists."""
    for name in ws.extensions.__all__:
        assert hasattr(ws.extensions, name), name
    assert ws.extensions.Extension is base.Extension
    assert sorted(ws.extensions.__all__) == ws.extensions.__all__
