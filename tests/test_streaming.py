"""Streaming messages: send_message_fragments() and get_message_fragments()."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Iterator

import pytest
import trio

import ws
from ws.options import Compression
from ws.events import Fragment, Message
from ws.connection._connection import sending_parts
from ws.protocol import Protocol, Side
from ws.testing import open_websocket_pair

from tests.helpers import raw_frame

pytestmark = pytest.mark.parametrize("compression", ["deflate", None])


async def _collect(pieces: AsyncIterator[str | bytes]) -> list[str | bytes]:
    return [piece async for piece in pieces]


async def test_a_streamed_binary_message_arrives_whole_and_in_its_pieces(compression: Compression) -> None:
    async with open_websocket_pair(compression=compression) as (client, server):
        pieces = server.get_message_fragments()
        await client.send_message_fragments([b"ab", bytearray(b"cd"), memoryview(b"ef")])
        # One frame per piece, then an empty final frame.
        assert await _collect(pieces) == [b"ab", b"cd", b"ef", b""]
        await client.send_message_fragments(iter([b"12", b"34"]))
        assert await server.get_message() == b"1234"


async def test_a_streamed_text_message_from_an_async_iterable(compression: Compression) -> None:
    async def words() -> AsyncIterator[str]:
        for word in ("naïve ", "café ", "€"):
            await trio.lowlevel.checkpoint()
            yield word

    async with open_websocket_pair(compression=compression) as (client, server):
        pieces = server.get_message_fragments()
        await client.send_message_fragments(words())
        got = await _collect(pieces)
        assert all(isinstance(piece, str) for piece in got)
        assert "".join(got) == "naïve café €"  # type: ignore[arg-type]


async def test_text_split_inside_a_character_is_decoded_across_frames(compression: Compression) -> None:
    async with open_websocket_pair(compression=compression) as (client, server):
        pieces = server.get_message_fragments()
        euro = "€".encode()
        # Raw frames: a text message whose one character straddles two frames.
        protocol = sending_parts(client)[0]
        writer = sending_parts(client)[1]
        await writer.send(protocol.send_text, euro[:1], False)
        await writer.send(protocol.send_continuation, euro[1:], True)
        assert await _collect(pieces) == ["", "€"]


async def test_an_empty_iterable_sends_nothing(compression: Compression) -> None:
    async with open_websocket_pair(compression=compression) as (client, server):
        await client.send_message_fragments([])
        await client.send_message("next")
        assert await server.get_message() == "next"


async def test_a_message_queued_whole_before_the_call_comes_as_one_piece(compression: Compression) -> None:
    async with open_websocket_pair(compression=compression) as (client, server):
        await client.send_message(b"whole")
        await trio.testing.wait_all_tasks_blocked()
        assert await _collect(server.get_message_fragments()) == [b"whole"]


async def test_a_streamed_message_may_exceed_max_message_size(compression: Compression) -> None:
    limit = 64 * 1024
    piece = b"x" * (limit // 2)
    async with open_websocket_pair(
        client_options=ws.ClientOptions(compression=compression, max_message_size=limit),
        server_options=ws.ServerOptions(compression=compression, max_message_size=limit),
    ) as (client, server):
        pieces = server.get_message_fragments()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_message_fragments, [piece] * 40)
            total = sum([len(p) async for p in pieces])
        assert total == 40 * len(piece)  # 20x the limit, streamed
        # Once streaming, get_message() still applies the limit as it joins pieces.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_message_fragments, [piece] * 3)
            with pytest.raises(ws.ConnectionClosed) as caught:
                await server.get_message()
        assert caught.value.reason.code == 1009
        assert caught.value.reason.reason == f"message bigger than the limit of {limit} bytes"


async def test_each_frame_of_a_streamed_message_is_bounded(compression: Compression) -> None:
    limit = 1000
    async with open_websocket_pair(
        client_options=ws.ClientOptions(compression=compression),
        server_options=ws.ServerOptions(compression=compression, max_message_size=limit),
    ) as (client, server):
        pieces = server.get_message_fragments()
        await client.send_message_fragments([bytes(range(256)) * 8])  # one 2048-byte frame
        with pytest.raises(ws.ConnectionClosed) as caught:
            await _collect(pieces)
        assert caught.value.reason.code == 1009


async def test_leaving_the_loop_early_skips_the_rest_of_that_message(compression: Compression) -> None:
    async with open_websocket_pair(compression=compression) as (client, server):
        pieces = server.get_message_fragments()
        await client.send_message_fragments([b"1", b"2", b"3"])
        await client.send_message(b"after")
        async for piece in pieces:
            assert piece == b"1"
            break
        assert await server.get_message() == b"after"
        # And the same through the next get_message_fragments().
        pieces = server.get_message_fragments()
        await client.send_message_fragments([b"4", b"5"])
        async for piece in pieces:
            break
        await client.send_message_fragments([b"6"])
        assert await _collect(server.get_message_fragments()) == [b"6", b""]


async def test_a_piece_of_the_wrong_type_fails_the_message_with_1011(compression: Compression) -> None:
    async with open_websocket_pair(compression=compression) as (client, server):
        with pytest.raises(ws.MessageTypeError, match="every piece of a text message is str"):
            await client.send_message_fragments(["text", b"bytes"])
        with pytest.raises(ws.ConnectionClosed) as caught:
            await server.get_message()
        assert caught.value.reason.code == 1011
        assert caught.value.reason.reason == "the message being sent was interrupted"


async def test_not_an_iterable_of_pieces_is_a_type_error_and_sends_nothing(compression: Compression) -> None:
    async with open_websocket_pair(compression=compression) as (client, server):
        with pytest.raises(ws.MessageTypeError, match="not one str: use send_message"):
            await client.send_message_fragments("abc")
        with pytest.raises(ws.MessageTypeError, match="not int"):
            await client.send_message_fragments(3)  # type: ignore[arg-type]
        with pytest.raises(ws.MessageTypeError, match="str or bytes-like, not int"):
            await client.send_message_fragments([3])  # type: ignore[list-item]
        await client.send_message("still open")
        assert await server.get_message() == "still open"


async def test_a_source_that_fails_half_way_fails_the_connection(compression: Compression) -> None:
    def source() -> Iterator[bytes]:
        yield b"part"
        raise OSError("disk gone")

    async with open_websocket_pair(compression=compression) as (client, server):
        pieces = server.get_message_fragments()
        with pytest.raises(OSError, match="disk gone"):
            await client.send_message_fragments(source())
        with pytest.raises(ws.ConnectionClosed) as caught:
            await _collect(pieces)
        assert caught.value.reason.code == 1011


async def test_cancelled_half_way_fails_the_connection(compression: Compression) -> None:
    async def slow() -> AsyncIterator[bytes]:
        yield b"part"
        await trio.sleep_forever()

    async with open_websocket_pair(compression=compression) as (client, server):
        pieces = server.get_message_fragments()
        with trio.move_on_after(1) as scope:
            await client.send_message_fragments(slow())
        assert scope.cancelled_caught
        with pytest.raises(ws.ConnectionClosed) as caught:
            await _collect(pieces)
        assert caught.value.reason.code == 1011


async def test_other_sends_wait_for_the_streamed_message(compression: Compression) -> None:
    release = trio.Event()

    async def gated() -> AsyncIterator[bytes]:
        yield b"a"
        await release.wait()
        yield b"b"

    async with open_websocket_pair(compression=compression) as (client, server):
        pieces = server.get_message_fragments()
        sent: list[str] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.send_message_fragments, gated())
            await trio.testing.wait_all_tasks_blocked()

            async def other() -> None:
                await client.send_message("other")
                sent.append("other")

            nursery.start_soon(other)
            await client.ping()  # control frames go between the pieces
            await trio.testing.wait_all_tasks_blocked()
            assert sent == []
            release.set()
        assert sent == ["other"]
        assert await _collect(pieces) == [b"a", b"b", b""]
        assert await server.get_message() == "other"


async def test_the_connection_closing_mid_message_ends_the_iteration(compression: Compression) -> None:
    async with open_websocket_pair(compression=compression) as (client, server):
        pieces = server.get_message_fragments()
        protocol, writer, _, _ = sending_parts(client)
        await writer.send(protocol.send_binary, b"start", False)
        assert await pieces.__anext__() == b"start"
        await client.aclose(4000, "bye")
        with pytest.raises(ws.ConnectionClosed) as caught:
            await pieces.__anext__()
        assert caught.value.reason.code == 4000


async def test_memory_stays_bounded_while_streaming_64_mib(compression: Compression) -> None:
    total = 64 * 1024 * 1024
    piece = bytes(range(256)) * 256  # 64 KiB, reused

    def source() -> Iterator[bytes]:
        for _ in range(total // len(piece)):
            yield piece

    # lockstep: a write waits for the reader, as over TCP (an in-memory
    # stream would otherwise buffer everything the sender writes).
    async with open_websocket_pair(compression=compression, lockstep=True) as (client, server):
        pieces = server.get_message_fragments()
        received = 0
        tracemalloc.start()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_message_fragments, source())
                async for data in pieces:
                    received += len(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert received == total
        # A few pieces in flight, never the message: 64 MiB would be 1000x this.
        assert peak < 2 * 1024 * 1024, peak


def test_sans_io_stream_messages_hands_over_what_was_assembled(compression: Compression) -> None:
    del compression
    protocol = Protocol(Side.CLIENT)
    protocol.receive_data(raw_frame(0x1, "ab€".encode()[:3], fin=False))
    assert protocol.events_received() == []
    first = protocol.stream_messages()
    assert first == Fragment("ab", True, False)
    protocol.receive_data(raw_frame(0x0, "ab€".encode()[3:], fin=True))
    protocol.receive_data(raw_frame(0x2, b"next", fin=True))
    assert protocol.events_received() == [Fragment("€", False, True), Fragment(b"next", True, True)]
    assert protocol.stream_messages() is None  # once is enough


def test_sans_io_a_whole_message_is_unchanged_before_streaming(compression: Compression) -> None:
    del compression
    protocol = Protocol(Side.CLIENT)
    protocol.receive_data(raw_frame(0x2, b"one", fin=True))
    assert protocol.events_received() == [Message(b"one")]
