"""WebSocketConnection: the Trio I/O loop around the sans-IO protocol.

Theory of operation
-------------------

A connection owns a ``trio.abc.Stream`` that has finished the opening
handshake and a :class:`ws.protocol.Protocol`. Three kinds of task touch it:

* The *reader* task, started in a nursery by whoever builds the connection
  (see :meth:`WebSocketConnection.start_reader`), reads from the stream,
  feeds the protocol, and dispatches its events: messages go into the
  message queue (a Trio memory channel of ``message_queue_size``; when it is
  full the reader waits, so it stops reading and the peer is pushed back by
  TCP), pongs wake the matching :meth:`~WebSocketConnection.ping` calls, and
  whatever the protocol wants to send in answer (pongs, the closing
  handshake) is written at once. The reader ends at EOF or when the stream
  breaks, and then closes the stream. It never raises: errors become the
  connection's close reason. On a plain socket of a server, a reader that
  heard nothing for a while (``IDLE_AFTER``) and waits for nothing else
  hands the socket to the run's idle poller and ends; the poller starts it
  again on data, EOF or a due keepalive ping, and closing, ``ping()`` or a
  broken write start it at once (see :mod:`ws._idle`).
* Any number of tasks call :meth:`~WebSocketConnection.send_message`,
  :meth:`~WebSocketConnection.ping` and friends. Each asks the protocol for
  the bytes and writes everything queued under the send lock, in one
  ``send_all``. The lock is taken without a checkpoint when free.
* :meth:`~WebSocketConnection.aclose` sends the close frame, stops delivering
  messages at once, and waits for the reader to see the closing handshake
  through. If it is cancelled, or ``close_timeout`` runs out, the stream is
  closed forcefully.
* With ``ping_interval`` set, the reader also keeps the connection alive:
  it pings the peer every ``ping_interval`` seconds (its cancel scope's
  deadline wakes it), and when a pong takes longer than ``ping_timeout``, it
  fails the connection with 1011 and drops the stream, which frees
  connections to dead peers.

The message queue is bounded twice: in messages (``message_queue_size``)
and in bytes (``message_queue_bytes``: the reader waits while the queue
holds that much, though one message of any allowed size always fits). With
both, a peer that sends faster than the application reads is pushed back by
TCP instead of growing our memory. Writes have no queue of their own: a
task writes its frame with ``send_all`` and waits for the peer to take it,
and answers the reader owes (pongs, the close echo) wait the same way, so
the reader stops reading a peer that does not read what we send.

A write that fails, or is cancelled half-way (which would leave a partial
frame on the wire), breaks the connection: the stream is closed at once and
the close reason becomes 1006.

Invariants: the stream is closed when the reader has finished; nothing is
written after the protocol asked for EOF; no exception escapes the reader.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import attrs
import trio

from ws.errors import ConnectionClosed, ConnectionTimeout, LocalProtocolError
from ws.events import Close, Message, Ping, Pong
from ws.extensions.base import Extension
from ws.frames.close import CloseReason
from ws.frames.frame import CloseCode
from ws.protocol import Protocol, Side, State
from ws.transports.endpoint import Address
from ws._idle import AVAILABLE as _IDLE_AVAILABLE
from ws._idle import idle_poller
from ws.transports.fastio import ByteIO, SocketIO, close_forcefully, socket_io

__all__ = ["CLOSE_FRAME_GRACE", "WebSocketConnection"]


@attrs.define(eq=False)
class _PendingPing:
    event: trio.Event = attrs.Factory(trio.Event)
    answered: bool = False

logger = logging.getLogger("ws")

_OPEN = State.OPEN
_RECEIVE_SIZE = 65536
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)
# After a keepalive timeout, or when cancelled from outside, how long the
# close frame may take to go out before the stream is dropped (it goes at
# once unless our send buffer is full).
CLOSE_FRAME_GRACE = 1.0
# How long the reader lets the application take and answer the messages
# that came before a protocol error, before it sends the close frame.
_ANSWER_GRACE = 1.0
# How long a reader hears nothing before it may hand its socket to the
# idle poller and end (ws._idle): an idle server connection then takes
# about 7 instead of 11 KiB (tracemalloc, 1,000 connections). It parks
# after one to two such periods of silence; a busy connection pays one
# cancel scope per period.
IDLE_AFTER = 1.0
# Close codes after which `async for` ends quietly instead of raising.
_NORMAL_CODES = frozenset({CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD})


def _set_deadline(scope: trio.CancelScope, deadline: float) -> None:
    # Reading a deadline is cheap; setting one, even to the same value,
    # updates Trio's deadline heap (measured: 10 per connection in the
    # handshake scenario, most of them no change).
    if scope.deadline != deadline:
        scope.deadline = deadline


@attrs.define(eq=False)
class WebSocketConnection(trio.abc.AsyncResource):
    """An open WebSocket connection, client or server side.

    Get one from :func:`ws.open_websocket` and friends, or from
    ``await request.accept()`` in a server handler; building one directly
    is possible (see :mod:`ws.builder`) but rarely needed.

    Messages are ``str`` (text) or ``bytes`` (binary). ``async for message
    in connection`` yields messages until the connection closes normally
    (codes 1000, 1001 and 1005) and raises :class:`~ws.ConnectionClosed`
    otherwise.
    """

    _stream: trio.abc.Stream
    _protocol: Protocol
    _path: str
    _local: Address
    _remote: Address
    _subprotocol: str | None = None
    _raw_headers: Sequence[tuple[bytes, bytes]] = ()
    _message_queue_size: float = 1
    _close_timeout: float | None = None
    _receive_size: int = _RECEIVE_SIZE
    _message_queue_bytes: float = math.inf
    _ping_interval: float | None = None
    _ping_timeout: float | None = None

    # Writing: one task at a time, handed over in FIFO order.
    _writing: bool = attrs.field(default=False, init=False)
    # Made on first contention: most connections never have two writers
    # at once, and an empty ParkingLot takes 249 bytes (tracemalloc).
    _write_waiters: trio.lowlevel.ParkingLot | None = attrs.field(default=None, init=False)
    # The message queue: the reader appends, get_message pops.
    # (A list, not a deque: an empty deque takes 600 bytes, and the queue
    # is short.) Consumers waiting for a message and the reader waiting for
    # room wait in one list (see _park); each checks its condition when woken.
    _messages: list[str | bytes] = attrs.field(factory=list, init=False)
    _waiters: list[trio.lowlevel.Task] = attrs.field(factory=list, init=False)
    _queue_limit: float = attrs.field(default=1, init=False)
    _fast_pops: int = attrs.field(default=0, init=False)
    # Pings in flight, oldest first (dicts keep insertion order).
    _pings: dict[bytes, _PendingPing] = attrs.field(factory=dict, init=False)
    # Whether the reader finished; the Event is made only if somebody waits
    # (measured with tracemalloc: an unused trio.Event takes 281 bytes).
    _reader_done: bool = attrs.field(default=False, init=False)
    _reader_done_event: trio.Event | None = attrs.field(default=None, init=False)
    _reader_started: bool = attrs.field(default=False, init=False)
    # The reader runs in one cancel scope at a time (one per keepalive
    # period). Its deadline is the keepalive's or the close timeout's,
    # whichever comes first, and _stream_abort cancels it. (Measured: a
    # scope takes about 700 bytes and 5 us to enter and leave; the reader
    # used to have two.)
    _reader_scope: trio.CancelScope | None = attrs.field(default=None, init=False)
    _close_deadline: float = attrs.field(default=math.inf, init=False)
    _aborted: bool = attrs.field(default=False, init=False)
    # Idle readers (see ws._idle): the reader's nursery, how long a quiet
    # period must be before the reader may hand its socket to the idle
    # poller (math.inf: never), when the current period ends, whether data
    # came in it, and while handed over: the descriptor and a count that
    # tells the poller's stale keepalive wake-ups apart.
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _socket_io: SocketIO | None = attrs.field(default=None, init=False)
    _idle_after: float = attrs.field(default=math.inf, init=False)
    _idle_check_at: float = attrs.field(default=math.inf, init=False)
    _active: bool = attrs.field(default=False, init=False)
    _idle: bool = attrs.field(default=False, init=False)
    _idle_fd: int = attrs.field(default=-1, init=False)
    _idle_count: int = attrs.field(default=0, init=False)
    _local_closed: bool = attrs.field(default=False, init=False)
    _cause: BaseException | None = attrs.field(default=None, init=False)
    _early_data: bytes = attrs.field(default=b"", init=False)
    _close_timed_out: bool = attrs.field(default=False, init=False)
    # Set when the protocol's end of output closed the stream (see _end_of_output).
    _stream_closed: bool = attrs.field(default=False, init=False)
    _handshake_headers: tuple[tuple[str, str], ...] | None = attrs.field(default=None, init=False)
    # Set while the reader waits for the application to catch up (see _let_application_answer).
    _caught_up: trio.Event | None = attrs.field(default=None, init=False)
    _queued_bytes: int = attrs.field(default=0, init=False)
    # Keepalive, run by the reader: when the next ping is due, the ping in
    # flight and when its pong is due.
    _next_ping_at: float = attrs.field(default=math.inf, init=False)
    _keepalive_ping: _PendingPing | None = attrs.field(default=None, init=False)
    _pong_due_at: float = attrs.field(default=math.inf, init=False)
    # The stream's receive_some and send_all, or the same without a
    # scheduler trip when the kernel is ready (ws.transports.fastio).
    _receive_some: Callable[[int], Awaitable[bytes | bytearray]] = attrs.field(init=False)
    _send_all: Callable[[bytes | bytearray | memoryview], Awaitable[None]] = attrs.field(
        init=False
    )

    def __attrs_post_init__(self) -> None:
        fast = socket_io(self._stream)
        io: ByteIO = self._stream if fast is None else fast
        self._socket_io = fast
        self._receive_some = io.receive_some
        self._send_all = io.send_all
        size = self._message_queue_size
        if size != math.inf and (size < 0 or int(size) != size):
            raise ValueError(f"message_queue_size must be an int >= 0 or math.inf, not {size!r}")
        if not self._message_queue_bytes >= 1:
            raise ValueError(
                f"message_queue_bytes must be >= 1 or math.inf, not {self._message_queue_bytes!r}"
            )
        for name, value in (("ping_interval", self._ping_interval), ("ping_timeout", self._ping_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, not {value!r}")
        # The reader stops reading while more than message_queue_size
        # messages wait (so 0, unbuffered, reads on only once the one
        # message it holds was taken), as a Trio channel of that size would.
        self._queue_limit = size + 1

    # -- properties documented by trio-websocket -----------------------------

    @property
    def closed(self) -> CloseReason | None:
        """Why the connection closed, or ``None`` while it is open."""
        return self._protocol.close_reason

    @property
    def is_client(self) -> bool:
        """Whether this is the client end."""
        return self._protocol.side is Side.CLIENT

    @property
    def is_server(self) -> bool:
        """Whether this is the server end."""
        return self._protocol.side is Side.SERVER

    @property
    def local(self) -> Address:
        """The local endpoint: an :class:`~ws.Endpoint`, or a str (Unix path, memory)."""
        return self._local

    @property
    def remote(self) -> Address:
        """The remote endpoint: an :class:`~ws.Endpoint`, or a str (Unix path, memory)."""
        return self._remote

    @property
    def path(self) -> str:
        """The requested resource: path and query string, e.g. ``/chat?room=1``."""
        return self._path

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, or ``None``."""
        return self._subprotocol

    @property
    def handshake_headers(self) -> tuple[tuple[str, str], ...]:
        """The headers the peer sent in the opening handshake; names in lower case."""
        headers = self._handshake_headers
        if headers is None:
            headers = self._handshake_headers = tuple(
                (name.decode("latin-1").lower(), value.decode("latin-1"))
                for name, value in self._raw_headers
            )
        return headers

    @property
    def extensions(self) -> Sequence[Extension]:
        """The extensions negotiated for this connection, e.g. permessage-deflate."""
        return self._protocol.extensions

    @property
    def close_timed_out(self) -> bool:
        """Whether the closing handshake ran out of time and the stream was dropped."""
        return self._close_timed_out

    @property
    def stream(self) -> trio.abc.Stream:
        """The underlying Trio stream (after the opening handshake)."""
        return self._stream

    # -- messages -------------------------------------------------------------

    async def send_message(self, message: str | bytes | bytearray | memoryview) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            TypeError: ``message`` is neither str nor bytes-like.
        """
        protocol = self._protocol
        if protocol.state is not _OPEN:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        if isinstance(message, str):
            protocol.send_text(message)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            protocol.send_binary(message)
        else:
            raise TypeError(f"a message is str or bytes-like, not {type(message).__name__}")
        await self._flush()

    async def get_message(self) -> str | bytes:
        """Return the next message, waiting for one if needed.

        Messages that arrived before the peer closed are still returned; then
        this raises. After a local :meth:`aclose`, it raises at once.

        Raises:
            ConnectionClosed: The connection is closed.
        """
        messages = self._messages
        if messages and not self._local_closed:
            # A message is waiting: no need to yield, except now and then so
            # that a consumer of a long queue cannot starve other tasks.
            self._fast_pops += 1
            if self._fast_pops & 31:
                await trio.lowlevel.checkpoint_if_cancelled()
            else:
                await trio.lowlevel.checkpoint()
        else:
            self._fast_pops = 0
            if self._caught_up is not None:
                self._caught_up.set()  # every message taken (and answered)
            while not messages:
                if self._local_closed or self._reader_done:
                    await trio.lowlevel.checkpoint()
                    error = self._closed_error()
                    raise error from error.__cause__
                await self._park()
            if self._local_closed:
                error = self._closed_error()
                raise error from error.__cause__
        message = messages.pop(0)
        self._queued_bytes -= len(message)
        if self._waiters and self._has_queue_space():
            self._unpark_all()  # the reader, if it waits for room
        return message

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                yield await self.get_message()
            except ConnectionClosed as exc:
                if exc.reason.code in _NORMAL_CODES:
                    return
                raise

    # -- pings ----------------------------------------------------------------

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping and wait for the matching pong.

        A pong answers the ping with the same payload and every ping sent
        before it (RFC 6455 section 5.5.3 lets a peer answer only the latest).

        Args:
            payload: Up to 125 bytes, unique among the pings in flight; by
                default a random 4-byte payload.

        Raises:
            ConnectionClosed: The connection is closed, or closes before the pong.
            ValueError: A ping with this payload is already in flight.
        """
        if self._protocol.state is not _OPEN:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        if payload is None:
            payload = self._fresh_ping_payload()
        else:
            payload = bytes(payload)
            if payload in self._pings:
                raise ValueError(f"a ping with payload {payload!r} is already in flight")
        self._protocol.send_ping(payload)
        pending = _PendingPing()
        self._pings[payload] = pending
        self._wake_reader()  # to read the pong
        try:
            await self._flush()
            await pending.event.wait()
        finally:
            if self._pings.get(payload) is pending:
                del self._pings[payload]
        if not pending.answered:  # woken by the end of the connection
            raise self._closed_error()

    def _fresh_ping_payload(self) -> bytes:
        payload = os.urandom(4)
        while payload in self._pings:
            payload = os.urandom(4)
        return payload

    async def pong(self, payload: bytes | None = None) -> None:
        """Send an unsolicited pong (a one-way heartbeat).

        Raises:
            ConnectionClosed: The connection is closed.
        """
        if self._protocol.state is not _OPEN:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        self._protocol.send_pong(b"" if payload is None else payload)
        await self._flush()

    # -- closing --------------------------------------------------------------

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection: send a close frame and wait for the handshake to end.

        Pending messages are discarded, and :meth:`get_message` and
        :meth:`send_message` raise :class:`~ws.ConnectionClosed` from now on.
        Calling it again does nothing more than wait for the first call.
        If cancelled, the stream is closed at once.

        Args:
            code: The close code (1000 normal closure by default).
            reason: An optional reason, at most 123 bytes in UTF-8.

        Raises:
            ws.errors.LocalProtocolError: ``code`` or ``reason`` cannot be
                sent; the connection stays open.
        """
        protocol = self._protocol
        if self._reader_done:
            # Nothing left to do: the reader saw the end and closed the stream.
            self._local_closed = True
            self._messages.clear()
            self._queued_bytes = 0
            await trio.lowlevel.checkpoint()
            return
        if protocol.state is _OPEN:
            protocol.send_close(code, reason)  # may raise for a bad code: nothing changed yet
        self._wake_reader()  # to read the peer's close frame
        self._local_closed = True
        self._messages.clear()
        self._queued_bytes = 0
        self._unpark_all()
        if self._caught_up is not None:
            self._caught_up.set()
        self._arm_close_timeout()
        try:
            if self._reader_started:
                # The reader's close deadline bounds this: when it runs out,
                # the reader drops the stream, which also ends a write of our
                # close frame blocked on a peer that does not read (no scope
                # of our own: measured, a cancel scope costs about 5 us).
                try:
                    await self._flush()
                except ConnectionClosed:
                    pass
                await self.wait_reader_done()
            else:
                with trio.move_on_at(self._close_deadline) as scope:
                    try:
                        await self._flush()
                    except ConnectionClosed:
                        pass
                    await self._stream.aclose()
                    self._break()
                if scope.cancelled_caught:
                    self._close_timed_out = True
        finally:
            if not self._reader_done:
                self._stream_abort()
                if not self._reader_started:
                    self._break()
                await trio.aclose_forcefully(self._stream)

    async def _going_away(self, reason: str) -> None:
        """Send a 1001 close frame and do not wait for the answer (the server stops)."""
        if self._protocol.state is _OPEN:
            self._protocol.send_close(CloseCode.GOING_AWAY, reason)
        with contextlib.suppress(ConnectionClosed):
            await self._flush()

    # -- the reader -------------------------------------------------------------

    async def wait_reader_done(self) -> None:
        """Wait until the reader task has finished and closed the stream."""
        self._wake_reader()
        if self._reader_done:
            await trio.lowlevel.checkpoint()
            return
        event = self._reader_done_event
        if event is None:
            event = self._reader_done_event = trio.Event()
        await event.wait()

    def receive_early_data(self, data: bytes) -> None:
        """Hand over bytes that arrived with the end of the opening handshake.

        The reader processes them first, before it reads from the stream.
        """
        if self._reader_started:
            raise LocalProtocolError("early data must come before the reader starts")
        self._early_data += data

    def start_reader(self, nursery: trio.Nursery, *, park_when_idle: bool = False) -> None:
        """Start the background task that reads from the stream, in ``nursery``.

        Args:
            nursery: Where the reader runs.
            park_when_idle: Let the reader of a quiet connection end and be
                started again, in ``nursery``, when the peer sends something
                (see :mod:`ws._idle`). Only for a nursery that outlives the
                connection: the reader no longer keeps it open meanwhile.
        """
        if self._reader_started:
            raise LocalProtocolError("the reader task is already running")
        self._reader_started = True
        self._nursery = nursery
        if park_when_idle and _IDLE_AVAILABLE and self._socket_io is not None:
            self._idle_after = IDLE_AFTER
        nursery.start_soon(self._reader, name=f"ws reader {self._remote}")

    async def _reader(self) -> None:
        # Started by start_reader, and again each time the idle poller (or
        # _wake_reader) wakes a reader that handed its socket over.
        protocol = self._protocol
        stream = self._stream
        now = trio.current_time()
        if self._ping_interval is not None and self._next_ping_at == math.inf:
            self._next_ping_at = now + self._ping_interval
        if self._idle_after != math.inf:
            self._idle_check_at = now + self._idle_after
            self._active = False
        handed_off = False
        try:
            while not self._aborted:
                # One cancel scope per keepalive period, not per read
                # (measured: a scope per read cost 20% of the round-trip
                # rate); _read_loop arms its deadline.
                done = False
                # Created with its deadline: setting one later costs a
                # second update of Trio's deadline heap.
                scope = self._reader_scope = trio.CancelScope(deadline=self._read_deadline())
                with scope:
                    done = await self._read_loop(scope)
                if done or self._aborted:
                    break
                now = trio.current_time()
                if now >= self._close_deadline:
                    self._close_timed_out = True
                    break
                if now >= self._idle_check_at:
                    # A quiet period ended: silent all along, hand the
                    # socket to the idle poller and end; else another period.
                    if not self._active and self._hand_off_idle():
                        handed_off = True
                        return
                    self._active = False
                    self._idle_check_at = now + self._idle_after
                if self._ping_interval is not None and now >= self._keepalive_deadline():
                    # A ping is due, or its pong is late. The close timeout
                    # and _stream_abort still apply.
                    scope = self._reader_scope = trio.CancelScope(deadline=self._close_deadline)
                    alive = False
                    with scope:
                        alive = await self._keepalive_due()
                    if not alive:
                        break  # the peer stopped answering, or the stream broke: drop it
        except trio.Cancelled:
            # Cancelled from outside: the nursery (a server shutting down, a
            # client leaving) is going away. Close with 1001 and give the
            # peer a moment to answer, so that it learns why.
            if protocol.state is _OPEN and not self._local_closed:
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_FRAME_GRACE):
                    await self._finish_going_away()
            raise
        except Exception as exc:  # pragma: no cover - a bug in ws; keep the nursery alive
            logger.exception("ws: unexpected error in the connection reader")
            self._cause = exc
            protocol.fail(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            if not handed_off:
                self._reader_finished()
                await close_forcefully(stream)

    def _reader_finished(self) -> None:
        protocol = self._protocol
        if protocol.error is not None and self._cause is None:
            self._cause = protocol.error
        if not protocol.eof_received:
            protocol.receive_eof()
            protocol.data_to_send()
        for pending in self._pings.values():
            pending.event.set()
        self._reader_done = True
        if self._reader_done_event is not None:
            self._reader_done_event.set()
        self._unpark_all()

    def _hand_off_idle(self) -> bool:
        """Give the socket to the idle poller if nothing else needs the reader (see ws._idle)."""
        protocol = self._protocol
        io = self._socket_io
        if (
            io is None
            or protocol.state is not _OPEN
            or self._local_closed
            or self._early_data
            or self._pings
            or self._caught_up is not None
            or protocol.error_pending
            or protocol.has_data_to_send()
            or not self._has_queue_space()
        ):
            return False
        try:
            fd = io.fileno()
            wake_at = self._next_ping_at if self._ping_interval is not None else math.inf
            self._idle_count += 1
            idle_poller().park(self, fd, wake_at, self._idle_count)
        except (OSError, trio.ClosedResourceError):
            return False
        self._idle = True
        self._idle_fd = fd
        self._reader_scope = None
        return True

    def _idle_socket_closed(self) -> bool:
        """Whether the socket handed to the idle poller was closed (or replaced) meanwhile."""
        io = self._socket_io
        try:
            return io is None or io.fileno() != self._idle_fd
        except trio.ClosedResourceError:
            return True

    def _wake_reader(self) -> None:
        """Start the reader again if it handed its socket to the idle poller."""
        if not self._idle:
            return
        self._idle = False
        idle_poller().forget(self, self._idle_fd)
        nursery = self._nursery
        assert nursery is not None
        try:
            nursery.start_soon(self._reader, name=f"ws reader {self._remote}")
        except RuntimeError:
            # The nursery closed under a quiet connection: nobody can read
            # it any more. End it as its reader would have at EOF.
            self._reader_finished()
            stream = self._stream
            assert isinstance(stream, trio.SocketStream)
            stream.socket.close()

    async def _read_loop(self, scope: trio.CancelScope) -> bool:
        """Read and dispatch until the stream ends (True) or the scope's deadline (False).

        The keepalive deadline stays armed on the reader's ``scope`` while
        it waits for data, and is lifted (back to the close deadline) around
        the reader's other waits (its writes, waiting for queue space,
        letting the application answer), which must not be cut short by a
        keepalive: a write cancelled half-way breaks the connection. Lifting
        it costs a deadline change, so it happens only on those rare paths,
        never per read (measured, same-core 64-byte round trips: 0.56x of
        raw Trio with the deadline moved twice per read, 0.63x without).
        """
        protocol = self._protocol
        receive_some = self._receive_some
        messages = self._messages
        size = self._receive_size
        interval = self._ping_interval
        data: bytes | bytearray
        self._arm_keepalive(scope)
        while True:
            if self._early_data:
                data, self._early_data = self._early_data, b""
            else:
                if not self._has_queue_space():
                    _set_deadline(scope, self._close_deadline)
                    await self._wait_for_queue_space()
                    self._arm_keepalive(scope)
                try:
                    data = await receive_some(size)
                except _STREAM_ERRORS as exc:
                    if not self._stream_closed:  # else: we closed it, the handshake done
                        self._cause = self._cause or exc
                    data = b""
                if scope.cancel_called:
                    # The deadline passed as the data arrived: keep the data
                    # for later and leave the scope before the next
                    # checkpoint, which would raise Cancelled.
                    if data:
                        self._early_data = bytes(data)
                        return False
                    protocol.receive_eof()
                    protocol.events_received()
                    return True
            if data:
                self._active = True
                # Messages still queued: an error in these bytes waits for
                # the application to answer them (see _let_application_answer).
                protocol.receive_data(data, hold_errors=bool(messages))
            else:
                protocol.receive_eof()
            for event in protocol.events_received():
                if type(event) is Message:
                    if not self._local_closed:
                        messages.append(event.data)
                        self._queued_bytes += len(event.data)
                elif type(event) is Pong:
                    self._wake_pings(event.payload)
                # Ping and Close: the protocol queued the answer.
            if messages and self._waiters:
                self._unpark_all()
            keepalive_ping = self._keepalive_ping
            if keepalive_ping is not None and keepalive_ping.answered and interval:
                self._keepalive_ping = None
                self._pong_due_at = math.inf
                self._next_ping_at = trio.current_time() + interval
                self._arm_keepalive(scope)
            if protocol.error_pending or protocol.has_data_to_send():
                _set_deadline(scope, self._close_deadline)
                if protocol.error_pending:
                    await self._let_application_answer()
                if protocol.has_data_to_send():
                    try:
                        await self._flush()
                    except ConnectionClosed:
                        pass
                self._arm_keepalive(scope)
            if not data:
                return True
            if protocol.close_expected():
                self._arm_close_timeout()
                _set_deadline(scope, self._close_deadline)

    def _arm_keepalive(self, scope: trio.CancelScope) -> None:
        _set_deadline(scope, self._read_deadline())

    def _read_deadline(self) -> float:
        # The reader waits for data until the first of: the close deadline,
        # and while open, the keepalive and the end of the quiet period.
        deadline = self._close_deadline
        if self._protocol.state is _OPEN:
            deadline = min(deadline, self._idle_check_at)
            if self._ping_interval is not None:
                deadline = min(deadline, self._keepalive_deadline())
        return deadline

    async def _finish_going_away(self) -> None:
        protocol = self._protocol
        await self._going_away("server shutting down" if self.is_server else "going away")
        while not protocol.eof_received:
            try:
                data = await self._receive_some(self._receive_size)
            except _STREAM_ERRORS:
                data = b""
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            protocol.events_received()  # nobody will read messages now
            with contextlib.suppress(ConnectionClosed):
                await self._flush()

    async def _park(self) -> None:
        # A ParkingLot, less its bookkeeping: a list of the parked tasks
        # (measured with tracemalloc: an empty ParkingLot takes 249 bytes,
        # an empty list 65).
        task = trio.lowlevel.current_task()
        waiters = self._waiters
        waiters.append(task)

        def abort(_: object) -> trio.lowlevel.Abort:
            waiters.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _unpark_all(self) -> None:
        waiters = self._waiters
        if waiters:
            reschedule = trio.lowlevel.reschedule
            for task in waiters:
                reschedule(task)
            waiters.clear()

    def _has_queue_space(self) -> bool:
        return (
            len(self._messages) < self._queue_limit
            and self._queued_bytes < self._message_queue_bytes
        )

    async def _wait_for_queue_space(self) -> None:
        # Read no more while the application has enough to do; TCP pushes
        # the peer back meanwhile. Keepalive pauses too: a pong cannot be
        # read now, and the slow one is the application, not the peer.
        start = trio.current_time()
        while not self._has_queue_space() and not self._local_closed:
            await self._park()
        paused = trio.current_time() - start
        self._next_ping_at += paused
        self._pong_due_at += paused

    async def _let_application_answer(self) -> None:
        """Wait until the application took every queued message and asked for more.

        The protocol holds a protocol error back behind the messages that
        arrived before it (``Protocol.error_pending``); the close frame goes
        out at the next flush. Waiting here lets the application answer
        those messages first, as if the bad frame had come a moment later
        (Autobahn cases 3.2-3.4, 4.1.3-4.2.5, 5.15). At most _ANSWER_GRACE.
        """
        if self._local_closed or (not self._messages and self._waiters):
            return  # the application is already back in get_message()
        self._caught_up = trio.Event()
        try:
            with trio.move_on_after(_ANSWER_GRACE):
                await self._caught_up.wait()
        finally:
            self._caught_up = None

    def _keepalive_deadline(self) -> float:
        if self._keepalive_ping is not None:
            return self._pong_due_at
        return self._next_ping_at

    async def _keepalive_due(self) -> bool:
        """Send the keepalive ping, or give up on a silent peer (returns False)."""
        protocol = self._protocol
        if protocol.state is not _OPEN:
            return True  # closing: the close timeout bounds what is left
        now = trio.current_time()
        if self._keepalive_ping is not None:
            if now < self._pong_due_at:
                return True
            # No pong in time: the peer is gone or stuck. Say so if the
            # stream still takes it, then drop the connection.
            self._cause = self._cause or ConnectionTimeout(
                f"no pong within ping_timeout={self._ping_timeout}s"
            )
            protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            with trio.move_on_after(CLOSE_FRAME_GRACE):
                with contextlib.suppress(ConnectionClosed):
                    await self._flush()
            return False
        if now < self._next_ping_at:
            return True
        payload = self._fresh_ping_payload()
        pending = _PendingPing()
        self._pings[payload] = pending
        self._keepalive_ping = pending
        timeout = self._ping_timeout
        self._pong_due_at = math.inf if timeout is None else now + timeout
        protocol.send_ping(payload)
        with trio.move_on_at(self._pong_due_at):
            with contextlib.suppress(ConnectionClosed):
                await self._flush()
        return True

    def _arm_close_timeout(self) -> None:
        if self._close_timeout is not None and self._close_deadline == math.inf:
            deadline = self._close_deadline = trio.current_time() + self._close_timeout
            scope = self._reader_scope
            if scope is not None and scope.deadline > deadline:
                scope.deadline = deadline

    def _wake_pings(self, payload: bytes) -> None:
        pings = self._pings
        if payload not in pings:
            return
        while pings:
            key = next(iter(pings))
            pending = pings.pop(key)
            pending.answered = True
            pending.event.set()
            if key == payload:
                break

    # -- writing ----------------------------------------------------------------

    async def _flush(self) -> None:
        # A trio.Lock, but cheaper: the flag says a task is writing; others
        # park and are handed the right to write in turn.
        if self._writing:
            waiters = self._write_waiters
            if waiters is None:
                waiters = self._write_waiters = trio.lowlevel.ParkingLot()
            await waiters.park()
        else:
            self._writing = True
        try:
            chunks = self._protocol.data_to_send()
            if not chunks:
                return
            eof = chunks[-1] == b""
            data = b"".join(chunks) if len(chunks) > 1 else chunks[0]
            completed = False
            try:
                if data:
                    await self._send_all(data)
                if eof:
                    await self._end_of_output()
                completed = True
            except _STREAM_ERRORS as exc:
                self._cause = self._cause or exc
                self._break()
                raise self._closed_error() from exc
            finally:
                if not completed:
                    # Cancelled half-way: a partial frame may be on the wire.
                    self._break()
                    self._stream_abort()
        finally:
            waiters = self._write_waiters
            if waiters:
                waiters.unpark()  # still writing: handed over
            else:
                self._writing = False

    async def _end_of_output(self) -> None:
        # The protocol is done writing. Half-close only while the peer may
        # still send something we must read: after its EOF, or once both
        # close frames have passed (the server closes first, RFC 6455
        # section 7.1.1), close the stream at once. That saves a shutdown()
        # call and, on the server, waiting for the client's FIN (measured:
        # within the noise of the handshake scenario, about 2%).
        stream = self._stream
        protocol = self._protocol
        done = protocol.eof_received or (
            protocol.close_rcvd is not None and protocol.close_sent is not None
        )
        if not done and isinstance(stream, trio.abc.HalfCloseableStream):
            await stream.send_eof()
        else:
            self._stream_closed = True
            if type(stream) is trio.SocketStream:
                # Its aclose() is this plus a checkpoint, which costs a trip
                # through the scheduler on every connection's close.
                stream.socket.close()
            else:
                await stream.aclose()  # a TLS stream says goodbye first

    def _break(self) -> None:
        protocol = self._protocol
        if not protocol.eof_received:
            protocol.receive_eof()
            protocol.data_to_send()

    def _stream_abort(self) -> None:
        self._aborted = True
        if self._reader_scope is not None:
            self._reader_scope.cancel()
        self._wake_reader()  # it sees _aborted and closes the stream

    def _closed_error(self) -> ConnectionClosed:
        protocol = self._protocol
        reason = protocol.close_reason or CloseReason(CloseCode.ABNORMAL_CLOSURE, None)
        error = ConnectionClosed(reason, sent=protocol.close_sent, rcvd=protocol.close_rcvd)
        error.__cause__ = self._cause
        return error

    def __repr__(self) -> str:
        side = "client" if self.is_client else "server"
        state = "open" if self.closed is None else f"closed {self.closed}"
        return f"<WebSocketConnection {side} {self._remote} {self._path!r} {state}>"
