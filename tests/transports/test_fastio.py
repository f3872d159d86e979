"""SocketIO: receive_some/send_all on a SocketStream's descriptor, with trio's semantics.

Tests parametrised over ``impl`` run the same steps against :class:`SocketIO`
("fastio") and against :class:`trio.SocketStream`'s own methods ("trio"), so
that they show the two behave alike. The shared budget has its own module,
``test_fastio_budget.py``.
"""

from __future__ import annotations

import array
import itertools
import os
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from ws.transports.fastio import ByteIO, SocketIO, close_forcefully, io_for, socket_io

impls = pytest.mark.parametrize("impl", ["fastio", "trio"])
# "parts": SocketIO.send_parts_checked (a vectored write); the stream's send_all for "trio".
operations = pytest.mark.parametrize("op", ["receive", "send", "parts"])


@asynccontextmanager
async def socket_pair() -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream]]:
    """Two connected SocketStreams over a Unix socketpair, closed afterwards."""
    left, right = trio.socket.socketpair()
    a, b = trio.SocketStream(left), trio.SocketStream(right)
    async with a, b:
        yield a, b


@asynccontextmanager
async def tcp_pair() -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream]]:
    """Two connected SocketStreams over TCP on 127.0.0.1."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0]:
        port = listeners[0].socket.getsockname()[1]
        client = await trio.open_tcp_stream("127.0.0.1", port)
        server = await listeners[0].accept()
        assert isinstance(server, trio.SocketStream)
    async with client, server:
        yield client, server


def fast(stream: trio.SocketStream) -> SocketIO:
    io = socket_io(stream)
    assert io is not None
    return io


def io_of(stream: trio.SocketStream, impl: str) -> ByteIO:
    """The SocketIO for "fastio", the stream itself for "trio"."""
    return fast(stream) if impl == "fastio" else stream


async def attempt(io: ByteIO, op: str) -> None:
    """One receive_some, send_all or wait_send_all_might_not_block."""
    if op == "receive":
        await io.receive_some(10)
    elif op == "send":
        await io.send_all(b"x")
    elif op == "parts":
        if isinstance(io, SocketIO):
            await trio.lowlevel.checkpoint_if_cancelled()  # as the writer does before it
            await io.send_parts_checked([b"x", b"", b"yz"])
        else:
            await io.send_all(b"xyz")
    else:
        await io.wait_send_all_might_not_block()


def fill_buffers(stream: trio.SocketStream) -> int:
    """Write to the socket without waiting until the kernel has no more room; the byte count."""
    written = 0
    while True:
        try:
            written += os.write(stream.socket.fileno(), b"f" * 65536)
        except BlockingIOError:
            return written


def drain(stream: trio.SocketStream) -> int:
    """Read whatever the socket holds without waiting; the byte count."""
    read = 0
    while True:
        try:
            chunk = os.read(stream.socket.fileno(), 1 << 20)
        except BlockingIOError:
            return read
        read += len(chunk)


async def test_socket_io_only_for_plain_socket_streams() -> None:
    """socket_io adopts SocketStreams and declines memory and TLS streams; io_for falls back to the stream."""
    async with socket_pair() as (a, _b):
        assert isinstance(socket_io(a), SocketIO)
        assert isinstance(io_for(a), SocketIO)
    left, right = trio.testing.memory_stream_pair()
    assert socket_io(left) is None
    assert io_for(left) is left
    tls = trio.SSLStream(right, ssl.create_default_context(), server_hostname="example.org")
    assert socket_io(tls) is None


async def test_bytes_both_ways_and_eof() -> None:
    """Bytes written with send_all arrive through receive_some; EOF reads b""."""
    async with socket_pair() as (a, b):
        await fast(a).send_all(b"hello")
        await fast(a).send_all(bytearray(b" world"))
        await fast(a).send_all(memoryview(b"!!!")[1:])
        await fast(a).send_all(b"")
        received = b""
        while len(received) < 13:
            received += await fast(b).receive_some(100)
        assert received == b"hello world!!"
        await fast(b).send_all(b"back")
        assert await fast(a).receive_some(2) == b"ba"
        assert await fast(a).receive_some(10) == b"ck"
        await a.send_eof()
        assert await fast(b).receive_some(10) == b""


@impls
async def test_receive_some_wants_at_least_one_byte(impl: str) -> None:
    """receive_some(0) is a ValueError (not a b"" that would read as EOF)."""
    async with socket_pair() as (a, b):
        await b.send_all(b"data")
        with pytest.raises(ValueError, match="^max_bytes must be >= 1$"):
            await io_of(a, impl).receive_some(0)
        assert await a.receive_some(10) == b"data"


async def test_large_write_waits_for_room_and_arrives_intact() -> None:
    """A write larger than the socket buffers waits for the reader, loses nothing, and leaves congested set."""
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    received = bytearray()
    async with socket_pair() as (a, b):
        sender = fast(a)

        async def read_slowly() -> None:
            io = fast(b)
            while len(received) < len(payload):
                received.extend(await io.receive_some(65536))
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_slowly)
            await sender.send_all(payload)
        assert sender.congested
    assert received == payload


async def test_send_parts_writes_every_part_in_order_through_partial_writes() -> None:
    """send_parts_checked writes its parts as one stream of bytes, also when the kernel takes them a piece at a time."""
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    cuts = [0, 1, 1, 10, 70000, 3 << 20, 3 << 20, len(payload)]  # empty parts too
    parts = [payload[start:end] for start, end in itertools.pairwise(cuts)]
    received = bytearray()
    async with socket_pair() as (a, b):
        sender = fast(a)

        async def read_slowly() -> None:
            io = fast(b)
            while len(received) < len(payload) + 2:
                received.extend(await io.receive_some(65536))
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_slowly)
            await sender.send_parts_checked(parts)
            congested = [sender.congested]
            await sender.send_parts_checked([b"o", b"k"])
            congested.append(sender.congested)
    assert congested == [True, False]
    assert received == payload + b"ok"


async def test_views_of_wide_items_are_sent_as_their_bytes() -> None:
    """send_all and send_parts_checked send a memoryview of 2-byte items as all its bytes, as SocketStream does."""
    wide = memoryview(array.array("H", range(1000)))
    async with socket_pair() as (a, b):
        io = fast(a)
        await io.send_all(wide)
        await io.send_parts_checked([b"<", wide.tobytes(), b">"])
        expected = wide.tobytes() + b"<" + wide.tobytes() + b">"
        received = b""
        while len(received) < len(expected):
            received += await b.receive_some(65536)
    assert received == expected


async def test_send_parts_of_nothing_on_a_closed_stream_raises_closed_resource_error() -> None:
    """Empty parts write nothing, and raise as an empty send_all does once the stream is closed."""
    async with socket_pair() as (a, b):
        io = fast(a)
        await io.send_parts_checked([b"", b""])
        await a.send_eof()
        with pytest.raises(trio.ClosedResourceError, match="^can't send data after sending EOF$"):
            await io.send_parts_checked([b""])
        assert await b.receive_some(10) == b""


async def test_send_parts_while_another_task_sends_raises_busy_resource_error() -> None:
    """send_parts_checked counts as sending: BusyResourceError while a send_all waits for room."""
    async with socket_pair() as (a, b):
        io = fast(a)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(io.send_all, b"x" * (8 << 20))
            await trio.testing.wait_all_tasks_blocked()
            assert drain(b) > 0
            with pytest.raises(trio.BusyResourceError):
                await io.send_parts_checked([b"a", b"b"])
            nursery.cancel_scope.cancel()


async def test_congested_tells_whether_the_last_send_waited() -> None:
    """congested is False after a send that wrote at once, True after one that waited for room."""
    async with socket_pair() as (a, b):
        io = fast(a)
        seen = [io.congested]
        await io.send_all(b"x")
        seen.append(io.congested)
        assert drain(b) == 1
        filled = fill_buffers(a)
        done = trio.Event()

        async def send_one_more() -> None:
            await io.send_all(b"y")
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_one_more)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()  # it is waiting for room
            seen.append(io.congested)
            assert drain(b) == filled
        seen.append(io.congested)
        await io.send_all(b"z")  # the buffer is empty again
        seen.append(io.congested)
        assert seen == [False, False, True, True, False]
        assert await b.receive_some(10) == b"yz"


async def test_wait_send_all_might_not_block_waits_for_room() -> None:
    """wait_send_all_might_not_block returns (after a checkpoint) while there is room, and waits while the buffer is full."""
    async with socket_pair() as (a, b):
        io = fast(a)
        with trio.testing.assert_checkpoints():
            await io.wait_send_all_might_not_block()
        fill_buffers(a)
        done = trio.Event()

        async def wait_for_room() -> None:
            await io.wait_send_all_might_not_block()
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_room)
            await trio.testing.wait_all_tasks_blocked()
            assert not done.is_set()
            drain(b)
        assert done.is_set()
        await a.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await io.wait_send_all_might_not_block()


async def test_waiting_receive_can_be_cancelled_without_losing_data() -> None:
    """A receive cancelled while it waits consumes nothing; the next one gets the data."""
    async with socket_pair() as (a, b):
        io = fast(b)
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def cancel_when_waiting() -> None:
                    await trio.testing.wait_all_tasks_blocked()
                    scope.cancel()

                nursery.start_soon(cancel_when_waiting)
                await io.receive_some(10)
        assert scope.cancelled_caught
        await a.send_all(b"data")
        assert await io.receive_some(10) == b"data"


async def test_cancelled_task_does_not_start_the_operation() -> None:
    """Inside a cancelled scope, every call raises Cancelled and does no I/O."""
    async with socket_pair() as (a, b):
        await a.send_all(b"waiting")
        io = fast(b)
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await io.receive_some(10)
            with pytest.raises(trio.Cancelled):
                await io.send_all(b"never")
            with pytest.raises(trio.Cancelled):
                await io.wait_send_all_might_not_block()
        assert await io.receive_some(10) == b"waiting"
        await b.send_eof()
        assert await a.receive_some(10) == b""  # "never" was not written


@impls
@operations
async def test_closed_stream_raises_closed_resource_error(impl: str, op: str) -> None:
    """After the stream is closed, receive_some and send_all raise ClosedResourceError, as SocketStream's do."""
    async with socket_pair() as (a, _b):
        io = io_of(a, impl)
        await a.aclose()
        with pytest.raises(trio.ClosedResourceError, match="^this socket was already closed$"):
            await attempt(io, op)


@impls
async def test_empty_send_on_a_closed_stream_raises_closed_resource_error(impl: str) -> None:
    """send_all(b"") on a closed stream raises ClosedResourceError, as SocketStream's does."""
    async with socket_pair() as (a, _b):
        io = io_of(a, impl)
        await a.aclose()
        with pytest.raises(trio.ClosedResourceError, match="^socket was already closed$"):
            await io.send_all(b"")


async def test_fileno_of_a_closed_stream_raises_closed_resource_error() -> None:
    """fileno() is the socket's descriptor, and ClosedResourceError once the stream is closed."""
    async with socket_pair() as (a, _b):
        io = fast(a)
        assert io.fileno() == a.socket.fileno() >= 0
        await a.aclose()
        with pytest.raises(trio.ClosedResourceError):
            io.fileno()


@impls
@pytest.mark.parametrize("op", ["receive", "send", "parts", "wait"])
async def test_descriptor_closed_behind_the_sockets_back_is_closed_resource_error(
    impl: str, op: str
) -> None:
    """EBADF from the system call (descriptor closed with os.close, socket detached after) is ClosedResourceError."""
    async with socket_pair() as (a, _b):
        io = io_of(a, impl)
        # The socket still reports its old number, so the call reaches the
        # kernel and fails with EBADF. This task runs alone and opens nothing
        # before detach(), so the number cannot be reused meanwhile, and
        # after detach() the socket never closes it a second time.
        os.close(a.socket.fileno())
        try:
            with pytest.raises(trio.ClosedResourceError, match="^this socket was already closed$"):
                await attempt(io, op)
        finally:
            a.socket.detach()


@impls
@pytest.mark.parametrize("data", [b"x", b""])
async def test_send_after_send_eof_raises_closed_resource_error(impl: str, data: bytes) -> None:
    """A send_all after send_eof raises ClosedResourceError("can't send data after sending EOF"), as SocketStream's does."""
    async with socket_pair() as (a, b):
        await a.send_eof()
        with pytest.raises(trio.ClosedResourceError, match="^can't send data after sending EOF$"):
            await io_of(a, impl).send_all(data)
        assert await b.receive_some(10) == b""


@impls
@operations
async def test_reset_by_peer_raises_broken_resource_error(impl: str, op: str) -> None:
    """After the peer's RST, the first call raises BrokenResourceError from ConnectionResetError, the next (a write) from EPIPE."""
    async with tcp_pair() as (client, server):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await client.aclose()  # RST
        io = io_of(server, impl)
        with pytest.raises(trio.BrokenResourceError) as info:
            await attempt(io, op)
        cause = info.value.__cause__
        assert isinstance(cause, ConnectionResetError)
        assert str(info.value) == f"socket connection broken: {cause}"
        with pytest.raises(trio.BrokenResourceError) as info:
            await io.send_all(b"x")
        assert isinstance(info.value.__cause__, BrokenPipeError)


@impls
async def test_write_after_the_peer_closed_raises_broken_resource_error(impl: str) -> None:
    """A write after the peer closed raises BrokenResourceError from BrokenPipeError (EPIPE)."""
    async with socket_pair() as (a, b):
        await b.aclose()
        with pytest.raises(trio.BrokenResourceError) as info:
            await io_of(a, impl).send_all(b"x")
        cause = info.value.__cause__
        assert isinstance(cause, BrokenPipeError)
        assert str(info.value) == f"socket connection broken: {cause}"


@impls
@operations
async def test_a_call_that_fails_after_waiting_raises_broken_resource_error(impl: str, op: str) -> None:
    """A receive waiting for data (a send waiting for room) that the peer's close resets raises BrokenResourceError."""
    async with socket_pair() as (a, b):
        io = io_of(a, impl)
        await a.send_all(b"unread")  # so that b's close resets a
        if op != "receive":
            fill_buffers(a)
        async with trio.open_nursery() as nursery:

            async def close_peer_when_waiting() -> None:
                await trio.testing.wait_all_tasks_blocked()
                await b.aclose()

            nursery.start_soon(close_peer_when_waiting)
            with pytest.raises(trio.BrokenResourceError) as info:
                await attempt(io, op)
        assert isinstance(info.value.__cause__, (ConnectionResetError, BrokenPipeError))


@impls
@pytest.mark.parametrize("failure", ["closed", "peer gone", "reset"])
async def test_a_failing_call_is_a_schedule_point(impl: str, failure: str) -> None:
    """A call whose system call fails still goes through a schedule point, as trio's socket methods do."""
    async with socket_pair() as (a, b):
        io = io_of(a, impl)
        if failure == "closed":
            await a.aclose()
        elif failure == "peer gone":
            await b.aclose()
        else:  # a Unix socket closed with unread data resets its peer: ECONNRESET, then EPIPE
            await a.send_all(b"unread")
            await b.aclose()
        for op in ["receive", "send", "parts"] if failure != "peer gone" else ["send", "parts"]:
            with trio.testing.assert_checkpoints():
                with pytest.raises((trio.ClosedResourceError, trio.BrokenResourceError)):
                    await attempt(io, op)


@impls
async def test_concurrent_send_all_raises_busy_resource_error(impl: str) -> None:
    """A send_all while another task's send_all waits for room raises BusyResourceError, even if room appeared."""
    async with socket_pair() as (a, b):
        io = io_of(a, impl)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(io.send_all, b"x" * (8 << 20))
            await trio.testing.wait_all_tasks_blocked()
            assert drain(b) > 0  # now a write would succeed at once
            with pytest.raises(trio.BusyResourceError):
                await io.send_all(b"second")
            with pytest.raises(trio.BusyResourceError):
                await io.wait_send_all_might_not_block()
            nursery.cancel_scope.cancel()


async def test_concurrent_receive_some_raises_busy_resource_error() -> None:
    """A receive_some while another task's waits raises BusyResourceError, even with data ready; the waiter gets it."""
    async with socket_pair() as (a, b):
        io = fast(a)
        got = []

        async def receive() -> None:
            got.append(await io.receive_some(10))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            os.write(b.socket.fileno(), b"data")  # no schedule point: the waiter is still parked
            with pytest.raises(trio.BusyResourceError):
                await io.receive_some(10)
        assert got == [b"data"]


async def test_one_task_may_receive_while_another_sends() -> None:
    """A receive waiting on the socket does not make a send on it busy, nor the other way round."""
    async with socket_pair() as (a, b):
        io = fast(a)
        got = []

        async def receive() -> None:
            got.append(await io.receive_some(10))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            await io.send_all(b"ping")
            assert await b.receive_some(10) == b"ping"
            await b.send_all(b"pong")
        assert got == [b"pong"]


async def test_closing_while_receiving_wakes_the_receiver() -> None:
    """Closing the stream from another task ends a waiting receive with ClosedResourceError."""
    async with socket_pair() as (a, _b):
        io = fast(a)
        async with trio.open_nursery() as nursery:

            async def close_when_waiting() -> None:
                await trio.testing.wait_all_tasks_blocked()
                await a.aclose()

            nursery.start_soon(close_when_waiting)
            with pytest.raises(trio.ClosedResourceError):
                await io.receive_some(10)


async def test_close_forcefully_closes_socket_streams_and_others() -> None:
    """close_forcefully closes a SocketStream's socket at once, and other streams the trio way."""
    async with socket_pair() as (a, b):
        with trio.testing.assert_no_checkpoints():
            await close_forcefully(a)
        assert a.socket.fileno() == -1
        assert await b.receive_some(10) == b""  # the peer sees EOF
        await close_forcefully(a)  # twice is harmless
    left, right = trio.testing.memory_stream_pair()
    await close_forcefully(left)
    with pytest.raises(trio.ClosedResourceError):
        await left.send_all(b"x")
    assert await right.receive_some(10) == b""
