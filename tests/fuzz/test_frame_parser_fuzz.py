"""Fuzzing FrameParser with near-valid streams against an independent reference decoder.

tests/frames/test_parser.py::test_arbitrary_bytes feeds random bytes and
checks that only frames or protocol errors come out. This goes further:
streams of valid frames (every length encoding, masked or not, RSV bits,
control and data opcodes) are mutated where it matters (bit flips and byte
changes in headers, truncations, insertions, duplications), cut into
arbitrary chunks, and the parser's output is compared, frame for frame and
error code for error code, with a whole-stream decoder written here from
RFC 6455 section 5.2. Its buffer is bounded after every chunk.
"""

from __future__ import annotations

import struct
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import RemoteProtocolError
from ws.frames.parser import FrameParser
from tests.hostile._raw import MASK, frame

_MAX_HEADER: Final = 14
_DATA_OPCODES: Final = [0x0, 0x1, 0x2]
_CONTROL_OPCODES: Final = [0x8, 0x9, 0xA]
_RESERVED_OPCODES: Final = [0x3, 0x7, 0xB, 0xF]
_EDGE_LENGTHS: Final = [0, 1, 125, 126, 127, 0xFFFF, 0x10000]

FrameTuple = tuple[int, bytes, bool, int]  # opcode, payload, fin, rsv (0x70 mask)


def _unmask(payload: bytes, key: bytes) -> bytes:
    return bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))


def reference_parse(
    stream: bytes, *, mask_required: bool, allowed_rsv: int, max_payload: int | None
) -> tuple[list[FrameTuple], int | None, int]:
    """Decode a whole stream: the frames before the first violation, its close code, bytes used.

    The checks run in the order the header bytes arrive (first byte, second
    byte, extended length), so an incremental parser can make each as soon
    as its bytes are there. An incomplete last frame is not an error.
    """
    frames: list[FrameTuple] = []
    pos = 0
    while len(stream) - pos >= 2:
        first, second = stream[pos], stream[pos + 1]
        rsv, opcode, fin = first & 0x70, first & 0x0F, bool(first & 0x80)
        length, masked = second & 0x7F, bool(second & 0x80)
        if rsv & ~allowed_rsv:
            return frames, 1002, pos
        if opcode not in _DATA_OPCODES + _CONTROL_OPCODES:
            return frames, 1002, pos
        if opcode >= 8 and (not fin or length > 125):
            return frames, 1002, pos
        if masked != mask_required:
            return frames, 1002, pos
        header = 2
        if length == 126:
            if len(stream) - pos < 4:
                break
            (length,) = struct.unpack_from("!H", stream, pos + 2)
            header = 4
        elif length == 127:
            if len(stream) - pos < 10:
                break
            (length,) = struct.unpack_from("!Q", stream, pos + 2)
            if length >> 63:
                return frames, 1002, pos
            header = 10
        if max_payload is not None and opcode < 8 and length > max_payload:
            return frames, 1009, pos
        key = b""
        if masked:
            key = stream[pos + header : pos + header + 4]
            header += 4
        end = pos + header + length
        if len(stream) < end:
            break
        payload = stream[pos + header : end]
        frames.append((opcode, _unmask(payload, key) if masked else payload, fin, rsv))
        pos = end
    return frames, None, pos


@st.composite
def _frame_bytes(draw: st.DrawFn, masked: bool) -> bytes:
    kind = draw(st.sampled_from(["data", "data", "control", "reserved"]))
    if kind == "control":
        opcode = draw(st.sampled_from(_CONTROL_OPCODES))
        length = draw(st.sampled_from([0, 2, 125]) | st.integers(0, 125))
    else:
        pool = _DATA_OPCODES if kind == "data" else _RESERVED_OPCODES
        opcode = draw(st.sampled_from(pool))
        length = draw(st.sampled_from(_EDGE_LENGTHS) | st.integers(0, 300))
    payload = bytes([draw(st.integers(0, 255))]) * length
    return frame(
        opcode,
        payload,
        fin=draw(st.booleans()) if kind != "control" else True,
        rsv=draw(st.sampled_from([0, 0, 0, 4, 2, 1, 7])),
        mask=MASK if masked else None,
        wide=draw(st.booleans()) if length > 125 else False,
    )


@st.composite
def near_valid_streams(draw: st.DrawFn) -> tuple[bytes, bool]:
    """Valid frames, then a few mutations aimed mostly at the headers."""
    masked = draw(st.booleans())
    frames = draw(st.lists(_frame_bytes(masked), max_size=6))
    starts = [sum(len(f) for f in frames[:i]) for i in range(len(frames))]
    data = bytearray(b"".join(frames))
    for _ in range(draw(st.integers(0, 3))):
        if not data:
            break
        near_a_header: bool = draw(st.booleans())
        if starts and near_a_header:
            offset = draw(st.integers(0, _MAX_HEADER))
            at = min(draw(st.sampled_from(starts)) + offset, len(data) - 1)
        else:
            at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "byte", "truncate", "insert", "duplicate"]))
        if action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "byte":
            data[at] = draw(st.sampled_from([0x00, 0x7E, 0x7F, 0x80, 0xFE, 0xFF]))
        elif action == "truncate":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=10))
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 20))]
    return bytes(data), masked


@settings(max_examples=400, deadline=None)
@given(
    stream=near_valid_streams(),
    flip_mask_rule=st.booleans(),
    allowed_rsv=st.sampled_from([0, 0x40, 0x70]),
    max_payload=st.none() | st.sampled_from([0, 125, 126, 0xFFFF]) | st.integers(0, 400),
    cuts=st.lists(st.integers(0, 1 << 18), max_size=12),
)
def test_near_valid_streams_match_the_reference(
    stream: tuple[bytes, bool],
    flip_mask_rule: bool,
    allowed_rsv: int,
    max_payload: int | None,
    cuts: list[int],
) -> None:
    """Mutated frame streams, cut anywhere, give the reference's frames and error code."""
    data, masked = stream
    mask_required = masked != flip_mask_rule  # sometimes the wrong side's frames
    expected, expected_code, consumed = reference_parse(
        data, mask_required=mask_required, allowed_rsv=allowed_rsv, max_payload=max_payload
    )
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    parser = FrameParser(mask_required, allowed_rsv, max_payload)
    got: list[FrameTuple] = []
    code: int | None = None
    try:
        for start, end in zip(points, points[1:]):
            parser.feed(data[start:end])
            while (parsed := parser.next_frame()) is not None:
                got.append((int(parsed.opcode), parsed.payload, parsed.fin, parsed.rsv))
            if max_payload is not None:
                # At most one partial frame (header + the largest payload it
                # may have) plus the chunk just fed stays buffered.
                bound = _MAX_HEADER + max(max_payload, 125) + (end - start)
                assert parser.buffered <= bound
    except RemoteProtocolError as exc:
        code = exc.close_code
    assert got == expected
    assert code == expected_code
    if code is None:
        assert parser.buffered == len(data) - consumed
