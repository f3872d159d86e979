"""WebSocketConnection: the public face of a connection, over its parts.

Theory of operation
-------------------

A connection is made of parts with one job each, composed by
:func:`assemble`:

* :class:`~ws.connection._queue.MessageQueue`: messages received and not
  yet taken, bounded exactly by ``message_queue_size`` and
  ``message_queue_bytes``;
* :class:`~ws.connection._writer.Writer`: the write lock, writing what the
  protocol has to send, the end of output, clean cancellation;
* :class:`~ws.connection._keepalive.Keepalive`: keepalive timing, sans-IO;
* :class:`~ws.connection._pings.Pings`: pings waiting for their pongs;
* :class:`~ws.connection._reader.Reader`: the reader task and its
  lifecycle (an Enum).

:class:`WebSocketConnection` only checks arguments and states and calls
them. The I/O strategy (a plain socket's fast path, or the stream's own
methods) is chosen by the builder and handed in.

Which calls are checkpoints
---------------------------

As in Trio, every call either is a checkpoint or, on its fast path, a
cancel point that yields now and then:

* ``send_message``, ``ping``, ``pong`` and ``get_message`` first check for
  cancellation (a cancelled task never starts them). When they complete
  without waiting (the socket took the bytes at once; a message was
  queued), they skip the trip through the scheduler, except that every
  ``YIELD_EVERY``-th such operation *of the Trio run*, whatever connection
  it was on, is a full schedule point
  (:class:`~ws.transports.fastio.Budget`). So a task looping over any
  number of connections still lets other tasks run and notices a deadline
  within ``YIELD_EVERY`` operations. When they wait, that is a schedule
  point. Over other streams than plain sockets every write is a
  checkpoint, as the stream's own ``send_all`` is.
* ``aclose`` and calls that raise :class:`~ws.ConnectionClosed` at once
  are checkpoints.

Cancellation is clean: a send (``send_message``, ``ping``, ``pong``, the
close frame of ``aclose``) cancelled before its frame was made has no
effect, now or later; frames are made under the write lock, in write
order. A send cut short while its bytes were being written breaks the
connection (1006), as a cut ``send_all`` breaks a ``SocketStream``.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Final, NoReturn, TypeVarTuple, Unpack, cast

import attrs
import trio

from ws._logging import Log
from ws.connection._keepalive import Keepalive
from ws.connection._pings import PendingPing, Pings
from ws.connection._queue import Item, MessageQueue, QueueClosed
from ws.connection._reader import Reader
from ws.connection._writer import Writer
from ws.errors import ConnectionClosed, LocalProtocolError, MessageTypeError
from ws.events import Fragment
from ws.extensions.base import Extension
from ws.frames.close import CloseReason, serialize_close
from ws.frames.frame import CloseCode
from ws.protocol import Protocol, Side, State
from ws.transports.endpoint import Address
from ws.transports.fastio import YIELD_EVERY, Budget, ByteIO, run_budget
from ws.typing import BytesLike

__all__ = ["WebSocketConnection", "assemble", "reader_of", "sending_parts", "start_reader"]

_OPEN = State.OPEN
_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
_cancel_shielded_checkpoint = trio.lowlevel.cancel_shielded_checkpoint
_RECEIVE_SIZE = 65536
# How long a send_message_fragments() cut short waits for its 1011 to go out.
_INTERRUPT_GRACE: Final = 1.0
_Args = TypeVarTuple("_Args")
# Close codes after which `async for` ends quietly instead of raising.
_NORMAL_CODES = frozenset({CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD})


#: Numbers connections (clients and servers together) in the order they are made.
_CONNECTION_IDS: Final = itertools.count()


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
    _subprotocol: str | None
    _handshake_headers: tuple[tuple[bytes, bytes], ...]
    _queue: MessageQueue
    _writer: Writer
    _reader: Reader
    _pings: Pings
    _budget: Budget
    #: A process-wide number, as trio-websocket gives one (``str()`` shows it).
    _id: int = attrs.field(factory=lambda: next(_CONNECTION_IDS), init=False)
    # Set while send_message_fragments() sends a message; other sends wait for it.
    _fragmenting: trio.Event | None = attrs.field(default=None, init=False)

    @property
    def id(self) -> str:
        """The connection's id in the logs, e.g. ``"ws-2a"`` (see the logging docs).

        Every record about this connection starts with it and carries it as
        the record attribute ``ws_connection_id``.
        """
        return self._reader.log.id

    # -- properties documented by trio-websocket -----------------------------

    @property
    def closed(self) -> CloseReason | None:
        """Why the connection closed, or ``None`` while it is open.

        Set from the moment :meth:`aclose` is called: the close being made.
        """
        return self._protocol.close_reason or self._reader.local_close

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
    def handshake_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """Headers of the peer's side of the opening handshake, as ``(name, value)`` bytes.

        Names are in lower case. On a client, these are the response
        headers other than those the handshake itself uses (``upgrade``,
        ``connection``, ``sec-websocket-accept``, ``-protocol`` and
        ``-extensions``), in the order the server sent them, as in
        trio-websocket. On a server, they are all the request's headers
        (trio-websocket leaves them empty there; ``request.headers`` has
        them too).
        """
        return self._handshake_headers

    @property
    def extensions(self) -> Sequence[Extension]:
        """The extensions negotiated for this connection, e.g. permessage-deflate."""
        return self._protocol.extensions

    @property
    def close_timed_out(self) -> bool:
        """Whether the closing handshake ran out of time and the stream was dropped."""
        return self._reader.close_timed_out

    @property
    def stream(self) -> trio.abc.Stream:
        """The underlying Trio stream (after the opening handshake)."""
        return self._stream

    # -- messages -------------------------------------------------------------

    async def send_message(
        self, message: str | bytes | bytearray | memoryview, *, compress: bool | None = None
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        A send cancelled before its frame was made has no effect; one cut
        short while writing breaks the connection (see the module docs).

        Args:
            message: The message.
            compress: Whether to compress it, when permessage-deflate was
                negotiated. ``None`` (the default) follows the connection's
                policy: compress unless the message is smaller than the
                extension's ``threshold`` (64 bytes by default). ``True``
                compresses even a small message; ``False`` sends it
                uncompressed, which RFC 7692 allows for any message. Without
                permessage-deflate (the peer declined it, or compression is
                off) nothing is compressed and ``True`` is not an error.

        Raises:
            ConnectionClosed: The connection is closed or closing.
            MessageTypeError: ``message`` is neither str nor bytes-like
                (a :class:`TypeError` and a :class:`ValueError`).
            TypeError: ``compress`` is not ``None``, ``True`` or ``False``.
        """
        protocol = self._protocol
        if protocol.state is not _OPEN:
            await trio.lowlevel.checkpoint()
            raise self._reader.closed_error()
        # The coroutine made here and awaited below: no functools.partial per message.
        if compress is None:
            if isinstance(message, str):
                sending = self._writer.send(protocol.send_text, message)
            elif isinstance(message, (bytes, bytearray, memoryview)):
                sending = self._writer.send(protocol.send_binary, message)
            else:
                raise MessageTypeError(
                    f"a message is str or bytes-like, not {type(message).__name__}"
                )
        elif compress is not True and compress is not False:
            raise TypeError(f"compress must be None, True or False, not {compress!r}")
        elif isinstance(message, str):
            sending = self._writer.send(protocol.send_text, message, True, compress)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            sending = self._writer.send(protocol.send_binary, message, True, compress)
        else:
            raise MessageTypeError(f"a message is str or bytes-like, not {type(message).__name__}")
        try:
            await sending
        except LocalProtocolError:
            fragmenting = self._fragmenting
            if fragmenting is not None and protocol.state is _OPEN:
                # send_message_fragments() is sending a message: this one goes after it.
                await fragmenting.wait()
                return await self.send_message(message, compress=compress)
            raise self._reader.closed_error() from None  # closed while waiting to write

    async def _send(self, produce: Callable[[], object] | None) -> None:
        try:
            await self._writer.send(produce)
        except LocalProtocolError:
            if self._protocol.state is not _OPEN:
                raise self._reader.closed_error() from None  # closed while waiting to write
            raise

    async def get_message(self) -> str | bytes:
        """Return the next message, waiting for one if needed.

        Messages that arrived before the peer closed are still returned; then
        this raises. After a local :meth:`aclose`, it raises at once.

        Raises:
            ConnectionClosed: The connection is closed.
        """
        queue = self._queue
        # The fast paths, inlined (a coroutine per message costs about
        # 0.4 us): a message is queued, or bytes wait to be parsed, which
        # this task parses rather than wake the reader for them.
        await _checkpoint_if_cancelled()
        message = queue.take()
        if message is None and self._protocol.has_pending_input:
            message = self._reader.take_buffered()
        if message is not None:
            budget = self._budget  # Budget.spend(), inlined
            budget.ops += 1
            if budget.ops >= YIELD_EVERY:
                await budget.yield_now()
            if isinstance(message, Fragment):
                return await self._assemble(message)
            return message
        try:
            message = await queue.wait_and_take()
        except QueueClosed:
            error = self._reader.closed_error()
            raise error from error.__cause__
        if isinstance(message, Fragment):
            return await self._assemble(message)
        return message

    async def _next_item(self) -> Item:
        # get_message() without its fast paths, for any item: a whole
        # message or a piece of a streamed one.
        await _checkpoint_if_cancelled()
        item = self._queue.take()
        if item is None and self._protocol.has_pending_input:
            item = self._reader.take_buffered()
        if item is not None:
            await self._budget.spend()
            return item
        try:
            return await self._queue.wait_and_take()
        except QueueClosed:
            error = self._reader.closed_error()
            raise error from error.__cause__

    async def _skip_rest(self, item: Item) -> Item:
        # The item after the rest of a streamed message left early, if
        # ``item`` is a piece of it (a piece other than the first).
        while type(item) is Fragment and not item.first:
            while not item.final:
                item = await self._next_item()
                assert type(item) is Fragment
            item = await self._next_item()
        return item

    async def _assemble(self, piece: Fragment) -> str | bytes:
        # get_message() found pieces (get_message_fragments() was called on
        # this connection): the rest of a message whose streaming was left
        # early is skipped; the next message is assembled, within
        # max_message_size and max_fragments.
        item = await self._skip_rest(piece)
        if not isinstance(item, Fragment):
            return item
        pieces = [item.data]
        size = len(item.data)
        protocol = self._protocol
        limit = protocol.max_message_size
        while not item.final:
            item = await self._next_item()
            assert type(item) is Fragment
            pieces.append(item.data)
            size += len(item.data)
            if limit is not None and size > limit:
                await self._refuse(f"message bigger than the limit of {limit} bytes")
            if len(pieces) > protocol.max_fragments:
                await self._refuse(f"message in more than {protocol.max_fragments} frames")
        if isinstance(pieces[0], str):
            return "".join(cast("list[str]", pieces))
        return b"".join(cast("list[bytes]", pieces))

    async def _refuse(self, reason: str) -> NoReturn:
        # A message assembled from pieces broke a limit: close with 1009.
        self._reader.fail(CloseCode.MESSAGE_TOO_BIG, reason)
        with contextlib.suppress(ConnectionClosed):
            await self._send(None)
        raise self._reader.closed_error()

    def get_message_fragments(self) -> AsyncIterator[str | bytes]:
        """Iterate over the next message's pieces as they arrive, without assembling them.

        ``async for piece in connection.get_message_fragments():`` gets
        ``str`` pieces for a text message (decoded and validated; a piece
        may be empty where a character straddles two frames) and bytes for
        a binary one, one per frame, and ends after the message's last
        piece. What is held at a time is bounded by the frame size and the
        queue (``message_queue_bytes``), not by the message's size.

        From the first call on, the connection receives every message in
        pieces, so that none is held whole before the next call comes:
        ``max_message_size`` then bounds each frame (after inflating) of a
        streamed message rather than their sum, and ``max_fragments`` does
        not apply to it. :meth:`get_message` still works and applies both
        limits as it joins the pieces. Call it before the message arrives
        (before the peer can send it, as a handler that starts with it
        does): what was received of a message before the first call was
        held whole, within ``max_message_size``, and comes as one piece;
        so does a message queued whole before it.

        Leave the loop early and the rest of that message is skipped by the
        next :meth:`get_message` or ``get_message_fragments()``; or refuse
        it with ``await connection.aclose(1009)``. Use one consumer at a
        time.

        Raises:
            ConnectionClosed: (From the iteration.) The connection closed
                before or during the message.
        """
        first = self._protocol.stream_messages()
        if first is not None:
            self._queue.append_now(first)
        return _Pieces(self)

    async def _first_piece(self) -> Item:
        # The next message, or its first piece, after the rest of one whose
        # streaming was left early.
        return await self._skip_rest(await self._next_item())

    async def send_message_fragments(
        self,
        fragments: Iterable[str | BytesLike] | AsyncIterable[str | BytesLike],
        *,
        compress: bool | None = None,
    ) -> None:
        """Send one message made of ``fragments``, one frame per piece, as they come.

        ``fragments`` is an iterable or async iterable of ``str`` pieces (a
        text message) or bytes-like pieces (binary); only one piece is held
        at a time, so a message of any size can be sent from a file or a
        generator. An empty iterable sends nothing. Other sends wait until
        the message is complete; pings, pongs and a close may go between
        its frames. Pull pieces that need I/O from an async iterable: a
        plain iterable runs in this task, between the frames.

        If ``fragments`` raises, the piece types are mixed, or the call is
        cancelled, after the first frame went out, the message cannot be
        completed: the connection fails with 1011 and the exception
        propagates.

        Args:
            fragments: The pieces.
            compress: As for :meth:`send_message`, decided for the whole
                message: ``None`` compresses it when permessage-deflate was
                negotiated (its size is not known in advance, so the
                extension's threshold does not apply).

        Raises:
            ConnectionClosed: The connection is closed or closes meanwhile.
            MessageTypeError: A piece is neither str nor bytes-like, or
                its type differs from the first piece's.
        """
        protocol = self._protocol
        while self._fragmenting is not None:  # one fragmented message at a time
            await self._fragmenting.wait()
        if protocol.state is not _OPEN:
            await trio.lowlevel.checkpoint()
            raise self._reader.closed_error()
        source = _source_of(fragments)
        done = self._fragmenting = trio.Event()
        started = False
        text = False
        try:
            while (piece := await _next_piece(source)) is not None:
                if not started:
                    if isinstance(piece, str):
                        text = True
                    elif not isinstance(piece, (bytes, bytearray, memoryview)):
                        raise MessageTypeError(
                            f"a piece of a message is str or bytes-like, not {type(piece).__name__}"
                        )
                    if text:
                        await self._send_piece(protocol.send_text, piece, False, compress)
                    else:
                        await self._send_piece(
                            protocol.send_binary, cast(BytesLike, piece), False, compress
                        )
                    started = True
                else:
                    if isinstance(piece, str) is not text or not isinstance(
                        piece, (str, bytes, bytearray, memoryview)
                    ):
                        raise MessageTypeError(
                            f"every piece of a {'text' if text else 'binary'} message is "
                            f"{'str' if text else 'bytes-like'}, not {type(piece).__name__}"
                        )
                    await self._send_piece(protocol.send_continuation, piece, False)
            if started:
                await self._send_piece(protocol.send_continuation, "" if text else b"", True)
        except BaseException:
            if started and protocol.state is _OPEN and protocol.sending_fragments:
                # The peer holds part of a message that cannot be finished.
                self._reader.fail(CloseCode.INTERNAL_ERROR, "the message being sent was interrupted")
                with trio.CancelScope(shield=True), trio.move_on_after(_INTERRUPT_GRACE):
                    with contextlib.suppress(ConnectionClosed):
                        await self._send(None)
            raise
        finally:
            self._fragmenting = None
            done.set()

    async def _send_piece(
        self, send: Callable[[Unpack[_Args]], None], *args: Unpack[_Args]
    ) -> None:
        try:
            await self._writer.send(send, *args)
        except LocalProtocolError:
            if self._protocol.state is not _OPEN:
                raise self._reader.closed_error() from None  # closed meanwhile
            raise

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
        protocol = self._protocol
        if protocol.state is not _OPEN:
            await trio.lowlevel.checkpoint()
            raise self._reader.closed_error()
        pings = self._pings
        if payload is None:
            payload = pings.fresh_payload()
        else:
            payload = bytes(payload)
            if payload in pings:
                raise ValueError(f"a ping with payload {payload!r} is already in flight")
        key = payload
        pending: PendingPing | None = None

        def send_ping() -> None:
            nonlocal pending
            if key in pings:
                raise ValueError(f"a ping with payload {key!r} is already in flight")
            protocol.send_ping(key)
            pending = pings.add(key)

        try:
            await self._send(send_ping)
            assert pending is not None
            await pending.event.wait()
        finally:
            if pending is not None:
                pings.forget(key, pending)
        if not pending.answered:  # woken by the end of the connection
            raise self._reader.closed_error()

    async def pong(self, payload: bytes | None = None) -> None:
        """Send an unsolicited pong (a one-way heartbeat).

        Raises:
            ConnectionClosed: The connection is closed.
        """
        protocol = self._protocol
        if protocol.state is not _OPEN:
            await trio.lowlevel.checkpoint()
            raise self._reader.closed_error()
        await self._send(partial(protocol.send_pong, b"" if payload is None else payload))

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
        reader = self._reader
        queue = self._queue
        if reader.done:
            # Nothing left to do: the reader saw the end and closed the stream.
            queue.close()
            await trio.lowlevel.checkpoint()
            return
        if protocol.state is _OPEN:
            serialize_close(code, reason)  # may raise for a bad code: nothing changed yet
            # What the tasks that queue.close() wakes report, even while the
            # close frame waits for another write to finish.
            if reader.local_close is None:
                reader.local_close = CloseReason(code, reason or None)
        queue.close()
        deadline = reader.arm_close_timeout()

        def send_close() -> None:
            if protocol.state is _OPEN:
                protocol.send_close(code, reason)

        try:
            if reader.started:
                # The reader's close deadline bounds this: when it runs out,
                # the reader drops the stream, which also ends a write of our
                # close frame blocked on a peer that does not read.
                try:
                    await self._writer.send(send_close)
                except ConnectionClosed:
                    pass
                await reader.wait_done()
            else:
                with trio.move_on_at(deadline) as scope:
                    try:
                        await self._writer.send(send_close)
                    except ConnectionClosed:
                        pass
                    await self._stream.aclose()
                    reader.break_protocol()
                if scope.cancelled_caught:
                    reader.close_timed_out = True
        finally:
            if not reader.started:
                # No reader task will see the end: end the reader here (it
                # logs the close, once), so that a second aclose() returns.
                await trio.aclose_forcefully(self._stream)
                reader.end_without_task()
            elif not reader.done:
                reader.abort()
                await trio.aclose_forcefully(self._stream)

    def __str__(self) -> str:
        return f"{'client' if self.is_client else 'server'}-{self._id}"

    def __repr__(self) -> str:
        side = "client" if self.is_client else "server"
        closed = self.closed
        state = "open" if closed is None else f"closed {closed.code} ({closed.name})"
        return f"<WebSocketConnection {side} {self._remote} {self._path!r} {state}>"


@attrs.define(eq=False)
class _Pieces:
    """What :meth:`WebSocketConnection.get_message_fragments` returns."""

    _connection: WebSocketConnection
    _started: bool = False
    _done: bool = False

    def __aiter__(self) -> _Pieces:
        return self

    async def __anext__(self) -> str | bytes:
        if self._done:
            raise StopAsyncIteration
        connection = self._connection
        if self._started:
            item = await connection._next_item()
        else:
            item = await connection._first_piece()
            self._started = True
        if isinstance(item, Fragment):
            self._done = item.final
            return item.data
        self._done = True  # a message queued whole before the call
        return item


def _source_of(
    fragments: Iterable[str | BytesLike] | AsyncIterable[str | BytesLike],
) -> Iterator[str | BytesLike] | AsyncIterator[str | BytesLike]:
    if isinstance(fragments, (str, bytes, bytearray, memoryview)):
        raise MessageTypeError(
            "send_message_fragments() takes an iterable of pieces, not one "
            f"{type(fragments).__name__}: use send_message() for a whole message"
        )
    if isinstance(fragments, AsyncIterable):
        return aiter(fragments)
    if isinstance(fragments, Iterable):
        return iter(fragments)
    raise MessageTypeError(
        f"send_message_fragments() takes an iterable or async iterable, "
        f"not {type(fragments).__name__}"
    )


async def _next_piece(
    source: Iterator[str | BytesLike] | AsyncIterator[str | BytesLike],
) -> str | BytesLike | None:
    """The next piece from ``source``, or ``None`` at its end."""
    if isinstance(source, AsyncIterator):
        try:
            return await anext(source)
        except StopAsyncIteration:
            return None
    return next(source, None)


def assemble(
    stream: trio.abc.Stream,
    io: ByteIO,
    protocol: Protocol,
    *,
    path: str,
    local: Address,
    remote: Address,
    subprotocol: str | None = None,
    handshake_headers: Sequence[tuple[bytes, bytes]] = (),
    message_queue_size: float = 1,
    message_queue_bytes: float = math.inf,
    close_timeout: float | None = None,
    receive_size: int = _RECEIVE_SIZE,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    log: Log | None = None,
) -> WebSocketConnection:
    """Make a connection's parts and the connection over them.

    Args:
        stream: The stream, after the opening handshake.
        io: How to read and write it: the stream itself, or a fast path
            for it (:func:`ws.transports.fastio.io_for` chooses).
        protocol: The sans-IO connection.
        log: The connection's log (the reader holds it for every part);
            ``None``: a fresh one on the ``ws`` logger.

    Raises:
        ValueError: An option is out of range.
    """
    budget = run_budget()
    queue = MessageQueue(message_queue_size, message_queue_bytes, budget)
    pings = Pings()
    reader = Reader(
        protocol, stream, io, queue, pings, Keepalive(ping_interval, ping_timeout),
        close_timeout, receive_size, Log.for_new_connection(None) if log is None else log,
    )
    reader.writer = Writer(protocol, stream, io, reader.on_break, reader.closed_error)
    return WebSocketConnection(
        stream, protocol, path, local, remote, subprotocol,
        _lower_names(handshake_headers),
        queue, reader.writer, reader, pings, budget,
    )


def _lower_names(headers: Sequence[tuple[bytes, bytes]]) -> tuple[tuple[bytes, bytes], ...]:
    # The pairs as they are when their names are in lower case already (h11
    # and the handshake's own parser give them so): a copy per connection
    # would hold about 600 bytes more for as long as it lives.
    pairs = tuple(headers)
    if all(name.islower() for name, _ in pairs):
        return pairs
    return tuple([(name.lower(), value) for name, value in pairs])


def reader_of(connection: WebSocketConnection) -> Reader:
    """The connection's reader, for the modules that run connections (server, client)."""
    return connection._reader


def start_reader(connection: WebSocketConnection, nursery: trio.Nursery) -> None:
    """Start the connection's reader task in ``nursery``, which must outlive the connection.

    For the modules that build connections (client, server, testing); bytes
    that came with the end of the opening handshake go first, through
    ``reader_of(connection).add_early_data(data)``.
    """
    connection._reader.start(nursery, name=f"ws reader {connection._remote}")


def sending_parts(connection: WebSocketConnection) -> tuple[Protocol, Writer, Reader, trio.abc.Stream]:
    """The parts a sender from outside the connection works with (:func:`ws.broadcast`)."""
    return connection._protocol, connection._writer, connection._reader, connection._stream
