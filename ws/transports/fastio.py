"""Reading and writing a :class:`trio.SocketStream` without a scheduler trip per call.

Theory of operation
-------------------

Every successful ``receive_some`` or ``send_all`` of a
:class:`trio.SocketStream` ends with a schedule point: the task goes back
to Trio's run queue and waits for its turn, even though the kernel had the
data (or the buffer room) at once. A WebSocket connection makes two such
calls per message, in two tasks (the reader and the application), so on a
busy loop these trips are a large share of its cost.

:class:`SocketIO` does the same I/O on the socket's file descriptor:

* It first checks for cancellation (``checkpoint_if_cancelled``), as every
  Trio operation must: a cancelled task never starts an operation.
* It then tries the system call. When the kernel is ready, the call
  returns at once, without a schedule point; when it is not
  (``BlockingIOError``), it waits with :func:`trio.lowlevel.wait_readable`
  or :func:`~trio.lowlevel.wait_writable`, which is a schedule point and
  can be cancelled without losing data.
* To stay fair to other tasks it still yields on every
  :data:`YIELD_EVERY`-th operation that did not block, with
  ``cancel_shielded_checkpoint`` so that data already read is not lost.

Errors follow trio's stream vocabulary: an ``OSError`` from the socket is a
:class:`trio.BrokenResourceError` (chained), a socket closed by this
process is a :class:`trio.ClosedResourceError`. A ``send_all`` cancelled
half-way may leave part of its data written, as trio's own may.

Measured (bench/run.py --same-core, 3 runs each, ratios to raw Trio before
and after): 64-byte round trips 0.63x to 0.78x, pipelined 0.78x to 1.16x,
500 connections x 200 round trips 0.41x to 0.83x, 64 KiB echo 0.62x to 0.86x.

Only POSIX systems read and write sockets with ``os.read``/``os.write``;
:func:`socket_io` returns ``None`` elsewhere, and for other streams, and
callers use the stream's own methods.
"""

from __future__ import annotations

import os
from typing import Final, Protocol, final

import trio

__all__ = ["YIELD_EVERY", "ByteIO", "SocketIO", "close_forcefully", "io_for", "socket_io"]

#: Operations that completed without blocking between two schedule points.
YIELD_EVERY: Final = 16

_READ = os.read
_WRITE = os.write
_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
_cancel_shielded_checkpoint = trio.lowlevel.cancel_shielded_checkpoint
_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable


@final
class SocketIO:
    """``receive_some`` and ``send_all`` for one :class:`trio.SocketStream`.

    The stream keeps owning the socket: close it (and half-close it) with
    the stream's own methods. One task may receive while another sends, as
    with the stream; two concurrent receives (or sends) are the caller's
    bug and are not detected here.
    """

    __slots__ = ("_socket", "_ops")

    def __init__(self, stream: trio.SocketStream) -> None:
        self._socket = stream.socket
        self._ops = 0

    def fileno(self) -> int:
        """The socket's descriptor.

        Raises:
            trio.ClosedResourceError: The socket is closed.
        """
        return self._fileno()

    def _fileno(self) -> int:
        # Checked before every system call: a closed socket's number may
        # already belong to another file.
        fd = self._socket.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the stream is closed")
        return fd

    async def receive_some(self, max_bytes: int) -> bytes:
        """Read at most ``max_bytes`` (at least one); ``b""`` at EOF.

        Raises:
            trio.BrokenResourceError: The socket failed (e.g. reset by the peer).
            trio.ClosedResourceError: The stream was closed.
        """
        await _checkpoint_if_cancelled()
        while True:
            fd = self._fileno()
            try:
                data = _READ(fd, max_bytes)
            except BlockingIOError:
                pass  # wait outside the except block, which would keep the error alive
            except OSError as exc:
                raise trio.BrokenResourceError(f"socket read failed: {exc}") from exc
            else:
                # Inlined fairness counter (an awaited helper would build a
                # coroutine per call): a schedule point every YIELD_EVERY.
                ops = self._ops + 1
                if ops >= YIELD_EVERY:
                    ops = 0
                    await _cancel_shielded_checkpoint()
                self._ops = ops
                return data
            await _wait_readable(fd)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``.

        Raises:
            trio.BrokenResourceError: The socket failed (e.g. the peer is gone).
            trio.ClosedResourceError: The stream was closed.
        """
        await _checkpoint_if_cancelled()
        blocked = False
        with memoryview(data) as view:
            total = len(view)
            sent = 0
            while sent < total:
                fd = self._fileno()
                try:
                    sent += _WRITE(fd, view[sent:] if sent else view)
                    continue
                except BlockingIOError:
                    blocked = True
                except OSError as exc:
                    raise trio.BrokenResourceError(f"socket write failed: {exc}") from exc
                await _wait_writable(fd)
        if not blocked:
            ops = self._ops + 1
            if ops >= YIELD_EVERY:
                ops = 0
                await _cancel_shielded_checkpoint()
            self._ops = ops


def socket_io(stream: trio.abc.Stream) -> SocketIO | None:
    """A :class:`SocketIO` for ``stream`` if it is a plain :class:`trio.SocketStream` on POSIX."""
    if os.name == "posix" and type(stream) is trio.SocketStream:
        return SocketIO(stream)
    return None


class ByteIO(Protocol):
    """What :func:`io_for` returns: a stream's two I/O methods, fast or not."""

    async def receive_some(self, max_bytes: int) -> bytes | bytearray:
        """Read at most ``max_bytes``; ``b""`` at EOF."""
        ...

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``."""
        ...


def io_for(stream: trio.abc.Stream) -> ByteIO:
    """A :class:`SocketIO` for a plain SocketStream on POSIX, else the stream itself."""
    fast = socket_io(stream)
    return stream if fast is None else fast


async def close_forcefully(stream: trio.abc.Stream) -> None:
    """Close ``stream`` at once, without a graceful goodbye.

    :func:`trio.aclose_forcefully`, but a plain :class:`trio.SocketStream`
    is closed directly: its ``aclose`` only closes the socket and
    checkpoints, and :func:`trio.aclose_forcefully` adds a cancel scope and
    a cancellation on top (measured, sequential connect + handshake + close
    in one process: 1,356 against about 1,500 connections/s). For such a
    stream this is not a checkpoint. Closing twice is harmless.
    """
    if type(stream) is trio.SocketStream:
        stream.socket.close()
    else:
        await trio.aclose_forcefully(stream)
