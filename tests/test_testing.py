"""ws.testing: in-memory connection pairs and an in-memory server, for users' own tests."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import ws
import ws.testing


async def test_pair_exchanges_messages_and_closes_normally() -> None:
    """The pair is connected both ways and closes with 1000 on exit."""
    async with ws.testing.open_websocket_pair("/chat?room=1") as (client, server):
        assert client.is_client and server.is_server
        assert server.path == client.path == "/chat?room=1"
        await client.send_message("hello")
        assert await server.get_message() == "hello"
        await server.send_message(b"\x00bytes")
        assert await client.get_message() == b"\x00bytes"
        assert client.extensions and server.extensions  # deflate negotiated
    assert client.closed is not None and client.closed.code == 1000
    assert server.closed is not None and server.closed.code == 1000


async def test_pair_subprotocol_headers_and_no_compression() -> None:
    """The server picks the first offered subprotocol; compression=None turns deflate off."""
    async with ws.testing.open_websocket_pair(
        subprotocols=["v2", "v1"], extra_headers=[("X-Test", "1")], compression=None
    ) as (client, server):
        assert client.subprotocol == server.subprotocol == "v2"
        assert ("x-test", "1") in server.handshake_headers
        assert client.extensions == [] and server.extensions == []
        assert isinstance(client.remote, str) and isinstance(server.remote, str)
        assert client.remote == server.local


async def test_pair_with_mock_clock(autojump_clock: trio.testing.MockClock) -> None:
    """Pairs work on virtual time: an hour of silence passes instantly and stays open."""
    async with ws.testing.open_websocket_pair() as (client, server):
        await trio.sleep(3600)  # keepalive pings come and go meanwhile
        assert client.closed is None and server.closed is None
        await server.send_message("still here")
        assert await client.get_message() == "still here"


async def test_pair_lockstep_shows_backpressure(autojump_clock: trio.testing.MockClock) -> None:
    """With lockstep=True a sender blocks once the reader's queue is full."""
    options = ws.ServerOptions(message_queue_size=1)
    async with ws.testing.open_websocket_pair(lockstep=True, server_options=options) as (
        client,
        server,
    ):
        sent = 0
        with trio.move_on_after(10):
            for i in range(20):
                await client.send_message(str(i))
                sent += 1
        assert 0 < sent < 20
        assert [await server.get_message() for _ in range(sent)] == [str(i) for i in range(sent)]


async def test_pair_body_exception_propagates_unwrapped() -> None:
    """An exception in the block comes out as itself, not in an ExceptionGroup."""
    with pytest.raises(KeyError):
        async with ws.testing.open_websocket_pair():
            raise KeyError("mine")


async def test_pair_disconnection_timeout(autojump_clock: trio.testing.MockClock) -> None:
    """A server end whose reader is stalled cannot finish the closing handshake in time."""
    with pytest.raises(ws.DisconnectionTimeout):
        async with ws.testing.open_websocket_pair(
            client_options=ws.ClientOptions(disconnect_timeout=5),
            server_options=ws.ServerOptions(message_queue_size=0),
        ) as (client, server):
            await client.send_message("nobody reads this, so the server's reader stalls")


async def _echo(request: ws.WebSocketRequest) -> None:
    connection = await request.accept(
        subprotocol=request.proposed_subprotocols[0] if request.proposed_subprotocols else None
    )
    async for message in connection:
        await connection.send_message(message)


async def test_memory_server_runs_the_handler() -> None:
    """open_memory_server runs a serve_websocket handler; clients use open_websocket."""
    async with ws.testing.open_memory_server(_echo) as server:
        async with server.open_websocket("/a", subprotocols=["x"]) as first:
            async with server.open_websocket("/b") as second:
                await first.send_message("1")
                await second.send_message("2")
                assert await second.get_message() == "2"
                assert await first.get_message() == "1"
                assert first.subprotocol == "x" and second.subprotocol is None
                assert first.remote != second.remote
        assert server.server.listeners == ["MemoryListener:listener"]


async def test_memory_server_connect_websocket_and_rejection() -> None:
    """connect_websocket needs an explicit close; a rejection is ConnectionRejected."""

    async def handler(request: ws.WebSocketRequest) -> None:
        if request.path == "/private":
            await request.reject(403, body=b"no entry")
            return
        await _echo(request)

    async with ws.testing.open_memory_server(handler) as server:
        async with trio.open_nursery() as nursery:
            connection = await server.connect_websocket(nursery, "/public")
            await connection.send_message("hi")
            assert await connection.get_message() == "hi"
            await connection.aclose()
            assert connection.closed is not None and connection.closed.code == 1000
        with pytest.raises(ws.ConnectionRejected) as info:
            async with server.open_websocket("/private"):
                pass  # pragma: no cover
        assert info.value.status_code == 403
        assert info.value.body == b"no entry"


async def test_memory_server_logs_handler_errors(caplog: pytest.LogCaptureFixture) -> None:
    """Handler errors behave as under serve_websocket: logged, 1011, server goes on."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.get_message()
        raise ValueError("bad handler")

    caplog.set_level(logging.ERROR, logger="ws")
    async with ws.testing.open_memory_server(handler) as server:
        for _ in range(2):
            async with server.open_websocket() as connection:
                await connection.send_message("x")
                with pytest.raises(ws.ConnectionClosed) as info:
                    await connection.get_message()
                assert info.value.reason.code == 1011
    assert sum("bad handler" in str(record.exc_info) for record in caplog.records) == 2
