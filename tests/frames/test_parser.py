"""Tests for ws.frames.parser: byte-exact parsing, chunking, buffering and every violation."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import MessageTooBig, RemoteProtocolError
from ws.frames.frame import MAX_CONTROL_PAYLOAD, RSV1, RSV2, RSV3, Frame, Opcode
from ws.frames.parser import FrameParser

KEY = bytes.fromhex("37fa213d")  # the masking key of the RFC 6455 section 5.7 examples
ALL_RSV = RSV1 | RSV2 | RSV3
# The longest header: 2 bytes, a 64-bit length and a masking key.
MAX_HEADER = 14


def h(text: str) -> bytes:
    """Bytes from spaced hex, as the RFC writes them."""
    return bytes.fromhex(text)


def pattern(size: int) -> bytes:
    """A deterministic payload where neighbouring bytes differ."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def mask(data: bytes, key: bytes = KEY) -> bytes:
    """RFC 6455 section 5.3, literally (independent of ws.frames.mask)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def encode(frame: Frame, key: bytes | None = None) -> bytes:
    """A naive reference encoder for RFC 6455 section 5.2 (independent of the serializer)."""
    first = (0x80 * frame.fin) | (0x40 * frame.rsv1) | (0x20 * frame.rsv2)
    first |= (0x10 * frame.rsv3) | frame.opcode
    masked = 0x80 if key is not None else 0
    n = len(frame.payload)
    if n <= 125:
        header = bytes([first, masked | n])
    elif n <= 0xFFFF:
        header = bytes([first, masked | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, masked | 127]) + n.to_bytes(8, "big")
    if key is None:
        return header + frame.payload
    return header + key + mask(frame.payload, key)


def drain(parser: FrameParser) -> list[Frame]:
    """Every frame the parser can return now."""
    frames = []
    while (frame := parser.next_frame()) is not None:
        frames.append(frame)
    return frames


def parse_chunks(parser: FrameParser, chunks: list[bytes]) -> list[Frame]:
    """Feed the chunks one by one, draining frames after each."""
    frames: list[Frame] = []
    for chunk in chunks:
        parser.feed(chunk)
        frames.extend(drain(parser))
    return frames


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


class Valid(NamedTuple):
    wire: bytes
    frame: Frame
    mask_required: bool = False
    allowed_rsv: int = 0
    max_payload: int | None = None

    def parser(self) -> FrameParser:
        return FrameParser(self.mask_required, self.allowed_rsv, self.max_payload)


class Invalid(NamedTuple):
    wire: bytes  # the shortest prefix that decides the error
    error: type[RemoteProtocolError]
    close_code: int
    mask_required: bool = False
    allowed_rsv: int = 0
    max_payload: int | None = None

    def parser(self) -> FrameParser:
        return FrameParser(self.mask_required, self.allowed_rsv, self.max_payload)


B256 = pattern(256)
B64K = pattern(65536)

VALID = {
    # RFC 6455 section 5.7, every example.
    "rfc-unmasked-text": Valid(h("81 05 48 65 6c 6c 6f"), Frame(Opcode.TEXT, b"Hello")),
    "rfc-masked-text": Valid(
        h("81 85 37 fa 21 3d 7f 9f 4d 51 58"), Frame(Opcode.TEXT, b"Hello"), mask_required=True
    ),
    "rfc-fragment-1": Valid(h("01 03 48 65 6c"), Frame(Opcode.TEXT, b"Hel", fin=False)),
    "rfc-fragment-2": Valid(h("80 02 6c 6f"), Frame(Opcode.CONTINUATION, b"lo")),
    "rfc-unmasked-ping": Valid(h("89 05 48 65 6c 6c 6f"), Frame(Opcode.PING, b"Hello")),
    "rfc-masked-pong": Valid(
        h("8a 85 37 fa 21 3d 7f 9f 4d 51 58"), Frame(Opcode.PONG, b"Hello"), mask_required=True
    ),
    "rfc-256-binary": Valid(h("82 7e 01 00") + B256, Frame(Opcode.BINARY, B256)),
    "rfc-64k-binary": Valid(h("82 7f 00 00 00 00 00 01 00 00") + B64K, Frame(Opcode.BINARY, B64K)),
    # Length encodings at the boundaries, unmasked.
    "len-0": Valid(h("82 00"), Frame(Opcode.BINARY, b"")),
    "len-125": Valid(h("82 7d") + pattern(125), Frame(Opcode.BINARY, pattern(125))),
    "len-126": Valid(h("82 7e 00 7e") + pattern(126), Frame(Opcode.BINARY, pattern(126))),
    "len-65535": Valid(h("82 7e ff ff") + pattern(65535), Frame(Opcode.BINARY, pattern(65535))),
    "len-65536": Valid(
        h("82 7f 00 00 00 00 00 01 00 00") + pattern(65536), Frame(Opcode.BINARY, pattern(65536))
    ),
    # Length encodings at the boundaries, masked.
    "masked-len-0": Valid(h("82 80 37 fa 21 3d"), Frame(Opcode.BINARY, b""), mask_required=True),
    "masked-len-125": Valid(
        h("82 fd 37 fa 21 3d") + mask(pattern(125)),
        Frame(Opcode.BINARY, pattern(125)),
        mask_required=True,
    ),
    "masked-len-126": Valid(
        h("82 fe 00 7e 37 fa 21 3d") + mask(pattern(126)),
        Frame(Opcode.BINARY, pattern(126)),
        mask_required=True,
    ),
    "masked-len-65535": Valid(
        h("82 fe ff ff 37 fa 21 3d") + mask(pattern(65535)),
        Frame(Opcode.BINARY, pattern(65535)),
        mask_required=True,
    ),
    "masked-len-65536": Valid(
        h("82 ff 00 00 00 00 00 01 00 00 37 fa 21 3d") + mask(pattern(65536)),
        Frame(Opcode.BINARY, pattern(65536)),
        mask_required=True,
    ),
    # A non-minimal length encoding is accepted (as by most implementations).
    "len-5-in-16-bits": Valid(h("81 7e 00 05 48 65 6c 6c 6f"), Frame(Opcode.TEXT, b"Hello")),
    # Control frames: up to 125 bytes, empty, close payloads.
    "close-1000": Valid(h("88 02 03 e8"), Frame(Opcode.CLOSE, b"\x03\xe8")),
    "close-empty": Valid(h("88 00"), Frame(Opcode.CLOSE, b"")),
    "ping-empty-masked": Valid(h("89 80 00 00 00 00"), Frame(Opcode.PING, b""), True),
    "ping-125": Valid(h("89 7d") + pattern(125), Frame(Opcode.PING, pattern(125))),
    "pong-125-masked": Valid(
        h("8a fd 37 fa 21 3d") + mask(pattern(125)), Frame(Opcode.PONG, pattern(125)), True
    ),
    "close-125": Valid(h("88 7d") + pattern(125), Frame(Opcode.CLOSE, pattern(125))),
    "text-not-fin": Valid(h("01 00"), Frame(Opcode.TEXT, b"", fin=False)),
    "binary-not-fin": Valid(h("02 01 00"), Frame(Opcode.BINARY, b"\x00", fin=False)),
    "continuation-not-fin": Valid(h("00 01 ff"), Frame(Opcode.CONTINUATION, b"\xff", fin=False)),
    # RSV bits owned by a negotiated extension.
    "rsv1-allowed": Valid(
        h("c1 05 48 65 6c 6c 6f"), Frame(Opcode.TEXT, b"Hello", rsv1=True), allowed_rsv=RSV1
    ),
    "rsv2-allowed": Valid(h("a2 00"), Frame(Opcode.BINARY, b"", rsv2=True), allowed_rsv=RSV2),
    "rsv3-allowed": Valid(
        h("90 00"), Frame(Opcode.CONTINUATION, b"", rsv3=True), allowed_rsv=RSV3
    ),
    "rsv-all-allowed": Valid(
        h("f9 00"), Frame(Opcode.PING, b"", True, True, True, True), allowed_rsv=ALL_RSV
    ),
    "rsv1-allowed-unset": Valid(h("81 00"), Frame(Opcode.TEXT, b""), allowed_rsv=RSV1),
    "rsv1-not-fin-masked": Valid(
        h("42 81 37 fa 21 3d") + mask(b"x"),
        Frame(Opcode.BINARY, b"x", fin=False, rsv1=True),
        mask_required=True,
        allowed_rsv=RSV1,
    ),
    # max_payload: the limit itself is accepted; control frames ignore it.
    "max-payload-exact-7-bit": Valid(
        h("82 7d") + pattern(125), Frame(Opcode.BINARY, pattern(125)), max_payload=125
    ),
    "max-payload-exact-16-bit": Valid(
        h("82 7e 01 00") + B256, Frame(Opcode.BINARY, B256), max_payload=256
    ),
    "max-payload-exact-64-bit": Valid(
        h("82 7f 00 00 00 00 00 01 00 00") + B64K, Frame(Opcode.BINARY, B64K), max_payload=65536
    ),
    "max-payload-zero-empty": Valid(h("81 00"), Frame(Opcode.TEXT, b""), max_payload=0),
    "max-payload-zero-ping-125": Valid(
        h("89 7d") + pattern(125), Frame(Opcode.PING, pattern(125)), max_payload=0
    ),
    "max-payload-zero-pong-masked": Valid(
        h("8a 85 37 fa 21 3d 7f 9f 4d 51 58"), Frame(Opcode.PONG, b"Hello"), True, 0, 0
    ),
    "max-payload-zero-close": Valid(
        h("88 02 03 e8"), Frame(Opcode.CLOSE, b"\x03\xe8"), max_payload=0
    ),
}

INVALID = {
    # RSV bits without an extension that owns them (1002).
    "rsv1": Invalid(h("c1 00"), RemoteProtocolError, 1002),
    "rsv2": Invalid(h("a1 00"), RemoteProtocolError, 1002),
    "rsv3": Invalid(h("91 00"), RemoteProtocolError, 1002),
    "rsv1-masked-server": Invalid(h("c1 80"), RemoteProtocolError, 1002, mask_required=True),
    "rsv1-only-rsv2-rsv3-allowed": Invalid(
        h("c1 00"), RemoteProtocolError, 1002, allowed_rsv=RSV2 | RSV3
    ),
    "rsv2-only-rsv1-allowed": Invalid(h("a1 00"), RemoteProtocolError, 1002, allowed_rsv=RSV1),
    "rsv3-only-rsv1-allowed": Invalid(h("91 00"), RemoteProtocolError, 1002, allowed_rsv=RSV1),
    "rsv-all-only-rsv1-allowed": Invalid(h("f1 00"), RemoteProtocolError, 1002, allowed_rsv=RSV1),
    # Reserved opcodes (1002).
    **{
        f"opcode-0x{op:x}": Invalid(bytes([0x80 | op, 0x00]), RemoteProtocolError, 1002)
        for op in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)
    },
    "opcode-0x3-not-fin": Invalid(h("03 00"), RemoteProtocolError, 1002),
    "opcode-0xf-masked": Invalid(h("8f 80"), RemoteProtocolError, 1002, mask_required=True),
    # Fragmented control frames (1002).
    "close-not-fin": Invalid(h("08 00"), RemoteProtocolError, 1002),
    "ping-not-fin": Invalid(h("09 00"), RemoteProtocolError, 1002),
    "pong-not-fin": Invalid(h("0a 00"), RemoteProtocolError, 1002),
    "ping-not-fin-masked": Invalid(h("09 80"), RemoteProtocolError, 1002, mask_required=True),
    # Control frames over 125 bytes, told by the 7-bit length alone (1002).
    "close-126": Invalid(h("88 7e"), RemoteProtocolError, 1002),
    "ping-126": Invalid(h("89 7e"), RemoteProtocolError, 1002),
    "pong-126": Invalid(h("8a 7e"), RemoteProtocolError, 1002),
    "ping-64-bit": Invalid(h("89 7f"), RemoteProtocolError, 1002),
    "ping-126-masked": Invalid(h("89 fe"), RemoteProtocolError, 1002, mask_required=True),
    "ping-126-max-payload": Invalid(h("89 7e"), RemoteProtocolError, 1002, max_payload=1000),
    # A 64-bit length with its most significant bit set (1002, even with a limit).
    "length-msb": Invalid(h("82 7f 80 00 00 00 00 00 00 00"), RemoteProtocolError, 1002),
    "length-all-ones": Invalid(h("82 7f ff ff ff ff ff ff ff ff"), RemoteProtocolError, 1002),
    "length-msb-max-payload": Invalid(
        h("82 7f 80 00 00 00 00 00 00 00"), RemoteProtocolError, 1002, max_payload=10
    ),
    "length-msb-masked": Invalid(
        h("82 ff 80 00 00 00 00 00 00 01"), RemoteProtocolError, 1002, mask_required=True
    ),
    # Masking in the wrong direction (1002).
    "server-gets-unmasked": Invalid(h("81 05"), RemoteProtocolError, 1002, mask_required=True),
    "server-gets-unmasked-empty": Invalid(h("82 00"), RemoteProtocolError, 1002, True),
    "server-gets-unmasked-ping": Invalid(h("89 00"), RemoteProtocolError, 1002, True),
    "client-gets-masked": Invalid(h("81 85"), RemoteProtocolError, 1002, mask_required=False),
    "client-gets-masked-close": Invalid(h("88 82"), RemoteProtocolError, 1002),
    # Data frames over max_payload, told by the header before the payload (1009).
    "too-big-7-bit": Invalid(h("82 7d"), MessageTooBig, 1009, max_payload=124),
    "too-big-zero": Invalid(h("81 01"), MessageTooBig, 1009, max_payload=0),
    "too-big-16-bit": Invalid(h("82 7e 00 7e"), MessageTooBig, 1009, max_payload=125),
    "too-big-16-bit-max": Invalid(h("82 7e ff ff"), MessageTooBig, 1009, max_payload=65534),
    "too-big-64-bit": Invalid(
        h("82 7f 00 00 00 00 00 01 00 00"), MessageTooBig, 1009, max_payload=65535
    ),
    "too-big-text-not-fin": Invalid(h("01 7e 01 00"), MessageTooBig, 1009, max_payload=255),
    "too-big-continuation": Invalid(h("00 7e 01 00"), MessageTooBig, 1009, max_payload=255),
    "too-big-rsv1": Invalid(h("c1 7e 01 00"), MessageTooBig, 1009, False, RSV1, 255),
    # Masked: refused before the masking key arrives.
    "too-big-masked-7-bit": Invalid(h("81 81"), MessageTooBig, 1009, True, 0, 0),
    "too-big-masked-16-bit": Invalid(h("82 fe 01 00"), MessageTooBig, 1009, True, 0, 255),
    "too-big-masked-64-bit": Invalid(
        h("82 ff 00 00 00 00 00 01 00 00"), MessageTooBig, 1009, True, 0, 65535
    ),
    # A declared 2^62-byte frame (and the largest legal length).
    "too-big-2-62": Invalid(
        h("82 7f 40 00 00 00 00 00 00 00"), MessageTooBig, 1009, max_payload=1 << 20
    ),
    "too-big-2-63-minus-1": Invalid(
        h("82 ff 7f ff ff ff ff ff ff ff"), MessageTooBig, 1009, True, 0, 1 << 20
    ),
}

SMALL_VALID = {name: case for name, case in VALID.items() if len(case.wire) <= 300}


@pytest.mark.parametrize("case", VALID.values(), ids=VALID.keys())
def test_parse_at_once(case: Valid) -> None:
    """A frame fed in one chunk parses to the expected Frame and leaves nothing buffered."""
    parser = case.parser()
    parser.feed(case.wire)
    frame = parser.next_frame()
    assert frame == case.frame
    assert frame is not None and type(frame.payload) is bytes
    assert type(frame.opcode) is Opcode
    assert parser.next_frame() is None
    assert parser.buffered == 0


@pytest.mark.parametrize("case", VALID.values(), ids=VALID.keys())
def test_parse_byte_by_byte(case: Valid) -> None:
    """A frame fed one byte at a time appears exactly when its last byte arrives."""
    parser = case.parser()
    for i in range(len(case.wire) - 1):
        parser.feed(case.wire[i : i + 1])
        assert parser.next_frame() is None
        assert parser.buffered == i + 1
    parser.feed(case.wire[-1:])
    assert parser.next_frame() == case.frame
    assert parser.buffered == 0


@pytest.mark.parametrize("case", SMALL_VALID.values(), ids=SMALL_VALID.keys())
def test_parse_every_split(case: Valid) -> None:
    """Cutting a frame in two anywhere gives the same frame."""
    for cut in range(len(case.wire) + 1):
        parser = case.parser()
        assert parse_chunks(parser, split(case.wire, [cut])) == [case.frame]
        assert parser.buffered == 0


@pytest.mark.parametrize("case", VALID.values(), ids=VALID.keys())
def test_parse_input_types(case: Valid) -> None:
    """feed accepts bytes, bytearray and memoryview alike."""
    inputs: list[bytes | bytearray | memoryview] = [
        bytearray(case.wire),
        memoryview(case.wire),
        memoryview(b"!" + case.wire)[1:],
    ]
    for data in inputs:
        parser = case.parser()
        parser.feed(data)
        assert drain(parser) == [case.frame]


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_invalid_at_once(case: Invalid) -> None:
    """Each violation raises its own error type with its close code."""
    parser = case.parser()
    parser.feed(case.wire + b"\x00" * 20)
    with pytest.raises(RemoteProtocolError) as excinfo:
        parser.next_frame()
    assert type(excinfo.value) is case.error
    assert excinfo.value.close_code == case.close_code


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_invalid_detected_from_header(case: Invalid) -> None:
    """A violation is raised as soon as the byte that decides it arrives, before any payload."""
    parser = case.parser()
    for i in range(len(case.wire) - 1):
        parser.feed(case.wire[i : i + 1])
        assert parser.next_frame() is None
    parser.feed(case.wire[-1:])
    with pytest.raises(case.error) as excinfo:
        parser.next_frame()
    assert type(excinfo.value) is case.error
    assert excinfo.value.close_code == case.close_code
    assert parser.buffered == len(case.wire)


def test_invalid_after_valid_frames() -> None:
    """Frames before a violation in the same chunk are returned, then the violation raises."""
    parser = FrameParser(mask_required=False)
    parser.feed(h("81 05 48 65 6c 6c 6f 89 00 83 00"))
    assert parser.next_frame() == Frame(Opcode.TEXT, b"Hello")
    assert parser.next_frame() == Frame(Opcode.PING, b"")
    with pytest.raises(RemoteProtocolError):
        parser.next_frame()


def test_huge_frame_without_limit_waits() -> None:
    """Without max_payload a declared 2^62-byte frame is accepted at the header and awaited."""
    parser = FrameParser(mask_required=False)
    parser.feed(h("82 7f 40 00 00 00 00 00 00 00") + b"abc")
    assert parser.next_frame() is None
    assert parser.buffered == 13


def test_huge_frame_with_limit_is_not_buffered() -> None:
    """With max_payload a declared 2^62-byte frame is refused from its 10 header bytes."""
    parser = FrameParser(mask_required=False, max_payload=1 << 20)
    parser.feed(h("82 7f 40 00 00 00 00 00 00 00"))
    with pytest.raises(MessageTooBig) as excinfo:
        parser.next_frame()
    assert excinfo.value.close_code == 1009
    assert parser.buffered == 10


def test_defaults() -> None:
    """A parser allows no RSV bit and no payload limit unless told, and starts empty."""
    parser = FrameParser(mask_required=True)
    assert parser.mask_required is True
    assert parser.allowed_rsv == 0
    assert parser.max_payload is None
    assert parser.buffered == 0
    assert parser.next_frame() is None


def test_next_frame_needs_two_bytes() -> None:
    """With fewer than two bytes next_frame returns None, as often as it is called."""
    parser = FrameParser(mask_required=False)
    parser.feed(b"")
    assert parser.next_frame() is None
    parser.feed(b"\x81")
    assert parser.next_frame() is None
    assert parser.next_frame() is None
    assert parser.buffered == 1


def test_many_frames_in_one_chunk() -> None:
    """Every frame of a chunk that holds many is returned, in order."""
    for mask_required in (False, True):
        cases = [c for c in VALID.values() if c.mask_required is mask_required]
        parser = FrameParser(mask_required, ALL_RSV)
        parser.feed(b"".join(c.wire for c in cases))
        assert drain(parser) == [c.frame for c in cases]
        assert parser.buffered == 0


def test_buffered_accounting() -> None:
    """buffered counts the received bytes not yet returned as part of a frame."""
    first = h("81 05 48 65 6c 6c 6f")
    second = h("82 7e 01 00") + B256
    parser = FrameParser(mask_required=False)
    parser.feed(first + second[:100])
    assert parser.buffered == 7 + 100
    assert parser.next_frame() == Frame(Opcode.TEXT, b"Hello")
    assert parser.buffered == 100
    assert parser.next_frame() is None
    assert parser.buffered == 100
    parser.feed(second[100:200])
    assert parser.buffered == 200
    assert parser.next_frame() is None
    parser.feed(second[200:] + first[:1])
    assert parser.buffered == len(second) + 1
    assert parser.next_frame() == Frame(Opcode.BINARY, B256)
    assert parser.buffered == 1
    assert parser.next_frame() is None
    parser.feed(first[1:])
    assert parser.next_frame() == Frame(Opcode.TEXT, b"Hello")
    assert parser.buffered == 0


def test_consumed_prefix_compacted_once_per_feed() -> None:
    """Returned frames stay in the buffer until the next feed, which drops them all at once."""
    wire = h("81 05 48 65 6c 6c 6f") * 10
    parser = FrameParser(mask_required=False)
    parser.feed(wire)
    assert len(drain(parser)) == 10
    # Internal check: the consumed prefix is not deleted frame by frame...
    assert len(parser._buf) == len(wire)
    parser.feed(b"\x81")
    # ...but on the next feed, in one go.
    assert len(parser._buf) == 1
    assert parser.buffered == 1


def test_buffer_does_not_grow() -> None:
    """Across many frames the internal buffer holds at most one chunk and a partial frame."""
    wire = h("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    stream = wire * 5000
    parser = FrameParser(mask_required=True)
    largest = 0
    count = 0
    for chunk in split(stream, list(range(7, len(stream), 7))):
        parser.feed(chunk)
        largest = max(largest, len(parser._buf))  # internal size
        count += len(drain(parser))
    assert count == 5000
    assert largest <= len(wire) + 7


def test_partial_frame_survives_compaction() -> None:
    """A frame whose header was decoded before a feed compacts the buffer still parses."""
    first = h("89 00")
    second = h("82 fe 01 00 37 fa 21 3d") + mask(B256)
    parser = FrameParser(mask_required=True)
    parser.feed(h("89 80 00 00 00 00") + second[:10])
    assert parser.next_frame() == Frame(Opcode.PING, b"")
    assert parser.next_frame() is None  # the second header is decoded now
    parser.feed(second[10:] + first)
    assert parser.next_frame() == Frame(Opcode.BINARY, B256)
    with pytest.raises(RemoteProtocolError):  # an unmasked ping for a server
        parser.next_frame()


def test_header_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A header is decoded once, however many reads its payload takes."""
    calls: list[int] = []
    original = FrameParser._parse_header

    def counting(self: FrameParser) -> object:
        result = original(self)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(FrameParser, "_parse_header", counting)
    wire = h("82 7e 01 00") + B256
    parser = FrameParser(mask_required=False)
    for i in range(len(wire)):
        parser.feed(wire[i : i + 1])
        frame = parser.next_frame()
    assert frame == Frame(Opcode.BINARY, B256)
    # Three calls wait for the header's first four bytes; one decodes it; none after.
    assert calls == [False, False, False, True]


def test_limit_applies_at_header_time() -> None:
    """max_payload is checked as a header is decoded; a change applies from the next frame."""
    parser = FrameParser(mask_required=False, max_payload=1000)
    parser.feed(h("82 7e 01 00"))
    assert parser.next_frame() is None
    parser.max_payload = 10
    parser.feed(B256 + h("82 7e 01 00"))
    assert parser.next_frame() == Frame(Opcode.BINARY, B256)
    with pytest.raises(MessageTooBig):
        parser.next_frame()


def test_parser_compares_by_identity() -> None:
    """Parsers are stateful components compared by identity."""
    assert FrameParser(True) != FrameParser(True)


# Hypothesis strategies.

frames_strategy = st.builds(
    Frame,
    opcode=st.sampled_from(Opcode),
    payload=st.binary(max_size=300),
    fin=st.booleans(),
    rsv1=st.booleans(),
    rsv2=st.booleans(),
    rsv3=st.booleans(),
).map(
    lambda f: Frame(f.opcode, f.payload[:125], True, f.rsv1, f.rsv2, f.rsv3)
    if f.opcode >= 8
    else f
)


@st.composite
def header_like(draw: st.DrawFn) -> bytes:
    """Two to fourteen bytes that often look like a header, valid or not."""
    first = draw(st.integers(0, 255))
    masked = draw(st.sampled_from([0x00, 0x80]))
    length = draw(st.sampled_from([0, 1, 5, 125, 126, 127]) | st.integers(0, 127))
    extra = draw(st.binary(min_size=0, max_size=12))
    return bytes([first, masked | length]) + extra


@settings(max_examples=300, deadline=None)
@given(
    frames=st.lists(frames_strategy, max_size=8),
    masked=st.booleans(),
    data=st.data(),
)
def test_any_chunking_gives_same_frames(
    frames: list[Frame], masked: bool, data: st.DataObject
) -> None:
    """However a stream of frames is cut into chunks, the parser returns the same frames."""
    wire = b"".join(encode(f, KEY if masked else None) for f in frames)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=20))
    parser = FrameParser(masked, ALL_RSV)
    assert parse_chunks(parser, split(wire, cuts)) == frames
    assert parser.buffered == 0


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.binary(max_size=40)
        | header_like()
        | frames_strategy.map(encode)
        | frames_strategy.map(lambda f: encode(f, KEY)),
        max_size=12,
    ),
    mask_required=st.booleans(),
    allowed_rsv=st.sampled_from([0, RSV1, ALL_RSV]),
    max_payload=st.none() | st.integers(0, 300),
    data=st.data(),
)
def test_arbitrary_bytes(
    pieces: list[bytes],
    mask_required: bool,
    allowed_rsv: int,
    max_payload: int | None,
    data: st.DataObject,
) -> None:
    """Any bytes in any chunks give Frames, None or a RemoteProtocolError, in bounded memory."""
    stream = b"".join(pieces)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    parser = FrameParser(mask_required, allowed_rsv, max_payload)
    # A partial frame left between feeds is at most a full header and the
    # largest payload the parser accepts: max_payload for data frames, 125
    # for control frames (which max_payload does not limit).
    partial = None if max_payload is None else MAX_HEADER + max(max_payload, MAX_CONTROL_PAYLOAD)
    try:
        for chunk in split(stream, cuts):
            parser.feed(chunk)
            if partial is not None:
                assert len(parser._buf) <= partial + len(chunk)  # internal size
            while True:
                frame = parser.next_frame()
                if frame is None:
                    break
                assert isinstance(frame, Frame)
                assert frame.rsv & ~allowed_rsv == 0
                if frame.opcode >= 8:
                    assert frame.fin and len(frame.payload) <= MAX_CONTROL_PAYLOAD
                elif max_payload is not None:
                    assert len(frame.payload) <= max_payload
    except RemoteProtocolError:
        pass


# -- looking into a frame whose payload is still arriving ----------------------


def test_partial_frame_returns_new_bytes_once_unmasked() -> None:
    """partial_frame() hands out each newly arrived payload byte once, unmasked at its offset."""
    payload = pattern(23)
    wire = encode(Frame(Opcode.TEXT, payload, fin=False), KEY)  # 6 header bytes
    parser = FrameParser(mask_required=True)
    seen = b""
    # Cut at payload offsets that are not multiples of 4, so the key must be rotated.
    for chunk in split(wire, [2, 6, 9, 15, 16, 21])[:-1]:
        parser.feed(chunk)
        assert parser.next_frame() is None
        partial = parser.partial_frame()
        if partial is not None:
            assert (partial.opcode, partial.fin) == (Opcode.TEXT, False)
            seen += partial.payload
        assert parser.partial_frame() is None  # nothing new since the last look
    assert parser.partial_header() == (Opcode.TEXT, 0)
    assert seen == payload[:15]
    parser.feed(wire[21:])
    assert parser.next_frame() == Frame(Opcode.TEXT, payload, fin=False)


def test_partial_frame_then_whole_frame() -> None:
    """After partial looks, next_frame() still returns the whole payload, and the next frame starts fresh."""
    first = Frame(Opcode.TEXT, pattern(300), fin=True, rsv1=True)
    second = Frame(Opcode.BINARY, b"xyz")
    wire = encode(first, KEY) + encode(second, KEY)
    parser = FrameParser(mask_required=True, allowed_rsv=RSV1)
    parser.feed(wire[:101])
    assert parser.next_frame() is None
    assert parser.partial_header() == (Opcode.TEXT, RSV1)
    partial = parser.partial_frame()
    assert partial is not None and partial.rsv1
    assert partial.payload == pattern(300)[: 101 - 8]
    parser.feed(wire[101:])
    assert parser.next_frame() == first
    assert parser.next_frame() == second
    assert parser.partial_header() is None
    assert parser.partial_frame() is None


def test_partial_frame_unmasked_from_server() -> None:
    """A client's parser returns the unmasked bytes of a server frame as they arrive."""
    wire = encode(Frame(Opcode.TEXT, b"hello world"))
    parser = FrameParser(mask_required=False)
    parser.feed(wire[:5])
    assert parser.next_frame() is None
    partial = parser.partial_frame()
    assert partial is not None and partial.payload == b"hel"
    parser.feed(wire[5:9])
    assert parser.next_frame() is None
    partial = parser.partial_frame()
    assert partial is not None and partial.payload == b"lo w"


def test_partial_frame_needs_a_header() -> None:
    """Before a header is complete there is no partial frame."""
    parser = FrameParser(mask_required=True)
    parser.feed(h("81 85 37 fa"))  # the masking key is incomplete
    assert parser.next_frame() is None
    assert parser.partial_header() is None
    assert parser.partial_frame() is None


@pytest.mark.parametrize("masked", [False, True])
def test_big_frames_in_chunks_then_more_frames(masked: bool) -> None:
    """Large payloads (copied out once, their used-up buffer freed) parse across chunked
    feeds, whether the buffer ends with the frame or goes on with the next one."""
    key = KEY if masked else None
    big = Frame(Opcode.BINARY, bytes(range(256)) * 512)  # 128 KiB
    first = encode(big, key)
    second = encode(Frame(Opcode.TEXT, b"next"), key)
    parser = FrameParser(mask_required=masked)
    chunks = [first[at : at + 65536] for at in range(0, len(first), 65536)]
    assert parse_chunks(parser, chunks) == [big] and parser.buffered == 0
    # The big frame and the start of the next one arrive together.
    parser.feed(first + second[:3])
    assert parser.next_frame() == big
    assert parser.next_frame() is None and parser.buffered == 3
    parser.feed(second[3:])
    assert drain(parser) == [Frame(Opcode.TEXT, b"next")] and parser.buffered == 0
