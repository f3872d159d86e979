"""Property tests: anything sent through a ProtocolPair arrives intact, in any chunking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import attrs
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
    assert echoed == [*pongs, Close(CloseReason(code, None))]
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
