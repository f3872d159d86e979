"""Open connections, run on trio-websocket and on ws: messages, limits, pings,
closing, properties, and peers that vanish.

Each library talks to itself over loopback (its own ``serve_websocket`` and
``open_websocket``), or to a raw peer written here, the same for both, that
speaks just enough WebSocket to play a peer that misbehaves. Connections
are annotated with ws's types, which describe the API the two libraries
share; on trio-websocket's run they are its objects.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial

import trio
import trio.testing

import ws
from tests.differential.harness import Lib, Observations, scenario
from tests.differential.rawpeer import accept_key, read_head

Connection = ws.WebSocketConnection
Pair = tuple[Connection, Connection]

_NO_OPTIONS: Mapping[str, object] = {}


# -- helpers ----------------------------------------------------------------------


@asynccontextmanager
async def served(
    lib: Lib,
    *,
    server: Mapping[str, object] = _NO_OPTIONS,
    subprotocol: str | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> AsyncIterator[tuple[int, trio.MemoryReceiveChannel[Connection], trio.Event]]:
    """Serve on 127.0.0.1; yield the port, a channel of the accepted connections, and ``release``.

    Each handler keeps its connection open until ``release`` is set (at
    the latest when the block ends); then it returns, which closes it.
    """
    release = trio.Event()
    send, receive = trio.open_memory_channel[Connection](10)

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept(subprotocol=subprotocol, extra_headers=extra_headers)
        await send.send(connection)
        await release.wait()

    async with trio.open_nursery() as nursery:
        listener = await nursery.start(
            partial(lib.mod.serve_websocket, handler, "127.0.0.1", 0, None, **server)
        )
        yield listener.port, receive, release
        release.set()
        nursery.cancel_scope.cancel()


def raw_stream(lib: Lib, connection: Connection) -> trio.abc.Stream:
    """The connection's stream: ws's ``stream``, trio-websocket's private ``_stream``."""
    stream = connection.stream if lib.is_ws else getattr(connection, "_stream")
    assert isinstance(stream, trio.abc.Stream)
    return stream


def socket_closed(lib: Lib, connection: Connection) -> bool:
    """Whether the connection's TCP socket is closed."""
    stream = raw_stream(lib, connection)
    assert isinstance(stream, trio.SocketStream)
    return stream.socket.fileno() == -1


async def close_leftover(lib: Lib, connection: Connection) -> None:
    """Close the socket that trio-websocket leaves open when the server closed first.

    Without this the garbage collector closes it later, with a
    ResourceWarning (an error under this project's pytest settings).
    ``test_server_closes`` records the difference.
    """
    await raw_stream(lib, connection).aclose()


@asynccontextmanager
async def connected(
    lib: Lib,
    path: str = "/",
    *,
    client: Mapping[str, object] = _NO_OPTIONS,
    server: Mapping[str, object] = _NO_OPTIONS,
    subprotocol: str | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    after: Callable[[Connection], None] | None = None,
) -> AsyncIterator[Pair]:
    """A client (open_websocket) and the server's end of its connection.

    At the end, the server's handler returns (which closes its end) while
    the client leaves open_websocket (which closes the client's end); then
    ``after(client)`` runs, if given.
    """
    async with served(
        lib, server=server, subprotocol=subprotocol, extra_headers=extra_headers
    ) as (port, accepted, release):
        async with lib.mod.open_websocket("127.0.0.1", port, path, use_ssl=False, **client) as near:
            far = await accepted.receive()
            yield near, far
            release.set()
        if after is not None:
            after(near)
        await close_leftover(lib, near)


async def record(
    lib: Lib, seen: Observations, key: str, call: Callable[[], Awaitable[object]]
) -> None:
    """Record what ``call()`` returns or raises under ``key``, and a ConnectionClosed's reason."""
    reason: object = None
    try:
        result = await call()
    except Exception as exc:  # noqa: BLE001 - recording it is the point
        seen[key] = exc
        if isinstance(exc, lib.mod.ConnectionClosed):
            reason = exc.reason
    else:
        seen[key] = ("returned", result)
    seen[f"{key}: reason"] = reason


async def record_closed_calls(
    lib: Lib, seen: Observations, side: str, connection: Connection
) -> None:
    """Record what each call raises on a closed connection, and ``closed``.

    get_message comes first: it also waits for the close to arrive.
    """
    await record(lib, seen, f"{side} get_message", connection.get_message)
    seen[f"{side} closed"] = connection.closed
    await record(lib, seen, f"{side} send_message", partial(connection.send_message, "late"))
    await record(lib, seen, f"{side} ping", connection.ping)
    await record(lib, seen, f"{side} pong", connection.pong)
    await record(lib, seen, f"{side} aclose again", connection.aclose)
    seen[f"{side} closed after all"] = connection.closed


async def answer_upgrade(stream: trio.abc.Stream) -> None:
    """Play the server's opening handshake: read the request, accept it (no extension)."""
    request = await read_head(stream, complete=True)
    match = re.search(rb"(?im)^sec-websocket-key:[ \t]*(\S+)[ \t]*\r$", request)
    assert match is not None, request
    await stream.send_all(
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(match.group(1)) + b"\r\n\r\n"
    )


async def raw_client(port: int, path: str = "/") -> trio.SocketStream:
    """Connect and play the client's opening handshake; return the open stream."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    key = base64.b64encode(b"0123456789abcdef")
    await stream.send_all(
        b"GET " + path.encode() + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    response = await read_head(stream, complete=True)
    assert response.startswith(b"HTTP/1.1 101 "), response
    assert accept_key(key) in response, response
    return stream


def text_frame(text: str, *, masked: bool) -> bytes:
    """One unfragmented text frame of fewer than 126 bytes, masked with a zero key if asked."""
    payload = text.encode()
    assert len(payload) < 126
    if masked:  # a zero mask key leaves the payload as it is
        return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload
    return bytes([0x81, len(payload)]) + payload


# -- 1. messages ------------------------------------------------------------------


@scenario(
    uses=[
        "open_websocket",
        "serve_websocket",
        "WebSocketRequest.accept",
        "WebSocketConnection",
        "WebSocketConnection.send_message",
        "WebSocketConnection.get_message",
    ]
)
async def test_round_trips(lib: Lib, seen: Observations) -> None:
    """Text stays str and binary bytes, empty ones included, both ways and in order."""
    messages: list[str | bytes] = [
        "hello",
        b"\x00\x01\xff",
        "",
        b"",
        "caf\u00e9 \u2603 \U0001f600",
        "x" * 70_000,
        bytes(range(256)) * 300,
    ]
    async with connected(lib) as (client, server):
        seen["classes"] = [
            isinstance(connection, lib.mod.WebSocketConnection) for connection in (client, server)
        ]
        # Many small messages too, faster than they are read (the reader is pushed back).
        burst = [f"m{i}" if i % 2 else str(i).encode() for i in range(500)]

        async def send_all(sender: Connection, sent: list[str | bytes]) -> None:
            for message in sent:
                await sender.send_message(message)

        for sender, receiver, way in ((client, server, "up"), (server, client, "down")):
            for name, sent in (("", messages), ("burst ", burst)):
                # Sent by another task: the big ones need the receiver to read.
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(send_all, sender, sent)
                    received = [await receiver.get_message() for _ in sent]
                seen[f"{way}: {name}same messages, in order"] = received == sent
                seen[f"{way}: {name}types"] = [type(message).__name__ for message in received]


@scenario(
    uses=[
        "serve_websocket",
        "open_websocket",
        "WebSocketConnection.send_message",
        "WebSocketConnection.get_message",
        "WebSocketConnection.closed",
        "ConnectionClosed",
        "ConnectionClosed.reason",
        "CloseReason",
        "CloseReason.code",
        "CloseReason.name",
        "CloseReason.reason",
    ],
    diverges={"text: reason": "close-reason-wording", "binary: reason": "close-reason-wording"},
)
async def test_max_message_size(lib: Lib, seen: Observations) -> None:
    """A message of exactly max_message_size arrives; one byte more closes with 1009."""
    for kind, unit in (("text", "x"), ("binary", b"x")):
        async with connected(lib, server={"max_message_size": 1000}) as (client, server):
            await client.send_message(unit * 1000)
            seen[f"{kind}: max size arrives"] = len(await server.get_message())
            await client.send_message(unit * 1001)
            outcomes: list[object] = []
            texts: list[str | None] = []

            async def outcome(call: Callable[[], Awaitable[object]]) -> None:
                # The close code, everywhere; the reason's text separately.
                try:
                    await call()
                except lib.mod.ConnectionClosed as exc:
                    outcomes.append(("ConnectionClosed", exc.reason.code, exc.reason.name))
                    texts.append(exc.reason.reason)
                else:
                    outcomes.append("no exception")

            await outcome(server.get_message)
            await outcome(client.get_message)
            await outcome(partial(client.send_message, "x"))
            await outcome(partial(server.send_message, "x"))
            seen[f"{kind}: get on each side, send on each side"] = outcomes
            closed = [server.closed, client.closed]
            seen[f"{kind}: closed"] = [
                None if reason is None else (reason.code, reason.name) for reason in closed
            ]
            texts += [None if reason is None else reason.reason for reason in closed]
            seen[f"{kind}: one reason everywhere"] = len(set(texts)) == 1
            seen[f"{kind}: reason"] = texts[0]


@scenario(
    uses=["serve_websocket", "open_websocket", "WebSocketConnection.get_message"],
    diverges={"600 characters in 1200 bytes": "message-size-in-bytes"},
)
async def test_max_message_size_of_text(lib: Lib, seen: Observations) -> None:
    """max_message_size counts characters of text (trio-websocket) or its UTF-8 bytes (ws)."""
    async with connected(lib, server={"max_message_size": 1000}) as (client, server):
        await client.send_message("\u00e9" * 500)
        seen["500 characters in 1000 bytes"] = len(await server.get_message())
        await client.send_message("\u00e9" * 600)
        try:
            message = await server.get_message()
        except lib.mod.ConnectionClosed as exc:
            seen["600 characters in 1200 bytes"] = ("ConnectionClosed", exc.reason.code)
        else:
            seen["600 characters in 1200 bytes"] = ("arrived", len(message))


@scenario(
    uses=[
        "serve_websocket",
        "open_websocket",
        "WebSocketConnection.send_message",
        "WebSocketConnection.get_message",
        "WebSocketConnection.aclose",
        "ConnectionClosed.reason",
    ]
)
async def test_message_queue_sizes(lib: Lib, seen: Observations) -> None:
    """Whatever message_queue_size, the messages sent before a close arrive, then the close."""
    for size in (0, 1, 5):
        async with connected(lib, server={"message_queue_size": size}) as (client, server):
            sent = [f"message {i}" for i in range(20)]
            for message in sent:
                await client.send_message(message)
            async with trio.open_nursery() as nursery:
                # The close handshake waits for the server's reader, which
                # waits for the application to take the messages.
                nursery.start_soon(client.aclose)
                received = [await server.get_message() for _ in sent]
                seen[f"size {size}: all delivered"] = received == sent
                await record(lib, seen, f"size {size}: then", server.get_message)
            seen[f"size {size}: client closed"] = client.closed


# -- 2. message types ---------------------------------------------------------------


@scenario(
    uses=["open_websocket", "WebSocketConnection.send_message", "WebSocketConnection.get_message"],
    diverges={
        "send int": "message-type-error",
        "send None": "message-type-error",
        "send list": "message-type-error",
        "send bytearray": "bytes-like-messages",
        "send memoryview": "bytes-like-messages",
        "received": "bytes-like-messages",
    },
)
async def test_message_types(lib: Lib, seen: Observations) -> None:
    """Only str and bytes are messages for trio-websocket; ws also takes bytes-like objects."""
    async with connected(lib) as (client, server):
        values: dict[str, object] = {
            "int": 1,
            "None": None,
            "list": ["a"],
            "bytearray": bytearray(b"ba"),
            "memoryview": memoryview(b"mv"),
        }
        for name, value in values.items():
            with seen.raises(f"send {name}"):
                await client.send_message(value)  # type: ignore[arg-type]
        await client.send_message("end")
        received = []
        while (message := await server.get_message()) != "end":
            received.append(message)
        seen["received"] = received
        seen["still open"] = (client.closed, server.closed)


# -- 3. pings -----------------------------------------------------------------------


@scenario(
    uses=[
        "serve_websocket",
        "open_websocket",
        "WebSocketConnection.ping",
        "WebSocketConnection.pong",
        "WebSocketConnection.get_message",
        "WebSocketConnection.send_message",
    ],
    diverges={"same payload in flight": "exception-messages"},
)
async def test_pings(lib: Lib, seen: Observations) -> None:
    """ping waits for its pong; a payload may be in flight once; pong is one-way."""
    async with connected(lib, server={"message_queue_size": 0}) as (client, server):
        with seen.raises("ping"):
            await client.ping()
        with seen.raises("ping with payload"):
            await client.ping(b"payload")
        with seen.raises("server ping"):
            await server.ping(b"from server")
        with seen.raises("pong"):
            await client.pong()
        with seen.raises("pong with payload"):
            await server.pong(b"heartbeat")
        # A message the server's application does not take stops its reader,
        # so the next ping stays in flight until it does.
        await client.send_message("hold")
        await trio.testing.wait_all_tasks_blocked()
        answered: list[bytes] = []

        async def ping(payload: bytes) -> None:
            await client.ping(payload)
            answered.append(payload)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ping, b"first")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(ping, b"second")
            await trio.testing.wait_all_tasks_blocked()
            seen["in flight: answered"] = list(answered)
            with seen.raises("same payload in flight"):
                await client.ping(b"first")
            seen["messages still flow"] = await server.get_message()
        seen["answered"] = sorted(answered)
        with seen.raises("payload free again"):
            await client.ping(b"first")


# -- 4. closing -----------------------------------------------------------------------

#: How aclose() is called: without arguments (None), or with a code and reason.
CLOSE_CALLS: dict[str, tuple[int, str | None] | None] = {
    "default": None,
    "4000 done": (4000, "done"),
    "1001 no reason": (1001, None),
}


async def close(connection: Connection, args: tuple[int, str | None] | None) -> None:
    """Call aclose() as CLOSE_CALLS says."""
    if args is None:
        await connection.aclose()
    else:
        await connection.aclose(*args)


@scenario(
    uses=[
        "open_websocket",
        "serve_websocket",
        "WebSocketConnection.aclose",
        "WebSocketConnection.closed",
        "WebSocketConnection.get_message",
        "WebSocketConnection.send_message",
        "WebSocketConnection.ping",
        "WebSocketConnection.pong",
        "ConnectionClosed",
        "ConnectionClosed.reason",
        "CloseReason",
    ]
)
async def test_client_closes(lib: Lib, seen: Observations) -> None:
    """The client's aclose(code, reason): what each side sees and raises afterwards."""
    for name, args in CLOSE_CALLS.items():
        async with connected(lib) as (client, server):
            await client.send_message("unread by the server")
            await server.send_message("unread by the client")
            await close(client, args)
            await record_closed_calls(lib, seen, f"{name}: client", client)
            await record_closed_calls(lib, seen, f"{name}: server", server)


@scenario(
    uses=[
        "open_websocket",
        "serve_websocket",
        "WebSocketConnection.aclose",
        "WebSocketConnection.closed",
        "WebSocketConnection.get_message",
        "ConnectionClosed.reason",
    ],
    diverges={
        f"{name}: client socket closed after open_websocket": "client-socket-closed"
        for name in CLOSE_CALLS
    },
)
async def test_server_closes(lib: Lib, seen: Observations) -> None:
    """The server's aclose(code, reason): the client takes what was sent before, then raises."""
    for name, args in CLOSE_CALLS.items():

        def after(client: Connection, name: str = name) -> None:
            seen[f"{name}: client socket closed after open_websocket"] = socket_closed(lib, client)

        async with connected(lib, after=after) as (client, server):
            await server.send_message("before the close")
            await close(server, args)
            await record(lib, seen, f"{name}: client takes", client.get_message)
            await record_closed_calls(lib, seen, f"{name}: client", client)
            await record_closed_calls(lib, seen, f"{name}: server", server)


@scenario(
    uses=[
        "open_websocket",
        "serve_websocket",
        "WebSocketRequest.accept",
        "WebSocketConnection.get_message",
        "WebSocketConnection.closed",
        "ConnectionClosed.reason",
    ]
)
async def test_handler_returns(lib: Lib, seen: Observations) -> None:
    """A handler that returns closes its connection: the client sees a normal close."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message("bye")

    async with trio.open_nursery() as nursery:
        listener = await nursery.start(lib.mod.serve_websocket, handler, "127.0.0.1", 0, None)
        async with lib.mod.open_websocket("127.0.0.1", listener.port, "/", use_ssl=False) as client:
            await record(lib, seen, "first", client.get_message)
            await record_closed_calls(lib, seen, "client", client)
        await close_leftover(lib, client)
        nursery.cancel_scope.cancel()


@scenario(
    uses=[
        "open_websocket",
        "WebSocketConnection.get_message",
        "WebSocketConnection.aclose",
        "WebSocketConnection.closed",
        "ConnectionClosed.reason",
    ],
    diverges={
        "client closes: waiting get_message": "local-close-reason",
        "client closes: waiting get_message: reason": "local-close-reason",
        "client closes: closed, seen by the woken task": "local-close-reason",
    },
)
async def test_close_while_get_message_waits(lib: Lib, seen: Observations) -> None:
    """A get_message waiting in another task when either side closes."""
    for closer in ("client", "server"):
        async with connected(lib, server={"message_queue_size": 0}) as (client, server):
            key = f"{closer} closes"
            if closer == "client":
                # The server's reader holds this until its application takes
                # it, so the server answers the close only after that.
                await client.send_message("hold")
                await trio.testing.wait_all_tasks_blocked()

            async def waiting_get() -> None:
                await record(lib, seen, f"{key}: waiting get_message", client.get_message)
                seen[f"{key}: closed, seen by the woken task"] = client.closed

            async with trio.open_nursery() as nursery:
                nursery.start_soon(waiting_get)
                await trio.testing.wait_all_tasks_blocked()
                if closer == "client":
                    nursery.start_soon(client.aclose, 4000, "done")
                    await trio.testing.wait_all_tasks_blocked()
                    seen[f"{key}: server takes"] = await server.get_message()
                else:
                    await server.aclose(4001, "bye")
            seen[f"{key}: client closed"] = client.closed


@scenario(
    uses=[
        "connect_websocket",
        "serve_websocket",
        "WebSocketConnection.closed",
        "WebSocketConnection.get_message",
        "ConnectionClosed.reason",
    ]
)
async def test_async_with_connection(lib: Lib, seen: Observations) -> None:
    """A connection is an AsyncResource: leaving ``async with connection`` closes it."""
    async with served(lib) as (port, accepted, _), trio.open_nursery() as nursery:
        client = await lib.mod.connect_websocket(nursery, "127.0.0.1", port, "/", use_ssl=False)
        server = await accepted.receive()
        seen["is an AsyncResource"] = isinstance(client, trio.abc.AsyncResource)
        async with client as entered:
            seen["enter returns it"] = entered is client
            await client.send_message("inside")
        seen["client closed"] = client.closed
        await record(lib, seen, "server takes", server.get_message)
        await record(lib, seen, "then", server.get_message)
        seen["server closed"] = server.closed


# -- 5. properties ----------------------------------------------------------------------


def same_address(a: object, b: object) -> bool:
    """Whether two Endpoints (which trio-websocket does not compare) or strs are the same."""
    return type(a) is type(b) and repr(a) == repr(b)


def number_of(connection: Connection) -> int:
    """N in ``str(connection)``, ``client-N`` or ``server-N``."""
    return int(str(connection).rpartition("-")[2])


@scenario(
    uses=[
        "open_websocket",
        "serve_websocket",
        "WebSocketRequest.accept",
        "WebSocketConnection.is_client",
        "WebSocketConnection.is_server",
        "WebSocketConnection.path",
        "WebSocketConnection.subprotocol",
        "WebSocketConnection.local",
        "WebSocketConnection.remote",
        "WebSocketConnection.handshake_headers",
        "Endpoint",
        "Endpoint.address",
        "Endpoint.port",
        "Endpoint.is_ssl",
    ],
    diverges={
        "server handshake_headers": "server-handshake-headers",
        "repr is object's": "connection-repr",
        "client sees a Server field": "product-headers",
    },
)
async def test_properties(lib: Lib, seen: Observations) -> None:
    """Side, path, subprotocol, endpoints, headers, str and repr of both ends."""
    async with connected(
        lib,
        "/chat/room?user=ann&x=1",
        client={"subprotocols": ["one", "two"]},
        subprotocol="two",
        extra_headers=[(b"X-Extra", b"value")],
    ) as (client, server):
        local = server.local
        assert not isinstance(local, str)
        for side, connection in (("client", client), ("server", server)):
            seen[f"{side} is_client, is_server"] = (connection.is_client, connection.is_server)
            seen[f"{side} path"] = connection.path
            seen[f"{side} subprotocol"] = connection.subprotocol
            seen[f"{side} str"] = re.fullmatch(rf"{side}-\d+", str(connection)) is not None
            seen[f"{side} endpoint types"] = (
                type(connection.local).__name__,
                type(connection.remote).__name__,
            )
        seen["server handshake_headers"] = server.handshake_headers
        seen["client handshake_headers"] = [
            (name, value) for name, value in client.handshake_headers if name.startswith(b"x-")
        ]
        seen["client header names"] = sorted(
            name for name, _ in client.handshake_headers if name != b"server"
        )
        seen["client sees a Server field"] = any(name == b"server" for name, _ in client.handshake_headers)
        seen["repr is object's"] = repr(client) == object.__repr__(client)
        seen["client.local is server.remote"] = same_address(client.local, server.remote)
        seen["client.remote is server.local"] = same_address(client.remote, server.local)
        seen["server.local"] = (str(local.address), local.is_ssl)
        first = (number_of(client), number_of(server))
    async with connected(lib) as (client, server):
        seen["plain path, no subprotocol"] = (
            client.path,
            server.path,
            client.subprotocol,
            server.subprotocol,
        )
        seen["numbers grow"] = (number_of(client) > first[0], number_of(server) > first[1])


# -- 6. peers that vanish -----------------------------------------------------------------


@scenario(
    uses=[
        "serve_websocket",
        "WebSocketConnection.get_message",
        "WebSocketConnection.closed",
        "ConnectionClosed.reason",
    ]
)
async def test_client_vanishes(lib: Lib, seen: Observations) -> None:
    """The client's TCP connection ends without a close frame: the server sees 1006."""
    async with served(lib) as (port, accepted, _):
        raw = await raw_client(port, "/gone")
        server = await accepted.receive()
        await raw.send_all(text_frame("last words", masked=True))
        await raw.aclose()
        await record(lib, seen, "server takes", server.get_message)
        await record_closed_calls(lib, seen, "server", server)


@scenario(
    uses=[
        "connect_websocket",
        "WebSocketConnection.get_message",
        "WebSocketConnection.closed",
        "ConnectionClosed.reason",
    ],
    diverges={"client socket closed": "client-socket-closed"},
)
async def test_server_vanishes(lib: Lib, seen: Observations) -> None:
    """The server's TCP connection ends without a close frame: the client sees 1006."""

    async def vanish(stream: trio.SocketStream) -> None:
        await answer_upgrade(stream)
        await stream.send_all(text_frame("last words", masked=False))
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, vanish, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        client = await lib.mod.connect_websocket(nursery, "127.0.0.1", port, "/", use_ssl=False)
        await record(lib, seen, "client takes", client.get_message)
        await record_closed_calls(lib, seen, "client", client)
        seen["client socket closed"] = socket_closed(lib, client)
        await close_leftover(lib, client)
        nursery.cancel_scope.cancel()


# -- 7. in memory, on the mock clock: a peer that stops answering -------------------------------


class RawServer:
    """The server's end of a memory stream, played by hand: reads frames, writes frames."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = b""

    async def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = await self.stream.receive_some()
            if not chunk:
                raise AssertionError("the client ended the stream inside a frame")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def read_frame(self) -> tuple[int, bytes]:
        """The next frame's opcode and unmasked payload (control frames: < 126 bytes)."""
        first, second = await self._read(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await self._read(2), "big")
        elif length == 127:
            length = int.from_bytes(await self._read(8), "big")
        mask = await self._read(4) if second & 0x80 else b"\0\0\0\0"
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(await self._read(length)))
        return first & 0x0F, payload

    async def send_frame(self, opcode: int, payload: bytes = b"") -> None:
        """Send one final, unmasked frame of fewer than 126 bytes."""
        await self.stream.send_all(bytes([0x80 | opcode, len(payload)]) + payload)


@asynccontextmanager
async def client_of_raw_server(lib: Lib) -> AsyncIterator[tuple[Connection, RawServer]]:
    """A client (wrap_client_stream) over a memory stream whose server end is played by hand."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_upgrade, server_stream)
        client = await lib.mod.wrap_client_stream(nursery, client_stream, "example.com", "/")
        yield client, RawServer(server_stream)
        nursery.cancel_scope.cancel()


_CLOSE = 0x8


@scenario(
    uses=["wrap_client_stream", "WebSocketConnection.closed", "WebSocketConnection.send_message"],
    diverges={
        "closed after 60 s": "keepalive-on-by-default",
        "send after 60 s": "keepalive-on-by-default",
    },
    autojump=True,
)
async def test_keepalive_default(lib: Lib, seen: Observations) -> None:
    """A server that stops reading: trio-websocket waits for ever, ws drops it after 20 + 20 s."""
    async with client_of_raw_server(lib) as (client, _):
        seen["open"] = client.closed
        await trio.sleep(60)
        seen["closed after 60 s"] = client.closed
        with seen.raises("send after 60 s"):
            await client.send_message("anyone?")


async def ping_outcome(lib: Lib, seen: Observations, key: str, connection: Connection) -> None:
    """Ping with payload b"p"; record how it ended, or that it still waited after 100 s."""
    with trio.move_on_after(100):
        await record(lib, seen, key, partial(connection.ping, b"p"))
        return
    seen[key] = "still waiting after 100 s"
    seen[f"{key}: reason"] = None


@scenario(
    uses=[
        "wrap_client_stream",
        "WebSocketConnection.ping",
        "WebSocketConnection.aclose",
        "WebSocketConnection.closed",
        "ConnectionClosed.reason",
    ],
    diverges={
        "peer closes: waiting ping": "pings-end-with-the-connection",
        "peer closes: waiting ping: reason": "pings-end-with-the-connection",
        "client closes: waiting ping": "pings-end-with-the-connection",
        "client closes: waiting ping: reason": "pings-end-with-the-connection",
    },
    autojump=True,
)
async def test_ping_waiting_when_connection_closes(lib: Lib, seen: Observations) -> None:
    """A ping whose pong never comes, when the peer or the client closes the connection."""
    for closer in ("peer", "client"):
        async with client_of_raw_server(lib) as (client, peer):
            async with trio.open_nursery() as nursery:
                key = f"{closer} closes: waiting ping"
                nursery.start_soon(ping_outcome, lib, seen, key, client)
                seen[f"{closer} closes: peer got"] = await peer.read_frame()
                if closer == "peer":
                    await peer.send_frame(_CLOSE, b"\x03\xe8bye")
                    opcode, payload = await peer.read_frame()
                    # The code only: echoing the reason is optional (RFC 6455 section 5.5.1).
                    seen[f"{closer} closes: echo"] = (opcode, payload[:2])
                    await peer.stream.aclose()
                else:

                    async def echo_close() -> None:
                        seen[f"{closer} closes: client's close"] = await peer.read_frame()
                        await peer.send_frame(_CLOSE, b"\x0f\xa0done")
                        await peer.stream.aclose()

                    nursery.start_soon(echo_close)
                    await client.aclose(4000, "done")
            seen[f"{closer} closes: client closed"] = client.closed
