"""Reading and writing a :class:`trio.SocketStream` without a scheduler trip per call.

Theory of operation
-------------------

Every successful ``receive_some`` or ``send_all`` of a
:class:`trio.SocketStream` ends with a schedule point: the task goes back
to Trio's run queue and waits for its turn, even though the kernel had the
data (or the buffer room) at once. A WebSocket connection makes two such
calls per message, in two tasks (the reader and the application), so on a
busy loop these trips are a large share of its cost.

:class:`SocketIO` does the same I/O on the socket's file descriptor. Each
of ``receive_some`` and ``send_all``:

* first checks for cancellation (``checkpoint_if_cancelled``), as every
  Trio operation must: a cancelled task never starts an operation. Both
  are therefore always *cancel points*.
* then tries the system call. When the kernel is ready, the call returns
  at once, without a schedule point. When it is not (``BlockingIOError``),
  it waits with :func:`trio.lowlevel.wait_readable` or
  :func:`~trio.lowlevel.wait_writable`, which is a schedule point and can
  be cancelled without losing data.
* ends with a cancel-shielded schedule point (``cancel_shielded_checkpoint``,
  so that data already read or written is not lost) on every
  :data:`YIELD_EVERY`-th operation that did not block, *counted across the
  whole Trio run*, and whenever the system call failed, exactly as trio's
  own socket methods do (``_try_sync`` in trio's ``_socket.py``).

The count lives in one :class:`Budget` per Trio run (:func:`run_budget`, a
``RunVar``), shared by every :class:`SocketIO` of the run and by any other
fast path that skips schedule points (the connection's message-queue pops
call :meth:`Budget.spend`). A count per socket would let a task that loops
over many connections, one operation each, run without ever yielding:
other tasks would starve, and its own deadlines, which Trio only notices
at schedule points, would pass unnoticed. With one count per run, no task
completes more than :data:`YIELD_EVERY` such operations between two
schedule points, so a deadline is noticed within that many operations.
An operation that waited, or failed, has just been through a real schedule
point and resets the count; so does the yield itself. A receive that
waited then counts as the first operation after that point.

``wait_send_all_might_not_block`` is a checkpoint (it always waits for
:func:`~trio.lowlevel.wait_writable`).

Errors follow :class:`trio.SocketStream`: ``EBADF`` (a closed socket) is a
:class:`trio.ClosedResourceError` ("this socket was already closed"), as
is a send after ``send_eof``; any other ``OSError`` is a
:class:`trio.BrokenResourceError`. Both chain the ``OSError`` (trio drops
it for ``EBADF``). Misuse raises at once, after the cancel point: a second
task receiving (or sending, or waiting to send) while one already is gets
:class:`trio.BusyResourceError`, and ``max_bytes < 1`` a ``ValueError``. A
``send_all`` cancelled half-way may leave part of its data written, as
trio's own may.

Measured (bench/run.py --same-core, 3 runs each, ratios to raw Trio before
and after): 64-byte round trips 0.63x to 0.78x, pipelined 0.78x to 1.16x,
500 connections x 200 round trips 0.41x to 0.83x, 64 KiB echo 0.62x to 0.86x.

Only POSIX systems read and write sockets with ``os.read``/``os.write``;
:func:`socket_io` returns ``None`` elsewhere, and for other streams, and
callers use the stream's own methods.
"""

from __future__ import annotations

import errno
import os
from typing import Final, Protocol, final

import trio

__all__ = [
    "YIELD_EVERY",
    "Budget",
    "ByteIO",
    "SocketIO",
    "close_forcefully",
    "io_for",
    "run_budget",
    "socket_io",
]

#: Operations that completed without blocking between two schedule points.
#: 32: an echo loop on one connection (a queue pop and a write per message)
#: then yields every 16 messages, as often as it did when the count was
#: per socket; at 16 it yielded twice as often, and a schedule point per 8
#: pipelined 64-byte messages cost about a tenth of their rate (callgrind,
#: one process: 125k against 119k instructions per echoed message).
YIELD_EVERY: Final = 32

_READ = os.read
_WRITE = os.write
_WRITEV = os.writev
_checkpoint_if_cancelled = trio.lowlevel.checkpoint_if_cancelled
_cancel_shielded_checkpoint = trio.lowlevel.cancel_shielded_checkpoint
_wait_readable = trio.lowlevel.wait_readable
_wait_writable = trio.lowlevel.wait_writable

# As trio's SocketStream: these mean that the socket was closed under us.
_CLOSED_ERRNOS: Final = frozenset({errno.EBADF, errno.ENOTSOCK})


@final
class Budget:
    """Operations of one Trio run that completed without a schedule point.

    There is one per Trio run (:func:`run_budget`); every fast path of the
    run counts into it, so that no task completes more than
    :data:`YIELD_EVERY` operations between two schedule points, however
    many objects it spreads them over.
    """

    __slots__ = ("ops",)

    ops: int

    def __init__(self) -> None:
        self.ops = 0

    async def spend(self) -> None:
        """Count one operation that completed without blocking.

        Every :data:`YIELD_EVERY`-th one across the run is a schedule point
        (:meth:`yield_now`), shielded from cancellation because the
        operation already took effect. Never raises :class:`trio.Cancelled`.

        Hot paths inline it, as ``budget.ops += 1`` and, when ``budget.ops
        >= YIELD_EVERY``, ``await budget.yield_now()``: a coroutine (or even
        a plain method call) per operation costs about 0.1-0.4 us.
        """
        self.ops += 1
        if self.ops >= YIELD_EVERY:
            await self.yield_now()

    async def yield_now(self) -> None:
        """The schedule point :meth:`spend` takes: :attr:`ops` back to 0, then a cancel-shielded checkpoint."""
        self.ops = 0
        await _cancel_shielded_checkpoint()

    def reset(self) -> None:
        """Note that a real schedule point just happened (the task blocked)."""
        self.ops = 0


_BUDGET: Final[trio.lowlevel.RunVar[Budget]] = trio.lowlevel.RunVar("ws.transports.fastio.budget")


def run_budget() -> Budget:
    """The current Trio run's :class:`Budget`, made on first use.

    Raises:
        RuntimeError: Called outside a Trio run.
    """
    try:
        return _BUDGET.get()
    except LookupError:
        budget = Budget()
        _BUDGET.set(budget)
        return budget


def _stream_error(
    socket: trio.socket.SocketType, exc: OSError, *, sending: bool
) -> trio.ClosedResourceError | trio.BrokenResourceError:
    # A write after SHUT_WR always fails (EPIPE), so the flag is read only
    # here, not before every write (a property read, about 45 ns).
    if sending and socket.did_shutdown_SHUT_WR:
        return trio.ClosedResourceError("can't send data after sending EOF")
    if exc.errno in _CLOSED_ERRNOS:
        return trio.ClosedResourceError("this socket was already closed")
    return trio.BrokenResourceError(f"socket connection broken: {exc}")


@final
class SocketIO:
    """``receive_some`` and ``send_all`` for one :class:`trio.SocketStream`.

    The stream keeps owning the socket: close it (and half-close it) with
    the stream's own methods. One task may receive while another sends, as
    with the stream; a second concurrent receive (or send) raises
    :class:`trio.BusyResourceError`. A :class:`SocketIO` belongs to the
    Trio run it was made in.

    Args:
        stream: The stream whose socket to read and write.
        budget: Where to count operations that did not block; by default
            the run's (:func:`run_budget`).

    Raises:
        RuntimeError: ``budget`` is ``None`` outside a Trio run.
    """

    __slots__ = ("_budget", "_receiving", "_sending", "_socket", "congested")

    #: Whether the last ``send_all`` had to wait for room in the socket
    #: buffer (an attribute, not a property: it is read before every write).
    congested: bool

    def __init__(self, stream: trio.SocketStream, budget: Budget | None = None) -> None:
        self._socket = stream.socket
        # Fetched once: a connection lives in one run, and the hot path
        # should not look up a RunVar per call.
        self._budget = run_budget() if budget is None else budget
        self._receiving = False
        self._sending = False
        self.congested = False

    def fileno(self) -> int:
        """The socket's descriptor.

        Raises:
            trio.ClosedResourceError: The socket is closed.
        """
        fd = self._socket.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("this socket was already closed")
        return fd

    async def receive_some(self, max_bytes: int) -> bytes:
        """Read at most ``max_bytes`` (at least one); ``b""`` at EOF.

        Raises:
            trio.BrokenResourceError: The socket failed (e.g. reset by the peer).
            trio.BusyResourceError: Another task is receiving.
            trio.ClosedResourceError: The stream was closed.
            ValueError: ``max_bytes`` is less than 1.
        """
        await _checkpoint_if_cancelled()
        if self._receiving:
            raise trio.BusyResourceError("another task is currently receiving data on this socket")
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self._receiving = True
        try:
            waited = False
            while True:
                # Fetched before every system call: a closed socket's number
                # may already belong to another file (and -1 fails with EBADF).
                fd = self._socket.fileno()
                try:
                    data = _READ(fd, max_bytes)
                except BlockingIOError:
                    pass  # wait outside the except block, which would keep the error alive
                except OSError:
                    if not waited:  # a failed call is a schedule point too
                        await self._budget.yield_now()
                    raise
                else:
                    budget = self._budget  # Budget.spend(), inlined; a read that waited counts too
                    budget.ops += 1
                    if budget.ops >= YIELD_EVERY:
                        await budget.yield_now()
                    return data
                await _wait_readable(fd)
                self._budget.ops = 0
                waited = True
        except OSError as exc:
            raise _stream_error(self._socket, exc, sending=False) from exc
        finally:
            self._receiving = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``.

        Raises:
            trio.BrokenResourceError: The socket failed (e.g. the peer is gone).
            trio.BusyResourceError: Another task is sending.
            trio.ClosedResourceError: The stream was closed, or sent EOF.
        """
        await _checkpoint_if_cancelled()
        await self.send_all_checked(data)

    async def send_all_checked(self, data: bytes | bytearray | memoryview) -> None:
        """:meth:`send_all` for a caller that has just checked for cancellation.

        The writer checks before it makes a frame, and nothing can cancel
        it between that check and the write; a second check would cost
        about 0.3 us per message. Raises as :meth:`send_all`.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is currently sending data on this socket")
        self._sending = True
        try:
            if type(data) is bytes and data:
                # The common case first: the kernel takes all of it at once
                # (a memoryview and the loop of _write_all cost about 0.3 us).
                try:
                    sent = _WRITE(self._socket.fileno(), data)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    await self._budget.yield_now()  # a failed call is a schedule point too
                    raise
                if sent == len(data):
                    self.congested = False
                    budget = self._budget  # Budget.spend(), inlined
                    budget.ops += 1
                    if budget.ops >= YIELD_EVERY:
                        await budget.yield_now()
                    return
                await self._write_all([memoryview(data)[sent:]])
            else:
                await self._write_all([_byte_view(data)])
        except OSError as exc:
            raise _stream_error(self._socket, exc, sending=True) from exc
        finally:
            self._sending = False

    async def send_parts_checked(self, parts: list[bytes]) -> None:
        """Write ``parts`` one after the other, with vectored writes (``os.writev``).

        :meth:`send_all_checked` of the parts joined, without joining them:
        a large frame's body is written as it is, not copied into one
        buffer with its head. At most ``os.sysconf("SC_IOV_MAX")`` parts
        (1,024 on Linux). Raises as :meth:`send_all`.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is currently sending data on this socket")
        self._sending = True
        try:
            await self._write_all([_byte_view(part) for part in parts])
        except OSError as exc:
            raise _stream_error(self._socket, exc, sending=True) from exc
        finally:
            self._sending = False

    def send_nowait(self, parts: list[bytes] | list[memoryview]) -> int:
        """Write what the socket takes of ``parts`` now, without waiting; return how many bytes.

        One system call (``os.write`` or ``os.writev``, at most
        ``SC_IOV_MAX`` parts), 0 when the buffer is full. Neither a
        checkpoint nor counted in the budget: the caller does both. Sets
        :attr:`congested` when not everything went out.

        Raises:
            trio.BrokenResourceError: The socket failed (e.g. the peer is gone).
            trio.BusyResourceError: Another task is sending.
            trio.ClosedResourceError: The stream was closed, or sent EOF.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is currently sending data on this socket")
        try:
            fd = self._socket.fileno()
            sent = _WRITE(fd, parts[0]) if len(parts) == 1 else _WRITEV(fd, parts)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise _stream_error(self._socket, exc, sending=True) from exc
        self.congested = sent < sum(map(len, parts))
        return sent

    async def _write_all(self, views: list[memoryview]) -> None:
        # Write every byte of views, waiting for room as needed; raises OSError.
        views = [view for view in views if view.nbytes]
        if not views:
            self._check_can_send()  # no system call to fail: check as trio does
        waited = False
        while views:
            fd = self._socket.fileno()
            try:
                written = _WRITEV(fd, views)
            except BlockingIOError:
                pass
            except OSError:
                if not waited:  # a failed call is a schedule point too
                    await self._budget.yield_now()
                raise
            else:
                # Drop what went out; the first view left may be cut.
                while views and written >= views[0].nbytes:
                    written -= views.pop(0).nbytes
                if written:
                    views[0] = views[0][written:]
                continue
            self.congested = waited = True
            await _wait_writable(fd)
            self._budget.ops = 0
        if not waited:
            self.congested = False
            await self._budget.spend()

    def _check_can_send(self) -> None:
        # For an empty send_all, which makes no system call to fail (messages as trio's).
        socket = self._socket
        if socket.did_shutdown_SHUT_WR:
            raise trio.ClosedResourceError("can't send data after sending EOF")
        if socket.fileno() < 0:
            raise trio.ClosedResourceError("socket was already closed")

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until the socket has room for more data (always a checkpoint).

        It counts as sending: it must not run while another task sends.

        Raises:
            trio.BrokenResourceError: The socket failed.
            trio.BusyResourceError: Another task is sending.
            trio.ClosedResourceError: The stream was closed.
        """
        await _checkpoint_if_cancelled()
        if self._sending:
            raise trio.BusyResourceError("another task is currently sending data on this socket")
        self._sending = True
        try:
            await _wait_writable(self.fileno())
            self._budget.ops = 0
        except OSError as exc:
            raise _stream_error(self._socket, exc, sending=False) from exc
        finally:
            self._sending = False


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    # A flat view of bytes: len() and slices then count bytes, not items.
    view = memoryview(data)
    return view if view.itemsize == 1 and view.ndim == 1 else view.cast("B")


def socket_io(stream: trio.abc.Stream) -> SocketIO | None:
    """A :class:`SocketIO` for ``stream`` if it is a plain :class:`trio.SocketStream` on POSIX.

    It counts into the current run's :class:`Budget`.
    """
    if os.name == "posix" and type(stream) is trio.SocketStream:
        return SocketIO(stream)
    return None


class ByteIO(Protocol):
    """What :func:`io_for` returns: a stream's I/O methods, fast or not."""

    async def receive_some(self, max_bytes: int) -> bytes | bytearray:
        """Read at most ``max_bytes``; ``b""`` at EOF."""
        ...

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``."""
        ...

    async def wait_send_all_might_not_block(self) -> None:
        """Wait until a ``send_all`` might not block."""
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
