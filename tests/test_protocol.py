"""Tests for the sans-IO protocol core, ws.protocol."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ws.errors import InvalidPayload, LocalProtocolError, MessageTooBig, RemoteProtocolError
from ws.events import Close, Fragment, Message, Ping, Pong
from ws.frames import CloseCode, CloseReason, Opcode
from ws.protocol import _TRANSITIONS, Protocol, Side, State, _Input

from .helpers import ProtocolPair, bytewise, fixed_mask, raw_frame

MASK = fixed_mask()


def client_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A masked frame, as a client sends it (not validated)."""
    return raw_frame(opcode, payload, fin=fin, rsv=rsv, mask=MASK)


def server_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame, as a server sends it (not validated)."""
    return raw_frame(opcode, payload, fin=fin, rsv=rsv)


def server() -> Protocol:
    """A server-side protocol with default settings."""
    return Protocol(Side.SERVER)


def client() -> Protocol:
    """A client-side protocol with a fixed mask key."""
    return Protocol(Side.CLIENT, mask_key=fixed_mask)


def states(pair: ProtocolPair) -> tuple[State, State]:
    """The (client, server) states of a pair."""
    return pair.client.state, pair.server.state


def close_code_sent(p: Protocol) -> int | None:
    """The code of the close frame the protocol sent, if any."""
    return None if p.close_sent is None else p.close_sent.code


# -- byte-exact output ------------------------------------------------------


def test_client_sends_masked_text_rfc_example() -> None:
    """A client's text "Hello" matches the masked example of RFC 6455 section 5.7."""
    p = client()
    p.send_text("Hello")
    assert p.data_to_send() == [bytes.fromhex("818537fa213d7f9f4d5158")]


@pytest.mark.parametrize("side", ["client", "server"])
def test_a_large_frame_comes_as_head_and_body(side: str) -> None:
    """From 64 KiB on, data_to_send gives a frame as two chunks (for a vectored write): the same bytes joined, taken at send time."""
    p = client() if side == "client" else server()
    payload = bytearray(b"0123456789abcdef" * 4096)  # 64 KiB
    expected = (client_frame if side == "client" else server_frame)(Opcode.BINARY, bytes(payload))
    p.send_binary(payload)
    payload[:4] = b"XXXX"  # changed after the send: not what goes out
    chunks = p.data_to_send()
    assert [len(chunk) for chunk in chunks] == [len(expected) - len(payload), len(payload)]
    assert b"".join(chunks) == expected
    p.send_text("x" * 65535)  # one byte under: one chunk
    assert len(p.data_to_send()) == 1


def test_server_sends_unmasked_text_rfc_example() -> None:
    """A server's text "Hello" matches the unmasked example of RFC 6455 section 5.7."""
    p = server()
    p.send_text("Hello")
    assert p.data_to_send() == [bytes.fromhex("810548656c6c6f")]


def test_fragmented_send_rfc_example() -> None:
    """send_text(fin=False) + send_continuation produce the fragmented RFC example."""
    p = server()
    p.send_text("Hel", fin=False)
    p.send_continuation("lo", fin=True)
    assert p.data_to_send() == [bytes.fromhex("010348656c"), bytes.fromhex("80026c6f")]


def test_send_binary_ping_pong_bytes() -> None:
    """Binary, ping and pong frames carry their opcodes and payloads."""
    p = server()
    p.send_binary(b"\x00\x01")
    p.send_ping(b"hi")
    p.send_pong(b"yo")
    assert p.data_to_send() == [b"\x82\x02\x00\x01", b"\x89\x02hi", b"\x8a\x02yo"]


def test_send_accepts_bytearray_and_memoryview() -> None:
    """Byte-like payloads of every kind are sent as they are."""
    p = server()
    p.send_binary(bytearray(b"ab"))
    p.send_binary(memoryview(b"cd"))
    p.send_text(b"ef")
    assert p.data_to_send() == [b"\x82\x02ab", b"\x82\x02cd", b"\x81\x02ef"]


# -- receiving ----------------------------------------------------------------


def test_receive_whole_messages() -> None:
    """Text and binary frames become Message events with str and bytes."""
    p = server()
    p.receive_data(client_frame(Opcode.TEXT, "héllo".encode()) + client_frame(Opcode.BINARY, b"\xff"))
    assert p.events_received() == [Message("héllo"), Message(b"\xff")]


def test_receive_fragmented_message_with_interleaved_ping() -> None:
    """A fragmented message is assembled; a ping between fragments is answered at once."""
    p = server()
    data = (
        client_frame(Opcode.TEXT, b"Hel", fin=False)
        + client_frame(Opcode.PING, b"p")
        + client_frame(Opcode.CONTINUATION, b"l", fin=False)
        + client_frame(Opcode.CONTINUATION, b"o", fin=True)
    )
    p.receive_data(data)
    assert p.events_received() == [Ping(b"p"), Message("Hello")]
    assert p.data_to_send() == [b"\x8a\x01p"]


def test_receive_fragments_when_streaming() -> None:
    """With assemble_messages=False each data frame becomes a Fragment."""
    p = Protocol(Side.SERVER, assemble_messages=False)
    p.receive_data(
        client_frame(Opcode.BINARY, b"ab", fin=False)
        + client_frame(Opcode.CONTINUATION, b"c", fin=True)
        + client_frame(Opcode.TEXT, b"x")
    )
    assert p.events_received() == [
        Fragment(b"ab", True, False),
        Fragment(b"c", False, True),
        Fragment("x", True, True),
    ]


def test_streamed_text_split_inside_a_character() -> None:
    """A UTF-8 sequence split across fragments decodes across them."""
    p = Protocol(Side.SERVER, assemble_messages=False)
    euro = "€".encode()
    p.receive_data(
        client_frame(Opcode.TEXT, euro[:1], fin=False)
        + client_frame(Opcode.CONTINUATION, euro[1:], fin=True)
    )
    assert p.events_received() == [Fragment("", True, False), Fragment("€", False, True)]


def test_receive_pong_event() -> None:
    """A pong becomes a Pong event and is not answered."""
    p = client()
    p.receive_data(server_frame(Opcode.PONG, b"x"))
    assert p.events_received() == [Pong(b"x")]
    assert p.data_to_send() == []


def test_receive_in_any_chunking() -> None:
    """Byte-at-a-time delivery gives the same events as one read."""
    p = server()
    data = client_frame(Opcode.TEXT, b"a" * 300) + client_frame(Opcode.BINARY, b"b" * 70000)
    for piece in bytewise(data):
        p.receive_data(piece)
    assert p.events_received() == [Message("a" * 300), Message(b"b" * 70000)]


def test_empty_receive_data_is_ignored() -> None:
    """receive_data(b"") changes nothing."""
    p = server()
    p.receive_data(b"")
    assert p.events_received() == []
    assert p.state is State.OPEN


# -- protocol errors ----------------------------------------------------------

ERROR_CASES = [
    ("unmasked client frame", server_frame(Opcode.TEXT, b"x"), 1002),
    ("rsv1 without extension", client_frame(Opcode.TEXT, b"x", rsv=0x40), 1002),
    ("reserved opcode", client_frame(0x3, b"x"), 1002),
    ("long ping", client_frame(Opcode.PING, b"x" * 126), 1002),
    ("continuation without start", client_frame(Opcode.CONTINUATION, b"x"), 1002),
    (
        "new message inside fragmented message",
        client_frame(Opcode.TEXT, b"x", fin=False) + client_frame(Opcode.TEXT, b"y"),
        1002,
    ),
    ("invalid utf-8", client_frame(Opcode.TEXT, b"\xff"), 1007),
    (
        "invalid utf-8 in first fragment",
        client_frame(Opcode.TEXT, b"ok\xc0\xaf", fin=False),
        1007,
    ),
    ("bad close code", client_frame(Opcode.CLOSE, b"\x03\xed"), 1002),
    ("one-byte close payload", client_frame(Opcode.CLOSE, b"\x03"), 1002),
    ("invalid utf-8 close reason", client_frame(Opcode.CLOSE, b"\x03\xe8\xff"), 1007),
    ("too big", client_frame(Opcode.BINARY, b"x" * 101), 1009),
    (
        "too big across fragments",
        client_frame(Opcode.BINARY, b"x" * 60, fin=False)
        + client_frame(Opcode.CONTINUATION, b"x" * 41),
        1009,
    ),
]


@pytest.mark.parametrize(("name", "data", "code"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_protocol_errors_fail_with_the_rfc_close_code(name: str, data: bytes, code: int) -> None:
    """Each violation sends a close frame with its RFC 6455 code, then half-closes."""
    p = Protocol(Side.SERVER, max_message_size=100)
    p.receive_data(data)
    assert p.state is State.CLOSED
    assert isinstance(p.error, RemoteProtocolError)
    assert p.error.close_code == code
    assert close_code_sent(p) == code
    out = p.data_to_send()
    assert out[-1] == b""
    assert out[-2][:2] == bytes([0x88, len(out[-2]) - 2])
    assert int.from_bytes(out[-2][2:4], "big") == code
    assert p.close_reason == p.close_sent


def test_invalid_utf8_fails_before_final_fragment() -> None:
    """An impossible UTF-8 prefix fails the message before its last fragment arrives."""
    p = server()
    p.receive_data(client_frame(Opcode.TEXT, "κόσμε".encode() + b"\xed\xa0\x80", fin=False))
    assert isinstance(p.error, InvalidPayload)


def test_incomplete_utf8_at_end_of_message_fails() -> None:
    """A text message that ends inside a UTF-8 sequence is invalid."""
    p = server()
    p.receive_data(
        client_frame(Opcode.TEXT, b"a", fin=False)
        + client_frame(Opcode.CONTINUATION, "€".encode()[:2], fin=True)
    )
    assert isinstance(p.error, InvalidPayload)


def test_message_size_checked_from_header_before_payload() -> None:
    """A frame over max_message_size fails as soon as its header arrives."""
    p = Protocol(Side.SERVER, max_message_size=1000)
    frame = client_frame(Opcode.BINARY, b"x" * 5000)
    p.receive_data(frame[:8])
    assert isinstance(p.error, MessageTooBig)
    assert close_code_sent(p) == 1009


def test_message_size_limit_is_inclusive() -> None:
    """A message of exactly max_message_size bytes is accepted."""
    p = Protocol(Side.SERVER, max_message_size=10)
    p.receive_data(
        client_frame(Opcode.TEXT, b"x" * 4, fin=False) + client_frame(Opcode.CONTINUATION, b"y" * 6)
    )
    assert p.events_received() == [Message("xxxxyyyyyy")]
    assert p.error is None


def test_unlimited_message_size() -> None:
    """max_message_size=None accepts any size."""
    p = Protocol(Side.SERVER, max_message_size=None)
    p.receive_data(client_frame(Opcode.BINARY, b"x" * 200_000))
    assert p.events_received() == [Message(b"x" * 200_000)]


def test_fragment_count_cap() -> None:
    """A message in more frames than max_fragments fails with 1009."""
    p = Protocol(Side.SERVER, max_fragments=3)
    data = client_frame(Opcode.BINARY, b"", fin=False) + b"".join(
        client_frame(Opcode.CONTINUATION, b"", fin=False) for _ in range(3)
    )
    p.receive_data(data)
    assert isinstance(p.error, MessageTooBig)
    assert close_code_sent(p) == 1009


def test_masked_server_frame_fails_client() -> None:
    """A client receiving a masked frame fails with 1002 and does not half-close."""
    p = client()
    p.receive_data(client_frame(Opcode.TEXT, b"x"))
    assert close_code_sent(p) == 1002
    out = p.data_to_send()
    assert b"" not in out
    assert p.close_expected()


def test_data_after_failure_is_discarded() -> None:
    """Bytes that arrive after the connection failed produce nothing."""
    p = server()
    p.receive_data(client_frame(0x3, b"") + client_frame(Opcode.TEXT, b"late"))
    p.receive_data(client_frame(Opcode.TEXT, b"later"))
    assert p.events_received() == []


# -- closing handshake --------------------------------------------------------


def test_client_initiated_close_handshake() -> None:
    """Client close, server echo, server half-closes, close reasons recorded on both."""
    pair = ProtocolPair.create()
    pair.client.send_close(1000, "bye")
    assert pair.client.close_expected()
    assert pair.client.state is State.CLOSING
    client_events, server_events = pair.pump()
    assert server_events == [Close(CloseReason(1000, "bye"))]
    assert client_events == [Close(CloseReason(1000, "bye"))]  # code and reason echoed
    assert pair.server.state is State.CLOSED
    assert states(pair) == (State.CLOSED, State.CLOSED)
    assert pair.server.eof_sent and pair.client.eof_received
    assert pair.client.close_reason == CloseReason(1000, "bye")
    assert pair.server.close_reason == CloseReason(1000, "bye")


def test_server_initiated_close_handshake() -> None:
    """The server closes first; the client echoes; the server closes TCP."""
    pair = ProtocolPair.create()
    pair.server.send_close(4000, "custom")
    client_events, server_events = pair.pump()
    assert client_events == [Close(CloseReason(4000, "custom"))]
    assert server_events == [Close(CloseReason(4000, "custom"))]  # code and reason echoed
    assert pair.client.eof_received
    assert pair.client.close_reason == CloseReason(4000, "custom")


def test_close_without_code() -> None:
    """A close without a code is echoed without one and reads as 1005."""
    pair = ProtocolPair.create()
    pair.client.send_close(None)
    _, server_events = pair.pump()
    assert server_events == [Close(CloseReason(CloseCode.NO_STATUS_RCVD, None))]
    assert pair.client.close_reason == CloseReason(1005, None)


def test_simultaneous_close() -> None:
    """Both sides closing at once completes on both sides."""
    pair = ProtocolPair.create()
    pair.client.send_close(1000)
    pair.server.send_close(1001)
    pair.pump()
    assert pair.client.state is State.CLOSED
    assert pair.server.state is State.CLOSED


def test_messages_before_close_are_delivered() -> None:
    """Messages sent before a close arrive before the Close event."""
    pair = ProtocolPair.create()
    pair.server.send_text("last words")
    pair.server.send_close(1000)
    client_events, _ = pair.pump()
    assert client_events == [Message("last words"), Close(CloseReason(1000, None))]


def test_no_frames_after_close_sent() -> None:
    """After our close frame, sending anything is a local error and pings go unanswered."""
    p = server()
    p.send_close()
    p.data_to_send()
    attempts: list[Callable[[], None]] = [
        lambda: p.send_text("x"),
        lambda: p.send_binary(b"x"),
        lambda: p.send_ping(),
        lambda: p.send_pong(),
        lambda: p.send_close(),
    ]
    for send in attempts:
        with pytest.raises(LocalProtocolError):
            send()
    p.receive_data(client_frame(Opcode.PING, b"x"))
    assert p.events_received() == [Ping(b"x")]
    assert p.data_to_send() == []


def test_eof_without_close_is_abnormal() -> None:
    """EOF before any close frame gives 1006 and closes our side too."""
    p = client()
    p.receive_eof()
    assert p.state is State.CLOSED
    assert p.close_reason == CloseReason(CloseCode.ABNORMAL_CLOSURE, None)
    assert p.data_to_send() == [b""]
    p.receive_eof()
    assert p.data_to_send() == []


def test_close_reason_none_while_open() -> None:
    """close_reason is None until the connection closes."""
    assert server().close_reason is None
    assert not server().close_expected()


def test_fail_is_idempotent() -> None:
    """fail() sends one close frame, however often it is called."""
    p = server()
    p.fail(1011, "oops")
    p.fail(1002, "again")
    out = p.data_to_send()
    assert out == [b"\x88\x06\x03\xf3oops", b""]


def test_fail_truncates_long_reason() -> None:
    """A failure reason longer than 123 bytes is cut to fit a close frame."""
    p = server()
    p.fail(1002, "é" * 200)
    frame = p.data_to_send()[0]
    assert len(frame) <= 127
    assert frame[4:].decode().endswith("...")


def test_fail_with_unsendable_code_uses_1011() -> None:
    """A code that may not be sent is replaced with 1011."""
    p = server()
    p.fail(1006)
    assert close_code_sent(p) == 1011


def test_send_close_validates_before_changing_state() -> None:
    """An invalid close code raises and leaves the connection open."""
    p = server()
    with pytest.raises(LocalProtocolError):
        p.send_close(1005)
    with pytest.raises(LocalProtocolError):
        p.send_close(1000, "x" * 124)
    assert p.state is State.OPEN


# -- sending misuse -----------------------------------------------------------


def test_fragmented_send_rules() -> None:
    """A new message cannot start inside a fragmented one; a continuation needs one."""
    p = server()
    with pytest.raises(LocalProtocolError):
        p.send_continuation(b"x", fin=True)
    p.send_binary(b"a", fin=False)
    with pytest.raises(LocalProtocolError):
        p.send_text("b")
    p.send_continuation(b"b", fin=False)
    p.send_continuation("c", fin=True)
    p.send_text("d")
    assert p.data_to_send() == [b"\x02\x01a", b"\x00\x01b", b"\x80\x01c", b"\x81\x01d"]


def test_control_payload_too_long_to_send() -> None:
    """A ping payload over 125 bytes is a local error."""
    with pytest.raises(LocalProtocolError):
        server().send_ping(b"x" * 126)


def test_invalid_settings() -> None:
    """Negative max_message_size and zero max_fragments are rejected."""
    with pytest.raises(ValueError):
        Protocol(Side.SERVER, max_message_size=-1)
    with pytest.raises(ValueError):
        Protocol(Side.SERVER, max_fragments=0)


# -- the state table ----------------------------------------------------------


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", list(_Input))
def test_transition_table(state: State, event: _Input) -> None:
    """Every (state, input) pair either follows the table or raises LocalProtocolError."""
    p = server()
    p.state = state
    expected = _TRANSITIONS.get((state, event))
    if expected is None:
        with pytest.raises(LocalProtocolError, match=state.name):
            p._transition(event)
    else:
        p._transition(event)
        assert p.state is expected


def test_ping_pong_round_trip() -> None:
    """A ping from either side is answered by a pong with the same payload."""
    pair = ProtocolPair.create()
    pair.client.send_ping(b"c")
    pair.server.send_ping(b"s")
    client_events, server_events = pair.pump()
    assert Ping(b"s") in client_events and Pong(b"c") in client_events
    assert Ping(b"c") in server_events and Pong(b"s") in server_events


def _pending(protocol: Protocol) -> bool:
    return protocol.has_pending_input


def _binary_frames(*payloads: bytes) -> bytes:
    return b"".join(raw_frame(0x2, payload, mask=b"abcd") for payload in payloads)


def test_receive_data_stops_after_max_messages() -> None:
    """Parsing stops after max_messages; the rest waits, then receive_buffered goes on."""
    server = Protocol(Side.SERVER)
    server.receive_data(_binary_frames(b"a", b"b", b"c") + raw_frame(0x9, b"p", mask=b"abcd"), max_messages=2)
    assert server.events_received() == [Message(b"a"), Message(b"b")]
    assert _pending(server)
    assert not server.needs_writer()
    assert server.receive_buffered(2, float("inf")) == [Message(b"c"), Ping(b"p")]
    assert not _pending(server)
    assert server.needs_writer()  # the pong is owed


def test_receive_data_stops_once_max_bytes_are_reached() -> None:
    """The message that reaches max_bytes is the last one parsed."""
    server = Protocol(Side.SERVER)
    server.receive_data(_binary_frames(b"x" * 6, b"y" * 6, b"z"), max_bytes=10)
    assert server.events_received() == [Message(b"x" * 6), Message(b"y" * 6)]
    assert _pending(server)
    server.receive_data(b"")
    assert server.events_received() == [Message(b"z")]
    assert not _pending(server)


def test_an_error_after_held_back_bytes_waits_behind_their_messages() -> None:
    """A bad frame in the bytes left over is found by the next call, held behind its message."""
    server = Protocol(Side.SERVER)
    server.receive_data(_binary_frames(b"a", b"b") + raw_frame(0x2, b"c", mask=b"abcd", rsv=0x20), max_messages=1)
    assert server.events_received() == [Message(b"a")]
    assert server.receive_buffered(5, float("inf")) == [Message(b"b")]
    assert server.error_pending and not _pending(server)
    server.data_to_send()
    assert server.close_sent is not None and server.close_sent.code == CloseCode.PROTOCOL_ERROR
