"""SocketIO: receive_some/send_all on a SocketStream's descriptor, with trio's semantics."""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from ws.transports.fastio import YIELD_EVERY, SocketIO, close_forcefully, socket_io


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


async def test_socket_io_only_for_plain_socket_streams() -> None:
    """socket_io adopts SocketStreams and declines memory and TLS streams."""
    async with socket_pair() as (a, _b):
        assert isinstance(socket_io(a), SocketIO)
    left, right = trio.testing.memory_stream_pair()
    assert socket_io(left) is None
    tls = trio.SSLStream(right, ssl.create_default_context(), server_hostname="example.org")
    assert socket_io(tls) is None


async def test_bytes_both_ways_and_eof() -> None:
    """Bytes written with send_all arrive through receive_some; EOF reads b""."""
    async with socket_pair() as (a, b):
        await fast(a).send_all(b"hello")
        await fast(a).send_all(bytearray(b" world"))
        await fast(a).send_all(memoryview(b"!!!")[1:])
        received = b""
        while len(received) < 13:
            received += await fast(b).receive_some(100)
        assert received == b"hello world!!"
        await fast(b).send_all(b"back")
        assert await fast(a).receive_some(2) == b"ba"
        assert await fast(a).receive_some(10) == b"ck"
        await a.send_eof()
        assert await fast(b).receive_some(10) == b""


async def test_large_write_waits_for_room_and_arrives_intact() -> None:
    """A write larger than the socket buffers waits for the reader and loses nothing."""
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB
    received = bytearray()
    async with socket_pair() as (a, b):

        async def read_slowly() -> None:
            io = fast(b)
            while len(received) < len(payload):
                received.extend(await io.receive_some(65536))
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_slowly)
            await fast(a).send_all(payload)
    assert received == payload


async def test_waiting_receive_can_be_cancelled_without_losing_data() -> None:
    """A receive cancelled while it waits consumes nothing; the next one gets the data."""
    async with socket_pair() as (a, b):
        with trio.move_on_after(0.01) as scope:
            await fast(b).receive_some(10)
        assert scope.cancelled_caught
        await a.send_all(b"data")
        assert await fast(b).receive_some(10) == b"data"


async def test_cancelled_task_does_not_start_the_operation() -> None:
    """Inside a cancelled scope, both calls raise Cancelled and do no I/O."""
    async with socket_pair() as (a, b):
        await a.send_all(b"waiting")
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await fast(b).receive_some(10)
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await fast(b).send_all(b"never")
        assert await fast(b).receive_some(10) == b"waiting"
        await b.send_eof()
        assert await a.receive_some(10) == b""  # "never" was not written


async def test_closed_stream_raises_closed_resource_error() -> None:
    """After the stream is closed, both calls raise ClosedResourceError."""
    async with socket_pair() as (a, _b):
        io = fast(a)
        await a.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await io.receive_some(10)
        with pytest.raises(trio.ClosedResourceError):
            await io.send_all(b"x")


async def test_closing_while_receiving_wakes_the_receiver() -> None:
    """Closing the stream from another task ends a waiting receive with ClosedResourceError."""
    async with socket_pair() as (a, _b):
        io = fast(a)
        async with trio.open_nursery() as nursery:

            async def close_soon() -> None:
                await trio.sleep(0.01)
                await a.aclose()

            nursery.start_soon(close_soon)
            with pytest.raises(trio.ClosedResourceError):
                await io.receive_some(10)


async def test_reset_by_peer_raises_broken_resource_error() -> None:
    """A peer's RST makes the next read and write raise BrokenResourceError."""
    async with tcp_pair() as (client, server):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await client.aclose()  # RST
        io = fast(server)
        with pytest.raises(trio.BrokenResourceError) as info:
            await io.receive_some(10)
        assert isinstance(info.value.__cause__, ConnectionResetError)
        with pytest.raises(trio.BrokenResourceError) as info:
            while True:  # the first write may still be accepted by the kernel
                await io.send_all(b"x" * 65536)
        assert isinstance(info.value.__cause__, OSError)


async def test_operations_that_do_not_block_still_yield_now_and_then() -> None:
    """Calls that never block still let other tasks run at least every YIELD_EVERY calls."""
    turns = 0
    stop = False

    async def other_task() -> None:
        nonlocal turns
        while not stop:
            turns += 1
            await trio.sleep(0)

    async with socket_pair() as (a, b), trio.open_nursery() as nursery:
        nursery.start_soon(other_task)
        await trio.sleep(0)
        sender, receiver = fast(a), fast(b)
        before = turns
        for _ in range(3 * YIELD_EVERY):
            await sender.send_all(b"x")  # the buffer has room: never blocks
        assert turns - before >= 2
        await trio.sleep(0.01)
        before = turns
        for _ in range(3 * YIELD_EVERY):
            await receiver.receive_some(1)  # the data is there: never blocks
        assert turns - before >= 2
        stop = True


async def test_close_forcefully_closes_socket_streams_and_others() -> None:
    """close_forcefully closes a SocketStream's socket at once, and other streams the trio way."""
    async with socket_pair() as (a, b):
        await close_forcefully(a)
        assert a.socket.fileno() == -1
        assert await b.receive_some(10) == b""  # the peer sees EOF
        await close_forcefully(a)  # twice is harmless
    left, right = trio.testing.memory_stream_pair()
    await close_forcefully(left)
    with pytest.raises(trio.ClosedResourceError):
        await left.send_all(b"x")
    assert await right.receive_some(10) == b""
