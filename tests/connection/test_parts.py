"""The connection's parts on their own: queue bounds, keepalive timing, the reader's lifecycle."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

import ws
import ws.testing
from ws.connection import reader_of
from ws.connection._keepalive import Due, Keepalive
from ws.connection._queue import MessageQueue, QueueClosed
from ws.connection._reader import _TRANSITIONS, Reader, ReaderState, _Input
from ws.errors import LocalProtocolError
from ws.transports.fastio import Budget

# -- the message queue ---------------------------------------------------------


def test_queue_count_bound_is_exact() -> None:
    """With max_messages 1: one queued, one in hand, then no room."""
    queue = MessageQueue(1, math.inf, Budget())
    assert queue.room() == (2, math.inf)
    queue.put("a")
    assert queue.has_room() and queue.room() == (1, math.inf)
    queue.put("b")
    assert not queue.has_room() and queue.room() == (0, 0)
    assert len(queue) == 2


def test_queue_byte_bound_is_exact() -> None:
    """A message that would pass max_bytes waits in hand; a lone big message always fits."""
    queue = MessageQueue(math.inf, 10, Budget())
    queue.put(b"123456")
    queue.put(b"7890ab")  # 12 > 10: in hand
    assert not queue.has_room()
    assert queue.take() == b"123456"
    lone = MessageQueue(math.inf, 10, Budget())
    lone.put(b"x" * 100)
    assert lone.has_room()


async def test_queue_admits_the_message_in_hand_when_it_fits() -> None:
    """Taking a message moves the one in hand into the queue, and the reader may parse again."""
    queue = MessageQueue(1, math.inf, Budget())
    queue.put("a")
    queue.put("b")
    assert await queue.get() == "a"
    assert queue.has_room()
    assert await queue.get() == "b"


async def test_queue_size_zero_hands_over_directly() -> None:
    """max_messages 0: the message waits in hand and goes straight to the consumer."""
    queue = MessageQueue(0, math.inf, Budget())
    queue.put("direct")
    assert not queue.has_room()
    assert await queue.get() == "direct"
    assert queue.has_room()


async def test_queue_close_discards_and_end_drains() -> None:
    """close() drops messages and get() raises; end() lets queued messages out first."""
    closed = MessageQueue(5, math.inf, Budget())
    closed.put("a")
    closed.close()
    assert len(closed) == 0 and closed.has_room()
    with pytest.raises(QueueClosed):
        await closed.get()
    ended = MessageQueue(5, math.inf, Budget())
    ended.put("a")
    ended.end()
    assert await ended.get() == "a"
    with pytest.raises(QueueClosed):
        await ended.get()


@pytest.mark.parametrize("bad", [-1, 1.5])
def test_queue_rejects_bad_sizes(bad: float) -> None:
    """message_queue_size must be an int >= 0 or math.inf."""
    with pytest.raises(ValueError, match="message_queue_size"):
        MessageQueue(bad, math.inf, Budget())


# -- keepalive timing ----------------------------------------------------------


def test_keepalive_pings_then_times_out() -> None:
    """A ping every interval; no pong within the timeout is a TIMEOUT."""
    keepalive = Keepalive(20, 10)
    keepalive.start(0)
    assert keepalive.next_deadline(0) == 20
    assert keepalive.due(19.9) is Due.NOTHING
    assert keepalive.due(20) is Due.PING
    keepalive.ping_sent(b"k", 20)
    assert keepalive.in_flight == b"k"
    assert keepalive.next_deadline(20) == 30
    assert keepalive.due(29.9) is Due.NOTHING
    assert keepalive.due(30) is Due.TIMEOUT


def test_keepalive_pong_rearms() -> None:
    """The pong for the keepalive ping arms the next ping; another pong changes nothing."""
    keepalive = Keepalive(20, None)
    keepalive.start(0)
    keepalive.ping_sent(b"k", 20)
    assert keepalive.next_deadline(20) == math.inf
    keepalive.on_pong(b"other", 25)
    assert keepalive.in_flight == b"k"
    keepalive.on_pong(b"k", 25)
    assert not keepalive.in_flight
    assert keepalive.next_deadline(25) == 45


def test_keepalive_pause_and_off() -> None:
    """pause() shifts the deadlines; without an interval nothing is ever due."""
    keepalive = Keepalive(20, 10)
    keepalive.start(0)
    keepalive.pause(5)
    assert keepalive.next_deadline(0) == 25
    off = Keepalive(None, None)
    off.start(0)
    assert off.next_deadline(0) == math.inf and off.due(1e9) is Due.NOTHING


@pytest.mark.parametrize("name", ["ping_interval", "ping_timeout"])
def test_keepalive_rejects_non_positive(name: str) -> None:
    """Intervals and timeouts are > 0 or None."""
    with pytest.raises(ValueError, match=name):
        Keepalive(0, None) if name == "ping_interval" else Keepalive(1, -1)


# -- the reader's lifecycle ----------------------------------------------------


async def _reader() -> Reader:
    async with ws.testing.open_websocket_pair() as (client, _):
        return reader_of(client)


_TABLE: list[tuple[ReaderState, _Input]] = sorted(_TRANSITIONS, key=lambda k: (k[0].value, k[1].value))


@pytest.mark.parametrize(("state", "event"), _TABLE)
async def test_reader_transition_table(state: ReaderState, event: _Input) -> None:
    """Each entry of the table moves the reader to the state it names."""
    reader = await _reader()
    reader.state = state
    reader._transition(event)
    assert reader.state is _TRANSITIONS[state, event]


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s in ReaderState for e in _Input if (s, e) not in _TRANSITIONS],
)
async def test_reader_missing_transitions_raise(state: ReaderState, event: _Input) -> None:
    """An input the table has no entry for raises, naming the state and the input."""
    reader = await _reader()
    reader.state = state
    with pytest.raises(LocalProtocolError, match=state.name):
        reader._transition(event)


async def test_reader_states_over_a_connection() -> None:
    """READING while open, DONE once the connection closed and the stream is closed."""
    async with ws.testing.open_websocket_pair() as (client, server):
        assert reader_of(client).state is ReaderState.READING
        await client.aclose()
        assert reader_of(client).state is ReaderState.DONE
        await reader_of(server).wait_done()
        assert reader_of(server).done


def test_handshake_header_pairs_are_shared_when_already_in_lower_case() -> None:
    """A connection keeps the handshake's own pairs when their names are lower case (no copy per connection), else lowers them."""
    from ws.connection._connection import _lower_names

    pairs = [(b"host", b"example.org"), (b"x-trace", b"1")]
    kept = _lower_names(pairs)
    assert kept == tuple(pairs)
    assert all(a is b for a, b in zip(kept, pairs))
    assert _lower_names([(b"Host", b"example.org"), (b"X-Trace", b"1")]) == tuple(pairs)
    assert _lower_names([(b"x-1", b"v")]) == ((b"x-1", b"v"),)
    assert _lower_names([]) == ()
