"""max_frame_size: a limit on a data frame's bytes on the wire, separate from max_message_size."""

from __future__ import annotations

import pytest
import trio

import ws
import ws.testing
from ws.errors import MessageTooBig
from ws.events import Message
from ws.extensions.permessage_deflate import PerMessageDeflate
from ws.frames import Opcode
from ws.protocol import Protocol, Side

from .helpers import raw_frame

MASK = b"\x01\x02\x03\x04"


def frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    return raw_frame(opcode, payload, fin=fin, rsv=rsv, mask=MASK)


def test_a_frame_over_max_frame_size_fails_from_its_header_before_its_payload() -> None:
    p = Protocol(Side.SERVER, max_message_size=10_000, max_frame_size=100)
    data = frame(Opcode.BINARY, b"x" * 101)
    p.receive_data(data[:8])  # the header only: nothing of the payload buffered
    assert isinstance(p.error, MessageTooBig)
    assert p.close_sent is not None and p.close_sent.code == 1009
    assert p.close_sent.reason == "frame bigger than the limit of 100 bytes"


def test_frames_within_the_limit_make_a_larger_message() -> None:
    """The two limits are separate: 3 frames of 100 bytes make a 300-byte message."""
    p = Protocol(Side.SERVER, max_message_size=300, max_frame_size=100)
    p.receive_data(
        frame(Opcode.BINARY, b"a" * 100, fin=False)
        + frame(Opcode.CONTINUATION, b"b" * 100, fin=False)
        + frame(Opcode.CONTINUATION, b"c" * 100)
    )
    assert p.events_received() == [Message(b"a" * 100 + b"b" * 100 + b"c" * 100)]
    assert p.error is None


def test_max_message_size_still_bounds_the_message_when_frames_are_small() -> None:
    p = Protocol(Side.SERVER, max_message_size=250, max_frame_size=100)
    p.receive_data(
        frame(Opcode.BINARY, b"a" * 100, fin=False)
        + frame(Opcode.CONTINUATION, b"b" * 100, fin=False)
        + frame(Opcode.CONTINUATION, b"c" * 100)
    )
    assert isinstance(p.error, MessageTooBig)
    assert p.close_sent is not None and p.close_sent.reason == "message bigger than the limit of 250 bytes"


def test_the_frame_limit_is_on_the_wire_bytes_and_the_message_limit_after_inflating() -> None:
    """A small compressed frame of a big message passes max_frame_size; max_message_size judges the inflated size."""
    compressed = PerMessageDeflate().encode(ws.frames.Frame(Opcode.TEXT, b"a" * 10_000))
    assert len(compressed.payload) < 100
    wire = frame(Opcode.TEXT, compressed.payload, rsv=0x40)  # RSV1: compressed
    accepted = Protocol(Side.SERVER, [PerMessageDeflate()], max_message_size=10_000, max_frame_size=100)
    accepted.receive_data(wire)
    assert accepted.events_received() == [Message("a" * 10_000)]
    refused = Protocol(Side.SERVER, [PerMessageDeflate()], max_message_size=9_999, max_frame_size=100)
    refused.receive_data(wire)
    assert isinstance(refused.error, MessageTooBig)
    tight = Protocol(Side.SERVER, [PerMessageDeflate()], max_message_size=None, max_frame_size=len(compressed.payload) - 1)
    tight.receive_data(wire)
    assert isinstance(tight.error, MessageTooBig)
    assert tight.close_sent is not None and "frame bigger than" in (tight.close_sent.reason or "")


def test_control_frames_are_not_data_frames() -> None:
    p = Protocol(Side.SERVER, max_frame_size=1)
    p.receive_data(frame(Opcode.PING, b"hello"))
    assert p.error is None


def test_the_option_is_checked_and_a_keyword() -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        ws.ServerOptions(max_frame_size=-1)
    with pytest.raises(ValueError, match="max_frame_size"):
        ws.ClientOptions(max_frame_size=1.5)
    with pytest.raises(ValueError, match="max_frame_size"):
        Protocol(Side.CLIENT, max_frame_size=-1)
    assert ws.ClientOptions().protocol_max_frame_size is None
    assert ws.ServerOptions(max_frame_size=4096).protocol_max_frame_size == 4096


async def test_a_server_closes_a_client_whose_frame_is_too_big_with_1009() -> None:
    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        async for message in connection:
            await connection.send_message(message)

    async with ws.testing.open_memory_server(handler, max_frame_size=1000, compression=None) as server:
        async with server.open_websocket("/", compression=None) as client:
            await client.send_message(b"x" * 1000)
            assert await client.get_message() == b"x" * 1000
            await client.send_message(b"x" * 1001)
            with pytest.raises(ws.ConnectionClosed) as closed, trio.fail_after(5):
                await client.get_message()
    assert closed.value.reason.code == 1009
    assert closed.value.reason.reason == "frame bigger than the limit of 1000 bytes"
