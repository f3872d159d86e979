"""A blocking WebSocket connection: the part that clients and servers share.

Theory of operation
-------------------

A :class:`Connection` wraps a :class:`ws.WebSocketConnection` that lives in
the background Trio thread (:mod:`ws.sync._runtime`), and turns each method
into a blocking call:

* Sending (``send``, ``ping``, ``close``) is a :meth:`Runtime.call
  <ws.sync._runtime.Runtime.call>`: the caller waits until the frame is
  written, and the async method's exception is raised in the caller's
  thread. Several threads may send at once; the async connection orders
  them.
* Receiving does not cross threads on each call. A *pump* task in the Trio
  thread takes messages off the connection with ``get_message()`` and puts
  them in an :class:`Inbox`, a one-message buffer guarded by a
  :class:`threading.Condition`, where ``recv()`` picks them up. The pump
  then waits until ``recv()`` has taken the message (``recv()`` wakes it
  with ``run_sync_soon``), so the messages the peer sends beyond that wait
  in the async connection's own queue, bounded by ``message_queue_size``,
  and backpressure reaches the peer as it does in the async API. A round
  trip so costs one thread hop for the send and half of one for the
  reply, where two full calls would cost two; and ``recv(timeout=...)``
  gives up without cancelling anything in the Trio thread, so no message
  can be lost to a timeout.
* When the connection closes, the pump records the
  :class:`~ws.ConnectionClosed` and every ``recv()`` then raises a copy of
  it (a fresh exception each time, as the async API does). Iteration ends
  quietly on a normal close (1000, 1001, or 1005 after a clean closing
  handshake) and raises otherwise, as ``async for`` does.
* Ctrl-C in a blocked ``recv()`` raises :exc:`KeyboardInterrupt` from the
  condition wait. Nothing in the Trio thread was waiting for the caller, so
  the connection is intact, and the ``with`` block (or the caller) closes
  it: with 1001 (going away) when the block ends with
  :exc:`KeyboardInterrupt` or :exc:`SystemExit`, 1000 otherwise.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Final, Self, TypeVar

import trio

from ws.connection import WebSocketConnection, reader_of
from ws.connection._connection import _NORMAL_CODES
from ws.errors import ConnectionClosed, MessageTypeError
from ws.frames.close import CloseReason, serialize_close
from ws.frames.frame import CloseCode
from ws.sync._runtime import Held, Runtime, RuntimeStopped, runtime, wait_condition
from ws.transports.endpoint import Address

T = TypeVar("T")

__all__ = ["Connection", "Inbox", "Outbox", "attach", "leave_and_release"]

#: The receive buffer: the pump stops taking messages off the connection while
#: this many bytes, or BUFFER_MESSAGES messages, wait for ``recv()``.
BUFFER_BYTES: Final = 64 * 1024
BUFFER_MESSAGES: Final = 64
#: ``send()`` blocks while this many bytes of messages wait to be written.
WRITE_LIMIT: Final = 64 * 1024


def _fresh(error: ConnectionClosed) -> ConnectionClosed:
    """A new exception like ``error``, so that each raise has its own traceback."""
    copy = type(error)(error.reason, sent=error.sent, rcvd=error.rcvd)
    copy.__cause__ = error.__cause__
    return copy


def _stopped(exc: BaseException, connection: WebSocketConnection, task: str) -> BaseException:
    """What sending or receiving raises after its task ended with ``exc``.

    A task cancelled because the connection was closed (and left) makes
    later calls raise the connection's :class:`~ws.ConnectionClosed`.
    """
    if not isinstance(exc, trio.Cancelled):
        return exc
    if connection.closed is not None:
        return reader_of(connection).closed_error()
    return RuntimeError(f"the connection's {task} task was stopped")


class Inbox:
    """Received messages on their way from the pump task to ``recv()`` (see the module docstring).

    Args:
        token: The Trio thread's token, for waking the pump.
    """

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._ready = threading.Condition(threading.Lock())
        self._messages: collections.deque[str | bytes] = collections.deque()
        self._size = 0
        self._closed: ConnectionClosed | None = None
        self._failed: BaseException | None = None
        #: Set by the pump when the buffer is full; recv() sets it when there is room.
        self._room: trio.Event | None = None

    async def pump(self, connection: WebSocketConnection) -> None:
        """Move messages from ``connection`` to the buffer until it closes (Trio thread)."""
        ready = self._ready
        messages = self._messages
        try:
            while True:
                message = await connection.get_message()
                room = None
                with ready:
                    messages.append(message)
                    self._size += len(message)
                    if self._size >= BUFFER_BYTES or len(messages) >= BUFFER_MESSAGES:
                        room = self._room = trio.Event()
                    ready.notify()
                if room is not None:
                    await room.wait()
        except ConnectionClosed as exc:
            with ready:
                self._closed = exc
                ready.notify_all()
        except BaseException as exc:
            with ready:
                if not isinstance(exc, trio.Cancelled):
                    self._failed = exc
                elif self._closed is None:
                    self._failed = _stopped(exc, connection, "receiving")
                ready.notify_all()
            raise

    def get(self, timeout: float | None) -> str | bytes:
        """Take the next message; wait for it at most ``timeout`` seconds (any thread).

        Raises:
            ConnectionClosed: The connection closed and no message is left.
            TimeoutError: No message within ``timeout`` seconds.
        """
        ready = self._ready
        with ready:
            if not self._messages:
                if timeout is not None and timeout <= 0:
                    self._raise_if_ended()
                    raise TimeoutError("no message has arrived")
                if not wait_condition(ready, self._has_something, timeout):
                    raise TimeoutError(f"no message arrived within {timeout} seconds")
                if not self._messages:
                    self._raise_if_ended()
            message = self._messages.popleft()
            self._size -= len(message)
            room = self._room
            # Wake the pump once the buffer is half empty, not at every message
            # taken: one wake-up per half buffer.
            if (
                room is not None
                and self._size < BUFFER_BYTES // 2
                and len(self._messages) <= BUFFER_MESSAGES // 2
            ):
                self._room = None
            else:
                room = None
        if room is not None:
            try:
                self._token.run_sync_soon(room.set)
            except trio.RunFinishedError:
                pass  # the loop is gone; so is the pump
        return message

    def _has_something(self) -> bool:
        return bool(self._messages) or self._closed is not None or self._failed is not None

    def _raise_if_ended(self) -> None:
        if self._closed is not None:
            raise _fresh(self._closed)
        if self._failed is not None:
            raise self._failed


class Outbox:
    """Messages on their way from ``send()`` to the sender task (see the module docstring).

    Args:
        token: The Trio thread's token, for waking the sender.
    """

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token
        self._lock = threading.Lock()
        #: send() waits on it while the queue holds WRITE_LIMIT bytes or more.
        self._room = threading.Condition(self._lock)
        self._messages: collections.deque[tuple[str | bytes, bool | None]] = collections.deque()
        self._size = 0
        #: What stopped the sender; send() raises it from then on.
        self._failed: BaseException | None = None
        #: Set by the sender when it waits for messages; send() sets it.
        self._wake: trio.Event | None = None
        #: Set by the sender each time the queue is empty and the last message written.
        self._idle = trio.Event()

    def put(self, message: str | bytes, compress: bool | None) -> None:
        """Queue a message for the sender; wait while the queue is full (any thread).

        Raises:
            ConnectionClosed: The sender stopped because the connection closed.
        """
        with self._lock:
            if self._size >= WRITE_LIMIT:
                wait_condition(self._room, self._has_room)
            if self._failed is not None:
                raise _fresh(self._failed) if isinstance(self._failed, ConnectionClosed) else self._failed
            self._messages.append((message, compress))
            self._size += len(message)
            wake, self._wake = self._wake, None
        if wake is not None:
            try:
                self._token.run_sync_soon(wake.set)
            except trio.RunFinishedError:
                raise RuntimeStopped("the ws.sync background thread stopped") from None

    def _has_room(self) -> bool:
        return self._size < WRITE_LIMIT or self._failed is not None

    async def flush(self) -> None:
        """Wait until every queued message is written, or the sender stopped (Trio thread)."""
        while True:
            with self._lock:
                if self._failed is not None or (not self._messages and self._wake is not None):
                    return
                idle = self._idle
            await idle.wait()

    async def run(self, connection: WebSocketConnection) -> None:
        """The sender task: write queued messages in order until it fails (Trio thread)."""
        lock = self._lock
        messages = self._messages
        try:
            while True:
                with lock:
                    if messages:
                        message, compress = messages[0]
                        wake = None
                    else:
                        wake = self._wake = trio.Event()
                        idle, self._idle = self._idle, trio.Event()
                if wake is not None:
                    idle.set()
                    await wake.wait()
                    continue
                await connection.send_message(message, compress=compress)
                with lock:
                    messages.popleft()
                    self._size -= len(message)
                    if self._size < WRITE_LIMIT:
                        self._room.notify_all()
        except BaseException as exc:
            with lock:
                self._failed = _stopped(exc, connection, "sending")
                messages.clear()
                self._size = 0
                self._room.notify_all()
            self._idle.set()
            if not isinstance(exc, ConnectionClosed):
                raise


@asynccontextmanager
async def attach(connection: WebSocketConnection) -> AsyncIterator[tuple[Inbox, Outbox]]:
    """Run the pump and the sender of ``connection`` while the block runs (Trio thread)."""
    token = trio.lowlevel.current_trio_token()
    inbox, outbox = Inbox(token), Outbox(token)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inbox.pump, connection)
        nursery.start_soon(outbox.run, connection)
        try:
            yield inbox, outbox
        finally:
            nursery.cancel_scope.cancel()


async def _ping(
    connection: WebSocketConnection, outbox: Outbox, payload: bytes | None, timeout: float | None
) -> None:
    await outbox.flush()
    if timeout is None:
        await connection.ping(payload)
        return
    with trio.move_on_after(timeout) as scope:
        await connection.ping(payload)
    if scope.cancelled_caught:
        raise TimeoutError(f"no pong within {timeout} seconds")


async def _close(connection: WebSocketConnection, outbox: Outbox, code: int, reason: str) -> None:
    await outbox.flush()
    await connection.aclose(code, reason or None)


async def _send_pieces(
    connection: WebSocketConnection,
    pieces: trio.MemoryReceiveChannel[str | bytes],
    compress: bool | None,
) -> None:
    async with pieces:
        await connection.send_message_fragments(pieces, compress=compress)


class Connection:
    """A blocking WebSocket connection: the methods of :class:`ws.sync.ClientConnection` and
    :class:`ws.sync.ServerConnection`.

    Every method may be called from any thread, and from several at once
    (one thread may ``recv()`` while another ``send()``\\ s); none may be
    called from the Trio thread of :mod:`ws.sync` (an async handler), which
    would wait for itself.

    Args:
        connection: The async connection, open in the :mod:`ws.sync` Trio thread.
        inbox: Its :class:`Inbox`, fed by a pump task (:func:`attach`).
        outbox: Its :class:`Outbox`, emptied by a sender task (:func:`attach`).
        on_close: Called once, in the closing thread, after the first
            :meth:`close` has finished (the client leaves its context manager
            and releases the runtime there).
    """

    def __init__(
        self,
        connection: WebSocketConnection,
        inbox: Inbox,
        outbox: Outbox,
        *,
        on_close: Callable[[], None] | None = None,
        runtime_: Runtime = runtime,
    ) -> None:
        self._connection = connection
        self._inbox = inbox
        self._outbox = outbox
        self._runtime = runtime_
        self._on_close = on_close
        self._close_lock = threading.Lock()
        self._finished = False

    # -- what the async connection tells ------------------------------------------

    @property
    def connection(self) -> WebSocketConnection:
        """The async connection underneath (use it only from the :mod:`ws.sync` Trio thread)."""
        return self._connection

    @property
    def closed(self) -> CloseReason | None:
        """Why the connection closed, or ``None`` while it is open (as the async ``closed``)."""
        return self._connection.closed

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the handshake agreed on, or ``None``."""
        return self._connection.subprotocol

    @property
    def local(self) -> Address:
        """This end's address (an :class:`~ws.Endpoint`, or a path for a Unix socket)."""
        return self._connection.local

    @property
    def remote(self) -> Address:
        """The peer's address (an :class:`~ws.Endpoint`, or a path for a Unix socket)."""
        return self._connection.remote

    @property
    def path(self) -> str:
        """The request target of the opening handshake, e.g. ``"/chat?room=1"``."""
        return self._connection.path

    @property
    def handshake_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers of the peer's side of the opening handshake."""
        return self._connection.handshake_headers

    @property
    def id(self) -> str:
        """The connection's id in the logs, e.g. ``"ws-2a"``."""
        return self._connection.id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {'closed' if self.closed else 'open'}>"

    # -- messages -----------------------------------------------------------------

    def recv(self, timeout: float | None = None) -> str | bytes:
        """Wait for the next message and return it: ``str`` for text, ``bytes`` for binary.

        Args:
            timeout: Seconds to wait at most; ``None`` waits as long as it
                takes, 0 only takes a message that is there already.

        Raises:
            TimeoutError: No message arrived within ``timeout``; the
                connection is still open and the next call may get one.
            ConnectionClosed: The connection closed (its
                :class:`~ws.ConnectionClosedOK` or
                :class:`~ws.ConnectionClosedError` subclass says how), and
                every message that came before was received.
        """
        return self._inbox.get(timeout)

    def __iter__(self) -> Iterator[str | bytes]:
        """``for message in connection``: messages until a normal close; other closes raise."""
        while True:
            try:
                message = self._inbox.get(None)
            except ConnectionClosed as exc:
                if exc.reason.code in _NORMAL_CODES:  # the rule of ``async for``
                    return
                raise
            yield message

    def send(
        self,
        message: str | bytes | bytearray | memoryview | Iterable[str | bytes],
        *,
        compress: bool | None = None,
    ) -> None:
        """Send a message: text for ``str``, binary for bytes-like.

        The message is queued for the background thread, which writes
        messages in the order they were sent, and ``send()`` returns at
        once, as a socket's ``send()`` returns once the kernel has the
        bytes. While 64 KiB of messages wait to be written it blocks, so a
        fast sender is held back by a slow peer. If writing fails (the
        connection closed), the next call raises.

        An iterable of ``str`` (or of bytes) is sent as one fragmented
        message, a frame per piece, taken from the iterable in this thread
        as it is sent: for a message that does not fit in memory. That call
        returns once the last frame is written.

        Args:
            message: The message, or its pieces.
            compress: As for :meth:`ws.WebSocketConnection.send_message`.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            ws.MessageTypeError: ``message`` is of another type, or the
                iterable mixes ``str`` and bytes.
        """
        if isinstance(message, str):
            self._outbox.put(message, compress)
        elif isinstance(message, bytes):
            self._outbox.put(message, compress)
        elif isinstance(message, bytearray | memoryview):
            self._outbox.put(bytes(message), compress)  # the caller may change it once we return
        elif isinstance(message, Iterable):
            self._send_fragments(message, compress)
        else:
            raise MessageTypeError(f"a message is str or bytes-like, not {type(message).__name__}")

    def _send_fragments(self, message: Iterable[str | bytes], compress: bool | None) -> None:
        pieces = iter(message)
        sender, receiver = trio.open_memory_channel[str | bytes](0)
        connection = self._connection

        @asynccontextmanager
        async def sending() -> AsyncIterator[None]:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_send_pieces, connection, receiver, compress)
                yield

        self._runtime.call(self._outbox.flush)  # the messages sent before go first
        _, held = self._runtime.hold(sending)
        try:
            for piece in pieces:
                self._runtime.call(sender.send, piece)
        except trio.BrokenResourceError:
            pass  # the sender failed: leaving raises why
        finally:
            self._runtime.call(sender.aclose)
            held.leave()

    def ping(self, payload: bytes | None = None, *, timeout: float | None = None) -> None:
        """Send a ping and return once its pong arrives.

        Args:
            payload: Up to 125 bytes; a random one by default.
            timeout: Seconds to wait for the pong at most.

        Raises:
            TimeoutError: No pong within ``timeout`` (the connection stays open).
            ConnectionClosed: The connection is closed, or closed before the pong.
            ValueError: A ping with this payload is already waiting for its pong.
        """
        self._runtime.call(_ping, self._connection, self._outbox, payload, timeout)

    # -- closing ------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with the closing handshake, and wait until it is done.

        Safe to call more than once and from several threads; calls after
        the first return once the connection is closed.

        Args:
            code: The close code (1000, 1001, or 3000–4999).
            reason: Why, up to 123 bytes of UTF-8.

        Raises:
            ws.LocalProtocolError: ``code`` or ``reason`` cannot be sent;
                nothing was done and the connection is still open.
            ws.DisconnectionTimeout: The peer did not answer the close in
                time (the connection is closed all the same).
        """
        serialize_close(code, reason or None)  # a bad code fails here, before anything is done
        with self._close_lock:
            if self._finished:
                return
            try:
                self._runtime.call(_close, self._connection, self._outbox, code, reason)
            finally:
                self._finished = True
                if self._on_close is not None:
                    self._on_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt | SystemExit):
            self.close(CloseCode.GOING_AWAY)
        else:
            self.close()


def leave_and_release(held: Held[T], runtime_: Runtime = runtime) -> Callable[[], None]:
    """An ``on_close`` for a connection the runtime holds: leave it, then release the runtime."""

    def finish() -> None:
        try:
            held.leave()
        finally:
            runtime_.release()

    return finish
