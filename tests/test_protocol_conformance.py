"""ws.protocol: how a failure looks from the other end (Autobahn TestSuite 3.x-6.x).

Two behaviours the suite grades as strict rather than merely conformant:
messages that arrived before a protocol error are answered before the close
frame goes out, and invalid UTF-8 fails the connection as soon as the bad
byte arrives, even in the middle of a frame.
"""

from __future__ import annotations

import zlib

import pytest

from ws.errors import InvalidPayload, MessageTooBig, RemoteProtocolError
from ws.events import Fragment, Message, Ping
from ws.extensions.base import Extension
from ws.extensions.permessage_deflate import PerMessageDeflate
from ws.frames import Frame, Opcode
from ws.frames.frame import RSV1, RSV2
from ws.protocol import Protocol, Side, State

from .helpers import bytewise, fixed_mask, raw_frame

MASK = fixed_mask()

# The payloads of Autobahn case 6.4.1: PART2 makes the text invalid at its
# second byte (0xf4 0x90 would encode a code point above U+10FFFF).
PART1 = "κόσμε".encode()
PART2 = b"\xf4\x90\x80\x80"
PART3 = b"edited"


def client_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A masked frame, as a client sends it (not validated)."""
    return raw_frame(opcode, payload, fin=fin, rsv=rsv, mask=MASK)


def server_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame, as a server sends it (not validated)."""
    return raw_frame(opcode, payload, fin=fin, rsv=rsv)


def summary(out: list[bytes]) -> list[bytes | str]:
    """What data_to_send() returned, with server close frames as "close CODE" and b"" as "EOF"."""
    result: list[bytes | str] = []
    for data in out:
        if data == b"":
            result.append("EOF")
        elif data[0] == 0x88 and not data[1] & 0x80:
            result.append(f"close {int.from_bytes(data[2:4], 'big')}")
        else:
            result.append(data)
    return result


def state(p: Protocol) -> State:
    """The protocol's state (a call, so that mypy does not narrow it between steps)."""
    return p.state


def pending(p: Protocol) -> bool:
    """Whether an error is held back (a call, for the same reason)."""
    return p.error_pending


def text_frame(text: str) -> bytes:
    """The unmasked text frame a server sends."""
    return server_frame(Opcode.TEXT, text.encode())


# -- messages before a protocol error are answered first ----------------------


def test_error_after_message_waits_for_the_answer() -> None:
    """A bad frame after a message: the echo of the message goes out before the close frame (case 3.2)."""
    p = Protocol(Side.SERVER)
    p.receive_data(
        client_frame(Opcode.TEXT, b"Hello, world!")
        + client_frame(Opcode.TEXT, b"Hello, world!", rsv=RSV2)
        + client_frame(Opcode.PING, b"")
    )
    assert pending(p)
    assert state(p) is State.OPEN
    error_so_far = p.error
    assert error_so_far is None
    assert not p.close_expected()
    assert p.data_to_send() == []  # nothing yet: the message was not collected
    assert p.events_received() == [Message("Hello, world!")]
    p.send_text("Hello, world!")
    assert summary(p.data_to_send()) == [text_frame("Hello, world!"), "close 1002", "EOF"]
    assert not pending(p)
    assert state(p) is State.CLOSED
    assert isinstance(p.error, RemoteProtocolError)
    assert p.close_sent is not None and p.close_sent.code == 1002
    assert p.events_received() == []  # the ping after the bad frame is never read


def test_error_after_message_without_answer() -> None:
    """If the application does not answer, the close frame goes out at the next data_to_send()."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.TEXT, b"a") + client_frame(0x3, b""))
    assert p.events_received() == [Message("a")]
    assert summary(p.data_to_send()) == ["close 1002", "EOF"]
    assert state(p) is State.CLOSED


def test_error_without_message_fails_at_once() -> None:
    """A bad frame with no message before it fails the connection in receive_data()."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.PING, b"x") + client_frame(Opcode.TEXT, b"a", rsv=RSV2))
    assert not pending(p)
    assert state(p) is State.CLOSED
    assert p.events_received() == [Ping(b"x")]
    out = summary(p.data_to_send())
    assert out[0] == b"\x8a\x01x"  # the pong still comes first
    assert out[1:] == ["close 1002", "EOF"]


def test_error_in_a_later_read_fails_at_once() -> None:
    """Messages collected earlier do not hold back an error found in a later read."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.TEXT, b"a"))
    assert p.events_received() == [Message("a")]
    p.receive_data(client_frame(0xB, b""))
    assert not pending(p)
    assert state(p) is State.CLOSED


def test_error_in_a_later_read_held_back_for_undelivered_messages() -> None:
    """With hold_errors (the caller still holds messages), a later read's error waits too (case 4.1.5)."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.TEXT, b"Hello, world!"))
    assert p.events_received() == [Message("Hello, world!")]
    p.receive_data(client_frame(0x7, b"reserved") + client_frame(Opcode.PING, b""), hold_errors=True)
    assert pending(p)
    assert state(p) is State.OPEN
    assert p.events_received() == []
    p.send_text("Hello, world!")  # the application answers the message it still had
    assert summary(p.data_to_send()) == [text_frame("Hello, world!"), "close 1002", "EOF"]
    assert state(p) is State.CLOSED
    assert p.events_received() == []  # the ping after the bad frame is never read


def test_hold_errors_without_an_error_changes_nothing() -> None:
    """hold_errors only matters when the bytes hold a protocol error."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.TEXT, b"a"), hold_errors=True)
    assert not pending(p)
    assert p.events_received() == [Message("a")]
    assert p.data_to_send() == []


def test_error_after_fragmented_message() -> None:
    """A continuation with nothing to continue, after a complete fragmented message (case 5.15)."""
    p = Protocol(Side.SERVER)
    p.receive_data(
        client_frame(Opcode.TEXT, b"fragment1", fin=False)
        + client_frame(Opcode.CONTINUATION, b"fragment2")
        + client_frame(Opcode.CONTINUATION, b"fragment3", fin=False)
        + client_frame(Opcode.TEXT, b"fragment4")
    )
    assert pending(p)
    assert p.events_received() == [Message("fragment1fragment2")]
    p.send_text("fragment1fragment2")
    assert summary(p.data_to_send()) == [text_frame("fragment1fragment2"), "close 1002", "EOF"]


def test_error_after_fragments_in_streaming_mode() -> None:
    """With assemble_messages=False, delivered fragments hold the error back too."""
    p = Protocol(Side.SERVER, assemble_messages=False)
    p.receive_data(client_frame(Opcode.BINARY, b"ab", fin=False) + client_frame(0x3, b""))
    assert pending(p)
    assert p.events_received() == [Fragment(b"ab", True, False)]
    assert summary(p.data_to_send()) == ["close 1002", "EOF"]


def test_client_holds_back_error_too() -> None:
    """A client answers the messages before a bad frame first as well."""
    p = Protocol(Side.CLIENT, mask_key=fixed_mask)
    p.receive_data(server_frame(Opcode.BINARY, b"\x01") + server_frame(Opcode.BINARY, b"", rsv=RSV1))
    assert p.events_received() == [Message(b"\x01")]
    p.send_binary(b"\x01")
    out = p.data_to_send()
    assert len(out) == 2  # a client waits for the server to close the TCP connection
    assert out[0][0] == 0x82
    assert out[1][0] == 0x88
    assert p.close_sent is not None and p.close_sent.code == 1002
    assert state(p) is State.CLOSED


def test_pending_error_applies_on_more_data() -> None:
    """More input applies the held-back error first; the new bytes are ignored."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.TEXT, b"a") + client_frame(0x3, b""))
    p.receive_data(client_frame(Opcode.TEXT, b"b"))
    assert state(p) is State.CLOSED
    assert p.events_received() == [Message("a")]
    assert summary(p.data_to_send()) == ["close 1002", "EOF"]


def test_pending_error_applies_on_eof() -> None:
    """EOF applies the held-back error: the close frame goes out before the half-close."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.TEXT, b"a") + client_frame(0x3, b""))
    p.receive_eof()
    assert state(p) is State.CLOSED
    assert isinstance(p.error, RemoteProtocolError)
    assert summary(p.data_to_send()) == ["close 1002", "EOF"]


def test_fail_while_error_pending() -> None:
    """An explicit fail() replaces the held-back error."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.TEXT, b"a") + client_frame(0x3, b""))
    p.events_received()
    p.fail(1011, "")
    assert not pending(p)
    assert p.error is None
    assert summary(p.data_to_send()) == ["close 1011", "EOF"]


def test_send_close_while_error_pending() -> None:
    """A close sent by the application goes out; the held-back error then ends the handshake."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.TEXT, b"a") + client_frame(0x3, b""))
    p.events_received()
    p.send_close(1000)
    assert summary(p.data_to_send()) == ["close 1000", "EOF"]
    assert state(p) is State.CLOSED
    assert isinstance(p.error, RemoteProtocolError)


def test_message_too_big_after_message_is_held_back() -> None:
    """Any received error is held back, 1009 included."""
    p = Protocol(Side.SERVER, max_message_size=4)
    p.receive_data(client_frame(Opcode.BINARY, b"ok") + client_frame(Opcode.BINARY, b"too long"))
    assert p.events_received() == [Message(b"ok")]
    assert summary(p.data_to_send()) == ["close 1009", "EOF"]
    assert isinstance(p.error, MessageTooBig)


# -- invalid UTF-8 fails fast, even inside a frame ----------------------------


def test_invalid_utf8_in_a_partial_frame_fails_at_once() -> None:
    """Invalid UTF-8 fails before the rest of the frame arrives (case 6.4.3)."""
    wire = client_frame(Opcode.TEXT, PART1 + PART2 + PART3)
    header = 6  # 2 bytes, then the masking key
    p = Protocol(Side.SERVER)
    p.receive_data(wire[: header + len(PART1)])
    assert state(p) is State.OPEN
    p.receive_data(wire[header + len(PART1) : header + len(PART1) + len(PART2)])
    assert isinstance(p.error, InvalidPayload)
    assert summary(p.data_to_send()) == ["close 1007", "EOF"]


def test_invalid_utf8_at_its_first_bad_byte() -> None:
    """The connection fails on the byte that makes the text invalid, not later."""
    wire = client_frame(Opcode.TEXT, PART1 + PART2 + PART3)
    p = Protocol(Side.SERVER)
    bad = 6 + len(PART1) + 1  # 0x90 after 0xf4
    for i in range(bad):
        p.receive_data(wire[i : i + 1])
        assert state(p) is State.OPEN
    p.receive_data(wire[bad : bad + 1])
    assert p.close_sent is not None and p.close_sent.code == 1007


def test_invalid_utf8_in_a_partial_continuation_fails_at_once() -> None:
    """A sequence split across fragments is checked as the continuation arrives (case 6.4.4)."""
    first = client_frame(Opcode.TEXT, PART1 + PART2[:1], fin=False)
    rest = client_frame(Opcode.CONTINUATION, PART2[1:] + PART3)
    p = Protocol(Side.SERVER)
    p.receive_data(first + rest[:6])  # the continuation's header only
    assert state(p) is State.OPEN
    p.receive_data(rest[6:7])
    assert isinstance(p.error, InvalidPayload)


def test_client_checks_partial_text_from_server() -> None:
    """A client fails fast on a server's partial text frame as well."""
    wire = server_frame(Opcode.TEXT, PART1 + PART2 + PART3)
    p = Protocol(Side.CLIENT, mask_key=fixed_mask)
    p.receive_data(wire[: 2 + len(PART1) + 2])
    assert isinstance(p.error, InvalidPayload)


@pytest.mark.parametrize("fragmented", [False, True])
def test_valid_text_byte_by_byte(fragmented: bool) -> None:
    """Valid multi-byte text arriving one byte at a time is not mistaken for invalid."""
    text = "κόσμε €𝄞 edited"
    data = text.encode()
    if fragmented:
        cut = len("κόσμε €".encode()) + 2  # inside the 4-byte 𝄞
        wire = client_frame(Opcode.TEXT, data[:cut], fin=False) + client_frame(
            Opcode.CONTINUATION, data[cut:]
        )
    else:
        wire = client_frame(Opcode.TEXT, data)
    p = Protocol(Side.SERVER)
    for piece in bytewise(wire):
        p.receive_data(piece)
    assert p.error is None
    assert p.events_received() == [Message(text)]


def test_binary_partial_frame_is_not_checked() -> None:
    """Binary payloads are never read as UTF-8."""
    p = Protocol(Side.SERVER)
    wire = client_frame(Opcode.BINARY, b"\xff\xfe" * 10)
    p.receive_data(wire[:10])
    p.receive_data(wire[10:])
    assert p.events_received() == [Message(b"\xff\xfe" * 10)]


def test_out_of_sequence_text_is_not_checked_early() -> None:
    """A text frame inside a fragmented message fails with 1002 when complete, not 1007 early."""
    p = Protocol(Side.SERVER)
    p.receive_data(client_frame(Opcode.BINARY, b"x", fin=False))
    wire = client_frame(Opcode.TEXT, b"\xff" * 4)
    p.receive_data(wire[:8])
    assert state(p) is State.OPEN
    p.receive_data(wire[8:])
    assert p.close_sent is not None and p.close_sent.code == 1002


def test_uncompressed_text_checked_early_with_deflate() -> None:
    """With permessage-deflate, a message sent without RSV1 is still checked as it arrives."""
    p = Protocol(Side.SERVER, [PerMessageDeflate()])
    wire = client_frame(Opcode.TEXT, PART1 + PART2 + PART3)
    p.receive_data(wire[: 6 + len(PART1) + 2])
    assert isinstance(p.error, InvalidPayload)


def test_uncompressed_continuation_checked_early_with_deflate() -> None:
    """With permessage-deflate, the continuation of an uncompressed text message is checked early."""
    p = Protocol(Side.SERVER, [PerMessageDeflate()])
    p.receive_data(client_frame(Opcode.TEXT, PART1, fin=False))
    wire = client_frame(Opcode.CONTINUATION, PART2 + PART3)
    p.receive_data(wire[:8])
    assert isinstance(p.error, InvalidPayload)


def test_compressed_partial_frame_is_not_checked() -> None:
    """A compressed frame is inflated (and its text checked) only once complete."""
    compressor = zlib.compressobj(wbits=-15)
    text = "κόσμε" * 20
    data = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
    wire = client_frame(Opcode.TEXT, data[:-4], rsv=RSV1)
    p = Protocol(Side.SERVER, [PerMessageDeflate()])
    for piece in bytewise(wire):
        p.receive_data(piece)
    assert p.error is None
    assert p.events_received() == [Message(text)]


def test_compressed_continuation_is_not_checked_early() -> None:
    """The continuations of a compressed message are not read as raw UTF-8."""
    compressor = zlib.compressobj(wbits=-15)
    head = compressor.compress("κόσμε".encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
    tail = compressor.compress(b"edited") + compressor.flush(zlib.Z_SYNC_FLUSH)
    p = Protocol(Side.SERVER, [PerMessageDeflate()])
    p.receive_data(client_frame(Opcode.TEXT, head, fin=False, rsv=RSV1))
    for piece in bytewise(client_frame(Opcode.CONTINUATION, tail[:-4])):
        p.receive_data(piece)
    assert p.error is None
    assert p.events_received() == [Message("κόσμεedited")]


class _Reverse(Extension):
    """A toy extension that reverses the payload of every data frame."""

    name = "x-reverse"  # type: ignore[assignment]
    rsv_mask = RSV2

    def encode(self, frame: Frame) -> Frame:
        """Reverse outgoing data payloads."""
        return frame if frame.opcode >= 8 else Frame(frame.opcode, frame.payload[::-1], frame.fin)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Reverse incoming data payloads."""
        return frame if frame.opcode >= 8 else Frame(frame.opcode, frame.payload[::-1], frame.fin)


def test_unknown_extension_disables_early_check() -> None:
    """An extension that may change plain frames turns the early check off."""
    assert not _Reverse.passes_plain_messages
    text = "é"  # reversed on the wire, so its raw bytes are not valid UTF-8
    wire = client_frame(Opcode.TEXT, text.encode()[::-1])
    p = Protocol(Side.SERVER, [_Reverse()])
    for piece in bytewise(wire):
        p.receive_data(piece)
    assert p.error is None
    assert p.events_received() == [Message(text)]


@pytest.mark.parametrize("split", [False, True])
def test_surrogate_prefix_fails_before_the_third_byte(split: bool) -> None:
    """0xED 0xA0 (a UTF-16 surrogate's start) fails at once, which CPython's decoder alone does not do."""
    if split:  # the prefix ends a complete first fragment
        wire = client_frame(Opcode.TEXT, PART1 + b"\xed\xa0", fin=False)
    else:  # the prefix is the last thing that arrived of a partial frame
        wire = client_frame(Opcode.TEXT, PART1 + b"\xed\xa0\x80")[:-1]
    p = Protocol(Side.SERVER)
    p.receive_data(wire)
    assert isinstance(p.error, InvalidPayload)


def test_ed_followed_by_a_low_byte_is_valid() -> None:
    """0xED 0x80-0x9F starts a valid character (U+D000-U+D7FF), split at any byte."""
    text = "\ud7ff\ud000"
    p = Protocol(Side.SERVER)
    for piece in bytewise(client_frame(Opcode.TEXT, text.encode())):
        p.receive_data(piece)
    assert p.events_received() == [Message(text)]
