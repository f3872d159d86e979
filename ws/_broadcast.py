"""One message to many connections at once: :func:`broadcast`.

Theory of operation
-------------------

A broadcast walks the connections once, in one task, and sorts each one:

* *skipped*: not open (closing or closed, or :meth:`~ws.WebSocketConnection.aclose`
  called), or in the middle of sending a fragmented message;
* *shared frame*: a server connection without extensions, or whose only
  extension is permessage-deflate without context takeover on our side
  (``server_no_context_takeover``). Every message it sends starts from the
  same state, so the frame's bytes are the same for all such connections
  with the same settings: they are made once per broadcast (one
  serialization; one compression per distinct compressor setting) and
  queued on each connection with :meth:`ws.protocol.Protocol.send_serialized`,
  which checks the connection's state. A message that permessage-deflate
  leaves uncompressed (smaller than the connection's ``threshold``, or
  ``compress=False``) takes the frame of connections without extensions,
  with or without context takeover: it does not touch the compressor;
* *own frame*: client connections (each frame needs a fresh masking key),
  compressed messages on permessage-deflate with context takeover (the
  frame depends on what the connection sent before) and other extensions.
  They send through their own writer, as
  :meth:`~ws.WebSocketConnection.send_message` does, in a task of their own.

A shared frame goes out on the spot when the connection's write lock is
free and its stream is a plain socket: the broadcast takes the lock
without waiting, queues the frame and makes one non-blocking system call
(:meth:`~ws.connection._writer.Writer.write_now`). When the socket takes
the whole frame, that connection is done: no task, no schedule point.
Otherwise (a full send buffer, another writer holding the lock, another
kind of stream) the connection gets a task that finishes the job, still
holding the lock if it had it, so no other writer's bytes come between.

The tasks share one deadline, ``timeout`` seconds after the broadcast
started, and run concurrently, so one slow peer holds up nobody. A
connection that has not taken its whole frame by then is dropped: with
none of the frame's bytes written it is closed with 1008 (policy
violation), the close frame written only if the socket takes it at once,
and the stream is closed without waiting for the peer's answer; with part
of the frame written, the stream is broken (1006), since nothing else may
follow half a frame. ``on_slow="skip"`` keeps the connections that got no
byte of the frame, which then miss the message.

As Trio's rules require of a loop over connections, the walk reaches a
schedule point every :data:`~ws.transports.fastio.YIELD_EVERY` connections
(the run's :class:`~ws.transports.fastio.Budget`), where it also notices
cancellation. Cancelling the broadcast stops the walk: connections reached
so far got the message, the others did not and are untouched; a write
still under way is dropped if none of its bytes went out (no effect, as a
cancelled send), and breaks its connection if some did.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial
from typing import Final, Literal

import trio

from ws._groups import collapse_exception_groups
from ws.connection._connection import WebSocketConnection, sending_parts
from ws.connection._reader import Reader
from ws.connection._writer import Writer
from ws.errors import ConnectionClosed, LocalProtocolError, MessageTypeError
from ws.extensions.permessage_deflate import PerMessageDeflate
from ws.frames.frame import CloseCode, Frame, Opcode
from ws.frames.serializer import serialize, serialize_frame
from ws.protocol import Protocol, Side, State
from ws.transports.fastio import YIELD_EVERY, SocketIO, close_forcefully, run_budget

__all__ = ["SlowPolicy", "broadcast"]

#: What happens to a connection that did not take the message in time and
#: got none of its bytes: ``"close"`` (1008) or ``"skip"`` (keep it).
SlowPolicy = Literal["close", "skip"]

#: The reason of the close frame sent to a connection too slow to take a broadcast.
TOO_SLOW_REASON: Final = "too slow for a broadcast"

_OPEN: Final = State.OPEN
_SERVER: Final = Side.SERVER
_STREAM_ERRORS: Final = (trio.BrokenResourceError, trio.ClosedResourceError)
_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
# The share key of server connections without extensions; permessage-deflate
# connections use (window bits, level, memLevel).
_PLAIN: Final = ()

_Key = tuple[()] | tuple[int, int, int]


async def broadcast(
    connections: Iterable[WebSocketConnection],
    message: str | bytes | bytearray | memoryview,
    *,
    timeout: float = 5.0,
    on_slow: SlowPolicy = "close",
    compress: bool | None = None,
) -> None:
    """Send one message to many connections at once; return when all took it or time is up.

    ``str`` goes as a text message, bytes-like as binary. Connections that
    are not open (closing or closed) or that are in the middle of sending a
    fragmented message are skipped. A connection listed twice gets the
    message twice.

    Every connection whose socket takes the message at once gets it right
    away, without a task switch; frames are made once for all the server
    connections that can share them (see the module docs). The others are
    given, concurrently, whatever is left of ``timeout`` seconds from the
    start, all together. A connection that still has not taken the whole
    frame when the time is up is dropped, so that one slow or dead peer
    never holds up the rest:

    * if no byte of the frame was written, it is closed with 1008 (policy
      violation, reason ``"too slow for a broadcast"``) without waiting
      for the peer: the close frame goes out only if the socket takes it
      at once, then the stream is closed. With ``on_slow="skip"`` the
      connection stays open instead and does not get this message;
    * if part of the frame was written, the stream is broken (1006), as a
      send cut short by cancellation breaks it.

    Errors on single connections never raise here: that connection is
    closed or broken, which shows in its
    :attr:`~ws.WebSocketConnection.closed`, and the broadcast goes on.

    Like a loop of sends, it reaches a schedule point every
    :data:`~ws.transports.fastio.YIELD_EVERY` connections. If it is
    cancelled, connections reached already got the message, the others are
    untouched, and a frame still being written breaks its connection only
    if part of it went out.

    Args:
        connections: The connections, e.g. ``server.connections``; any
            iterable, walked once.
        message: The message: ``str`` (text) or bytes-like (binary). A
            bytearray or memoryview is copied first, so changing it during
            the broadcast changes nothing.
        timeout: Seconds that connections not taking the message at once
            get, all together, from the start of the call (0: only those
            that take it at once get it).
        on_slow: ``"close"`` (default) or ``"skip"``, for a connection that
            did not take the message in time and got none of its bytes.
        compress: As for :meth:`~ws.WebSocketConnection.send_message`, on
            every connection that negotiated permessage-deflate: ``None``
            follows each connection's threshold, ``True`` compresses,
            ``False`` sends uncompressed (which lets every server
            connection share one frame).

    Raises:
        MessageTypeError: ``message`` is neither str nor bytes-like (a
            :class:`TypeError`); raised before anything is sent.
        TypeError: ``compress`` is not ``None``, ``True`` or ``False``.
        ValueError: ``timeout`` is negative or NaN, or ``on_slow`` is
            neither ``"close"`` nor ``"skip"``.
    """
    if isinstance(message, str):
        opcode = Opcode.TEXT
        payload = message.encode("utf-8")
    elif isinstance(message, (bytes, bytearray, memoryview)):
        opcode = Opcode.BINARY
        payload = message if type(message) is bytes else bytes(message)
    else:
        raise MessageTypeError(f"a message is str or bytes-like, not {type(message).__name__}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be >= 0, not {timeout!r}")
    if on_slow != "close" and on_slow != "skip":
        raise ValueError(f"on_slow must be 'close' or 'skip', not {on_slow!r}")
    if compress is not None and compress is not True and compress is not False:
        raise TypeError(f"compress must be None, True or False, not {compress!r}")
    await _checkpoint_if_cancelled()
    deadline = trio.current_time() + timeout if math.isfinite(timeout) else math.inf
    close = on_slow == "close"
    text = opcode is Opcode.TEXT
    frames: dict[_Key, bytes] = {}
    budget = run_budget()
    with collapse_exception_groups():
        async with trio.open_nursery() as nursery:
            for connection in connections:
                budget.ops += 1
                protocol, writer, reader, _ = sending_parts(connection)
                if protocol.state is not _OPEN or reader.local_close is not None:
                    pass  # closed or closing: skipped
                elif (key := _share_key(protocol, len(payload), compress)) is None:
                    produce = protocol.send_text if text else protocol.send_binary
                    if compress is not None:
                        produce = partial(produce, compress=compress)
                    nursery.start_soon(_send_own, connection, produce, payload, deadline, close)
                else:
                    frame = frames.get(key)
                    if frame is None:
                        frame = frames[key] = _shared_frame(key, opcode, payload)
                    try:
                        sent = writer.write_now(frame)
                    except (LocalProtocolError, ConnectionClosed):
                        pass  # sending a fragmented message (skipped), or broken now
                    else:
                        if sent is None:  # the ordinary way, in a task
                            nursery.start_soon(
                                _send_own, connection, protocol.send_serialized, frame,
                                deadline, close,
                            )
                        elif sent < len(frame):  # the write lock stays held
                            nursery.start_soon(
                                _finish_write, connection, memoryview(frame)[sent:], sent,
                                deadline, close,
                            )
                if budget.ops >= YIELD_EVERY:
                    await budget.yield_now()
                    await _checkpoint_if_cancelled()


def _share_key(protocol: Protocol, size: int, compress: bool | None) -> _Key | None:
    # Which shared frame a connection can take, or None for its own frame.
    if protocol.side is not _SERVER:
        return None
    extensions = protocol.extensions
    if not extensions:
        return _PLAIN
    if len(extensions) == 1:
        extension = extensions[0]
        if type(extension) is PerMessageDeflate:
            if compress is False or (compress is None and size < extension.threshold):
                # Left uncompressed, as PerMessageDeflate.encode would: the
                # plain frame, and the compressor is not touched.
                return _PLAIN
            if extension.local_no_context_takeover:
                return (
                    extension.local_max_window_bits,
                    extension.compression_level,
                    extension.mem_level,
                )
    return None


def _shared_frame(key: _Key, opcode: Opcode, payload: bytes) -> bytes:
    # The frame every connection with this key would make for the message.
    if not key:
        return serialize(opcode, payload)
    bits, level, mem_level = key
    # The connection's own extension class, fresh: the same compressed bytes
    # as each connection's own encode() would make from its empty window.
    deflate = PerMessageDeflate(
        local_no_context_takeover=True,
        local_max_window_bits=bits,
        compression_level=level,
        mem_level=mem_level,
    )
    return serialize_frame(deflate.encode(Frame(opcode, payload)))


async def _finish_write(
    connection: WebSocketConnection,
    rest: memoryview,
    written: int,
    deadline: float,
    close: bool,
) -> None:
    """Write the rest of a shared frame, holding the write lock, until the deadline."""
    _, writer, reader, _ = sending_parts(connection)
    fast = writer.socket_io
    assert fast is not None  # write_now() wrote to it
    dropped = False
    try:
        with trio.move_on_at(deadline):
            while rest:
                await fast.wait_send_all_might_not_block()
                sent = fast.send_nowait([rest])
                written += sent
                rest = rest[sent:]
        if rest:  # time is up
            dropped = bool(written) or close
            if written:
                reader.on_break(None)  # half a frame is out: nothing may follow
            elif close:
                _close_too_slow(connection, fast)
    except _STREAM_ERRORS as exc:
        reader.on_break(exc)
    except Exception as exc:  # pragma: no cover - a bug in ws: break this connection only
        reader.on_break(exc)
    except BaseException:
        # Cancelled from outside: a frame not started has no effect.
        if written:
            reader.on_break(None)
        raise
    finally:
        writer.unlock()
    if dropped and not reader.started:  # nobody else will close the stream
        await _close_unread(connection)


async def _send_own(
    connection: WebSocketConnection,
    produce: Callable[[bytes], None],
    data: bytes,
    deadline: float,
    close: bool,
) -> None:
    """Send through the connection's writer, as send_message does, until the deadline."""
    _, writer, reader, _ = sending_parts(connection)
    made = False

    def make() -> None:
        nonlocal made
        produce(data)
        made = True

    with trio.move_on_at(deadline) as scope:
        try:
            await writer.send(make)
        except (ConnectionClosed, LocalProtocolError):
            return  # closed meanwhile, or sending a fragmented message: skipped
        except Exception as exc:  # pragma: no cover - a bug in ws: break this connection only
            reader.on_break(exc)
            return
    # Cut short after the frame was made: the writer broke the connection.
    if scope.cancelled_caught and not made and close:
        _close_too_slow(connection, None)
        if not reader.started:
            await _close_unread(connection)


def _close_too_slow(connection: WebSocketConnection, fast: SocketIO | None) -> None:
    """Close with 1008 without waiting for the peer; the close frame only if it goes out now.

    ``fast`` is the socket's writer when the caller holds the write lock.
    """
    protocol, _, reader, _ = sending_parts(connection)
    if protocol.state is not _OPEN:
        return
    reader.log.info("closing with 1008: too slow to take a broadcast (%s)", connection.remote)
    protocol.fail(CloseCode.POLICY_VIOLATION, TOO_SLOW_REASON)
    if fast is not None:
        chunks = [chunk for chunk in protocol.data_to_send() if chunk]
        try:
            fast.send_nowait(chunks)
        except _STREAM_ERRORS:
            pass
    reader.on_break(None)  # the reader stops and closes the stream


async def _close_unread(connection: WebSocketConnection) -> None:
    # A connection whose reader never started: its stream is closed here.
    _, _, reader, stream = sending_parts(connection)
    reader.on_break(None)
    await close_forcefully(stream)
