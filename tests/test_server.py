"""Server API (serve_websocket, WebSocketServer, WebSocketRequest, wrap_server_stream)."""

from __future__ import annotations

import errno
import logging
import os
import ssl
from functools import partial
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import ws
from ws.transports.memory import MemoryListener


async def echo_handler(request: ws.WebSocketRequest) -> None:
    """Accept and echo every message until the client closes."""
    connection = await request.accept()
    async for message in connection:
        await connection.send_message(message)


@asynccontextmanager
async def running_server(
    handler: ws.server.Handler = echo_handler, host: str | None = "127.0.0.1",
    *,
    options: ws.ServerOptions | None = None,
    handler_nursery: trio.Nursery | None = None,
) -> AsyncIterator[ws.WebSocketServer]:
    """Serve on an OS-chosen port until the block ends."""
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(
                    ws.serve_websocket,
                    handler,
                    host,
                    0,
                    None,
                    options=options,
                    handler_nursery=handler_nursery,
                )
            )
            assert isinstance(server, ws.WebSocketServer)
            yield server
            nursery.cancel_scope.cancel()


async def test_port_and_listeners() -> None:
    """port is the bound port; listeners are Endpoints with matching ws:// URLs."""
    async with running_server() as server:
        assert server.port > 0
        assert len(server.listeners) == 1
        listener = server.listeners[0]
        assert isinstance(listener, ws.Endpoint)
        assert listener.port == server.port
        assert listener.url == f"ws://127.0.0.1:{server.port}"


async def test_host_none_port_zero() -> None:
    """host=None with port=0 serves and is reachable on 127.0.0.1."""
    async with running_server(host=None) as server:
        assert server.listeners
        ipv4 = [
            address
            for address in server.listeners
            if isinstance(address, ws.Endpoint) and address.address.version == 4
        ]
        assert ipv4
        port = ipv4[0].port
        assert port > 0
        async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=False) as conn:
            await conn.send_message("any")
            assert await conn.get_message() == "any"


async def test_request_properties_and_server_endpoints() -> None:
    """The request reports path and endpoints; the server connection's remote is the client."""
    seen: dict[str, object] = {}

    async def handler(request: ws.WebSocketRequest) -> None:
        seen["path"] = request.path
        seen["request_remote"] = request.remote
        before = request.connection
        assert before is None
        conn = await request.accept()
        assert request.connection is conn
        seen["is_server"] = conn.is_server
        seen["local"] = conn.local
        seen["remote"] = conn.remote
        await conn.get_message()

    async with running_server(handler) as server:
        async with ws.open_websocket("127.0.0.1", server.port, "/a/b?c=d", use_ssl=False) as conn:
            await conn.send_message("done")
            client_local = conn.local
            port = server.port
    assert seen["path"] == "/a/b?c=d"
    assert seen["is_server"] is True
    local = seen["local"]
    assert isinstance(local, ws.Endpoint)
    assert local.port == port
    assert seen["remote"] == client_local
    assert seen["request_remote"] == client_local


async def test_handler_nursery_runs_handlers() -> None:
    """With handler_nursery, handlers run as children of that nursery."""
    parents: list[trio.lowlevel.Task | None] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        task = trio.lowlevel.current_task()
        parents.append(task.parent_nursery.parent_task if task.parent_nursery else None)
        conn = await request.accept()
        await conn.get_message()

    with trio.fail_after(30):
        async with trio.open_nursery() as handler_nursery:
            async with running_server(handler, handler_nursery=handler_nursery) as server:
                async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
                    await conn.send_message("x")
            handler_nursery.cancel_scope.cancel()
    assert parents == [trio.lowlevel.current_task()]


async def test_handler_exception_logged_1011_and_server_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler error is logged on 'ws', the client sees 1011, and the next client is served."""
    calls = 0

    async def handler(request: ws.WebSocketRequest) -> None:
        nonlocal calls
        calls += 1
        conn = await request.accept()
        if calls == 1:
            await conn.get_message()
            raise RuntimeError("handler bug")
        async for message in conn:
            await conn.send_message(message)

    caplog.set_level(logging.ERROR, logger="ws")
    async with running_server(handler) as server:
        async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
            await conn.send_message("trigger")
            with pytest.raises(ws.ConnectionClosed) as info:
                await conn.get_message()
            assert info.value.reason.code == 1011
        async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
            await conn.send_message("still alive")
            assert await conn.get_message() == "still alive"
    records = [r for r in caplog.records if r.name == "ws" and r.exc_info is not None]
    assert records
    assert isinstance(records[0].exc_info[1], RuntimeError)  # type: ignore[index]


async def test_handler_exception_before_accept_rejects() -> None:
    """A handler that raises before answering makes the client see a 500 rejection."""

    async def handler(request: ws.WebSocketRequest) -> None:
        raise RuntimeError("early bug")

    async with running_server(handler) as server:
        with pytest.raises(ws.ConnectionRejected) as info:
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
    assert info.value.status_code == 500


async def test_server_connect_timeout_drops_silent_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A client that sends nothing is dropped after connect_timeout; the handler never runs."""
    called = False

    async def handler(request: ws.WebSocketRequest) -> None:
        nonlocal called
        called = True  # pragma: no cover

    async with running_server(handler, options=ws.ServerOptions(connect_timeout=3)) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        start = trio.current_time()
        with trio.fail_after(60):
            data = await stream.receive_some()
        assert data == b""
        assert trio.current_time() - start >= 3
        await stream.aclose()
    assert not called


async def test_accept_twice_raises() -> None:
    """Answering a request twice raises LocalProtocolError."""
    errors: list[BaseException] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        conn = await request.accept()
        for again in (request.accept(), request.reject(400)):
            try:
                await again
            except ws.LocalProtocolError as exc:
                errors.append(exc)
        await conn.get_message()

    async with running_server(handler) as server:
        async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
            await conn.send_message("done")
    assert len(errors) == 2


async def test_server_max_message_size() -> None:
    """serve_websocket's max_message_size closes an oversized client message with 1009."""
    async with running_server(options=ws.ServerOptions(max_message_size=50)) as server:
        async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
            await conn.send_message(b"k" * 51)
            with pytest.raises(ws.ConnectionClosed) as info:
                await conn.get_message()
            assert info.value.reason.code == 1009


async def test_server_compression_none() -> None:
    """serve_websocket(compression=None) declines permessage-deflate."""
    async with running_server(options=ws.ServerOptions(compression=None)) as server:
        async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
            assert list(conn.extensions) == []
            await conn.send_message("plain")
            assert await conn.get_message() == "plain"


async def test_wrap_server_stream_invalid_request() -> None:
    """wrap_server_stream raises InvalidRequest and sends an error response for a bad request."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await client_stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(ws.InvalidRequest):
                await ws.wrap_server_stream(nursery, server_stream)
            response = await client_stream.receive_some()
            assert response.startswith(b"HTTP/1.1 4")


async def test_wrap_server_stream_accept_over_memory() -> None:
    """wrap_server_stream + wrap_client_stream talk over a memory stream pair."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def serve() -> None:
                request = await ws.wrap_server_stream(nursery, server_stream)
                assert request.path == "/mem"
                conn = await request.accept()
                await conn.send_message(await conn.get_message())
                with pytest.raises(ws.ConnectionClosed):
                    await conn.get_message()

            nursery.start_soon(serve)
            client = await ws.wrap_client_stream(nursery, client_stream, "localhost", "/mem")
            await client.send_message("round")
            assert await client.get_message() == "round"
            await client.aclose()


async def test_serve_websocket_keyword_settings() -> None:
    """serve_websocket's keyword settings (compression, max_message_size) take effect."""
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(
                    ws.serve_websocket,
                    echo_handler,
                    "127.0.0.1",
                    0,
                    None,
                    compression=None,
                    max_message_size=50,
                )
            )
            assert isinstance(server, ws.WebSocketServer)
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
                assert list(conn.extensions) == []
                await conn.send_message(b"k" * 51)
                with pytest.raises(ws.ConnectionClosed) as info:
                    await conn.get_message()
                assert info.value.reason.code == 1009
            nursery.cancel_scope.cancel()


class _FlakyListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose accept() first fails with the given errnos, then hands out memory streams."""

    def __init__(self, errnos: list[int]) -> None:
        self.errnos = errnos
        self.peers: list[trio.abc.Stream] = []
        self.closed = False

    async def accept(self) -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        if self.errnos:
            code = self.errnos.pop(0)
            raise OSError(code, os.strerror(code))
        if len(self.peers) >= 1:
            await trio.sleep_forever()
        ours, theirs = trio.testing.memory_stream_pair()
        self.peers.append(theirs)
        return ours

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


async def test_accept_out_of_file_descriptors_is_logged_and_retried(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """accept() failing with EMFILE/ENFILE is logged, retried after 0.1 s, and serving goes on."""
    caplog.set_level(logging.WARNING, logger="ws")
    listener = _FlakyListener([errno.EMFILE, errno.ENFILE])
    served: list[str] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        served.append(request.path)
        await request.reject(404)

    async with trio.open_nursery() as nursery:
        server = ws.WebSocketServer(handler, [listener])
        await nursery.start(server.run)
        start = trio.current_time()
        while not listener.peers:
            await trio.sleep(0.01)
        assert trio.current_time() - start >= 0.2  # two retries, 0.1 s apart
        peer = listener.peers[0]
        await peer.send_all(
            b"GET /after HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        response = await peer.receive_some()
        assert response.startswith(b"HTTP/1.1 404 "), response
        nursery.cancel_scope.cancel()
    assert served == ["/after"]
    assert listener.closed
    warnings = [r for r in caplog.records if r.name == "ws"]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    assert "EMFILE" in warnings[0].getMessage() and "ENFILE" in warnings[1].getMessage()


async def test_other_accept_errors_stop_the_server() -> None:
    """An accept() error that is not about capacity propagates out of the server, unwrapped."""
    listener = _FlakyListener([errno.EBADF])

    async def handler(request: ws.WebSocketRequest) -> None:
        raise AssertionError("no connection is accepted")

    server = ws.WebSocketServer(handler, [listener])
    with pytest.raises(OSError) as info:
        await server.run()
    assert info.value.errno == errno.EBADF
    assert listener.closed


async def test_handler_errors_raise_closes_with_1011_then_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """handler_errors="raise": the client sees 1011, then the error leaves the server unwrapped."""
    listener = MemoryListener()
    errors: list[BaseException] = []
    stopped = trio.Event()

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.get_message()
        raise RuntimeError("handler bug")

    async def serve(
        *, task_status: trio.TaskStatus[ws.WebSocketServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        server = ws.WebSocketServer(
            handler, [listener], options=ws.ServerOptions(handler_errors="raise")
        )
        try:
            await server.run(task_status=task_status)
        except RuntimeError as exc:
            errors.append(exc)
        stopped.set()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(serve)
            connected = await listener.connect()
            client = await ws.wrap_client_stream(nursery, connected.stream, "localhost", "/")
            await client.send_message("trigger")
            with pytest.raises(ws.ConnectionClosed) as info:
                await client.get_message()
            assert info.value.reason.code == 1011
            await stopped.wait()
            await client.aclose()
    assert [str(error) for error in errors] == ["handler bug"]


async def test_handler_errors_raise_before_accept_rejects_with_500(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """handler_errors="raise" with no answer yet: the client gets a 500, the error propagates."""
    listener = MemoryListener()
    errors: list[BaseException] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        raise RuntimeError("early bug")

    async def serve(
        *, task_status: trio.TaskStatus[ws.WebSocketServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        server = ws.WebSocketServer(
            handler, [listener], options=ws.ServerOptions(handler_errors="raise")
        )
        try:
            await server.run(task_status=task_status)
        except RuntimeError as exc:
            errors.append(exc)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(serve)
            connected = await listener.connect()
            with pytest.raises(ws.ConnectionRejected) as info:
                await ws.wrap_client_stream(nursery, connected.stream, "localhost", "/")
            assert info.value.status_code == 500
    assert [str(error) for error in errors] == ["early bug"]


async def test_tls_client_on_a_plain_port_fails_at_once() -> None:
    """A TLS client on a plain port fails in its handshake at once, not after connect_timeout (60 s)."""
    async with running_server() as server:
        with trio.fail_after(5):
            tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
            tls = trio.SSLStream(tcp, ssl.create_default_context(), server_hostname="localhost")
            with pytest.raises(trio.BrokenResourceError) as info:
                await tls.do_handshake()
            assert isinstance(info.value.__cause__, ssl.SSLError)
            await trio.aclose_forcefully(tcp)


async def test_tls_client_hello_on_a_plain_port_gets_400_and_close() -> None:
    """A ClientHello on a plain port is answered with a plain-text 400, then the server closes."""
    outgoing = ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    async with running_server() as server:
        with trio.fail_after(5):
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                await stream.send_all(outgoing.read())
                response = b""
                while chunk := await stream.receive_some():
                    response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Content-Type: text/plain; charset=utf-8" in head
    assert b"Connection: close" in head
    assert b"TLS handshake on a plain-text port" in body


async def test_a_trio_websocket_client_reads_back_its_close_reason() -> None:
    """The server echoes the close code and reason, so a trio-websocket client that
    closes with (4000, "done") reads that back, as it does from its own server."""
    trio_websocket = pytest.importorskip(
        "trio_websocket", reason="pip install trio-websocket==0.12.2 (or scripts/install-peers)"
    )
    seen: list[tuple[int, str | None]] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        with pytest.raises(ws.ConnectionClosed) as info:
            await connection.get_message()
        seen.append((info.value.reason.code, info.value.reason.reason))

    async with running_server(handler) as server:
        async with trio_websocket.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False
        ) as client:
            await client.aclose(4000, "done")
            assert (client.closed.code, client.closed.reason) == (4000, "done")
            with trio.fail_after(5):
                while not seen:
                    await trio.sleep(0.01)
    assert seen == [(4000, "done")]
