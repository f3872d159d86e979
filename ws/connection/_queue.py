"""The message queue: messages received and not yet taken, bounded by count and bytes."""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
import trio

from ws.events import Fragment
from ws.transports.fastio import Budget

#: What the queue holds: whole messages, and the pieces of a streamed one.
Item = str | bytes | Fragment

__all__ = ["MessageQueue", "QueueClosed"]

_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled


class QueueClosed(Exception):
    """No message will come: the connection closed (locally: :meth:`MessageQueue.close`)."""


@attrs.define(eq=False)
class MessageQueue:
    """Messages between the reader and :meth:`~ws.WebSocketConnection.get_message`.

    The queue holds at most ``max_messages`` messages and, unless it holds
    one message alone, at most ``max_bytes`` bytes (characters for text).
    One more message waits *in hand* when it does not fit, as a sender
    blocked on a full Trio channel holds its item: with ``max_messages`` 1
    that makes two messages at most, and with 0 the message is handed over
    directly. While a message is in hand :meth:`has_room` is false and the
    reader parses nothing more, so what a slow application makes us hold is
    bounded exactly by the options.

    Consumers wait in :meth:`get`; the reader waits for room in
    :meth:`wait_for_room`. A pop that completed without blocking counts in
    the run's :class:`~ws.transports.fastio.Budget`, so a task taking
    messages from many connections still yields every ``YIELD_EVERY``.
    """

    _max_messages: float
    _max_bytes: float
    _budget: Budget
    # A list, not a deque: an empty deque takes 600 bytes, and the queue is short.
    _messages: list[Item] = attrs.Factory(list)
    _bytes: int = 0
    _in_hand: Item | None = None
    #: Whether :meth:`close` was called (read it; an attribute, not a
    #: property: consumers read it per message).
    closed: bool = attrs.field(default=False, init=False)
    # Ended: no more messages will come.
    _ended: bool = False
    # Tasks waiting in get() and the reader waiting for room: a ParkingLot,
    # less its bookkeeping (measured with tracemalloc: an empty ParkingLot
    # takes 249 bytes, an empty list 56).
    _consumers: list[trio.lowlevel.Task] = attrs.Factory(list)
    _producer: trio.lowlevel.Task | None = None
    _producer_on_room: bool = True
    # Set when the queue is empty and a consumer waits (see wait_until_taken).
    _taken: trio.Event | None = None

    def __attrs_post_init__(self) -> None:
        size = self._max_messages
        if size != math.inf and (size < 0 or int(size) != size):
            raise ValueError(f"message_queue_size must be an int >= 0 or math.inf, not {size!r}")
        if not self._max_bytes >= 1:
            raise ValueError(f"message_queue_bytes must be >= 1 or math.inf, not {self._max_bytes!r}")

    @property
    def empty(self) -> bool:
        """Whether no message waits (none queued, none in hand)."""
        return not self._messages and self._in_hand is None

    def __len__(self) -> int:
        return len(self._messages) + (self._in_hand is not None)

    @property
    def consumer_waiting(self) -> bool:
        """Whether a task waits in :meth:`get` for a message."""
        return bool(self._consumers)

    def has_room(self) -> bool:
        """Whether the reader may parse another message (after :meth:`close`: always)."""
        return self._in_hand is None or self.closed

    def room(self) -> tuple[float, float]:
        """How many messages, and how many bytes of them, may be parsed next.

        The bytes bound the parser loosely (it stops after the message that
        reaches them); whatever does not fit then waits in hand.
        """
        if self.closed:
            return math.inf, math.inf
        if self._in_hand is not None:
            return 0, 0
        return self._max_messages - len(self._messages) + 1, self._max_bytes - self._bytes

    def put(self, message: Item) -> None:
        """Queue ``message``, or hold it in hand if it does not fit (the reader then waits)."""
        self.put_many((message,))

    def put_many(self, batch: Iterable[Item]) -> None:
        """:meth:`put` each message of ``batch`` in order (one call for a parsed batch).

        The batch must fit in :meth:`room`: only its last message may be left
        in hand.
        """
        if self.closed:
            return
        messages = self._messages
        max_messages = self._max_messages
        max_bytes = self._max_bytes
        for message in batch:
            size = len(message)
            if len(messages) < max_messages and (not messages or self._bytes + size <= max_bytes):
                messages.append(message)
                self._bytes += size
            else:
                assert self._in_hand is None, "put() without room"
                self._in_hand = message
        if self._consumers:
            self._wake_consumers()

    def append_now(self, item: Item) -> None:
        """Queue ``item`` last, after the one in hand, even beyond the bounds.

        For the piece :meth:`ws.protocol.Protocol.stream_messages` hands
        over once per connection: what was assembled of a message before
        it went to pieces, already bounded by ``max_message_size``.
        """
        if self.closed:
            return
        in_hand = self._in_hand
        if in_hand is not None:
            self._in_hand = None
            self._messages.append(in_hand)
            self._bytes += len(in_hand)
        self._messages.append(item)
        self._bytes += len(item)
        if self._consumers:
            self._wake_consumers()

    async def get(self) -> Item:
        """Take the next message, waiting for one.

        Raises:
            QueueClosed: The queue was closed, or ended and is empty.
        """
        await _checkpoint_if_cancelled()
        message = self.take()
        if message is None:
            return await self.wait_and_take()
        await self._budget.spend()
        return message

    async def wait_and_take(self) -> Item:
        """Wait for the next message and take it (always a schedule point).

        For a caller that checked for cancellation and found nothing to
        :meth:`take`, as :meth:`get` does.

        Raises:
            QueueClosed: The queue was closed, or ended and is empty.
        """
        messages = self._messages
        while not (messages or self._in_hand is not None):
            if self.closed or self._ended:
                await trio.lowlevel.checkpoint()
                raise QueueClosed
            if self._taken is not None:
                self._taken.set()  # every message taken, and back for more
            await self._park_consumer()
        self._budget.ops = 0  # it blocked: that was a schedule point
        message = self.take()
        if message is None:  # closed while we waited
            raise QueueClosed
        return message

    def take(self) -> Item | None:
        """Take the next message if one waits (and the queue is open), else ``None``.

        No checkpoint and no budget: for a caller that checked for
        cancellation before and counts the operation after, as :meth:`get`
        does.
        """
        if self.closed:
            return None
        messages = self._messages
        if messages:
            message = messages.pop(0)
            self._bytes -= len(message)
            in_hand = self._in_hand
            # The message in hand joins the queue if it fits now, in bytes too.
            if in_hand is not None and (
                not messages or self._bytes + len(in_hand) <= self._max_bytes
            ):
                self._in_hand = None
                messages.append(in_hand)
                self._bytes += len(in_hand)
        else:
            in_hand = self._in_hand
            if in_hand is None:
                return None
            message = in_hand
            self._in_hand = None
        producer = self._producer
        if producer is not None and self._producer_on_room and self._in_hand is None:
            trio.lowlevel.reschedule(producer)
            self._producer = None
        return message

    async def wait_for_room(self, *, on_room: bool = True) -> None:
        """Wait until :meth:`has_room` (unless not ``on_room``), :meth:`close` or :meth:`wake_producer`."""
        if self.closed or self.has_room():
            return
        self._producer = trio.lowlevel.current_task()
        self._producer_on_room = on_room

        def abort(_: object) -> trio.lowlevel.Abort:
            self._producer = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def wake_producer(self) -> None:
        """Wake the reader if it waits for room (it has something else to do)."""
        producer = self._producer
        if producer is not None:
            self._producer = None
            trio.lowlevel.reschedule(producer)

    async def wait_until_taken(self) -> None:
        """Wait until every message was taken and a consumer is back for more, or :meth:`close`."""
        if self.closed or (not self and self._consumers):
            return
        self._taken = trio.Event()
        try:
            await self._taken.wait()
        finally:
            self._taken = None

    def close(self) -> None:
        """Discard every message; :meth:`get` raises from now on, and the reader waits no more."""
        self.closed = True
        self._messages.clear()
        self._bytes = 0
        self._in_hand = None
        self._wake_consumers()
        self.wake_producer()
        if self._taken is not None:
            self._taken.set()

    def end(self) -> None:
        """No more messages will come; those queued can still be taken."""
        self._ended = True
        self._wake_consumers()

    async def _park_consumer(self) -> None:
        task = trio.lowlevel.current_task()
        consumers = self._consumers
        consumers.append(task)

        def abort(_: object) -> trio.lowlevel.Abort:
            consumers.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _wake_consumers(self) -> None:
        consumers = self._consumers
        if consumers:
            reschedule = trio.lowlevel.reschedule
            for task in consumers:
                reschedule(task)
            consumers.clear()
