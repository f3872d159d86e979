"""The server API, run on trio-websocket and on ws: serve_websocket, WebSocketServer,
WebSocketRequest, wrap_server_stream, and the server's side of a connection.

Handlers are annotated with ws's types, which describe the API the two
libraries share; on trio-websocket's run they receive its objects.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial

import trio
import trio.testing
import trustme

import ws
from tests.differential.harness import Lib, Observations, scenario
from tests.differential.rawpeer import read_head

Handler = Callable[[ws.WebSocketRequest], Awaitable[None]]

#: A complete opening request with a fixed key, as a browser would send it.
RAW_REQUEST = (
    b"GET /chat/room?user=ann&x=1 HTTP/1.1\r\n"
    b"Host: example.com:8000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Origin: http://example.com\r\n"
    b"X-Custom:  Mixed Case Value \r\n"
    b"\r\n"
)
#: The request headers wsproto keeps to itself, so trio-websocket's WebSocketRequest.headers lacks them.
WSPROTO_DROPS = frozenset({b"host", b"sec-websocket-protocol", b"sec-websocket-extensions"})
#: The Sec-WebSocket-Accept for RAW_REQUEST's key (RFC 6455 section 1.3).
RAW_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def address_text(address: object, port: int | None = None) -> str:
    """An Endpoint's or a str's text, with ``port`` (which varies by run) as PORT."""
    text = repr(address)
    if port is not None:
        text = text.replace(f"port={port}", "port=PORT")
    # Memory streams and listeners show object ids.
    return re.sub(r"0x[0-9a-fA-F]+", "0x?", text)


def same_address(a: object, b: object) -> bool:
    """Whether two Endpoints (which trio-websocket does not compare) or strs are the same."""
    return type(a) is type(b) and repr(a) == repr(b)


class Later:
    """Observations made in a server task, recorded once the scenario is done.

    The client's and the server's tasks run in an order each library may
    choose; recording the server's observations at the end, sorted by key,
    keeps the list of observations the same for both.
    """

    def __init__(self) -> None:
        self.items: dict[str, object] = {}

    def __setitem__(self, key: str, value: object) -> None:
        self.items[key] = value

    @contextlib.contextmanager
    def raises(self, key: str) -> Iterator[None]:
        """Keep the exception raised in the block (or that there was none) under ``key``."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - recording it is the point
            self.items[key] = exc
        else:
            self.items[key] = "no exception"

    def record(self, seen: Observations) -> None:
        """Record everything kept, in the order of the keys."""
        for key in sorted(self.items):
            seen[key] = self.items[key]


class ChannelListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener that hands out the streams put into it: no socket, no port."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](math.inf)

    def connect(self) -> trio.abc.Stream:
        """Make a connection: queue the server's end, return the client's."""
        client, server = trio.testing.memory_stream_pair()
        self._send.send_nowait(server)
        return client

    async def accept(self) -> trio.abc.Stream:
        """The next connection's server end."""
        return await self._receive.receive()

    async def aclose(self) -> None:
        """Stop accepting."""
        await self._receive.aclose()

    def __repr__(self) -> str:
        return "<ChannelListener>"





def head_summary(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The status line and the header fields (names in lower case) of a response head."""
    head = data.split(b"\r\n\r\n", 1)[0]
    status, *lines = head.split(b"\r\n")
    fields = []
    for line in lines:
        name, _, value = line.partition(b":")
        fields.append((name.strip().lower(), value.strip()))
    return status, fields


@contextlib.asynccontextmanager
async def tcp_client(
    lib: Lib, port: int, resource: str, **kwargs: object
) -> AsyncIterator[ws.WebSocketConnection]:
    """A client over a TCP stream the test owns and closes.

    trio-websocket's client does not close its socket after a close the
    server started (a ResourceWarning); a stream of our own avoids that.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream, trio.open_nursery() as nursery:
        connection = await lib.mod.wrap_client_stream(nursery, stream, "127.0.0.1", resource, **kwargs)
        yield connection
        await connection.aclose()
        nursery.cancel_scope.cancel()


def echo(lib: Lib) -> Handler:
    """A handler that accepts and echoes messages until the client closes."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        while True:
            try:
                message = await connection.get_message()
            except lib.mod.ConnectionClosed:
                return
            await connection.send_message(message)

    return handler


@scenario(
    uses=[
        "serve_websocket",
        "WebSocketServer.port",
        "WebSocketServer.listeners",
        "open_websocket",
        "Endpoint",
    ]
)
async def test_serve_websocket_port_and_listeners(lib: Lib, seen: Observations) -> None:
    """nursery.start(serve_websocket, ...) gives the server, with its port and listeners."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(lib.mod.serve_websocket, echo(lib), "127.0.0.1", 0, None)
        seen["started with"] = type(server).__name__
        port = server.port
        seen["port"] = (type(port).__name__, port > 0)
        listeners = server.listeners
        seen["listeners"] = [
            (type(listener).__name__, address_text(listener, port)) for listener in listeners
        ]
        seen["listener port is port"] = [listener.port == port for listener in listeners]
        seen["listener url"] = [listener.url.replace(str(port), "PORT") for listener in listeners]
        seen["listeners is a new list"] = server.listeners is not listeners
        async with lib.mod.open_websocket("127.0.0.1", port, "/", use_ssl=False) as client:
            await client.send_message("hello")
            seen["echo"] = await client.get_message()
            seen["client remote is listener"] = address_text(client.remote, port)
        nursery.cancel_scope.cancel()


@scenario(uses=["serve_websocket", "open_websocket"])
async def test_serve_websocket_handler_nursery(lib: Lib, seen: Observations) -> None:
    """With handler_nursery=, each handler runs as a child of that nursery."""
    parents: list[bool] = []

    async with trio.open_nursery() as handler_nursery, trio.open_nursery() as nursery:

        async def handler(request: ws.WebSocketRequest) -> None:
            parents.append(trio.lowlevel.current_task().parent_nursery is handler_nursery)
            await echo(lib)(request)

        server = await nursery.start(
            partial(lib.mod.serve_websocket, handler, "127.0.0.1", 0, None, handler_nursery=handler_nursery)
        )
        for text in ("one", "two"):
            async with lib.mod.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as client:
                await client.send_message(text)
                seen[f"echo {text}"] = await client.get_message()
        seen["handlers in handler_nursery"] = parents
        nursery.cancel_scope.cancel()
        handler_nursery.cancel_scope.cancel()


@scenario(
    uses=[
        "WebSocketServer",
        "WebSocketServer.run",
        "WebSocketServer.port",
        "WebSocketServer.listeners",
        "wrap_client_stream",
        "ConnectionClosed",
    ]
)
async def test_websocket_server_built_directly(lib: Lib, seen: Observations) -> None:
    """WebSocketServer over trio.open_tcp_listeners, with every setting, run with nursery.start."""
    async with trio.open_nursery() as handler_nursery, trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        server = lib.mod.WebSocketServer(
            echo(lib),
            listeners,
            handler_nursery=handler_nursery,
            message_queue_size=2,
            max_message_size=100,
            receive_buffer_size=1024,
            connect_timeout=20,
            disconnect_timeout=20,
        )
        seen["started with the server"] = await nursery.start(server.run) is server
        port = server.port
        seen["port is the listener's"] = port == listeners[0].socket.getsockname()[1]
        seen["listeners"] = [address_text(listener, port) for listener in server.listeners]
        async with tcp_client(lib, port, "/") as client:
            await client.send_message("x" * 100)
            seen["echo of max size"] = len(await client.get_message())
            await client.send_message("x" * 101)
            try:
                await client.get_message()
            except lib.mod.ConnectionClosed as exc:
                # The reason's text is each library's own wording.
                seen["over max_message_size"] = ("ConnectionClosed", exc.reason.code, exc.reason.name)
            closed = client.closed
            assert closed is not None
            seen["closed"] = closed.code
        nursery.cancel_scope.cancel()
        handler_nursery.cancel_scope.cancel()


@scenario(uses=["WebSocketServer", "WebSocketServer.port", "WebSocketServer.listeners"])
async def test_websocket_server_listener_counts(lib: Lib, seen: Observations) -> None:
    """No listeners is a ValueError; port with two listeners is a RuntimeError."""
    with seen.raises("no listeners"):
        lib.mod.WebSocketServer(echo(lib), [])
    listeners = [
        *await trio.open_tcp_listeners(0, host="127.0.0.1"),
        *await trio.open_tcp_listeners(0, host="127.0.0.1"),
    ]
    try:
        server = lib.mod.WebSocketServer(echo(lib), listeners)
        ports = [listener.socket.getsockname()[1] for listener in listeners]
        with seen.raises("port of two listeners"):
            server.port  # noqa: B018 - the property raises
        seen["two listeners"] = [
            address_text(address, port) for address, port in zip(server.listeners, ports, strict=True)
        ]
    finally:
        for listener in listeners:
            await listener.aclose()


@scenario(
    uses=[
        "WebSocketServer",
        "WebSocketServer.run",
        "WebSocketServer.port",
        "WebSocketServer.listeners",
        "WebSocketRequest.local",
        "WebSocketRequest.remote",
        "wrap_client_stream",
    ]
)
async def test_websocket_server_on_a_listener_without_socket(lib: Lib, seen: Observations) -> None:
    """A listener that is not a socket: listeners holds its repr(), port raises, it serves."""
    listener = ChannelListener()
    ends: list[object] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        ends.extend([request.local, request.remote])
        await echo(lib)(request)

    async with trio.open_nursery() as nursery:
        server = lib.mod.WebSocketServer(handler, [listener])
        seen["listeners"] = server.listeners
        with seen.raises("port"):
            server.port  # noqa: B018 - the property raises
        await nursery.start(server.run)
        client = await lib.mod.wrap_client_stream(nursery, listener.connect(), "localhost", "/mem")
        await client.send_message("over memory")
        seen["echo"] = await client.get_message()
        seen["request ends"] = [address_text(end) for end in ends]
        seen["client ends"] = [address_text(client.local), address_text(client.remote)]
        await client.aclose()
        seen["client closed"] = client.closed
        nursery.cancel_scope.cancel()


@scenario(
    uses=[
        "WebSocketRequest",
        "WebSocketRequest.headers",
        "WebSocketRequest.path",
        "WebSocketRequest.proposed_subprotocols",
        "WebSocketRequest.accept",
        "WebSocketServer",
        "WebSocketServer.run",
    ],
    diverges={
        "host, protocol and extensions headers": "request-headers-complete",
        "Server field": "product-headers",
    },
)
async def test_request_as_the_handler_sees_it(lib: Lib, seen: Observations) -> None:
    """A browser-like request: its headers, path and subprotocols, and the 101 the server sends."""
    listener = ChannelListener()
    later = Later()

    async def handler(request: ws.WebSocketRequest) -> None:
        headers = request.headers
        later["headers type"] = (type(headers).__name__, {type(item).__name__ for item in headers})
        later["headers"] = [(name, value) for name, value in headers if name not in WSPROTO_DROPS]
        later["host, protocol and extensions headers"] = [
            (name, value) for name, value in headers if name in WSPROTO_DROPS
        ]
        later["path"] = request.path
        later["proposed_subprotocols"] = request.proposed_subprotocols
        connection = await request.accept(
            subprotocol="superchat", extra_headers=[(b"X-Server", b"yes"), (b"Set-Cookie", b"a=1")]
        )
        later["accepted subprotocol"] = connection.subprotocol
        await connection.get_message()

    async with trio.open_nursery() as nursery:
        await nursery.start(lib.mod.WebSocketServer(handler, [listener]).run)
        stream = listener.connect()
        await stream.send_all(RAW_REQUEST)
        status, fields = head_summary(await read_head(stream))
        seen["status"] = status
        seen["response fields"] = sorted(field for field in fields if field[0] != b"server")
        seen["Server field"] = dict(fields).get(b"server")
        assert (b"sec-websocket-accept", RAW_ACCEPT) in fields
        await stream.aclose()
        nursery.cancel_scope.cancel()
    later.record(seen)


@scenario(
    uses=[
        "serve_websocket",
        "wrap_client_stream",
        "WebSocketRequest.accept",
        "WebSocketRequest.headers",
        "WebSocketRequest.local",
        "WebSocketRequest.remote",
        "WebSocketConnection.is_server",
        "WebSocketConnection.is_client",
        "WebSocketConnection.path",
        "WebSocketConnection.subprotocol",
        "WebSocketConnection.local",
        "WebSocketConnection.remote",
        "WebSocketConnection.handshake_headers",
        "WebSocketConnection.closed",
    ],
    diverges={
        "server handshake_headers": "server-handshake-headers",
        "request sec-websocket-extensions": "compression-on-by-default",
    },
)
async def test_accepted_connection_on_both_sides(lib: Lib, seen: Observations) -> None:
    """accept(subprotocol=, extra_headers=) as the client sees it; the server connection's properties."""
    request_ends: list[object] = []
    request_headers: dict[bytes, bytes] = {}
    connections: list[ws.WebSocketConnection] = []
    accepted = trio.Event()
    done = trio.Event()

    async def handler(request: ws.WebSocketRequest) -> None:
        request_ends.extend([request.local, request.remote])
        request_headers.update(request.headers)
        connections.append(
            await request.accept(subprotocol="two", extra_headers=[(b"X-Server", b"yes")])
        )
        accepted.set()
        await done.wait()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(lib.mod.serve_websocket, handler, "127.0.0.1", 0, None)
        async with tcp_client(
            lib,
            server.port,
            "/room?id=7",
            subprotocols=["one", "two"],
            extra_headers=[(b"X-Client", b"hi")],
        ) as client:
            seen["client subprotocol"] = client.subprotocol
            seen["client handshake_headers has x-server"] = (b"x-server", b"yes") in client.handshake_headers
            seen["client handshake_headers types"] = {
                (type(name).__name__, type(value).__name__) for name, value in client.handshake_headers
            }
            seen["client handshake_headers lower case"] = all(
                name == name.lower() for name, _ in client.handshake_headers
            )
            await accepted.wait()
            local, remote = request_ends
            seen["request local is client remote"] = same_address(local, client.remote)
            seen["request remote is client local"] = same_address(remote, client.local)
            seen["request x-client"] = request_headers.get(b"x-client")
            offer = request_headers.get(b"sec-websocket-extensions")
            seen["request sec-websocket-extensions"] = None if offer is None else offer.decode()
            (connection,) = connections
            seen["server is_server, is_client"] = (connection.is_server, connection.is_client)
            seen["server path"] = connection.path
            seen["server subprotocol"] = connection.subprotocol
            seen["server local is client remote"] = same_address(connection.local, client.remote)
            seen["server remote is client local"] = same_address(connection.remote, client.local)
            seen["server str"] = re.sub(r"\d+", "N", str(connection))
            seen["server closed while open"] = connection.closed
            server_headers = connection.handshake_headers
            seen["server handshake_headers"] = (
                "the request's headers" if (b"x-client", b"hi") in server_headers else server_headers
            )
            done.set()  # the handler returns, which closes the connection
            with seen.raises("client after the handler returned"):
                await client.get_message()
        nursery.cancel_scope.cancel()


@scenario(
    uses=["WebSocketRequest.reject", "WebSocketServer", "WebSocketServer.run"],
    diverges={"after the response": "rejection-closes-connection", "Server field": "product-headers"},
    autojump=True,
)
async def test_reject_response(lib: Lib, seen: Observations) -> None:
    """reject(status, extra_headers=, body=) sends this response; then ws closes the connection."""
    listener = ChannelListener()

    async def handler(request: ws.WebSocketRequest) -> None:
        await request.reject(403, extra_headers=[(b"X-Why", b"closed")], body=b"go away")

    async with trio.open_nursery() as nursery:
        await nursery.start(lib.mod.WebSocketServer(handler, [listener]).run)
        stream = listener.connect()
        await stream.send_all(RAW_REQUEST)
        response = await read_head(stream)
        status, fields = head_summary(response)
        version, code, phrase = status.split(b" ", 2)
        seen["status"] = (version, code)
        seen["fields other than Connection"] = sorted(
            (name, value) for name, value in fields if name not in (b"connection", b"server")
        )
        seen["Server field"] = dict(fields).get(b"server")
        body = response.split(b"\r\n\r\n", 1)[1]
        while len(body) < int(dict(fields)[b"content-length"]):
            body += await stream.receive_some()
        seen["body"] = body
        # trio-websocket leaves the connection open after the response, for ever.
        closed = False
        with trio.move_on_after(100):
            closed = await stream.receive_some() == b""
        seen["after the response"] = (dict(fields).get(b"connection"), phrase, closed)
        nursery.cancel_scope.cancel()


async def record_misuse(later: Later, key: str, call: Awaitable[object]) -> None:
    """Record the class name (and built-in bases) of what ``call`` raises, its message apart."""
    try:
        await call
    except Exception as exc:  # noqa: BLE001 - recording it is the point
        later[key] = (
            type(exc).__name__,
            [kind.__name__ for kind in (ValueError, RuntimeError, TypeError) if isinstance(exc, kind)],
        )
        later[f"{key} message"] = str(exc)
    else:
        later[key] = "no exception"


@scenario(
    uses=[
        "WebSocketRequest.reject",
        "WebSocketRequest.accept",
        "WebSocketServer",
        "WebSocketServer.run",
        "wrap_client_stream",
        "ConnectionRejected",
        "ConnectionRejected.status_code",
        "ConnectionRejected.headers",
        "ConnectionRejected.body",
    ],
    diverges={
        "reject twice message": "exception-messages",
        "accept after reject message": "exception-messages",
        "reject with 101 message": "exception-messages",
    },
    autojump=True,
)
async def test_reject_seen_by_the_client(lib: Lib, seen: Observations) -> None:
    """What a client of the same library raises for a rejection; answering a request twice."""
    listener = ChannelListener()
    later = Later()
    handled = trio.Event()

    async def handler(request: ws.WebSocketRequest) -> None:
        if request.path == "/empty":
            await request.reject(404)
            await record_misuse(later, "reject twice", request.reject(404))
            await record_misuse(later, "accept after reject", request.accept())
            handled.set()
        elif request.path == "/101":
            await record_misuse(later, "reject with 101", request.reject(101))
            await request.reject(400)
        else:
            await request.reject(403, extra_headers=[(b"X-Why", b"closed")], body=b"go away")

    async with trio.open_nursery() as nursery:
        await nursery.start(lib.mod.WebSocketServer(handler, [listener]).run)
        for path in ("/body", "/101", "/empty"):
            # trio-websocket raises it in the nursery, ws from wrap_client_stream (in the nursery too).
            try:
                async with trio.open_nursery() as client_nursery:
                    await lib.mod.wrap_client_stream(client_nursery, listener.connect(), "localhost", path)
            except* lib.mod.ConnectionRejected as group:
                (exc,) = leaves(group)
                assert isinstance(exc, lib.mod.ConnectionRejected)
                # ws's response also has "Connection: close": see test_reject_response.
                seen[f"{path} rejected"] = (
                    exc.status_code,
                    sorted(
                        (name.lower(), value)
                        for name, value in exc.headers
                        if name.lower() not in (b"connection", b"server")
                    ),
                    exc.body,
                )
        await handled.wait()
        nursery.cancel_scope.cancel()
    later.record(seen)


@scenario(
    uses=["WebSocketRequest.accept", "WebSocketRequest.reject", "serve_websocket", "open_websocket"],
    diverges={
        "accept an unproposed subprotocol message": "exception-messages",
        "accept twice message": "exception-messages",
        "reject after accept message": "exception-messages",
    },
)
async def test_accept_misuse(lib: Lib, seen: Observations) -> None:
    """accept() with a subprotocol the client did not propose, then twice; reject() after accept()."""
    done = trio.Event()
    later = Later()

    async def handler(request: ws.WebSocketRequest) -> None:
        await record_misuse(
            later, "accept an unproposed subprotocol", request.accept(subprotocol="other")
        )
        connection = await request.accept(subprotocol="one")
        await record_misuse(later, "accept twice", request.accept())
        await record_misuse(later, "reject after accept", request.reject(400))
        await connection.send_message("still open")
        await done.wait()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(lib.mod.serve_websocket, handler, "127.0.0.1", 0, None)
        async with lib.mod.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, subprotocols=["one"]
        ) as client:
            seen["client subprotocol"] = client.subprotocol
            seen["message"] = await client.get_message()
            done.set()
        nursery.cancel_scope.cancel()
    later.record(seen)


@scenario(uses=["serve_websocket", "open_websocket", "WebSocketConnection.get_message"])
async def test_handler_nursery_task_count(lib: Lib, seen: Observations) -> None:
    """handler_nursery holds one task per open connection (its handler), and nothing else."""
    waiting = trio.Semaphore(0)

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        waiting.release()
        try:
            await connection.get_message()
        except lib.mod.ConnectionClosed:
            pass

    async with trio.open_nursery() as handler_nursery, trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(lib.mod.serve_websocket, handler, "127.0.0.1", 0, None, handler_nursery=handler_nursery)
        )
        seen["serving"] = (len(handler_nursery.child_tasks), len(nursery.child_tasks))
        async with lib.mod.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
            await waiting.acquire()
            seen["one connection"] = len(handler_nursery.child_tasks)
            async with lib.mod.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                await waiting.acquire()
                seen["two connections"] = len(handler_nursery.child_tasks)
        while handler_nursery.child_tasks:
            await trio.sleep(0.001)
        seen["after the clients closed"] = (len(handler_nursery.child_tasks), len(nursery.child_tasks))
        nursery.cancel_scope.cancel()


@scenario(
    uses=["WebSocketServer", "WebSocketServer.run", "wrap_client_stream", "ConnectionClosed"],
    diverges={
        "client get_message": "handler-errors-are-logged",
        "close code": "handler-errors-are-logged",
        "server stopped by the error": "handler-errors-are-logged",
        "second client": "handler-errors-are-logged",
    },
    autojump=True,
)
async def test_handler_error(lib: Lib, seen: Observations) -> None:
    """A handler that raises: trio-websocket stops serving; ws logs it, closes with 1011, serves on."""
    listener = ChannelListener()
    stopped = trio.Event()
    server_errors: list[str] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        while True:
            message = await connection.get_message()
            if message == "boom":
                raise ValueError("handler bug")
            await connection.send_message(message)

    async def serve(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        server = lib.mod.WebSocketServer(handler, [listener])
        try:
            await server.run(task_status=task_status)
        except* ValueError as group:
            server_errors.extend(str(error) for error in leaves(group))
        stopped.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(serve)
        client = await lib.mod.wrap_client_stream(nursery, listener.connect(), "localhost", "/")
        await client.send_message("boom")
        with seen.raises("client get_message"):
            await client.get_message()
        seen["close code"] = client.closed.code
        with trio.move_on_after(100):
            await stopped.wait()
        seen["server stopped by the error"] = (stopped.is_set(), server_errors)
        with seen.raises("second client"):
            second = await lib.mod.wrap_client_stream(nursery, listener.connect(), "localhost", "/")
            await second.send_message("hello")
            assert await second.get_message() == "hello"
            await second.aclose()
        nursery.cancel_scope.cancel()


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions in ``group`` and in the groups it holds."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


@scenario(
    uses=[
        "wrap_server_stream",
        "wrap_client_stream",
        "WebSocketRequest.path",
        "WebSocketRequest.accept",
        "WebSocketConnection.send_message",
        "WebSocketConnection.get_message",
        "WebSocketConnection.aclose",
    ],
    autojump=True,
)
async def test_wrap_server_stream(lib: Lib, seen: Observations) -> None:
    """wrap_server_stream and wrap_client_stream over a memory stream pair: request, accept, round trip."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    later = Later()
    async with trio.open_nursery() as nursery:

        async def serve() -> None:
            request = await lib.mod.wrap_server_stream(nursery, server_stream, 4, 1000, 512)
            later["request path"] = request.path
            later["request type"] = type(request).__name__
            connection = await request.accept(subprotocol="proto")
            later["server path"] = connection.path
            message = await connection.get_message()
            await connection.send_message(message * 2)
            with later.raises("server after the client closed"):
                await connection.get_message()
            later["server closed"] = connection.closed

        nursery.start_soon(serve)
        client = await lib.mod.wrap_client_stream(
            nursery, client_stream, "localhost", "/over/memory?q=1", subprotocols=["proto"]
        )
        seen["client subprotocol"] = client.subprotocol
        await client.send_message("ab")
        seen["round trip"] = await client.get_message()
        await client.aclose()
        seen["client closed"] = client.closed
    later.record(seen)


@scenario(uses=["WebSocketServer", "WebSocketServer.run", "WebSocketRequest.accept"], autojump=True)
async def test_server_timeouts(lib: Lib, seen: Observations) -> None:
    """connect_timeout drops a client that sends no request; disconnect_timeout one that never closes."""
    listener = ChannelListener()
    handled: list[str] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        handled.append(request.path)
        await request.accept()  # and return: the server closes the connection

    async def until_eof(stream: trio.abc.Stream) -> tuple[bytes, float]:
        start = trio.current_time()
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
        return data, trio.current_time() - start

    async with trio.open_nursery() as nursery:
        server = lib.mod.WebSocketServer(handler, [listener], connect_timeout=7, disconnect_timeout=11)
        await nursery.start(server.run)

        silent = listener.connect()
        data, waited = await until_eof(silent)
        seen["silent client"] = (data, 7 <= waited < 8)

        partial_request = listener.connect()
        await partial_request.send_all(RAW_REQUEST[:40])
        data, waited = await until_eof(partial_request)
        seen["half a request"] = (data, 7 <= waited < 8)
        seen["handlers run"] = list(handled)

        deaf = listener.connect()
        await deaf.send_all(RAW_REQUEST)
        head = await read_head(deaf)
        status, _ = head_summary(head)
        rest, waited = await until_eof(deaf)
        # The close frame (1000, unmasked), then the end of the stream after disconnect_timeout.
        seen["client that never answers the close"] = (
            status,
            head.split(b"\r\n\r\n", 1)[1] + rest,
            11 <= waited < 12,
        )
        nursery.cancel_scope.cancel()


@scenario(
    uses=[
        "serve_websocket",
        "open_websocket",
        "WebSocketServer.listeners",
        "WebSocketRequest.local",
        "WebSocketRequest.remote",
        "Endpoint.is_ssl",
        "Endpoint.url",
    ]
)
async def test_serve_websocket_over_tls(lib: Lib, seen: Observations) -> None:
    """serve_websocket with an ssl_context: wss:// listeners and TLS endpoints on both sides."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    ends: list[object] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        ends.extend([request.local, request.remote])
        await echo(lib)(request)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(lib.mod.serve_websocket, handler, "127.0.0.1", 0, server_context)
        port = server.port
        seen["listeners"] = [
            (address_text(listener, port), listener.url.replace(str(port), "PORT"))
            for listener in server.listeners
        ]
        async with lib.mod.open_websocket("127.0.0.1", port, "/tls", use_ssl=client_context) as client:
            await client.send_message("secret")
            seen["echo"] = await client.get_message()
            seen["client ends are TLS"] = (client.local.is_ssl, client.remote.is_ssl)
        seen["request ends are TLS"] = ["is_ssl=True" in repr(end) for end in ends]
        seen["request local is the listener"] = address_text(ends[0], port)
        nursery.cancel_scope.cancel()
