"""WebSocketConnection behaviour through the public API, over in-memory streams."""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import pytest
import trio
import trio.testing

import ws

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Pair = tuple[ws.WebSocketConnection, ws.WebSocketConnection]


@asynccontextmanager
async def ws_pair(
    *,
    lockstep: bool = False,
    streams: tuple[trio.abc.Stream, trio.abc.Stream] | None = None,
    client_options: ws.ClientOptions | None = None,
    server_options: ws.ServerOptions | None = None,
) -> AsyncIterator[Pair]:
    """Yield (client, server) connections joined by an in-memory stream pair (or by ``streams``)."""
    client_stream: trio.abc.Stream
    server_stream: trio.abc.Stream
    if streams is not None:
        client_stream, server_stream = streams
    elif lockstep:
        client_stream, server_stream = trio.testing.lockstep_stream_pair()
    else:
        client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            send, receive = trio.open_memory_channel[ws.WebSocketConnection](1)

            async def serve() -> None:
                request = await ws.wrap_server_stream(
                    nursery, server_stream, options=server_options
                )
                await send.send(await request.accept())

            nursery.start_soon(serve)
            client = await ws.wrap_client_stream(
                nursery, client_stream, "localhost", "/", options=client_options
            )
            server = await receive.receive()
            yield client, server
            nursery.cancel_scope.cancel()


async def test_echo_of_each_message_type() -> None:
    """str arrives as str; bytes, bytearray and memoryview arrive as bytes."""
    async with ws_pair() as (client, server):
        cases: list[tuple[str | bytes | bytearray | memoryview, str | bytes]] = [
            ("héllo", "héllo"),
            (b"\x00\x01", b"\x00\x01"),
            (bytearray(b"ba"), b"ba"),
            (memoryview(b"mv"), b"mv"),
            ("", ""),
            (b"", b""),
        ]
        for message, expected in cases:
            await client.send_message(message)
            got = await server.get_message()
            assert got == expected
            assert type(got) is type(expected)
            await server.send_message(got)
            assert await client.get_message() == expected


async def test_async_for_ends_quietly_on_normal_close() -> None:
    """`async for` yields every message then stops when the peer closes normally."""
    async with ws_pair() as (client, server):

        async def produce() -> None:
            for i in range(3):
                await server.send_message(str(i))
            await server.aclose()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            received = [message async for message in client]
        assert received == ["0", "1", "2"]
        assert client.closed is not None
        assert client.closed.code == 1000


async def test_async_for_raises_on_abnormal_close() -> None:
    """`async for` raises ConnectionClosed when the peer closes with a non-normal code."""
    async with ws_pair() as (client, server):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.aclose, 4001, "boom")
            with pytest.raises(ws.ConnectionClosed) as info:
                async for _ in client:
                    pass  # pragma: no cover
        assert info.value.reason.code == 4001


async def test_send_message_of_wrong_type_raises_type_and_value_error() -> None:
    """send_message refuses anything but str and bytes-like with an error that is both
    a TypeError and a ValueError (trio-websocket's), and the connection stays open."""
    async with ws_pair() as (client, _server):
        with pytest.raises(TypeError):
            await client.send_message(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not NoneType"):
            await client.send_message(None)  # type: ignore[arg-type]
        with pytest.raises(ws.MessageTypeError):
            await client.send_message(["x"])  # type: ignore[arg-type]
        assert client.closed is None


async def test_messages_before_remote_close_are_delivered() -> None:
    """get_message returns messages sent before the peer closed, then raises ConnectionClosed."""
    async with ws_pair(client_options=ws.ClientOptions(message_queue_size=10)) as (client, server):
        await server.send_message("a")
        await server.send_message(b"b")
        await server.aclose()
        assert await client.get_message() == "a"
        assert await client.get_message() == b"b"
        with pytest.raises(ws.ConnectionClosed) as info:
            await client.get_message()
        assert info.value.reason.code == 1000
        assert info.value.reason.name == "NORMAL_CLOSURE"


async def test_messages_before_remote_close_with_small_queue() -> None:
    """With the default queue of 1, queued messages still come out before ConnectionClosed."""
    async with ws_pair() as (client, server):
        async with trio.open_nursery() as nursery:

            async def produce() -> None:
                await server.send_message("a")
                await server.send_message("b")
                await server.aclose()

            nursery.start_soon(produce)
            assert await client.get_message() == "a"
            assert await client.get_message() == "b"
            with pytest.raises(ws.ConnectionClosed):
                await client.get_message()


async def test_get_message_after_local_close_raises_at_once() -> None:
    """After a local aclose, get_message and send_message raise ConnectionClosed at once."""
    async with ws_pair(client_options=ws.ClientOptions(message_queue_size=10)) as (client, server):
        await server.send_message("pending")
        await client.aclose()
        with trio.fail_after(1):
            with pytest.raises(ws.ConnectionClosed) as info:
                await client.get_message()
        assert info.value.reason.code == 1000
        with pytest.raises(ws.ConnectionClosed):
            await client.send_message("late")


async def test_aclose_is_idempotent_and_sets_closed() -> None:
    """aclose twice is fine; closed is a CloseReason NORMAL_CLOSURE on both ends."""
    async with ws_pair() as (client, server):
        assert (client.closed, server.closed) == (None, None)
        await client.aclose()
        await client.aclose()
        assert isinstance(client.closed, ws.CloseReason)
        assert client.closed.code == 1000
        assert client.closed.name == "NORMAL_CLOSURE"
        with pytest.raises(ws.ConnectionClosed):
            await server.get_message()
        assert server.closed is not None
        assert server.closed.code == 1000
        assert server.closed.name == "NORMAL_CLOSURE"


async def test_aclose_code_and_reason_reach_peer() -> None:
    """aclose(4000, 'bye') is seen by the peer as code 4000, reason 'bye', PRIVATE_RESERVED."""
    async with ws_pair() as (client, server):
        await client.aclose(4000, "bye")
        with pytest.raises(ws.ConnectionClosed) as info:
            await server.get_message()
        reason = info.value.reason
        assert reason.code == 4000
        assert reason.reason == "bye"
        assert reason.name == "PRIVATE_RESERVED"
        assert server.closed is not None
        assert (server.closed.code, server.closed.reason) == (4000, "bye")
        assert client.closed is not None
        assert client.closed.code == 4000


async def test_ping_waits_for_pong() -> None:
    """ping() waits while the peer's pong is held in transit and returns once it arrives."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    server_to_client, client_receive = server_stream.send_stream, client_stream.receive_stream
    async with ws_pair(streams=(client_stream, server_stream)) as (client, _server):
        pump = server_to_client.send_all_hook

        async def ping(payload: bytes | None, returned: trio.Event) -> None:
            await client.ping(payload)
            returned.set()

        for payload in (b"abc", None):
            server_to_client.send_all_hook = None  # the server's writes stay in its send buffer
            returned = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ping, payload, returned)
                await trio.testing.wait_all_tasks_blocked()
                assert not returned.is_set()
                # The server did answer: its pong waits in transit. Let it through.
                assert trio.testing.memory_stream_pump(server_to_client, client_receive)
                server_to_client.send_all_hook = pump
                with trio.fail_after(5):
                    await returned.wait()


async def raw_server_handshake(stream: trio.abc.Stream) -> None:
    """Play a minimal server: read the request and answer 101 with no extensions."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += await stream.receive_some()
    match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", buffer)
    assert match is not None
    accept = base64.b64encode(hashlib.sha1(match.group(1) + _GUID).digest())
    await stream.send_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


@asynccontextmanager
async def client_with_raw_peer() -> AsyncIterator[tuple[ws.WebSocketConnection, trio.abc.Stream]]:
    """Yield a client connection and the raw server end of its stream (nobody answers pings)."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(raw_server_handshake, server_stream)
            client = await ws.wrap_client_stream(nursery, client_stream, "localhost", "/")
            yield client, server_stream
            nursery.cancel_scope.cancel()


def pong_frame(payload: bytes) -> bytes:
    """An unmasked server pong frame."""
    return bytes([0x8A, len(payload)]) + payload


async def test_ping_duplicate_payload_in_flight_raises_value_error() -> None:
    """A second ping with the payload of one still in flight raises ValueError."""
    async with client_with_raw_peer() as (client, peer):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.ping, b"same")
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(ValueError):
                await client.ping(b"same")
            await peer.send_all(pong_frame(b"same"))
        assert client.closed is None


async def test_one_pong_releases_that_ping_and_earlier_ones() -> None:
    """A pong answers the ping with its payload and all pings sent before it, not later ones."""
    async with client_with_raw_peer() as (client, peer):
        released: list[bytes] = []

        async def ping(payload: bytes) -> None:
            await client.ping(payload)
            released.append(payload)

        async with trio.open_nursery() as nursery:
            for payload in (b"1", b"2", b"3"):
                nursery.start_soon(ping, payload)
                await trio.testing.wait_all_tasks_blocked()
            await peer.send_all(pong_frame(b"2"))
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(released) == [b"1", b"2"]
            await peer.send_all(pong_frame(b"unknown"))
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(released) == [b"1", b"2"]
            await peer.send_all(pong_frame(b"3"))
        assert sorted(released) == [b"1", b"2", b"3"]


async def test_unsolicited_pong_is_allowed() -> None:
    """pong() sends an unsolicited pong; the connection stays usable."""
    async with ws_pair() as (client, server):
        await client.pong(b"heartbeat")
        await client.pong()
        await client.send_message("after")
        assert await server.get_message() == "after"
        assert client.closed is None


async def test_ping_and_pong_after_close_raise_connection_closed() -> None:
    """ping and pong after close raise ConnectionClosed."""
    async with ws_pair() as (client, _server):
        await client.aclose()
        with pytest.raises(ws.ConnectionClosed):
            await client.ping(b"x")
        with pytest.raises(ws.ConnectionClosed):
            await client.pong(b"x")


async def test_pending_ping_raises_when_connection_closes() -> None:
    """A ping waiting for its pong raises ConnectionClosed when the connection closes."""
    client_stream, server_stream = trio.testing.lockstep_stream_pair()
    async with trio.open_nursery() as nursery:
        send, receive = trio.open_memory_channel[ws.WebSocketConnection](1)

        async def serve() -> None:
            request = await ws.wrap_server_stream(nursery, server_stream)
            await send.send(await request.accept())

        nursery.start_soon(serve)
        client = await ws.wrap_client_stream(nursery, client_stream, "localhost", "/")
        server = await receive.receive()
        with trio.fail_after(5):
            async with trio.open_nursery() as inner:

                async def closer() -> None:
                    await trio.testing.wait_all_tasks_blocked()
                    await client.aclose()

                inner.start_soon(closer)
                # The server answers the ping; either the pong wins (no error) or the close does.
                try:
                    await client.ping(b"p")
                except ws.ConnectionClosed:
                    pass
        assert client.closed is not None
        del server
        nursery.cancel_scope.cancel()


async def test_max_message_size_client_receiving() -> None:
    """A message bigger than the client's max_message_size closes with 1009."""
    async with ws_pair(client_options=ws.ClientOptions(max_message_size=10)) as (client, server):
        await server.send_message("x" * 11)
        with pytest.raises(ws.ConnectionClosed) as info:
            await client.get_message()
        assert info.value.reason.code == 1009
        with pytest.raises(ws.ConnectionClosed) as server_info:
            await server.get_message()
        assert server_info.value.reason.code == 1009


async def test_max_message_size_server_receiving() -> None:
    """A message bigger than the server's max_message_size closes with 1009; at the limit is fine."""
    async with ws_pair(server_options=ws.ServerOptions(max_message_size=10)) as (client, server):
        await client.send_message(b"y" * 10)
        assert await server.get_message() == b"y" * 10
        await client.send_message(b"y" * 11)
        with pytest.raises(ws.ConnectionClosed) as info:
            await server.get_message()
        assert info.value.reason.code == 1009
        with pytest.raises(ws.ConnectionClosed) as client_info:
            await client.get_message()
        assert client_info.value.reason.code == 1009


@pytest.mark.parametrize("how", ["one frame", "fragments", "deflate"])
async def test_message_too_big_has_one_close_reason(how: str) -> None:
    """Over max_message_size, both sides see the same 1009 reason, whichever check noticed."""
    compression: ws.options.Compression = "deflate" if how == "deflate" else None
    client_options = ws.ClientOptions(compression=compression, ping_interval=None)
    server_options = ws.ServerOptions(
        compression=compression, max_message_size=10, ping_interval=None
    )
    async with ws_pair(client_options=client_options, server_options=server_options) as (
        client,
        server,
    ):
        if how == "fragments":
            first = _masked(0x1, b"x" * 6)
            await client.stream.send_all(bytes([0x01]) + first[1:] + _masked(0x0, b"x" * 6))
        else:
            await client.send_message("x" * 11)
        for connection in (server, client):
            with pytest.raises(ws.ConnectionClosed) as info:
                await connection.get_message()
            assert info.value.reason == ws.CloseReason(1009, "message bigger than the limit of 10 bytes")


async def test_message_queue_backpressure(autojump_clock: trio.testing.MockClock) -> None:
    """With message_queue_size=1 over lockstep streams and no consumer, exactly 2 sends complete."""
    async with ws_pair(lockstep=True, server_options=ws.ServerOptions(message_queue_size=1)) as (
        client,
        server,
    ):
        sent = 0

        async def send_all_messages() -> None:
            nonlocal sent
            for i in range(10):
                await client.send_message(str(i))
                sent += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_all_messages)
            await trio.testing.wait_all_tasks_blocked()
            # One message queued, one handed over (as with a Trio channel of
            # size 1 and a blocked sender); the third send waits.
            assert sent == 2
            assert [await server.get_message() for _ in range(10)] == [str(i) for i in range(10)]
        assert sent == 10


async def test_message_queue_size_zero_and_inf_accepted() -> None:
    """message_queue_size 0 hands messages over directly; math.inf buffers without limit."""
    async with ws_pair(client_options=ws.ClientOptions(message_queue_size=math.inf)) as (client, server):
        for i in range(20):
            await server.send_message(str(i))
        assert [await client.get_message() for _ in range(20)] == [str(i) for i in range(20)]
    async with ws_pair(client_options=ws.ClientOptions(message_queue_size=0)) as (client, server):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.send_message, "direct")
            assert await client.get_message() == "direct"


async def test_compression_negotiated_by_default() -> None:
    """permessage-deflate is negotiated by default and a big repetitive message round-trips."""
    async with ws_pair() as (client, server):
        assert len(client.extensions) > 0
        assert len(server.extensions) > 0
        big = "abcdefgh" * 100_000
        await client.send_message(big)
        assert await server.get_message() == big
        await server.send_message(big.encode())
        assert await client.get_message() == big.encode()


async def test_compression_none_negotiates_no_extensions() -> None:
    """compression=None on either side leaves no extensions."""
    async with ws_pair(client_options=ws.ClientOptions(compression=None)) as (client, server):
        assert list(client.extensions) == []
        assert list(server.extensions) == []
        await client.send_message("plain")
        assert await server.get_message() == "plain"
    async with ws_pair(server_options=ws.ServerOptions(compression=None)) as (client, server):
        assert list(client.extensions) == []
        assert list(server.extensions) == []


async def test_is_client_is_server_and_path() -> None:
    """is_client/is_server and path report each side."""
    async with ws_pair() as (client, server):
        assert client.is_client and not client.is_server
        assert server.is_server and not server.is_client
        assert client.path == "/"
        assert server.path == "/"


def _masked(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | rsv | opcode, 0x80 | len(payload)]) + key + masked


async def test_messages_before_a_protocol_error_are_answered_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A message, then a bad frame in the same read: the echo goes out before the 1002 close."""
    # On virtual time the server's grace for answering never runs out while
    # the echo task can run, so the outcome cannot depend on how fast it is.
    options = ws.ServerOptions(compression=None, ping_interval=None)
    async with ws_pair(server_options=options) as (client, server):

        async def echo() -> None:
            with pytest.raises(ws.ConnectionClosed) as info:
                while True:
                    await server.send_message(await server.get_message())
            assert info.value.reason.code == 1002

        async with trio.open_nursery() as nursery:
            nursery.start_soon(echo)
            # Raw frames under the client connection, in one write: a text
            # message, a frame with RSV2 (no extension defines it), a ping.
            await client.stream.send_all(
                _masked(0x1, b"Hello") + _masked(0x1, b"Hello", rsv=0x20) + _masked(0x9, b"")
            )
            assert await client.get_message() == "Hello"
            with pytest.raises(ws.ConnectionClosed) as info:
                await client.get_message()
            assert info.value.reason.code == 1002
