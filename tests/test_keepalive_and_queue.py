"""Keepalive pings, the message queue's byte bound, and their options."""

from __future__ import annotations

import math
import os
import tempfile
import urllib.parse

import pytest
import trio
import trio.testing

import ws
import ws.testing


async def test_keepalive_drops_a_peer_that_stops_answering(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """No pong within ping_timeout: the connection closes with 1011 and the stream is dropped."""
    client_options = ws.ClientOptions(ping_interval=5, ping_timeout=3)
    # The server's reader stalls on an unread message (queue of 0), so it
    # answers nothing: from the client's side, the peer is dead.
    server_options = ws.ServerOptions(message_queue_size=0, ping_interval=None)
    async with ws.testing.open_websocket_pair(
        client_options=client_options, server_options=server_options
    ) as (client, server):
        await client.send_message("stalls the server's reader")
        start = trio.current_time()
        with pytest.raises(ws.ConnectionClosed) as info:
            await client.get_message()
        assert info.value.reason.code == 1011
        assert info.value.reason.reason == "keepalive ping timeout"
        assert 8 <= trio.current_time() - start <= 9
        assert isinstance(info.value.__cause__, ws.ConnectionTimeout)
        assert client.closed is not None and client.closed.code == 1011


async def test_keepalive_keeps_a_live_connection_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Pings that are answered keep the connection open for as long as it lasts."""
    options = ws.ClientOptions(ping_interval=1, ping_timeout=1)
    async with ws.testing.open_websocket_pair(client_options=options) as (client, server):
        await trio.sleep(500)
        assert client.closed is None and server.closed is None
        await client.send_message("alive")
        assert await server.get_message() == "alive"


async def test_keepalive_off_waits_for_ever(autojump_clock: trio.testing.MockClock) -> None:
    """ping_interval=None: a silent, stalled peer is never pinged or dropped."""
    async with ws.testing.open_websocket_pair(
        client_options=ws.ClientOptions(ping_interval=None, disconnect_timeout=1),
        server_options=ws.ServerOptions(message_queue_size=0, ping_interval=None),
    ) as (client, server):
        await client.send_message("stalls the server's reader")
        with trio.move_on_after(10_000) as scope:
            await client.get_message()
        assert scope.cancelled_caught
        assert client.closed is None
        await server.get_message()  # unstall, so that the pair closes normally


async def test_keepalive_waits_while_the_application_is_slow(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A reader held back by a full queue pings nobody and times nothing out, however long.

    The keepalive deadline passes many times while the reader waits for
    room; each time the keepalive is shifted by the wait, so the peer is
    neither pinged nor dropped, and the connection works afterwards.
    """
    server_options = ws.ServerOptions(message_queue_size=0, ping_interval=2, ping_timeout=2)
    client_options = ws.ClientOptions(ping_interval=None)
    async with ws.testing.open_websocket_pair(
        client_options=client_options, server_options=server_options
    ) as (client, server):
        await client.send_message("held in hand: the server's reader waits for room")
        await trio.sleep(100)  # 50 keepalive intervals
        assert server.closed is None and client.closed is None
        assert await server.get_message() == "held in hand: the server's reader waits for room"
        await client.send_message("after")
        assert await server.get_message() == "after"
        # Keepalive runs again once the reader reads: pings answered, still open.
        await trio.sleep(10)
        assert server.closed is None and client.closed is None


async def test_server_keepalive_frees_a_silent_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A server with keepalive drops a client that stopped answering; its handler sees 1011."""
    handler_saw: list[tuple[int, str | None]] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message("the client never reads this, so its reader stalls")
        try:
            await connection.get_message()
        except ws.ConnectionClosed as exc:
            handler_saw.append((exc.reason.code, exc.reason.reason))

    options = ws.ServerOptions(ping_interval=2, ping_timeout=2)
    client_options = ws.ClientOptions(message_queue_size=0, ping_interval=None, disconnect_timeout=1)
    async with ws.testing.open_memory_server(handler, options=options) as server:
        async with server.open_websocket(options=client_options):
            with trio.fail_after(60):
                while not handler_saw:
                    await trio.sleep(1)
    assert handler_saw == [(1011, "keepalive ping timeout")]


async def test_message_queue_bytes_pushes_back(autojump_clock: trio.testing.MockClock) -> None:
    """The reader stops once the queue holds message_queue_bytes, whatever the message count."""
    server_options = ws.ServerOptions(message_queue_size=math.inf, message_queue_bytes=1000)
    async with ws.testing.open_websocket_pair(
        lockstep=True, server_options=server_options, compression=None
    ) as (client, server):
        sent = 0
        with trio.move_on_after(10):
            for _ in range(20):
                await client.send_message(b"x" * 400)
                sent += 1
        # Two messages fit (800 bytes), the third waits in the reader, and
        # the lockstep stream holds the sender of the fourth.
        assert 3 <= sent <= 4
        for _ in range(sent):
            assert await server.get_message() == b"x" * 400


async def test_message_queue_bytes_always_admits_one_message(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A message larger than message_queue_bytes still gets through an empty queue."""
    server_options = ws.ServerOptions(message_queue_bytes=10)
    async with ws.testing.open_websocket_pair(server_options=server_options) as (client, server):
        await client.send_message("y" * 5000)
        assert await server.get_message() == "y" * 5000


async def test_aclose_unblocks_a_reader_waiting_for_queue_space(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Closing locally while the reader waits for queue space ends the connection cleanly."""
    server_options = ws.ServerOptions(message_queue_size=math.inf, message_queue_bytes=100)
    async with ws.testing.open_websocket_pair(server_options=server_options) as (client, server):
        for _ in range(3):
            await client.send_message(b"z" * 80)
        await trio.sleep(1)
        with trio.fail_after(5):
            await server.aclose()
        assert server.closed is not None and server.closed.code == 1000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ping_interval", 0),
        ("ping_interval", -1),
        ("ping_timeout", 0),
        ("message_queue_bytes", 0),
        ("message_queue_bytes", -5),
    ],
)
def test_invalid_keepalive_and_queue_options(field: str, value: float) -> None:
    """Out-of-range settings raise ValueError naming the setting."""
    with pytest.raises(ValueError, match=field):
        ws.ClientOptions(**{field: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=field):
        ws.ServerOptions(**{field: value})  # type: ignore[arg-type]


def test_documented_defaults() -> None:
    """Keepalive is on (20 s / 20 s) and the queue holds at most 4 MiB by default."""
    for options in (ws.ClientOptions(), ws.ServerOptions()):
        assert options.ping_interval == 20
        assert options.ping_timeout == 20
        assert options.message_queue_bytes == 4 * 1024 * 1024


async def test_serve_websocket_unix_listeners_and_cleanup() -> None:
    """serve_websocket_unix reports its path, serves ws+unix:// and removes the file on exit."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message(request.path)

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "app.sock")
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                server = await nursery.start(ws.serve_websocket_unix, handler, path)
                assert isinstance(server, ws.WebSocketServer)
                assert server.listeners == [path]
                assert os.path.exists(path)
                with pytest.raises(RuntimeError):
                    server.port  # noqa: B018 - no TCP port to report
                url = "ws+unix://" + urllib.parse.quote(path, safe="") + "/p?q=1"
                async with ws.open_websocket_url(url) as connection:
                    assert await connection.get_message() == "/p?q=1"
                nursery.cancel_scope.cancel()
        assert not os.path.exists(path)
