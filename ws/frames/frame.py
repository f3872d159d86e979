"""Opcodes, close codes and the :class:`Frame` value (RFC 6455 section 5.2)."""

from __future__ import annotations

import enum
from typing import Final

import attrs

__all__ = [
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "MAX_CONTROL_PAYLOAD",
    "RSV1",
    "RSV2",
    "RSV3",
    "CloseCode",
    "Frame",
    "Opcode",
]

#: The RSV bits, as they sit in the first byte of a frame header.
RSV1: Final = 0x40
RSV2: Final = 0x20
RSV3: Final = 0x10

#: "All control frames MUST have a payload length of 125 bytes or less"
#: (RFC 6455 section 5.5).
MAX_CONTROL_PAYLOAD: Final = 125


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 section 5.2); the others are reserved."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES: Final = frozenset({Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY})
CONTROL_OPCODES: Final = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})


class CloseCode(enum.IntEnum):
    """Close status codes (RFC 6455 section 7.4.1 and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved.
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


@attrs.define
class Frame:
    """One WebSocket frame, after unmasking.

    Frames are made for every message on the hot path, so this class is
    mutable and slotted for speed; treat instances as values and do not
    mutate them.

    Attributes:
        opcode: The frame's opcode.
        payload: The application data (unmasked).
        fin: Whether this is the final fragment of its message.
        rsv1: The RSV1 bit (permessage-deflate's "compressed" bit).
        rsv2: The RSV2 bit.
        rsv3: The RSV3 bit.
    """

    opcode: Opcode
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    @property
    def rsv(self) -> int:
        """The RSV bits as a mask of :data:`RSV1`, :data:`RSV2` and :data:`RSV3`."""
        return (RSV1 if self.rsv1 else 0) | (RSV2 if self.rsv2 else 0) | (RSV3 if self.rsv3 else 0)

    def __repr__(self) -> str:
        payload = bytes(self.payload)
        shown = repr(payload[:32]) + ("..." if len(payload) > 32 else "")
        flags = "".join(
            name for name, on in (("FIN ", self.fin), ("RSV1 ", self.rsv1),
                                  ("RSV2 ", self.rsv2), ("RSV3 ", self.rsv3)) if on
        )
        return f"<Frame {self.opcode.name} {flags}{len(payload)} bytes {shown}>"
