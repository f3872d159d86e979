"""Property tests: anything sent through a ProtocolPair arrives intact, in any chunking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import RemoteProtocolError
from ws.events import Close, Event, Message, Ping, Pong
from ws.extensions.base import Extension
from ws.frames import CloseReason
from ws.protocol import Protocol, Side, State

from .helpers import ProtocolPair, chunked

ExtensionMaker = Callable[[], tuple[list[Extension], list[Extension]]]


@attrs.frozen
class Send:
    """One thing the sending side does."""

    kind: Literal["text", "binary", "ping"]
    data: str | bytes
    pieces: int  # fragments to split the message into (1 = whole)


texts = st.text(max_size=300)
blobs = st.binary(max_size=3000)
actions = st.one_of(
    st.builds(Send, st.just("text"), texts, st.integers(1, 4)),
    st.builds(Send, st.just("binary"), blobs, st.integers(1, 4)),
    st.builds(Send, st.just("ping"), st.binary(max_size=125), st.just(1)),
)
close_codes = st.sampled_from([1000, 1001, 1003, 1011, 3000, 4999])
chunk_sizes = st.lists(st.integers(1, 200), min_size=1, max_size=5)


def split(data: str | bytes, pieces: int) -> list[str | bytes]:
    """Split data into ``pieces`` consecutive slices (some may be empty)."""
    step = max(1, len(data) // pieces)
    parts = [data[i * step : (i + 1) * step] for i in range(pieces - 1)]
    parts.append(data[(pieces - 1) * step :])
    return parts


def perform(sender: Protocol, action: Send) -> None:
    """Make ``sender`` send what ``action`` describes."""
    if action.kind == "ping":
        assert isinstance(action.data, bytes)
        sender.send_ping(action.data)
        return
    parts = split(action.data, action.pieces)
    for i, part in enumerate(parts):
        fin = i == len(parts) - 1
        if i:
            sender.send_continuation(part, fin=fin)
        elif isinstance(part, str):
            sender.send_text(part, fin=fin)
        else:
            sender.send_binary(part, fin=fin)


def expected_events(action: Send) -> list[Event]:
    """What the receiving side should see for ``action``."""
    if action.kind == "ping":
        assert isinstance(action.data, bytes)
        return [Ping(action.data)]
    return [Message(action.data)]


def run_exchange(
    pair: ProtocolPair, client_first: bool, sends: list[Send], code: int, reason: str
) -> None:
    """Send everything one way, close, and check what both sides saw."""
    sender, receiver = (pair.client, pair.server) if client_first else (pair.server, pair.client)
    for action in sends:
        perform(sender, action)
    sender.send_close(code, reason)
    client_events, server_events = pair.pump()
    received, echoed = (server_events, client_events) if client_first else (client_events, server_events)
    want: list[Event] = []
    for action in sends:
        want += expected_events(action)
    want.append(Close(CloseReason(code, reason or None)))
    assert received == want
    pongs = [Pong(a.data) for a in sends if a.kind == "ping" and isinstance(a.data, bytes)]
    assert echoed == [*pongs, Close(CloseReason(code, reason or None))]  # code and reason echoed
    assert pair.client.state is State.CLOSED and pair.server.state is State.CLOSED
    assert pair.client.eof_received
    assert pair.client.error is None and pair.server.error is None
    assert sender.close_reason == receiver.close_reason == CloseReason(code, reason or None)


@settings(max_examples=150, deadline=None)
@given(
    client_first=st.booleans(),
    sends=st.lists(actions, max_size=8),
    code=close_codes,
    reason=st.text(max_size=20),
    sizes=chunk_sizes,
)
def test_round_trip_any_chunking(
    client_first: bool, sends: list[Send], code: int, reason: str, sizes: list[int]
) -> None:
    """Messages, pings and a close round-trip through any split of the byte stream."""
    pair = ProtocolPair.create(chunker=chunked(sizes), max_message_size=None)
    run_exchange(pair, client_first, sends, code, reason)


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(list(Side)),
    data=st.binary(max_size=2000),
    sizes=chunk_sizes,
)
def test_arbitrary_bytes_never_raise(side: Side, data: bytes, sizes: list[int]) -> None:
    """Garbage from the peer ends in a recorded protocol error, never an exception."""
    p = Protocol(side, max_message_size=1000)
    for piece in chunked(sizes)(data):
        p.receive_data(piece)
    p.events_received()
    if p.error is not None:
        assert isinstance(p.error, RemoteProtocolError)
        assert p.state is State.CLOSED
    assert p._parser.buffered <= 1000 + 14 + max(sizes) + 1000


def deflate_pair(
    client_no_context: bool, server_no_context: bool, client_bits: int, server_bits: int
) -> tuple[list[Extension], list[Extension]]:
    """Negotiate permessage-deflate with these parameters, as the handshake would."""
    from ws.extensions import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory

    client_factory = ClientPerMessageDeflateFactory(
        client_no_context_takeover=client_no_context,
        server_no_context_takeover=server_no_context,
        client_max_window_bits=client_bits,
        server_max_window_bits=server_bits,
    )
    server_factory = ServerPerMessageDeflateFactory()
    params, server_ext = server_factory.process_request_params(
        client_factory.get_request_params(), []
    )
    client_ext = client_factory.process_response_params(params, [])
    return [client_ext], [server_ext]


DEFLATE_COMBOS = [
    (cnc, snc, cbits, sbits)
    for cnc in (False, True)
    for snc in (False, True)
    for cbits in (8, 15)
    for sbits in (8, 15)
]


@pytest.mark.parametrize(("cnc", "snc", "cbits", "sbits"), DEFLATE_COMBOS)
@settings(max_examples=20, deadline=None)
@given(
    client_first=st.booleans(),
    sends=st.lists(actions, max_size=6),
    code=close_codes,
    reason=st.text(max_size=20),
    sizes=chunk_sizes,
)
def test_round_trip_with_deflate(
    cnc: bool, snc: bool, cbits: int, sbits: int,
    client_first: bool, sends: list[Send], code: int, reason: str, sizes: list[int],
) -> None:
    """The same round trip holds with permessage-deflate, for each parameter combination."""
    client_exts, server_exts = deflate_pair(cnc, snc, cbits, sbits)
    pair = ProtocolPair.create(
        client_extensions=client_exts,
        server_extensions=server_exts,
        chunker=chunked(sizes),
        max_message_size=None,
    )
    run_exchange(pair, client_first, sends, code, reason)


def test_deflate_actually_compresses_on_the_wire() -> None:
    """With deflate negotiated, a repetitive message travels compressed (RSV1 set)."""
    client_exts, server_exts = deflate_pair(False, False, 15, 15)
    pair = ProtocolPair.create(client_extensions=client_exts, server_extensions=server_exts)
    pair.server.send_text("abc" * 1000)
    wire = pair.server.data_to_send()
    assert len(wire) == 1 and len(wire[0]) < 100
    assert wire[0][0] & 0x40
    pair.client.receive_data(wire[0])
    assert pair.client.events_received() == [Message("abc" * 1000)]


def test_deflate_bomb_closes_with_1009() -> None:
    """A compressed message that would inflate past max_message_size fails with 1009."""
    client_exts, server_exts = deflate_pair(False, False, 15, 15)
    pair = ProtocolPair.create(
        client_extensions=client_exts, server_extensions=server_exts, max_message_size=1 << 20
    )
    pair.client.send_binary(b"\x00" * (8 << 20))
    wire = pair.client.data_to_send()
    assert sum(map(len, wire)) < (64 << 10)
    for chunk in wire:
        pair.server.receive_data(chunk)
    assert pair.server.error is not None and pair.server.error.close_code == 1009
    assert pair.server.close_sent is not None and pair.server.close_sent.code == 1009
