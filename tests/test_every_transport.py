"""The same connection tests over every transport, through the public API only.

Transports: TCP on 127.0.0.1 and on ::1, TLS (a trustme certificate made
here), a Unix socket (``serve_websocket_unix`` + ``ws+unix://``) and memory
(``ws.testing.open_memory_server``). Each test starts a server running a
handler, connects a client, and checks what both ends see.

Timeouts are virtual: the tests run on a ``MockClock`` whose autojump only
fires after the program has been idle for a while of real time, so socket
I/O on loopback always completes before the clock jumps.
"""

from __future__ import annotations

import math
import os
import socket
import ssl
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import attrs
import pytest
import trio
import trio.testing
import trustme

import ws
import ws.testing

Handler = Callable[[ws.WebSocketRequest], Awaitable[None]]


class OpenClient(Protocol):
    """Connect a client to the server under test (an async context manager)."""

    def __call__(
        self,
        resource: str = "/",
        *,
        subprotocols: list[str] | None = None,
        extra_headers: list[tuple[str, str]] | None = None,
        message_queue_size: float = 1,
        disconnect_timeout: float = 60,
    ) -> AbstractAsyncContextManager[ws.WebSocketConnection]: ...

TRANSPORTS = ["tcp4", "tcp6", "tls", "unix", "memory"]


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority for the TLS transport."""
    return trustme.CA()


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps only when nothing has happened for 50 ms of real time."""
    return trio.testing.MockClock(autojump_threshold=0.05)


@attrs.define
class Transport:
    """How to serve a handler and how to connect to it, for one transport."""

    name: str
    ca: trustme.CA

    @asynccontextmanager
    async def serve(
        self, handler: Handler, options: ws.ServerOptions
    ) -> AsyncIterator[OpenClient]:
        """Run ``handler``; yield ``open(resource, **client_kwargs)`` for clients."""
        if self.name == "memory":
            async with ws.testing.open_memory_server(handler, options=options) as server:
                yield server.open_websocket
            return
        async with trio.open_nursery() as nursery:
            if self.name == "unix":
                with tempfile.TemporaryDirectory() as directory:
                    path = os.path.join(directory, "ws.sock")
                    await nursery.start(_serve_unix, handler, path, options)
                    base = "ws+unix://" + urllib.parse.quote(path, safe="")

                    def open_unix(
                        resource: str = "/",
                        *,
                        subprotocols: list[str] | None = None,
                        extra_headers: list[tuple[str, str]] | None = None,
                        message_queue_size: float = 1,
                        disconnect_timeout: float = 60,
                    ) -> AbstractAsyncContextManager[ws.WebSocketConnection]:
                        return ws.open_websocket_url(
                            base + resource,
                            subprotocols=subprotocols,
                            extra_headers=extra_headers,
                            message_queue_size=message_queue_size,
                            disconnect_timeout=disconnect_timeout,
                        )

                    yield open_unix
                    nursery.cancel_scope.cancel()
                return
            host = "::1" if self.name == "tcp6" else "127.0.0.1"
            ssl_context = None
            client_context: ssl.SSLContext | None = None
            if self.name == "tls":
                ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self.ca.issue_cert("localhost", "127.0.0.1").configure_cert(ssl_context)
                client_context = ssl.create_default_context()
                self.ca.configure_trust(client_context)
            server = await nursery.start(_serve_tcp, handler, host, ssl_context, options)
            assert isinstance(server, ws.WebSocketServer)
            scheme = "wss" if self.name == "tls" else "ws"
            authority = f"[::1]:{server.port}" if self.name == "tcp6" else f"127.0.0.1:{server.port}"

            def open_tcp(
                resource: str = "/",
                *,
                subprotocols: list[str] | None = None,
                extra_headers: list[tuple[str, str]] | None = None,
                message_queue_size: float = 1,
                disconnect_timeout: float = 60,
            ) -> AbstractAsyncContextManager[ws.WebSocketConnection]:
                return ws.open_websocket_url(
                    f"{scheme}://{authority}{resource}",
                    client_context,
                    subprotocols=subprotocols,
                    extra_headers=extra_headers,
                    message_queue_size=message_queue_size,
                    disconnect_timeout=disconnect_timeout,
                )

            yield open_tcp
            nursery.cancel_scope.cancel()


async def _serve_tcp(
    handler: Handler,
    host: str,
    ssl_context: ssl.SSLContext | None,
    options: ws.ServerOptions,
    *,
    task_status: trio.TaskStatus[ws.WebSocketServer],
) -> None:
    await ws.serve_websocket(handler, host, 0, ssl_context, options=options, task_status=task_status)


async def _serve_unix(
    handler: Handler,
    path: str,
    options: ws.ServerOptions,
    *,
    task_status: trio.TaskStatus[ws.WebSocketServer],
) -> None:
    await ws.serve_websocket_unix(handler, path, options=options, task_status=task_status)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest, ca: trustme.CA) -> Transport:
    """Each transport in turn."""
    name = str(request.param)
    if name == "tcp6" and not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1)")
    return Transport(name, ca)


def _options(**kwargs: object) -> ws.ServerOptions:
    return ws.ServerOptions(**kwargs)  # type: ignore[arg-type]


async def _echo(request: ws.WebSocketRequest) -> None:
    connection = await request.accept()
    async for message in connection:
        await connection.send_message(message)


# -- messages --------------------------------------------------------------------


async def test_echo_text_binary_and_large(transport: Transport, clock: trio.testing.MockClock) -> None:
    """str, bytes-likes, non-ASCII text and a compressible 1 MiB message all echo intact."""
    big = bytes(range(256)) * 4096  # 1 MiB
    with trio.fail_after(60):
        async with transport.serve(_echo, _options()) as open_client:
            async with open_client("/echo") as client:
                assert client.extensions, "permessage-deflate is on by default"
                messages: list[str | bytes | bytearray | memoryview] = [
                    "hello", "😀 ünïcode ✓", "", b"\x00\xff", bytearray(b"ba"), memoryview(b"mv")
                ]
                for message in messages:
                    await client.send_message(message)
                    got = await client.get_message()
                    expected: str | bytes = message if isinstance(message, str) else bytes(message)
                    assert got == expected
                    assert type(got) is type(expected)
                await client.send_message(big)
                assert await client.get_message() == big


async def test_endpoints_path_subprotocol_and_headers(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """Both ends agree on path, subprotocol and headers; endpoints fit the transport."""
    seen: dict[str, object] = {}

    async def handler(request: ws.WebSocketRequest) -> None:
        seen["proposed"] = request.proposed_subprotocols
        seen["path"] = request.path
        seen["x-token"] = dict(request.headers).get(b"x-token")
        connection = await request.accept(subprotocol="chat.v2", extra_headers=[("X-Served-By", "ws")])
        seen["server_remote"] = connection.remote
        seen["is_server"] = connection.is_server
        await connection.get_message()

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            async with open_client(
                "/room?id=7", subprotocols=["chat.v1", "chat.v2"], extra_headers=[("X-Token", "t0k")]
            ) as client:
                assert client.subprotocol == "chat.v2"
                assert client.path == "/room?id=7"
                assert client.is_client and not client.is_server
                assert (b"x-served-by", b"ws") in client.handshake_headers
                await client.send_message("done")
                if transport.name in ("tcp4", "tcp6", "tls"):
                    assert isinstance(client.remote, ws.Endpoint)
                    assert client.remote.is_ssl == (transport.name == "tls")
                    assert client.remote.url.startswith("wss://" if transport.name == "tls" else "ws://")
                else:
                    assert isinstance(client.remote, str)
    assert seen["proposed"] == ("chat.v1", "chat.v2")
    assert seen["path"] == "/room?id=7"
    assert seen["x-token"] == b"t0k"
    assert seen["is_server"] is True


async def test_ping_pong_both_directions(transport: Transport, clock: trio.testing.MockClock) -> None:
    """Each side's ping() returns once the other side's automatic pong arrives."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.ping(b"from-server")
        await connection.send_message("server ping answered")
        await connection.get_message()

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            async with open_client() as client:
                await client.ping(b"from-client")
                await client.ping()
                assert await client.get_message() == "server ping answered"
                await client.send_message("bye")


async def test_close_code_and_reason_both_directions(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """A close started by either side reaches the other with its code and reason."""
    server_saw: list[tuple[int, str | None]] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        if request.path == "/server-closes":
            await connection.aclose(4001, "server says bye")
            assert connection.closed is not None
            server_saw.append((connection.closed.code, connection.closed.reason))
            return
        with pytest.raises(ws.ConnectionClosed) as info:
            await connection.get_message()
        server_saw.append((info.value.reason.code, info.value.reason.reason))

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            async with open_client("/client-closes") as client:
                await client.aclose(4000, "client says bye")
            assert client.closed is not None
            assert (client.closed.code, client.closed.reason) == (4000, "client says bye")
            async with open_client("/server-closes") as client:
                with pytest.raises(ws.ConnectionClosed) as info:
                    await client.get_message()
                assert (info.value.reason.code, info.value.reason.reason) == (4001, "server says bye")
                assert info.value.reason.name == "PRIVATE_RESERVED"
    with trio.fail_after(10):
        while len(server_saw) < 2:
            await trio.sleep(0.01)
    assert sorted(server_saw) == [(4000, "client says bye"), (4001, "server says bye")]


async def test_messages_sent_before_close_are_delivered(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """get_message returns what arrived before the peer's close, then raises."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        for i in range(5):
            await connection.send_message(f"m{i}")
        await connection.aclose(1000, "done")

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            async with open_client(message_queue_size=math.inf) as client:
                got = [message async for message in client]
                assert got == [f"m{i}" for i in range(5)]
                assert client.closed is not None
                assert client.closed.code == 1000


async def test_max_message_size_closes_with_1009(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """A message over the server's max_message_size closes the connection with 1009."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        async for message in connection:
            await connection.send_message(message)

    with trio.fail_after(60):
        async with transport.serve(handler, _options(max_message_size=1000)) as open_client:
            async with open_client() as client:
                await client.send_message(b"x" * 1000)
                assert await client.get_message() == b"x" * 1000
                await client.send_message(os.urandom(1001))
                with pytest.raises(ws.ConnectionClosed) as info:
                    await client.get_message()
                assert info.value.reason.code == 1009


async def test_handler_exception_closes_with_1011(
    transport: Transport, clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler's exception is logged, closes that connection with 1011, and the server goes on."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        message = await connection.get_message()
        if message == "boom":
            raise RuntimeError("handler failed")
        await connection.send_message(message)

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            async with open_client() as client:
                await client.send_message("boom")
                with pytest.raises(ws.ConnectionClosed) as info:
                    await client.get_message()
                assert info.value.reason.code == 1011
            async with open_client() as client:
                await client.send_message("still serving")
                assert await client.get_message() == "still serving"
    assert any("handler failed" in str(record.exc_info) for record in caplog.records)


# -- peers that die, cancellation, peers that never answer ---------------------------


def _partial_frame() -> bytes:
    # A masked binary frame that announces 1000 bytes and carries 10.
    return bytes([0x82, 0x80 | 126, 0x03, 0xE8]) + b"\x00\x00\x00\x00" + b"0123456789"


async def test_server_killed_mid_message(transport: Transport, clock: trio.testing.MockClock) -> None:
    """A server that dies half-way through a frame gives the client ConnectionClosed 1006."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.get_message()
        # Half of an (unmasked, server-to-client) binary frame, then the stream dies.
        await connection.stream.send_all(bytes([0x82, 126, 0x03, 0xE8]) + b"0123456789")
        await trio.aclose_forcefully(connection.stream)

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            async with open_client() as client:
                await client.send_message("go")
                with pytest.raises(ws.ConnectionClosed) as info:
                    await client.get_message()
                assert info.value.reason.code == 1006
                assert client.closed is not None and client.closed.code == 1006


async def test_client_killed_mid_message(transport: Transport, clock: trio.testing.MockClock) -> None:
    """A client that dies half-way through a frame ends the handler's get_message with 1006."""
    outcome: list[int] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        try:
            await connection.get_message()
        except ws.ConnectionClosed as exc:
            outcome.append(exc.reason.code)
            raise

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            async with open_client() as client:
                await client.stream.send_all(_partial_frame())
                await trio.aclose_forcefully(client.stream)
            with trio.fail_after(10):
                while not outcome:
                    await trio.sleep(0.01)
    assert outcome == [1006]


async def test_cancelled_handler_closes_its_connection(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """A handler cancelled by a server shutdown closes its connection with 1001, no hang."""
    handler_started = trio.Event()
    handler_cancelled = trio.Event()

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        handler_started.set()
        try:
            await connection.get_message()
        except trio.Cancelled:
            handler_cancelled.set()
            raise

    with trio.fail_after(60):
        async with trio.open_nursery() as outer:
            server_scope = trio.CancelScope()

            async def run_server(
                task_status: trio.TaskStatus[OpenClient],
            ) -> None:
                with server_scope:
                    async with transport.serve(handler, _options()) as open_client:
                        task_status.started(open_client)
                        await trio.sleep_forever()

            open_client = await outer.start(run_server)
            async with open_client() as client:
                await handler_started.wait()
                server_scope.cancel()
                with pytest.raises(ws.ConnectionClosed) as info:
                    await client.get_message()
                assert info.value.reason.code == 1001
                assert info.value.reason.reason == "server shutting down"
    assert handler_cancelled.is_set()


async def test_handler_cancelling_its_own_wait_then_returning(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """A handler that gives up waiting (its own cancel scope) and returns closes with 1000."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        with trio.move_on_after(5):
            await connection.get_message()

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            async with open_client() as client:
                with pytest.raises(ws.ConnectionClosed) as info:
                    await client.get_message()
                assert info.value.reason.code == 1000


async def test_client_cancelled_inside_open_websocket(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """Cancelling a client inside open_websocket leaves quietly; the server sees the end."""
    server_saw: list[int] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        try:
            await connection.get_message()
        except ws.ConnectionClosed as exc:
            server_saw.append(exc.reason.code)

    with trio.fail_after(60):
        async with transport.serve(handler, _options()) as open_client:
            with trio.move_on_after(3) as scope:
                async with open_client() as client:
                    await client.get_message()  # nothing ever comes
            assert scope.cancelled_caught
            assert client.closed is not None
            with trio.fail_after(10):
                while not server_saw:
                    await trio.sleep(0.01)
    assert server_saw == [1001]


async def test_server_never_answering_close_gives_disconnection_timeout(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """A server that never reads our close: DisconnectionTimeout after disconnect_timeout."""
    release = trio.Event()

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await release.wait()  # never reads: with a queue of 0 its reader stalls
        await connection.aclose()

    options = _options(message_queue_size=0, disconnect_timeout=math.inf)
    with trio.fail_after(60):
        async with transport.serve(handler, options) as open_client:
            with pytest.raises(ws.DisconnectionTimeout):
                async with open_client(disconnect_timeout=5) as client:
                    await client.send_message("the server's reader stalls on this")
                    # Let the server read it and stop reading before we close.
                    await trio.sleep(1)
                    start = trio.current_time()
            assert 5 <= trio.current_time() - start < 6
            release.set()


async def test_client_never_answering_close_is_dropped_at_disconnect_timeout(
    transport: Transport, clock: trio.testing.MockClock
) -> None:
    """A client that never reads the server's close is dropped after disconnect_timeout."""
    closed_after: list[float] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message("stall your reader")
        await trio.sleep(1)  # the client reads it and stops reading
        start = trio.current_time()
        await connection.aclose()
        assert connection.close_timed_out
        closed_after.append(trio.current_time() - start)

    with trio.fail_after(60):
        async with transport.serve(handler, _options(disconnect_timeout=7)) as open_client:
            with trio.move_on_after(30):
                async with open_client(message_queue_size=0, disconnect_timeout=1) as client:
                    with trio.fail_after(20):
                        while not closed_after:
                            await trio.sleep(0.5)
    assert closed_after and 7 <= closed_after[0] < 8
