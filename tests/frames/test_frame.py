"""Tests for ws.frames.frame: opcodes, close codes, RSV bits and the Frame value."""

from __future__ import annotations

import pytest

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

OPCODE_VALUES = [
    (Opcode.CONTINUATION, 0x0),
    (Opcode.TEXT, 0x1),
    (Opcode.BINARY, 0x2),
    (Opcode.CLOSE, 0x8),
    (Opcode.PING, 0x9),
    (Opcode.PONG, 0xA),
]

CLOSE_CODE_VALUES = [
    (CloseCode.NORMAL_CLOSURE, 1000),
    (CloseCode.GOING_AWAY, 1001),
    (CloseCode.PROTOCOL_ERROR, 1002),
    (CloseCode.UNSUPPORTED_DATA, 1003),
    (CloseCode.NO_STATUS_RCVD, 1005),
    (CloseCode.ABNORMAL_CLOSURE, 1006),
    (CloseCode.INVALID_FRAME_PAYLOAD_DATA, 1007),
    (CloseCode.POLICY_VIOLATION, 1008),
    (CloseCode.MESSAGE_TOO_BIG, 1009),
    (CloseCode.MANDATORY_EXTENSION, 1010),
    (CloseCode.INTERNAL_ERROR, 1011),
    (CloseCode.SERVICE_RESTART, 1012),
    (CloseCode.TRY_AGAIN_LATER, 1013),
    (CloseCode.BAD_GATEWAY, 1014),
    (CloseCode.TLS_HANDSHAKE, 1015),
]

# (rsv1, rsv2, rsv3) -> Frame.rsv
RSV_TABLE = [
    ((False, False, False), 0x00),
    ((True, False, False), 0x40),
    ((False, True, False), 0x20),
    ((False, False, True), 0x10),
    ((True, True, False), 0x60),
    ((True, False, True), 0x50),
    ((False, True, True), 0x30),
    ((True, True, True), 0x70),
]

REPR_TABLE = [
    (Frame(Opcode.TEXT, b"Hello"), "<Frame TEXT FIN 5 bytes b'Hello'>"),
    (Frame(Opcode.BINARY, b""), "<Frame BINARY FIN 0 bytes b''>"),
    (Frame(Opcode.CONTINUATION, b"lo", fin=False), "<Frame CONTINUATION 2 bytes b'lo'>"),
    (
        Frame(Opcode.TEXT, b"x", rsv1=True, rsv2=True, rsv3=True),
        "<Frame TEXT FIN RSV1 RSV2 RSV3 1 bytes b'x'>",
    ),
    (Frame(Opcode.PING, b"\x00\xff", rsv2=True), "<Frame PING FIN RSV2 2 bytes b'\\x00\\xff'>"),
    (Frame(Opcode.BINARY, b"a" * 32), f"<Frame BINARY FIN 32 bytes {b'a' * 32!r}>"),
    (Frame(Opcode.BINARY, b"a" * 33), f"<Frame BINARY FIN 33 bytes {b'a' * 32!r}...>"),
    (
        Frame(Opcode.CLOSE, bytes(range(40)), rsv3=True),
        f"<Frame CLOSE FIN RSV3 40 bytes {bytes(range(32))!r}...>",
    ),
]


@pytest.mark.parametrize(("opcode", "value"), OPCODE_VALUES)
def test_opcode_values(opcode: Opcode, value: int) -> None:
    """Each opcode has the value RFC 6455 section 5.2 assigns to it."""
    assert opcode == value
    assert Opcode(value) is opcode


def test_opcode_members() -> None:
    """Opcode defines exactly the six non-reserved opcodes."""
    assert sorted(int(op) for op in Opcode) == [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]


@pytest.mark.parametrize("value", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes_are_not_members(value: int) -> None:
    """Reserved opcodes 0x3-0x7 and 0xB-0xF are not Opcode members."""
    with pytest.raises(ValueError):
        Opcode(value)


def test_opcode_classes() -> None:
    """Data opcodes are 0x0-0x2, control opcodes 0x8-0xA, and they partition Opcode."""
    assert DATA_OPCODES == {Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY}
    assert CONTROL_OPCODES == {Opcode.CLOSE, Opcode.PING, Opcode.PONG}
    assert DATA_OPCODES | CONTROL_OPCODES == set(Opcode)
    assert all(op < 8 for op in DATA_OPCODES)
    assert all(op >= 8 for op in CONTROL_OPCODES)


def test_constants() -> None:
    """The RSV masks sit in bits 6-4 of the first byte; control payloads cap at 125."""
    assert (RSV1, RSV2, RSV3) == (0x40, 0x20, 0x10)
    assert MAX_CONTROL_PAYLOAD == 125


@pytest.mark.parametrize(("code", "value"), CLOSE_CODE_VALUES)
def test_close_code_values(code: CloseCode, value: int) -> None:
    """Each close code has its value from RFC 6455 section 7.4.1 and the IANA registry."""
    assert code == value
    assert CloseCode(value) is code


def test_close_code_members() -> None:
    """CloseCode defines 1000-1015 except the reserved 1004."""
    assert sorted(int(c) for c in CloseCode) == [c for c in range(1000, 1016) if c != 1004]


def test_frame_defaults() -> None:
    """A Frame is final with every RSV bit clear unless told otherwise."""
    frame = Frame(Opcode.TEXT, b"Hello")
    assert frame.opcode is Opcode.TEXT
    assert frame.payload == b"Hello"
    assert frame.fin is True
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (False, False, False)
    assert frame.rsv == 0


def test_frame_equality() -> None:
    """Frames compare by value, field by field."""
    assert Frame(Opcode.TEXT, b"a") == Frame(Opcode.TEXT, b"a", True, False, False, False)
    assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.BINARY, b"a")
    assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"b")
    assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"a", fin=False)
    assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"a", rsv1=True)
    assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"a", rsv2=True)
    assert Frame(Opcode.TEXT, b"a") != Frame(Opcode.TEXT, b"a", rsv3=True)


def test_frame_is_slotted() -> None:
    """Frame is slotted: it has no per-instance __dict__."""
    assert not hasattr(Frame(Opcode.TEXT, b""), "__dict__")


@pytest.mark.parametrize(("bits", "rsv"), RSV_TABLE)
def test_frame_rsv(bits: tuple[bool, bool, bool], rsv: int) -> None:
    """Frame.rsv combines the three RSV flags into the header's bit mask."""
    rsv1, rsv2, rsv3 = bits
    assert Frame(Opcode.BINARY, b"", rsv1=rsv1, rsv2=rsv2, rsv3=rsv3).rsv == rsv


@pytest.mark.parametrize(("frame", "expected"), REPR_TABLE)
def test_frame_repr(frame: Frame, expected: str) -> None:
    """repr(Frame) names the opcode and set flags and shows at most 32 payload bytes."""
    assert repr(frame) == expected
