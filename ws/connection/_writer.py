"""The writer: one task at a time writes what the protocol has to send.

Every write goes through :meth:`Writer.send`, which takes the write lock,
lets its caller hand frames to the protocol *while holding it*, and writes
everything the protocol queued with one ``send_all``. Serializing under the
lock keeps frames in the order they are written, which permessage-deflate
with context takeover needs, and makes cancellation clean:

* cancelled while waiting for the lock, or for the socket to take data
  again after a full buffer, the send had no effect at all: its frame was
  never made;
* once the frame is made it is written at once; a write that fails or is
  cancelled before all its bytes went out leaves a partial frame (or a
  deflate context the peer never saw), so the connection breaks (1006),
  as :meth:`trio.SocketStream.send_all` breaks its stream.

The lock is a flag while nobody waits (taking it costs no checkpoint) and
hands over to waiters in FIFO order, as :class:`trio.Lock` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVarTuple, Unpack

import attrs
import trio

from ws.errors import ConnectionClosed
from ws.protocol import Protocol
from ws.transports.fastio import ByteIO, SocketIO, close_forcefully

__all__ = ["Writer"]

_Args = TypeVarTuple("_Args")
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)
_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
#: The most chunks written with one vectored write; more are joined first.
_MAX_PARTS = 64


@attrs.define(eq=False)
class Writer:
    """Writes the protocol's output to the stream, one task at a time.

    Args:
        protocol: Where frames are made.
        stream: The stream, for the end of output (half-close or close).
        io: How to write: the stream itself or its fast path.
        on_break: Called when a write failed (with the error) or was cut
            short (with ``None``); the connection breaks.
        closed_error: Makes the :class:`~ws.ConnectionClosed` to raise.
    """

    _protocol: Protocol
    _stream: trio.abc.Stream
    _io: ByteIO
    _on_break: Callable[[BaseException | None], None]
    _closed_error: Callable[[], ConnectionClosed]
    #: Whether the end of output closed the stream (not just half-closed it).
    stream_closed: bool = attrs.field(default=False, init=False)
    _fast: SocketIO | None = attrs.field(default=None, init=False)
    _writing: bool = attrs.field(default=False, init=False)
    # Made on first contention: most connections never have two writers
    # at once, and an empty ParkingLot takes 249 bytes (tracemalloc).
    _waiters: trio.lowlevel.ParkingLot | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if isinstance(self._io, SocketIO):
            self._fast = self._io

    async def send(
        self, produce: Callable[[Unpack[_Args]], object] | None = None, *args: Unpack[_Args]
    ) -> None:
        """Make frames with ``produce(*args)`` under the write lock, then write all there is.

        Args:
            produce: Hands frames to the protocol (e.g. ``protocol.send_text``);
                it runs only once nothing can cancel this send any more
                before its bytes go out. ``None``: write what is queued
                (answers the reader owes, a close frame).
            args: Its arguments (no ``functools.partial`` per message).

        Raises:
            ConnectionClosed: The stream broke (the connection is broken now).
            Exception: Whatever ``produce`` raises; nothing was written then.
        """
        if self._writing:
            waiters = self._waiters
            if waiters is None:
                waiters = self._waiters = trio.lowlevel.ParkingLot()
            await waiters.park()  # handed the lock in turn
        else:
            self._writing = True
        try:
            fast = self._fast
            if fast is not None and fast.congested:
                # Make the frame only once the socket takes data again, so
                # that a send cancelled meanwhile has made nothing.
                try:
                    await fast.wait_send_all_might_not_block()
                except _STREAM_ERRORS as exc:
                    self._on_break(exc)
                    raise self._closed_error() from exc
            await _checkpoint_if_cancelled()
            if produce is not None:
                produce(*args)
            # Written here rather than in a helper: a coroutine per layer
            # costs about 0.4 us per message.
            chunks = self._protocol.data_to_send()
            if chunks:
                eof = chunks[-1] == b""
                if eof:
                    chunks.pop()
                try:
                    if len(chunks) == 1:
                        if fast is not None:
                            await fast.send_all_checked(chunks[0])
                        else:
                            await self._io.send_all(chunks[0])
                    elif chunks:
                        if fast is not None and len(chunks) <= _MAX_PARTS:
                            # One system call, and a large frame's body is not
                            # copied to join it to its head.
                            await fast.send_parts_checked(chunks)
                        else:
                            await self._io.send_all(b"".join(chunks))
                    if eof:
                        await self._end_of_output()
                except _STREAM_ERRORS as exc:
                    self._on_break(exc)
                    raise self._closed_error() from exc
                except BaseException:
                    # Cancelled half-way: a partial frame may be on the wire.
                    self._on_break(None)
                    raise
        finally:
            waiters = self._waiters
            if waiters:
                waiters.unpark()  # still writing: handed over
            else:
                self._writing = False

    @property
    def socket_io(self) -> SocketIO | None:
        """The socket's fast path when writes go to a plain socket, else ``None``."""
        return self._fast

    @property
    def locked(self) -> bool:
        """Whether a task holds the write lock."""
        return self._writing

    def write_now(self, frame: bytes) -> int | None:
        """Queue a serialized frame and write it without waiting, if nothing stands in the way.

        For :func:`ws.broadcast`, which sends one frame to many connections
        without a task switch each. Returns ``None``, having done nothing,
        when another task holds the write lock, the stream is not a plain
        socket, or the protocol has other output queued: send the ordinary
        way then. Otherwise the frame is queued
        (:meth:`~ws.protocol.Protocol.send_serialized`) and written with one
        non-blocking system call; returns how many of its bytes went out.
        When that is less than all of them, the caller holds the write lock
        and must write the rest and then :meth:`unlock`.

        Raises:
            LocalProtocolError: From ``send_serialized``; nothing was done.
            ConnectionClosed: The write failed; the connection is broken.
        """
        fast = self._fast
        protocol = self._protocol
        if self._writing or fast is None or protocol.has_data_to_send():
            return None
        protocol.send_serialized(frame)
        protocol.data_to_send()  # [frame], written here
        self._writing = True
        try:
            sent = fast.send_nowait([frame])
        except _STREAM_ERRORS as exc:
            self._on_break(exc)
            self.unlock()
            raise self._closed_error() from exc
        if sent == len(frame):
            self._writing = False  # taken without waiting: nobody can be waiting
        return sent

    def unlock(self) -> None:
        """Give back the lock :meth:`write_now` kept (to the next waiter, if any)."""
        waiters = self._waiters
        if waiters:
            waiters.unpark()
        else:
            self._writing = False

    async def _end_of_output(self) -> None:
        # The protocol is done writing. Half-close only while the peer may
        # still send something we must read: after its EOF, or once both
        # close frames passed (the server closes first, RFC 6455 section
        # 7.1.1), close the stream at once. That saves a shutdown() call
        # and, on the server, waiting for the client's FIN.
        stream = self._stream
        protocol = self._protocol
        done = protocol.eof_received or (
            protocol.close_rcvd is not None and protocol.close_sent is not None
        )
        if not done and isinstance(stream, trio.abc.HalfCloseableStream):
            await stream.send_eof()
        else:
            self.stream_closed = True
            if self._fast is not None:
                await close_forcefully(stream)  # a plain socket: no goodbye to say
            else:
                await stream.aclose()  # a TLS stream says goodbye first
