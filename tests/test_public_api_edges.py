"""Smaller corners of the public API: request.local, handler_errors="raise", URL errors, repr."""

from __future__ import annotations

import functools

import pytest
import trio

import ws
import ws.testing
from ws.connection import reader_of, start_reader


async def _echo_once(request: ws.WebSocketRequest) -> None:
    connection = await request.accept()
    await connection.send_message(await connection.get_message())


async def test_request_local_and_bytes_host() -> None:
    """serve_websocket takes host as bytes; request.local is the server's Endpoint."""
    seen: list[ws.Endpoint] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        assert isinstance(request.local, ws.Endpoint)
        seen.append(request.local)
        await _echo_once(request)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(ws.serve_websocket, handler, b"127.0.0.1", 0, None)
            port = server.port
            async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=False) as conn:
                await conn.send_message("x")
                assert await conn.get_message() == "x"
                assert isinstance(conn.local, ws.Endpoint)
            nursery.cancel_scope.cancel()
    assert seen[0].port == port
    assert str(seen[0].address) == "127.0.0.1"


async def test_handler_errors_raise_stops_the_server_with_the_exception() -> None:
    """With handler_errors="raise", a handler's exception ends serve_websocket, ungrouped."""

    async def handler(request: ws.WebSocketRequest) -> None:
        await request.accept()
        raise LookupError("let it out")

    options = ws.ServerOptions(handler_errors="raise")
    with trio.fail_after(30), pytest.raises(BaseExceptionGroup) as info:
        async with trio.open_nursery() as nursery:  # the test's nursery groups, not ws
            server = await nursery.start(
                functools.partial(ws.serve_websocket, options=options),
                handler,
                "127.0.0.1",
                0,
                None,
            )
            with pytest.raises(ws.ConnectionClosed):
                async with ws.open_websocket_url(f"ws://127.0.0.1:{server.port}/") as conn:
                    await conn.get_message()
            await trio.sleep_forever()
    [leaf] = info.value.exceptions
    assert isinstance(leaf, LookupError)
    assert str(leaf) == "let it out"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ws+unix:///chat", "socket path"),
        ("ws:///nohost", "no host"),
        ("http://example.com/", "ws://, wss:// or ws\\+unix://"),
    ],
)
async def test_bad_urls_raise_value_error(url: str, message: str) -> None:
    """URLs that cannot name a WebSocket server raise ValueError before any I/O."""
    with pytest.raises(ValueError, match=message):
        async with ws.open_websocket_url(url):
            pass  # pragma: no cover
    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match=message):
            await ws.connect_websocket_url(nursery, url)


async def test_repr_and_reader_misuse() -> None:
    """repr names side, peer, path and state; the reader cannot start twice."""
    async with ws.testing.open_websocket_pair("/r") as (client, server):
        assert repr(client).startswith("<WebSocketConnection client ")
        assert "'/r'" in repr(server) and "open" in repr(server)
        async with trio.open_nursery() as nursery:
            with pytest.raises(ws.LocalProtocolError, match="already running"):
                start_reader(client, nursery)
        with pytest.raises(ws.LocalProtocolError, match="before the reader starts"):
            reader_of(client).add_early_data(b"late")
    assert "closed 1000" in repr(client)
