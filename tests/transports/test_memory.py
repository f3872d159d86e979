"""Tests for ws.transports.memory: in-memory connected pairs."""

from __future__ import annotations

import trio
import trio.testing

from ws.transports import memory_pair


async def _pair(
    lockstep: bool,
) -> tuple[trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream]:
    client, server = memory_pair(lockstep=lockstep)
    assert isinstance(client.stream, trio.abc.HalfCloseableStream)
    assert isinstance(server.stream, trio.abc.HalfCloseableStream)
    return client.stream, server.stream


async def test_buffered_streams_pass_trio_stream_checks() -> None:
    """memory_pair() gives half-closeable streams (trio checks them without a clogged maker)."""

    async def stream_maker() -> tuple[trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream]:
        return await _pair(lockstep=False)

    await trio.testing.check_half_closeable_stream(stream_maker, None)


async def test_lockstep_streams_pass_trio_stream_checks() -> None:
    """memory_pair(lockstep=True) gives two-way streams that are clogged from the start."""

    async def stream_maker() -> tuple[trio.abc.Stream, trio.abc.Stream]:
        return await _pair(lockstep=True)

    await trio.testing.check_two_way_stream(stream_maker, stream_maker)


def test_ends_describe_client_and_server() -> None:
    """Each side's local end is the other side's remote end."""
    client, server = memory_pair()
    assert (client.local, client.remote) == ("memory:client", "memory:server")
    assert (server.local, server.remote) == ("memory:server", "memory:client")


def test_name_labels_the_pair() -> None:
    """name= labels both ends, so several pairs can be told apart."""
    client, server = memory_pair(name="pair-7")
    assert client.local == "pair-7:client"
    assert server.local == "pair-7:server"


async def test_buffered_pair_does_not_wait_for_the_reader() -> None:
    """Without lockstep, send_all returns before the peer reads."""
    client, server = memory_pair()
    await client.stream.send_all(b"buffered")  # Would hang here if it waited for a reader.
    assert await server.stream.receive_some() == b"buffered"


async def test_lockstep_pair_waits_for_the_reader() -> None:
    """With lockstep, send_all waits until the peer has received the data."""
    client, server = memory_pair(lockstep=True)
    sent = trio.Event()

    async def send() -> None:
        await client.stream.send_all(b"in step")
        sent.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await trio.testing.wait_all_tasks_blocked()
        assert not sent.is_set()
        assert await server.stream.receive_some() == b"in step"
    assert sent.is_set()
