"""Client API (open_websocket, open_websocket_url, connect_websocket...) over loopback."""

from __future__ import annotations

import base64
import errno
import hashlib
import math
import os
import re
import ssl
import sys
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from functools import partial
from typing import Unpack

import pytest
import trio
import trio.testing
import trustme

import ws
import ws.client
import ws.options
import ws.transports.endpoint
import ws.transports.unix

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

RawPeer = Callable[[trio.SocketStream], Awaitable[None]]


async def echo_handler(request: ws.WebSocketRequest) -> None:
    """Accept and echo every message until the client closes."""
    connection = await request.accept()
    async for message in connection:
        await connection.send_message(message)


@asynccontextmanager
async def running_server(
    handler: ws.server.Handler = echo_handler,
    ssl_context: ssl.SSLContext | None = None,
    **settings: Unpack[ws.ServerSettings],
) -> AsyncIterator[ws.WebSocketServer]:
    """Serve on 127.0.0.1, an OS-chosen port, until the block ends."""
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(ws.serve_websocket, handler, "127.0.0.1", 0, ssl_context, **settings)
            )
            assert isinstance(server, ws.WebSocketServer)
            yield server
            nursery.cancel_scope.cancel()


async def test_open_websocket_echo_and_endpoints() -> None:
    """open_websocket connects, echoes, and reports ws.Endpoint local/remote."""
    async with running_server() as server:
        async with ws.open_websocket("127.0.0.1", server.port, "/path?q=1", use_ssl=False) as conn:
            await conn.send_message("hi")
            assert await conn.get_message() == "hi"
            assert conn.is_client
            assert conn.path == "/path?q=1"
            assert isinstance(conn.remote, ws.Endpoint)
            assert isinstance(conn.local, ws.Endpoint)
            assert conn.remote.port == server.port
            assert conn.remote.url == f"ws://127.0.0.1:{server.port}"
            assert conn.local.url.startswith("ws://127.0.0.1:")
        assert conn.closed is not None
        assert conn.closed.code == 1000


async def test_open_websocket_url_echo() -> None:
    """open_websocket_url parses ws:// URLs with a path and query."""
    async with running_server() as server:
        url = f"ws://127.0.0.1:{server.port}/chat?room=1"
        async with ws.open_websocket_url(url) as conn:
            assert conn.path == "/chat?room=1"
            await conn.send_message(b"bin")
            assert await conn.get_message() == b"bin"


async def test_open_websocket_url_rejects_bad_scheme() -> None:
    """A URL that is not ws/wss/ws+unix raises ValueError."""
    with pytest.raises(ValueError):
        async with ws.open_websocket_url("http://127.0.0.1:1/"):
            pass  # pragma: no cover


async def test_connect_websocket_needs_explicit_close() -> None:
    """connect_websocket returns an open connection whose reader runs in the given nursery."""
    async with running_server() as server:
        async with trio.open_nursery() as nursery:
            conn = await ws.connect_websocket(
                nursery, "127.0.0.1", server.port, "/", use_ssl=False
            )
            await conn.send_message("x")
            assert await conn.get_message() == "x"
            await conn.aclose()
        assert conn.closed is not None


async def test_connect_websocket_url() -> None:
    """connect_websocket_url works like connect_websocket with a URL."""
    async with running_server() as server:
        async with trio.open_nursery() as nursery:
            conn = await ws.connect_websocket_url(nursery, f"ws://127.0.0.1:{server.port}/u")
            assert conn.path == "/u"
            await conn.aclose()


async def test_subprotocol_negotiation() -> None:
    """The handler picks a proposed subprotocol; both sides see it."""
    seen: dict[str, object] = {}

    async def handler(request: ws.WebSocketRequest) -> None:
        seen["proposed"] = request.proposed_subprotocols
        conn = await request.accept(subprotocol=request.proposed_subprotocols[1])
        seen["server"] = conn.subprotocol
        await conn.get_message()

    async with running_server(handler) as server:
        async with ws.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, subprotocols=["chat", "superchat"]
        ) as conn:
            assert conn.subprotocol == "superchat"
            await conn.send_message("done")
    assert seen["proposed"] == ("chat", "superchat")
    assert seen["server"] == "superchat"


async def test_no_subprotocol_by_default() -> None:
    """Without subprotocols, both sides see None."""
    async with running_server() as server:
        async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
            assert conn.subprotocol is None


async def test_extra_headers_both_ways() -> None:
    """Client extra_headers reach request.headers; accept extra_headers reach handshake_headers."""
    seen: dict[str, object] = {}

    async def handler(request: ws.WebSocketRequest) -> None:
        seen["headers"] = request.headers
        conn = await request.accept(extra_headers=[(b"X-Server", b"yes")])
        seen["handshake_headers"] = conn.handshake_headers
        await conn.get_message()

    async with running_server(handler) as server:
        async with ws.open_websocket(
            "127.0.0.1",
            server.port,
            "/",
            use_ssl=False,
            extra_headers=[(b"X-Client", b"hello"), ("X-Str", "s")],
        ) as conn:
            # Bytes, lower-case names, and only the server's extra headers (as
            # trio-websocket), with ws's Server field.
            assert conn.handshake_headers == ((b"x-server", b"yes"), (b"server", ws_product()))
            await conn.send_message("done")
    headers = seen["headers"]
    assert isinstance(headers, list)
    assert (b"user-agent", ws_product()) in headers
    assert (b"x-client", b"hello") in headers
    assert (b"x-str", b"s") in headers
    handshake_headers = seen["handshake_headers"]
    assert isinstance(handshake_headers, tuple)
    assert (b"x-client", b"hello") in handshake_headers


def ws_product() -> bytes:
    """The default Server and User-Agent value: trio-ws/<version> Python/<x.y>."""
    return f"trio-ws/{ws.__version__} Python/{sys.version_info.major}.{sys.version_info.minor}".encode()


async def test_product_headers_can_be_set_and_removed() -> None:
    """server_header= and user_agent_header= replace or remove the defaults; extra_headers wins."""
    seen: list[list[tuple[bytes, bytes]]] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        seen.append(request.headers)
        conn = await request.accept()
        await conn.get_message()

    for server_header, expected in (("edge/1", b"edge/1"), (None, None)):
        async with running_server(handler, server_header=server_header) as server:
            for user_agent, extra, agent in (
                ("bot/2", [], b"bot/2"),
                (None, [], None),
                ("bot/2", [("User-Agent", "mine/3")], b"mine/3"),
            ):
                async with ws.open_websocket(
                    "127.0.0.1", server.port, "/", use_ssl=False,
                    user_agent_header=user_agent, extra_headers=extra,
                ) as conn:
                    assert dict(conn.handshake_headers).get(b"server") == expected
                    await conn.send_message("done")
                agents = [value for name, value in seen[-1] if name == b"user-agent"]
                assert agents == ([] if agent is None else [agent])


async def test_reject_gives_connection_rejected() -> None:
    """reject(status, extra_headers, body) reaches the client as ConnectionRejected."""

    async def handler(request: ws.WebSocketRequest) -> None:
        await request.reject(403, extra_headers=[(b"X-Why", b"nope")], body=b"go away")

    async with running_server(handler) as server:
        with pytest.raises(ws.ConnectionRejected) as info:
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
    rejected = info.value
    assert isinstance(rejected, ws.HandshakeError)
    assert rejected.status_code == 403
    assert rejected.body == b"go away"
    headers = [
        (bytes(name).lower(), bytes(value)) for name, value in rejected.headers
    ]
    assert (b"x-why", b"nope") in headers


async def test_handler_that_never_answers_is_rejected() -> None:
    """A handler that returns without accepting makes the client see a rejection."""

    async def handler(request: ws.WebSocketRequest) -> None:
        return None

    async with running_server(handler) as server:
        with pytest.raises(ws.ConnectionRejected) as info:
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
    assert info.value.status_code >= 400


async def test_body_exception_escapes_without_group() -> None:
    """An exception raised in the open_websocket body propagates bare, not in an ExceptionGroup."""
    async with running_server() as server:
        with pytest.raises(ValueError, match="from body"):
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                raise ValueError("from body")


async def test_connection_refused_is_handshake_error() -> None:
    """A refused TCP connection raises HandshakeError (caused by OSError) from open_websocket."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with trio.fail_after(10):
        with pytest.raises(ws.HandshakeError) as info:
            async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=False):
                pass  # pragma: no cover
    assert isinstance(info.value.__cause__, OSError)
    # trio-websocket's examples catch OSError: the same error is one too.
    error: BaseException = info.value
    assert isinstance(error, ws.ConnectFailed)
    assert issubclass(ws.ConnectFailed, OSError)
    assert error.errno == errno.ECONNREFUSED


async def test_connect_timeout(autojump_clock: trio.testing.MockClock) -> None:
    """A server that accepts TCP but never answers gives ConnectionTimeout."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:

        async def silent(stream: trio.SocketStream) -> None:
            await trio.sleep_forever()

        nursery.start_soon(trio.serve_listeners, silent, listeners)
        with trio.fail_after(100):
            with pytest.raises(ws.ConnectionTimeout) as info:
                async with ws.open_websocket(
                    "127.0.0.1", port, "/", use_ssl=False, connect_timeout=5
                ):
                    pass  # pragma: no cover
        assert isinstance(info.value, ws.HandshakeError)
        assert trio.current_time() >= 5
        nursery.cancel_scope.cancel()


async def _raw_accepting_peer(stream: trio.SocketStream) -> None:
    """Answer the opening handshake, then read forever without ever answering the close."""
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
    while await stream.receive_some():
        pass
    await trio.sleep_forever()


async def test_disconnect_timeout(autojump_clock: trio.testing.MockClock) -> None:
    """A peer that never answers the close makes open_websocket's exit raise DisconnectionTimeout."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, _raw_accepting_peer, listeners)
        with trio.fail_after(100):
            with pytest.raises(ws.DisconnectionTimeout) as info:
                async with ws.open_websocket(
                    "127.0.0.1",
                    port,
                    "/",
                    use_ssl=False,
                    connect_timeout=math.inf,
                    disconnect_timeout=7,
                ) as conn:
                    start = trio.current_time()
        assert isinstance(info.value, ws.HandshakeError)
        assert trio.current_time() - start >= 7
        assert conn.closed is not None
        nursery.cancel_scope.cancel()


async def test_compression_none_client() -> None:
    """compression=None on the client means no extensions over TCP; default negotiates deflate."""
    async with running_server() as server:
        async with ws.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, compression=None
        ) as conn:
            assert list(conn.extensions) == []
        async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as conn:
            assert len(conn.extensions) == 1
            big = b"0123456789" * 50_000
            await conn.send_message(big)
            assert await conn.get_message() == big


async def test_max_message_size_over_tcp() -> None:
    """A reply bigger than the client's max_message_size closes with 1009."""
    async with running_server() as server:
        async with ws.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, max_message_size=100
        ) as conn:
            await conn.send_message("z" * 101)
            with pytest.raises(ws.ConnectionClosed) as info:
                await conn.get_message()
            assert info.value.reason.code == 1009


@pytest.fixture
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for localhost and 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


async def test_tls_echo(ca: trustme.CA) -> None:
    """wss:// works with a client context that trusts the CA; endpoints are is_ssl."""
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with running_server(ssl_context=server_context(ca)) as server:
        async with ws.open_websocket_url(
            f"wss://localhost:{server.port}/secure", client_context
        ) as conn:
            await conn.send_message("secret")
            assert await conn.get_message() == "secret"
            assert isinstance(conn.remote, ws.Endpoint)
            assert conn.remote.is_ssl
            assert conn.remote.url == f"wss://127.0.0.1:{server.port}"
        async with ws.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=client_context
        ) as conn:
            await conn.send_message(b"ip")
            assert await conn.get_message() == b"ip"


async def test_tls_untrusted_certificate(ca: trustme.CA) -> None:
    """An untrusted server certificate raises HandshakeError caused by an ssl.SSLError."""
    other = trustme.CA()
    client_context = ssl.create_default_context()
    other.configure_trust(client_context)
    async with running_server(ssl_context=server_context(ca)) as server:
        with pytest.raises(ws.HandshakeError) as info:
            async with ws.open_websocket_url(
                f"wss://localhost:{server.port}/", client_context
            ):
                pass  # pragma: no cover
    chain: list[BaseException] = []
    exc: BaseException | None = info.value
    while exc is not None and len(chain) < 10:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(isinstance(e, ssl.SSLError) for e in chain), chain


async def test_unix_socket_url() -> None:
    """ws+unix:// URLs reach a WebSocketServer listening on a Unix socket."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        listener = await ws.transports.unix.open_unix_listener(path)
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                server = ws.WebSocketServer(echo_handler, [listener])
                started = await nursery.start(server.run)
                assert started is server
                url = "ws+unix://" + urllib.parse.quote(path, safe="") + "/chat"
                async with ws.open_websocket_url(url) as conn:
                    assert conn.path == "/chat"
                    await conn.send_message("unix")
                    assert await conn.get_message() == "unix"
                    assert isinstance(conn.remote, str)
                nursery.cancel_scope.cancel()


# -- trio-websocket's behaviour, kept (tests/differential/test_client.py compares) --


async def test_body_exception_keeps_its_cause_and_context() -> None:
    """A body's exception comes out as itself, with its own __cause__ and __context__."""
    async with running_server() as server:
        with pytest.raises(ValueError, match="caused") as caused:
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                raise ValueError("caused") from KeyError("the cause")
        with pytest.raises(ValueError, match="while handling") as handling:
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                try:
                    raise KeyError("first")
                except KeyError:
                    raise ValueError("while handling")  # noqa: B904 - the context is the point
    assert isinstance(caused.value.__cause__, KeyError)
    assert caused.value.__suppress_context__
    assert isinstance(handling.value.__context__, KeyError)
    assert not handling.value.__suppress_context__
    assert not isinstance(handling.value.__context__, BaseExceptionGroup)


async def test_exception_in_finally_while_cancelled_is_not_dropped() -> None:
    """An exception raised in finally: while the block is cancelled propagates (trio #1559)."""
    async with running_server() as server:
        with pytest.raises(ValueError, match="from finally") as info:
            with trio.CancelScope() as scope:
                async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                    try:
                        scope.cancel()
                        await trio.sleep_forever()
                    finally:
                        raise ValueError("from finally")  # noqa: B012 - the point of the test
    assert isinstance(info.value.__context__, trio.Cancelled)


async def test_use_ssl_is_checked_on_entry() -> None:
    """A use_ssl that is neither bool nor SSLContext raises TypeError when the block starts."""
    manager = ws.open_websocket("127.0.0.1", 1, "/", use_ssl=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`use_ssl` argument must be bool or ssl.SSLContext"):
        async with manager:
            pass  # pragma: no cover


@pytest.mark.parametrize(
    "url",
    [
        "ws://example.com",
        "wss://example.com",
        "ws://example.com:8080",
        "wss://example.com:443/",
        "ws://example.com:443/",
        "wss://example.com:80/",
        "ws://example.com/a/b?x=1&y=%20z",
        "ws://example.com?q",
        "ws://example.com/p?",
        "ws://example.com/p?#frag",
        "ws://example.com/p#frag",
        "WSS://Example.COM/Path",
        "ws://[::1]/",
        "wss://[2001:db8::1]:8443/v6?x",
        "ws://user:pass@example.com:81/auth",
    ],
)
def test_url_targets_match_trio_websocket(url: str) -> None:
    """Host, port, resource and TLS from a URL are what trio-websocket's _url_to_host gives."""
    trio_websocket = pytest.importorskip("trio_websocket._impl")
    host, port, resource, use_ssl = trio_websocket._url_to_host(url, None)
    target, ours = ws.client._url_target(url, None)
    assert (target.host, target.port, target.resource, ours) == (host, port, resource, use_ssl)


def test_connect_failed_says_the_error_once() -> None:
    """ConnectFailed keeps the errno and the text of the OSError, without repeating them."""
    refused = ws.client._connect_failed(
        OSError(errno.ECONNREFUSED, "could not connect to 127.0.0.1:1: Connection refused")
    )
    assert refused.errno == errno.ECONNREFUSED
    assert str(refused) == "[Errno 111] could not connect to 127.0.0.1:1: Connection refused"
    bare = ws.client._connect_failed(OSError("all attempts to connect to x:1 failed"))
    assert bare.errno is None
    assert str(bare) == "could not connect: all attempts to connect to x:1 failed"


async def _handshake_then(stream: trio.abc.Stream, *, answer: bool) -> None:
    """Accept the opening handshake; answer the close frame or not; never close TCP."""
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
    if answer:
        await stream.receive_some()
        await stream.send_all(b"\x88\x02\x03\xe8")
    await trio.sleep_forever()


@pytest.mark.parametrize("answer", [True, False])
async def test_disconnect_timeout_only_for_an_unanswered_close(
    autojump_clock: trio.testing.MockClock, answer: bool
) -> None:
    """A close answered by a peer that keeps TCP open is no DisconnectionTimeout; silence is."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    options = ws.ClientOptions(disconnect_timeout=7, compression=None)

    async def connect(nursery: trio.Nursery) -> ws.WebSocketConnection:
        connected = ws.transports.endpoint.Connected.from_stream(client_stream)
        return await ws.client.client_handshake(nursery, connected, "example.com", "/", options)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(_handshake_then, server_stream, answer=answer))
        with trio.fail_after(100):
            with pytest.raises(ws.DisconnectionTimeout) if not answer else nullcontext():
                async with ws.client.open_connection(connect, options) as conn:
                    start = trio.current_time()
        # Silence uses the whole disconnect_timeout; an answered close no more of it.
        waited = trio.current_time() - start
        assert waited <= 7 + 1e-6 if answer else waited == pytest.approx(7)
        assert conn.close_timed_out
        assert conn.closed is not None
        nursery.cancel_scope.cancel()


async def _plain_http(stream: trio.SocketStream) -> None:
    """A plain HTTP server: answer anything with 400 and close."""
    async with stream:
        await stream.receive_some()
        await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


async def _close_at_once(stream: trio.SocketStream) -> None:
    """Close the connection as soon as anything arrives."""
    async with stream:
        await stream.receive_some()


@pytest.mark.parametrize("peer", [_plain_http, _close_at_once])
async def test_wss_to_a_server_without_tls_says_so(ca: trustme.CA, peer: RawPeer) -> None:
    """wss:// to a server that answers in plain text or closes: the error suggests ws://."""
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, peer, listeners)
        with trio.fail_after(10), pytest.raises(ws.ConnectFailed) as info:
            async with ws.open_websocket_url(f"wss://127.0.0.1:{port}/", client_context):
                pass  # pragma: no cover
        nursery.cancel_scope.cancel()
    assert isinstance(info.value, ws.HandshakeError)
    assert str(info.value).endswith("(the server does not speak TLS? use ws://)")
    assert isinstance(info.value.__cause__, OSError)


async def test_ws_to_a_tls_server_says_so(ca: trustme.CA) -> None:
    """ws:// to a TLS port fails at once, and the error suggests wss://."""
    async with running_server(ssl_context=server_context(ca)) as server:
        with trio.fail_after(10), pytest.raises(ws.InvalidResponse) as info:
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
    assert isinstance(info.value, ws.HandshakeError)
    assert "(the server speaks TLS? use wss://)" in str(info.value)


async def test_untrusted_certificate_gets_no_tls_hint(ca: trustme.CA) -> None:
    """A TLS error from a real TLS server is reported as it is, without the plain-server hint."""
    client_context = ssl.create_default_context()
    trustme.CA().configure_trust(client_context)
    async with running_server(ssl_context=server_context(ca)) as server:
        with pytest.raises(ws.ConnectFailed) as info:
            async with ws.open_websocket_url(f"wss://127.0.0.1:{server.port}/", client_context):
                pass  # pragma: no cover
    assert "speak TLS" not in str(info.value)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
