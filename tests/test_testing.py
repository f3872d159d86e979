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
        assert (b"x-test", b"1") in server.handshake_headers
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


async def test_pair_lockstep_shows_backpressure() -> None:
    """With lockstep=True and a server queue of 1, exactly two sends complete, then one waits."""
    options = ws.ServerOptions(message_queue_size=1)
    async with ws.testing.open_websocket_pair(lockstep=True, server_options=options) as (
        client,
        server,
    ):
        sent = 0

        async def send_five() -> None:
            nonlocal sent
            for i in range(5):
                await client.send_message(str(i))
                sent += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send_five)
            await trio.testing.wait_all_tasks_blocked()
            assert sent == 2  # one queued, one held by the reader, the third send waits
            assert [await server.get_message() for _ in range(5)] == [str(i) for i in range(5)]
        assert sent == 5


async def test_pair_body_exception_propagates_unwrapped() -> None:
    """An exception in the block comes out as itself, not in an ExceptionGroup."""
    with pytest.raises(KeyError):
        async with ws.testing.open_websocket_pair():
            raise KeyError("mine")


@pytest.mark.parametrize("unread_by", ["server", "client", "both"])
async def test_pair_exit_closes_at_once_over_unread_messages(
    unread_by: str, autojump_clock: trio.testing.MockClock
) -> None:
    """Exit closes both ends with 1000 at once, whatever messages the test left unread."""
    async with ws.testing.open_websocket_pair() as (client, server):
        for i in range(5):
            if unread_by in ("server", "both"):
                await client.send_message(f"to the server {i}")
            if unread_by in ("client", "both"):
                await server.send_message(f"to the client {i}")
        # The readers queued what fits (two each) and stopped reading.
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
    assert trio.current_time() - start < 1
    for end in (client, server):
        assert end.closed is not None and end.closed.code == 1000
        assert not end.close_timed_out


async def test_pair_exit_keeps_a_close_the_test_made() -> None:
    """A close the test made stays: exit does not turn it into 1000."""
    async with ws.testing.open_websocket_pair() as (client, server):
        await client.send_message("unread")
        await server.aclose(4001, "done")
    assert client.closed is not None
    assert (client.closed.code, client.closed.reason) == (4001, "done")
    assert server.closed is not None and server.closed.code == 4001


async def test_pair_disconnection_timeout(autojump_clock: trio.testing.MockClock) -> None:
    """Ends that never read each other's close frame raise DisconnectionTimeout on time."""
    start = trio.current_time()
    with pytest.raises(ws.DisconnectionTimeout):
        async with ws.testing.open_websocket_pair(
            compression=None, client_options=ws.ClientOptions(disconnect_timeout=5)
        ) as (client, server):
            start = trio.current_time()
            # Each side starts a 65,535-byte frame and sends none of its
            # payload, so each close frame is read as payload, not as a close.
            await client.stream.send_all(b"\x82\xfe\xff\xff" + b"mask")
            await server.stream.send_all(b"\x82\x7e\xff\xff")
    assert trio.current_time() - start == pytest.approx(5)


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
        # As trio-websocket: a listener that is not a socket is its repr().
        assert server.server.listeners == [repr(server.listener)] == ["MemoryListener(name='memory')"]


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
