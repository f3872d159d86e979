"""The reader: reads the stream, feeds the protocol, and dispatches what it finds.

Theory of operation
-------------------

One reader task per connection, started by whoever builds the connection
(:meth:`Reader.start`), reads from the stream and feeds the protocol. Its
lifecycle is :class:`ReaderState`, changed in one place (``_transition``)
through the table ``_TRANSITIONS``:

* ``NEW``: built; bytes that came with the end of the opening handshake
  may still be handed over (:meth:`Reader.add_early_data`).
* ``READING``: the connection is open. The reader parses what it reads,
  puts messages in the :class:`~ws.connection._queue.MessageQueue`, wakes
  the tasks waiting in ``ping()``, writes the answers the protocol owes
  (pongs, the close echo), and keeps the connection alive (see
  :class:`~ws.connection._keepalive.Keepalive`).
* ``CLOSING``: a close frame was sent or received. The reader reads on
  until the peer ends the stream, within the close deadline.
* ``ABORTED``: the stream broke or a write was cut short. The reader stops
  at once.
* ``DONE``: the reader ended and closed the stream. It never raises: what
  ended it becomes the connection's close reason (and :attr:`Reader.cause`).

Backpressure: the reader parses only as many messages as the queue has
room for (``Protocol.receive_data(max_messages=, max_bytes=)``). The rest of
what it read stays in the protocol's buffer, and while there is some, the
reader reads nothing more from the stream: a peer that sends faster than
the application reads is pushed back by TCP. A consumer that finds the
queue empty parses the buffered bytes itself (:meth:`Reader.take_buffered`)
instead of waking the reader for every message, and wakes it only when
something needs writing or the connection is closing.

Code that runs while parsing (extensions' ``decode``) sees the context
(contextvars) of the task that started the reader, whichever task parses:
the reader task was started with a copy of it, and a consumer parses inside
a copy taken at the same time.

The reader runs in one cancel scope at a time (one per keepalive period,
not per read: measured, a scope per read cost 20% of the round-trip rate).
Its deadline is the keepalive's or the close deadline, whichever comes
first, and :meth:`Reader.abort` cancels it.

Invariants: the stream is closed when the state is ``DONE``; nothing is
written after the protocol asked for EOF; no exception escapes the task.

Logging: the reader holds the connection's :class:`~ws._logging.Log` (the
one reference to it a connection keeps) and logs, at INFO, a keepalive
timeout and, once, the end of the connection (:meth:`Reader.log_closed`).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Final

import attrs
import trio

from ws._logging import Log
from ws.connection._keepalive import Due, Keepalive
from ws.connection._pings import Pings
from ws.connection._queue import MessageQueue
from ws.connection._writer import Writer
from ws.errors import ConnectionClosed, ConnectionTimeout, LocalProtocolError, closed_error_type
from ws.events import Event, Fragment, Message, Pong
from ws.frames.close import CloseReason
from ws.frames.frame import CloseCode
from ws.protocol import Protocol, State
from ws.transports.fastio import ByteIO, close_forcefully
from ws.typing import StateEnum

__all__ = ["CLOSE_FRAME_GRACE", "Reader", "ReaderState"]

_OPEN: Final = State.OPEN
_STREAM_ERRORS: Final = (trio.BrokenResourceError, trio.ClosedResourceError)
#: After a keepalive timeout, or when cancelled from outside, how long the
#: close frame may take to go out before the stream is dropped (it goes at
#: once unless our send buffer is full).
CLOSE_FRAME_GRACE: Final = 1.0
#: How long the reader lets the application take and answer the messages
#: that came before a protocol error, before it sends the close frame.
ANSWER_GRACE: Final = 1.0


class ReaderState(StateEnum):
    """Where the reader is in its life (see the module docstring)."""

    NEW = "new"
    READING = "reading"
    CLOSING = "closing"
    ABORTED = "aborted"
    DONE = "done"


class _Input(StateEnum):
    START = "start"
    CLOSE = "start closing"
    ABORT = "abort"
    FINISH = "finish"


_S = ReaderState
_TRANSITIONS: Final[dict[tuple[ReaderState, _Input], ReaderState]] = {
    (_S.NEW, _Input.START): _S.READING,
    (_S.NEW, _Input.CLOSE): _S.NEW,
    (_S.NEW, _Input.ABORT): _S.ABORTED,
    (_S.NEW, _Input.FINISH): _S.DONE,
    (_S.READING, _Input.CLOSE): _S.CLOSING,
    (_S.READING, _Input.ABORT): _S.ABORTED,
    (_S.READING, _Input.FINISH): _S.DONE,
    (_S.CLOSING, _Input.CLOSE): _S.CLOSING,
    (_S.CLOSING, _Input.ABORT): _S.ABORTED,
    (_S.CLOSING, _Input.FINISH): _S.DONE,
    (_S.ABORTED, _Input.CLOSE): _S.ABORTED,
    (_S.ABORTED, _Input.ABORT): _S.ABORTED,
    (_S.ABORTED, _Input.FINISH): _S.DONE,
    (_S.DONE, _Input.CLOSE): _S.DONE,
    (_S.DONE, _Input.ABORT): _S.DONE,
}
_RUNNING: Final = frozenset({_S.READING, _S.CLOSING})


def _set_deadline(scope: trio.CancelScope, deadline: float) -> None:
    # Reading a deadline is cheap; setting one, even to the same value,
    # updates Trio's deadline heap.
    if scope.deadline != deadline:
        scope.deadline = deadline


@attrs.define(eq=False)
class Reader:
    """The connection's reader task and its lifecycle.

    Args:
        protocol: The sans-IO connection.
        stream: The stream, closed when the reader ends.
        io: How to read: the stream itself or its fast path.
        queue: Where messages go.
        pings: Pings waiting for pongs.
        keepalive: Keepalive timing (its interval may be ``None``).
        close_timeout: How long the closing handshake may take once it
            started, or ``None`` for no limit.
        receive_size: The most bytes one read asks for.
        log: The connection's log.
    """

    _protocol: Protocol
    _stream: trio.abc.Stream
    _io: ByteIO
    _queue: MessageQueue
    _pings: Pings
    _keepalive: Keepalive
    _close_timeout: float | None
    _receive_size: int
    #: The connection's log: its id is the connection's.
    log: Log
    #: The writer; set once, right after both are made.
    writer: Writer = attrs.field(init=False)
    #: Where the reader is in its life.
    state: ReaderState = attrs.field(default=ReaderState.NEW, init=False)
    #: What ended the connection, if something did (chained to ConnectionClosed).
    cause: BaseException | None = attrs.field(default=None, init=False)
    #: Whether the closing handshake ran out of time and the stream was dropped.
    close_timed_out: bool = attrs.field(default=False, init=False)
    #: The close that aclose() is making, from the moment it was called,
    #: while the close frame may still wait for its turn to be written.
    local_close: CloseReason | None = attrs.field(default=None, init=False)
    _early_data: bytes = attrs.field(default=b"", init=False)
    _scope: trio.CancelScope | None = attrs.field(default=None, init=False)
    _close_deadline: float = attrs.field(default=math.inf, init=False)
    # When the reader began waiting for room in the queue, while it waits.
    _room_wait_start: float | None = attrs.field(default=None, init=False)
    # Made only if somebody waits (measured: an unused trio.Event takes 281 bytes).
    _done: trio.Event | None = attrs.field(default=None, init=False)
    _context: contextvars.Context | None = attrs.field(default=None, init=False)
    # When the connection was built, for the duration in the "closed" record.
    _built_at: float = attrs.field(factory=trio.current_time, init=False)

    # -- lifecycle ---------------------------------------------------------------

    def _transition(self, event: _Input) -> None:
        try:
            self.state = _TRANSITIONS[self.state, event]
        except KeyError:
            raise LocalProtocolError(
                f"the reader cannot {event.value} in state {self.state.name}"
            ) from None

    @property
    def started(self) -> bool:
        """Whether :meth:`start` was called."""
        return self.state is not ReaderState.NEW

    @property
    def done(self) -> bool:
        """Whether the reader ended (and closed the stream)."""
        return self.state is ReaderState.DONE

    def add_early_data(self, data: bytes) -> None:
        """Hand over bytes that came with the end of the opening handshake; parsed first."""
        if self.state is not ReaderState.NEW:
            raise LocalProtocolError("early data must come before the reader starts")
        self._early_data += data

    def start(self, nursery: trio.Nursery, name: str) -> None:
        """Start the reader task in ``nursery``, which must outlive the connection."""
        if self.state is not ReaderState.NEW:
            raise LocalProtocolError("the reader task is already running")
        self._transition(_Input.START)
        # The task runs in a copy of this task's context (start_soon copies
        # it); consumers that parse for it use a copy taken now too, if
        # parsing runs code that could read it (extensions' decode).
        if self._protocol.extensions:
            self._context = contextvars.copy_context()
        nursery.start_soon(self._run, name=name)

    async def wait_done(self) -> None:
        """Wait until the reader ended and closed the stream."""
        if self.state is ReaderState.DONE:
            await trio.lowlevel.checkpoint()
            return
        event = self._done
        if event is None:
            event = self._done = trio.Event()
        await event.wait()

    def abort(self) -> None:
        """Stop reading at once (the stream broke, or the connection is being dropped)."""
        self._transition(_Input.ABORT)
        if self._scope is not None:
            self._scope.cancel()
        self._queue.wake_producer()

    def on_break(self, cause: BaseException | None) -> None:
        """A write failed (``cause``) or was cut short (``None``): the connection is broken."""
        if cause is not None and self.cause is None:
            self.cause = cause
        self.break_protocol()
        self.abort()

    def break_protocol(self) -> None:
        """Tell the protocol the transport is gone (close reason 1006 unless it closed)."""
        protocol = self._protocol
        if not protocol.eof_received:
            protocol.receive_eof()
            protocol.data_to_send()

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection from our side (the close frame goes out at the next write)."""
        self._protocol.fail(code, reason)

    @property
    def close_received(self) -> CloseReason | None:
        """The peer's close frame, once it came."""
        return self._protocol.close_rcvd

    def closed_error(self) -> ConnectionClosed:
        """The :class:`~ws.ConnectionClosed` that calls on this connection raise now.

        A :class:`~ws.ConnectionClosedOK` or :class:`~ws.ConnectionClosedError`
        (``ws.errors.closed_error_type()`` decides), made for each call:
        while our closing handshake is under way (the protocol is not closed,
        no answer came, the reader was not aborted), the close we are
        making counts as sent.
        """
        protocol = self._protocol
        sent = protocol.close_sent
        rcvd = protocol.close_rcvd
        reason = (
            protocol.close_reason
            or self.local_close
            or CloseReason(CloseCode.ABNORMAL_CLOSURE, None)
        )
        closing = (
            rcvd is None and protocol.state is not State.CLOSED and self.state is not _S.ABORTED
        )
        kind = closed_error_type((sent or self.local_close) if closing else sent, rcvd, closing=closing)
        error = kind(reason, sent=sent, rcvd=rcvd)
        error.__cause__ = self.cause
        return error

    def arm_close_timeout(self) -> float:
        """Start the close deadline if it is not running; return it."""
        if self._close_timeout is not None and self._close_deadline == math.inf:
            deadline = self._close_deadline = trio.current_time() + self._close_timeout
            scope = self._scope
            if scope is not None and scope.deadline > deadline:
                scope.deadline = deadline
        self._transition(_Input.CLOSE)
        return self._close_deadline

    # -- parsing -----------------------------------------------------------------

    def take_buffered(self) -> str | bytes | Fragment | None:
        """For a consumer that found the queue empty: parse buffered bytes.

        Parses up to one message more than the queue has room for and
        returns the first one, for the caller to hand straight to the
        application; the rest go into the queue. Runs in the reader's
        context, and wakes the reader when the bytes ran out (it reads
        again) or what was parsed needs writing (pongs, a close) or
        handling (a protocol error). Returns ``None`` when nothing was to
        be parsed or no message came of it.
        """
        queue = self._queue
        state = self.state
        # Identity tests: an Enum member's hash is computed in Python.
        if queue.closed or not (state is _S.READING or state is _S.CLOSING):
            return None
        protocol = self._protocol
        max_messages, max_bytes = queue.room()
        context = self._context
        if context is None:  # no extension: no code of the user's runs here
            events = protocol.receive_buffered(max_messages + 1, max_bytes)
        else:
            events = context.run(protocol.receive_buffered, max_messages + 1, max_bytes)
        first: str | bytes | Fragment | None = None
        rest: list[str | bytes | Fragment] = []
        for event in events:
            if type(event) is Message:
                if first is None:
                    first = event.data
                else:
                    rest.append(event.data)
            elif type(event) is Pong:
                self._on_pong(event.payload)
            elif type(event) is Fragment:  # a message being streamed: queued as it is
                if first is None:
                    first = event
                else:
                    rest.append(event)
        if rest:
            queue.put_many(rest)
        if not protocol.has_pending_input or protocol.needs_writer():
            queue.wake_producer()
        return first

    def _decode(self, data: bytes | bytearray) -> None:
        protocol = self._protocol
        queue = self._queue
        max_messages, max_bytes = queue.room()
        # Messages still queued: an error in these bytes waits for the
        # application to answer them (see _let_application_answer).
        protocol.receive_data(
            data, hold_errors=bool(queue), max_messages=max_messages, max_bytes=max_bytes
        )
        self._dispatch(protocol.events_received())

    def _dispatch(self, events: list[Event]) -> None:
        messages: list[str | bytes | Fragment] = []
        for event in events:
            if type(event) is Message:
                messages.append(event.data)
            elif type(event) is Pong:
                self._on_pong(event.payload)
            elif type(event) is Fragment:  # a message being streamed: queued as it is
                messages.append(event)
            # Ping and Close: the protocol queued the answer.
        if messages:
            self._queue.put_many(messages)

    def _on_pong(self, payload: bytes) -> None:
        answered = self._pings.acknowledge(payload)
        keepalive = self._keepalive
        if answered and keepalive.in_flight in answered:
            keepalive.on_pong(keepalive.in_flight, trio.current_time())

    # -- the task ------------------------------------------------------------------

    async def _run(self) -> None:
        protocol = self._protocol
        try:
            self._keepalive.start(trio.current_time())
            while self.state in _RUNNING:
                done = False
                # Created with its deadline: setting one later costs a
                # second update of Trio's deadline heap.
                scope = self._scope = trio.CancelScope(deadline=self._read_deadline())
                with scope:
                    done = await self._read_loop(scope)
                self._scope = None
                if self._room_wait_start is not None:
                    # The deadline passed while the application was slow to
                    # take messages: not the peer's fault, so no ping
                    # (and no timeout) for that time.
                    self._keepalive.pause(trio.current_time() - self._room_wait_start)
                    self._room_wait_start = None
                if done or self.state not in _RUNNING:
                    break
                now = trio.current_time()
                if now >= self._close_deadline:
                    self.close_timed_out = True
                    break
                if protocol.state is _OPEN and not await self._keep_alive(now):
                    break  # the peer stopped answering, or the stream broke: drop it
        except trio.Cancelled:
            # Cancelled from outside: the nursery (a server shutting down, a
            # client leaving) is going away. Close with 1001, unless a close
            # is under way already, and give the peer a moment to answer,
            # so that it learns why.
            if protocol.state is not State.CLOSED:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_FRAME_GRACE):
                    await self._go_away()
            raise
        except Exception as exc:  # pragma: no cover - a bug in ws; keep the nursery alive
            self.log.error("unexpected error in the connection reader", exc_info=True)
            self.cause = exc
            protocol.fail(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            self._finish()
            await close_forcefully(self._stream)

    def end_without_task(self) -> None:
        """End a reader whose task never started (the connection closed before it could)."""
        self._finish()

    def _finish(self) -> None:
        protocol = self._protocol
        if protocol.error is not None and self.cause is None:
            self.cause = protocol.error
        self.break_protocol()
        self._pings.fail_all()
        self._transition(_Input.FINISH)
        self._queue.end()
        if self._done is not None:
            self._done.set()
        self.log_closed()

    def log_closed(self) -> None:
        """Log at INFO how the connection ended: code, reason, who closed first, duration.

        Called once per connection: when the reader ends, or by ``aclose()``
        when no reader ever ran. Who closed first is ``local``, ``peer``,
        or ``abnormal`` when the stream ended before any close frame (1006).
        """
        if not self.log.info_enabled:
            return
        protocol = self._protocol
        reason = protocol.close_reason or CloseReason(CloseCode.ABNORMAL_CLOSURE, None)
        if protocol.close_rcvd is not None and (
            protocol.close_sent is None or protocol.close_rcvd_then_sent
        ):
            side = "peer"
        elif protocol.close_sent is not None:
            side = "local"
        else:
            side = "abnormal"
        details = ""
        if self.close_timed_out:
            details += ", the closing handshake timed out"
        if side == "abnormal" and self.cause is not None:
            details += f", cause: {self.cause!r}"
        self.log.info(
            "closed %d (%s), reason %r, by %s, after %.3f s%s",
            reason.code,
            reason.name,
            reason.reason or "",
            side,
            trio.current_time() - self._built_at,
            details,
        )

    def _read_deadline(self) -> float:
        # The reader waits for data until the close deadline or, while
        # open, the keepalive's next deadline, whichever comes first.
        deadline = self._close_deadline
        if self._protocol.state is _OPEN:
            deadline = min(deadline, self._keepalive.next_deadline(trio.current_time()))
        return deadline

    async def _read_loop(self, scope: trio.CancelScope) -> bool:
        """Read and dispatch until the stream ends (True) or the scope's deadline (False).

        The keepalive deadline stays armed on ``scope`` while the reader
        waits for data or for room in the queue (which :meth:`_run` then
        does not count against the peer), and is lifted (back to the close
        deadline) around its writes and while letting the application
        answer, which a keepalive must not cut short: a write cancelled
        half-way breaks the connection. Moving a deadline costs,
        so it happens only on those rare paths, never per read (measured,
        same-core 64-byte round trips: 0.56x of raw Trio with the deadline
        moved twice per read, 0.63x without).
        """
        protocol = self._protocol
        queue = self._queue
        receive_some = self._io.receive_some
        size = self._receive_size
        data: bytes | bytearray
        _set_deadline(scope, self._read_deadline())
        while True:
            if self._early_data:
                data, self._early_data = self._early_data, b""
                self._decode(data)
            elif not queue.has_room():
                # Read no more while the application has enough to do; TCP
                # pushes the peer back meanwhile. Keepalive pauses too: a
                # pong cannot be read now, and the slow one is the
                # application, not the peer.
                # While parsed bytes wait, consumers that find the queue
                # empty parse them (take_buffered) without waking us for
                # every message; they wake us once the bytes run out.
                # The keepalive deadline stays armed (moving it costs more
                # than the rest of the wait); if it passes meanwhile, _run
                # shifts the keepalive by the time spent here and comes back.
                start = self._room_wait_start = trio.current_time()
                await queue.wait_for_room(on_room=not protocol.has_pending_input)
                self._room_wait_start = None
                self._keepalive.pause(trio.current_time() - start)
            elif protocol.has_pending_input:
                self._decode(b"")
            else:
                try:
                    data = await receive_some(size)
                except _STREAM_ERRORS as exc:
                    if not self.writer.stream_closed:  # else: we closed it, the handshake done
                        self.cause = self.cause or exc
                    data = b""
                if scope.cancel_called:
                    # The deadline passed as the data arrived: keep the data
                    # for later and leave the scope before the next
                    # checkpoint, which would raise Cancelled.
                    if data:
                        self._early_data = bytes(data)
                        return False
                    protocol.receive_eof()
                    self._dispatch(protocol.events_received())
                    return True
                if not data:
                    protocol.receive_eof()
                    self._dispatch(protocol.events_received())
                    await self._write_owed(scope)
                    return True
                self._decode(data)
            if protocol.error_pending or protocol.has_data_to_send():
                await self._write_owed(scope)
            if protocol.state is not _OPEN and self.state is ReaderState.READING:
                _set_deadline(scope, min(scope.deadline, self.arm_close_timeout()))

    async def _write_owed(self, scope: trio.CancelScope) -> None:
        """Write the answers the protocol owes (after letting the application answer first)."""
        protocol = self._protocol
        _set_deadline(scope, self._close_deadline)
        if protocol.error_pending:
            await self._let_application_answer()
        if protocol.has_data_to_send():
            with contextlib.suppress(ConnectionClosed):
                await self.writer.send()
        _set_deadline(scope, self._read_deadline())

    async def _let_application_answer(self) -> None:
        """Wait until the application took every queued message and asked for more.

        The protocol holds a protocol error back behind the messages that
        arrived before it (``Protocol.error_pending``); the close frame goes
        out at the next write. Waiting here lets the application answer
        those messages first, as if the bad frame had come a moment later
        (Autobahn cases 3.2-3.4, 4.1.3-4.2.5, 5.15). At most ANSWER_GRACE.
        """
        with trio.move_on_after(ANSWER_GRACE):
            await self._queue.wait_until_taken()

    async def _keep_alive(self, now: float) -> bool:
        """Do what the keepalive says is due; False when the peer is gone."""
        keepalive = self._keepalive
        due = keepalive.due(now)
        if due is Due.NOTHING:
            return True
        protocol = self._protocol
        if due is Due.TIMEOUT:
            # No pong in time: the peer is gone or stuck. Say so if the
            # stream still takes it, then drop the connection.
            self.cause = self.cause or ConnectionTimeout(
                f"no pong within ping_timeout={keepalive.timeout}s"
            )
            self.log.info("keepalive timeout: no pong within %s s, closing with 1011", keepalive.timeout)
            protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            with trio.move_on_after(CLOSE_FRAME_GRACE), contextlib.suppress(ConnectionClosed):
                await self.writer.send()
            return False
        pings = self._pings
        payload = pings.fresh_payload()

        def send_ping() -> None:
            if protocol.state is _OPEN:
                protocol.send_ping(payload)
                pings.add(payload)
                keepalive.ping_sent(payload, trio.current_time())

        # The close deadline and abort() still apply.
        with trio.CancelScope(deadline=self._close_deadline) as scope:
            self._scope = scope
            with contextlib.suppress(ConnectionClosed):
                await self.writer.send(send_ping)
        self._scope = None
        return True

    async def _go_away(self) -> None:
        """Send a 1001 close frame and read until the peer ends (the nursery is closing)."""
        protocol = self._protocol
        reason = "server shutting down" if protocol.side.value == "server" else "going away"

        def send_close() -> None:
            if protocol.state is _OPEN:
                protocol.send_close(CloseCode.GOING_AWAY, reason)

        with contextlib.suppress(ConnectionClosed):
            await self.writer.send(send_close)
        while not protocol.eof_received:
            try:
                data = await self._io.receive_some(self._receive_size)
            except _STREAM_ERRORS:
                data = b""
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            protocol.events_received()  # nobody will read messages now
            with contextlib.suppress(ConnectionClosed):
                await self.writer.send()
