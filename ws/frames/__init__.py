"""The WebSocket frame codec (RFC 6455 section 5): no I/O, stdlib only."""

from __future__ import annotations

from ws.frames.close import (
    MAX_CLOSE_REASON,
    CloseReason,
    close_code_name,
    is_valid_close_code,
    parse_close,
    serialize_close,
)
from ws.frames.frame import (
    CONTROL_OPCODES,
    DATA_OPCODES,
    MAX_CONTROL_PAYLOAD,
    RSV1,
    RSV2,
    RSV3,
    CloseCode,
    Frame,
    Opcode,
)
from ws.frames.mask import apply_mask
from ws.frames.parser import FrameParser
from ws.frames.serializer import MaskKeySource, random_mask_key, serialize, serialize_frame

__all__ = [
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "MAX_CLOSE_REASON",
    "MAX_CONTROL_PAYLOAD",
    "RSV1",
    "RSV2",
    "RSV3",
    "CloseCode",
    "CloseReason",
    "Frame",
    "FrameParser",
    "MaskKeySource",
    "Opcode",
    "apply_mask",
    "close_code_name",
    "is_valid_close_code",
    "parse_close",
    "random_mask_key",
    "serialize",
    "serialize_close",
    "serialize_frame",
]
