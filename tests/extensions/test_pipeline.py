"""Tests for ws.extensions.pipeline."""

from __future__ import annotations

import attrs
import pytest

from ws.errors import LocalProtocolError, NegotiationError
from ws.extensions import ExtensionPipeline, PerMessageDeflate
from ws.extensions.base import Extension
from ws.frames.frame import RSV1, RSV2, RSV3, Frame, Opcode
from ws.typing import ExtensionName


@attrs.define(eq=False)
class _Tagger(Extension):
    """Appends its tag to outgoing payloads and strips it from incoming ones."""

    tag: bytes
    mask: int = 0
    log: list[tuple[str, bytes, int | None]] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self.name = ExtensionName("x-tag-" + self.tag.decode())
        self.rsv_mask = self.mask

    def encode(self, frame: Frame) -> Frame:
        self.log.append(("encode", frame.payload, None))
        return Frame(frame.opcode, frame.payload + self.tag, frame.fin)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        self.log.append(("decode", frame.payload, max_size))
        assert frame.payload.endswith(self.tag)
        return Frame(frame.opcode, frame.payload[: -len(self.tag)], frame.fin)


def test_empty_pipeline_passes_frames_through() -> None:
    """Without extensions, frames come back as the very same objects."""
    pipeline = ExtensionPipeline()
    frame = Frame(Opcode.TEXT, b"hello", rsv1=True)
    assert pipeline.extensions == ()
    assert pipeline.rsv_mask == 0
    assert not pipeline.active
    assert pipeline.encode(frame) is frame
    assert pipeline.decode(frame) is frame
    assert pipeline.decode(frame, max_size=1) is frame


def test_single_extension_is_called_directly() -> None:
    """With one extension, encode and decode are that extension's methods."""
    extension = PerMessageDeflate()
    pipeline = ExtensionPipeline([extension])
    assert pipeline.active
    assert pipeline.extensions == (extension,)
    assert pipeline.rsv_mask == RSV1
    assert pipeline.encode == extension.encode
    assert pipeline.decode == extension.decode


def test_single_extension_round_trip() -> None:
    """A pipeline with permessage-deflate compresses and inflates."""
    sender = ExtensionPipeline([PerMessageDeflate()])
    receiver = ExtensionPipeline([PerMessageDeflate()])
    wire = sender.encode(Frame(Opcode.TEXT, b"Hello"))
    assert wire.rsv1
    assert receiver.decode(wire, max_size=5) == Frame(Opcode.TEXT, b"Hello")


def test_encode_runs_in_order_and_decode_in_reverse() -> None:
    """RFC 6455 section 9.1: encode in negotiation order, decode in reverse."""
    first, second, third = _Tagger(b"1"), _Tagger(b"2", RSV2), _Tagger(b"3", RSV3)
    pipeline = ExtensionPipeline([first, second, third])
    wire = pipeline.encode(Frame(Opcode.BINARY, b"data"))
    assert wire.payload == b"data123"
    assert [entry[1] for entry in first.log + second.log + third.log] == [
        b"data", b"data1", b"data12"
    ]
    decoded = pipeline.decode(wire, max_size=42)
    assert decoded.payload == b"data"
    assert third.log[-1] == ("decode", b"data123", 42)
    assert second.log[-1] == ("decode", b"data12", 42)
    assert first.log[-1] == ("decode", b"data1", 42)


def test_decode_default_max_size_is_none() -> None:
    """Every extension sees max_size=None when the caller gives none."""
    first, second = _Tagger(b"a"), _Tagger(b"b")
    pipeline = ExtensionPipeline([first, second])
    pipeline.decode(Frame(Opcode.TEXT, b"xab"))
    assert first.log == [("decode", b"xa", None)]
    assert second.log == [("decode", b"xab", None)]


def test_rsv_mask_is_the_union() -> None:
    """The pipeline owns the RSV bits of all its extensions."""
    pipeline = ExtensionPipeline([PerMessageDeflate(), _Tagger(b"t", RSV2 | RSV3)])
    assert pipeline.rsv_mask == RSV1 | RSV2 | RSV3


def test_extensions_accept_any_iterable() -> None:
    """The extensions are stored as a tuple, whatever iterable they came in."""
    tagger = _Tagger(b"t")
    pipeline = ExtensionPipeline(iter([tagger]))
    assert pipeline.extensions == (tagger,)


def test_conflicting_rsv_bits_are_rejected() -> None:
    """Two extensions cannot own the same RSV bit."""
    with pytest.raises(NegotiationError, match="RSV bits 0x40"):
        ExtensionPipeline([PerMessageDeflate(), PerMessageDeflate()])
    with pytest.raises(NegotiationError, match="RSV bits 0x20"):
        ExtensionPipeline([_Tagger(b"a", RSV2), _Tagger(b"b", RSV2 | RSV3)])


@pytest.mark.parametrize("mask", [0x80, 0x08, 0x01, 0x100])
def test_bits_outside_rsv_are_rejected(mask: int) -> None:
    """An extension may only claim RSV1, RSV2 and RSV3."""
    with pytest.raises(LocalProtocolError, match="outside RSV1-3"):
        ExtensionPipeline([_Tagger(b"a", mask)])
