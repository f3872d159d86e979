"""The client API, run on trio-websocket and on ws: open_websocket(_url),
connect_websocket(_url), wrap_client_stream, their argument checks, and how
they fail (refused, timed out, rejected, TLS mismatches, closing handshakes
that do not finish, exceptions raised in the ``async with`` body).

Each scenario talks to a server of the same library (``serve_websocket`` on
127.0.0.1, port 0) or, where the server must misbehave, to a raw Trio
listener that plays the server byte by byte.
"""

from __future__ import annotations

import contextlib
import gc
import re
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial

import attrs
import trio
import trustme

import ws
from tests.differential.harness import (
    BUILTIN_EXCEPTIONS,
    EXCEPTION_NAMES,
    Lib,
    Observations,
    scenario,
)
from tests.differential.rawpeer import accept_key, read_head

RawPeer = Callable[[trio.SocketStream], Awaitable[None]]

#: Headers the client adds (names in lower case); servers echo theirs back.
CLIENT_HEADERS = [(b"X-Client", b"one"), (b"X-Client-Two", b"2")]
SERVER_HEADERS = [(b"X-Served-By", b"differential")]


def kinds(lib: Lib, exc: BaseException | None) -> tuple[str, ...] | None:
    """The trio-websocket exception names and built-in classes ``exc`` is an instance of."""
    if exc is None:
        return None
    names = tuple(name for name in EXCEPTION_NAMES if isinstance(exc, getattr(lib.mod, name)))
    return names + tuple(cls.__name__ for cls in BUILTIN_EXCEPTIONS if isinstance(exc, cls))


def without_port(text: str, port: int) -> str:
    """``text`` with the run's port number as PORT."""
    return text.replace(str(port), "PORT")


def extra(headers: object) -> list[tuple[bytes, bytes]]:
    """The ``x-`` headers of a header list (names in lower case), in order."""
    assert isinstance(headers, (list, tuple))
    return [
        (bytes(name).lower(), bytes(value))
        for name, value in headers
        if name.lower().startswith(b"x-")
    ]


def _open_socket_streams() -> set[trio.SocketStream]:
    return {
        obj
        for obj in gc.get_objects()
        if isinstance(obj, trio.SocketStream) and obj.socket.fileno() != -1
    }


@contextlib.contextmanager
def their_leaks(lib: Lib) -> Iterator[None]:
    """Close the sockets trio-websocket's client leaves open in the block.

    After a rejection, a timeout or a failed handshake its client does not
    close its socket (divergence ``client-socket-closed``), and some stay
    referenced until the Trio run ends; the garbage collector would close
    them with a ResourceWarning, an error under this project's pytest
    settings, in whatever test runs then. ws's run is left alone: a socket
    it leaves open fails the test.
    """
    if lib.is_ws:
        yield
        return
    before = _open_socket_streams()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()
            for stream in _open_socket_streams() - before:
                stream.socket.close()


@asynccontextmanager
async def serving(
    lib: Lib,
    handler: Callable[[ws.WebSocketRequest], Awaitable[None]],
    ssl_context: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
    connect_timeout: float = 60,
) -> AsyncIterator[int]:
    """Run the library's ``serve_websocket`` on ``host``, an OS-chosen port, for the block."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(
                lib.mod.serve_websocket,
                handler,
                host,
                0,
                ssl_context,
                connect_timeout=connect_timeout,
            )
        )
        yield server.port
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def raw_serving(peer: RawPeer, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Serve each TCP connection with ``peer`` (a raw, byte-level server) for the block."""
    listeners = await trio.open_tcp_listeners(0, host=host)
    port: int = listeners[0].socket.getsockname()[1]

    async def guarded(stream: trio.SocketStream) -> None:
        # The client may go away at any point: that ends this peer, not the test.
        async with stream:
            try:
                await peer(stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, guarded, listeners)
        yield port
        nursery.cancel_scope.cancel()


async def closed_port() -> int:
    """A loopback port where nothing listens (bound, then closed)."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port: int = listener.socket.getsockname()[1]
    await listener.aclose()
    return port


def switching(request: bytes) -> bytes:
    """The 101 response that accepts ``request`` (RFC 6455 section 4.2.2)."""
    match = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)", request)
    assert match is not None
    accept = accept_key(match.group(1))
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


async def answer_close(stream: trio.abc.Stream) -> None:
    """Wait for the client's close frame, answer it with 1000 and close TCP."""
    await stream.receive_some()
    await stream.send_all(b"\x88\x02\x03\xe8")
    await stream.aclose()


@attrs.define
class Recorder:
    """A server handler that notes what it saw, accepts with a subprotocol and echoes."""

    lib: Lib
    notes: dict[str, object] = attrs.Factory(dict)
    done: trio.Event = attrs.Factory(trio.Event)

    async def __call__(self, request: ws.WebSocketRequest) -> None:
        """Handle one connection."""
        self.notes["server path"] = request.path
        self.notes["server saw extra headers"] = extra(request.headers)
        self.notes["server proposed subprotocols"] = list(request.proposed_subprotocols)
        chosen = "chat" if "chat" in request.proposed_subprotocols else None
        connection = await request.accept(subprotocol=chosen, extra_headers=SERVER_HEADERS)
        try:
            while True:
                await connection.send_message(await connection.get_message())
        except self.lib.mod.ConnectionClosed as exc:
            self.notes["server saw close"] = exc.reason
        finally:
            self.done.set()

    async def report(self, seen: Observations) -> None:
        """Record the server's notes, once its handler ended."""
        with trio.fail_after(10):
            await self.done.wait()
        for key, value in self.notes.items():
            seen[key] = value


async def check_open(seen: Observations, connection: ws.WebSocketConnection) -> None:
    """Record what an open client connection says about itself, and one echo of each type."""
    seen["is_client"] = connection.is_client
    seen["is_server"] = connection.is_server
    seen["path"] = connection.path
    seen["subprotocol"] = connection.subprotocol
    seen["handshake_headers extra"] = extra(connection.handshake_headers)
    seen["closed while open"] = connection.closed
    await connection.send_message("text")
    seen["echo text"] = await connection.get_message()
    await connection.send_message(b"\x00binary")
    seen["echo bytes"] = await connection.get_message()


CLIENT_USES = [
    "WebSocketConnection.is_client",
    "WebSocketConnection.is_server",
    "WebSocketConnection.path",
    "WebSocketConnection.subprotocol",
    "WebSocketConnection.handshake_headers",
    "WebSocketConnection.closed",
    "WebSocketConnection.send_message",
    "WebSocketConnection.get_message",
    "WebSocketRequest.path",
    "WebSocketRequest.headers",
    "WebSocketRequest.proposed_subprotocols",
    "WebSocketRequest.accept",
    "serve_websocket",
    "CloseReason",
    "ConnectionClosed",
    "ConnectionClosed.reason",
]


# -- 1. the five ways to connect ------------------------------------------------------


@scenario(uses=["open_websocket", *CLIENT_USES])
async def test_open_websocket_round_trip(lib: Lib, seen: Observations) -> None:
    """open_websocket: subprotocol and headers both ways, echoes, and a 1000 close on exit."""
    recorder = Recorder(lib)
    async with serving(lib, recorder) as port:
        async with lib.mod.open_websocket(
            "127.0.0.1",
            port,
            "/chat?room=1",
            use_ssl=False,
            subprotocols=["chat", "superchat"],
            extra_headers=CLIENT_HEADERS,
        ) as connection:
            await check_open(seen, connection)
        seen["closed after the block"] = connection.closed
        await recorder.report(seen)


@scenario(uses=["open_websocket_url", *CLIENT_USES])
async def test_open_websocket_url_round_trip(lib: Lib, seen: Observations) -> None:
    """open_websocket_url: the same, from a ws:// URL with a query."""
    recorder = Recorder(lib)
    async with serving(lib, recorder) as port:
        async with lib.mod.open_websocket_url(
            f"ws://127.0.0.1:{port}/a/b?x=1&y=%20z",
            subprotocols=["superchat", "chat"],
            extra_headers=CLIENT_HEADERS,
        ) as connection:
            await check_open(seen, connection)
        seen["closed after the block"] = connection.closed
        await recorder.report(seen)


@scenario(uses=["connect_websocket", "WebSocketConnection.aclose", *CLIENT_USES])
async def test_connect_websocket_round_trip(lib: Lib, seen: Observations) -> None:
    """connect_websocket: an open connection in the caller's nursery, closed with aclose()."""
    recorder = Recorder(lib)
    async with serving(lib, recorder) as port, trio.open_nursery() as nursery:
        connection = await lib.mod.connect_websocket(
            nursery,
            "127.0.0.1",
            port,
            "/",
            use_ssl=False,
            subprotocols=["other"],
            extra_headers=CLIENT_HEADERS,
        )
        await check_open(seen, connection)
        await connection.aclose()
        seen["closed after aclose"] = connection.closed
        await connection.aclose()
        seen["second aclose"] = connection.closed
        await recorder.report(seen)


@scenario(uses=["connect_websocket_url", "WebSocketConnection.aclose", *CLIENT_USES])
async def test_connect_websocket_url_round_trip(lib: Lib, seen: Observations) -> None:
    """connect_websocket_url: the same from a URL with an empty path."""
    recorder = Recorder(lib)
    async with serving(lib, recorder) as port, trio.open_nursery() as nursery:
        connection = await lib.mod.connect_websocket_url(
            nursery, f"ws://127.0.0.1:{port}", subprotocols=["chat"], extra_headers=CLIENT_HEADERS
        )
        await check_open(seen, connection)
        await connection.aclose(4000, "done")
        seen["closed after aclose"] = connection.closed
        await recorder.report(seen)


@scenario(uses=["wrap_client_stream", "WebSocketConnection.aclose", *CLIENT_USES])
async def test_wrap_client_stream_round_trip(lib: Lib, seen: Observations) -> None:
    """wrap_client_stream over a TCP stream the caller opened."""
    recorder = Recorder(lib)
    async with serving(lib, recorder) as port, trio.open_nursery() as nursery:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        connection = await lib.mod.wrap_client_stream(
            nursery,
            stream,
            "example.com",
            "/wrapped?x=1",
            subprotocols=["chat"],
            extra_headers=CLIENT_HEADERS,
        )
        await check_open(seen, connection)
        await connection.aclose()
        seen["closed after aclose"] = connection.closed
        await recorder.report(seen)


@attrs.define
class RequestLog:
    """A raw server that accepts every request, notes its head, and answers the close."""

    heads: list[bytes] = attrs.Factory(list)

    async def __call__(self, stream: trio.SocketStream) -> None:
        """Serve one connection."""
        head = await read_head(stream)
        self.heads.append(head)
        await stream.send_all(switching(head))
        await answer_close(stream)

    def summary(self, port: int) -> list[tuple[str, str]]:
        """Each request's target and Host header, with the port as PORT."""
        rows = []
        for head in self.heads:
            target = head.split(b" ")[1].decode()
            match = re.search(rb"(?im)^host:[ \t]*(.*?)[ \t]*\r$", head)
            host = "" if match is None else match.group(1).decode()
            rows.append((target, without_port(host, port)))
        return rows


class URLish:
    """Not a str, but its str() is a URL (as yarl.URL is)."""

    def __init__(self, url: str) -> None:
        self._url = url

    def __str__(self) -> str:
        return self._url


@scenario(uses=["open_websocket_url", "connect_websocket_url", "open_websocket", "wrap_client_stream"])
async def test_request_targets_and_host_headers(lib: Lib, seen: Observations) -> None:
    """The request target and Host header each function sends, from URLs of every shape."""
    log = RequestLog()
    async with raw_serving(log) as port:
        for url in [
            f"ws://127.0.0.1:{port}",
            f"ws://127.0.0.1:{port}/",
            f"ws://127.0.0.1:{port}?q=1",
            f"ws://127.0.0.1:{port}/p?",
            f"ws://127.0.0.1:{port}/p?a=1&b=%2F#fragment",
            f"WS://127.0.0.1:{port}/upper",
            f"ws://localhost:{port}/name",
        ]:
            async with lib.mod.open_websocket_url(url) as connection:
                seen[f"path of {without_port(url, port)}"] = connection.path
        async with lib.mod.open_websocket_url(URLish(f"ws://127.0.0.1:{port}/object")) as connection:
            seen["path of a URL object"] = connection.path
        async with trio.open_nursery() as nursery:
            connection = await lib.mod.connect_websocket_url(nursery, f"ws://127.0.0.1:{port}/c?x")
            await connection.aclose()
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            connection = await lib.mod.wrap_client_stream(nursery, stream, "example.com:81", "/w")
            await connection.aclose()
        async with lib.mod.open_websocket("127.0.0.1", port, "/?only=query", use_ssl=False):
            pass
        seen["requests"] = log.summary(port)


@scenario(
    uses=["open_websocket_url", "WebSocketConnection.remote", "Endpoint"],
    diverges={"ipv6 requests": "ipv6-host-header"},
)
async def test_ipv6_literal_url(lib: Lib, seen: Observations) -> None:
    """ws://[::1]:port/ reaches ::1; the Host header keeps the brackets only in ws."""
    log = RequestLog()
    async with raw_serving(log, host="::1") as port:
        async with lib.mod.open_websocket_url(f"ws://[::1]:{port}/v6") as connection:
            seen["path"] = connection.path
            remote = connection.remote
            seen["remote"] = (str(remote.address), remote.port == port, remote.is_ssl)
        seen["ipv6 requests"] = log.summary(port)


# -- 2. argument checks ------------------------------------------------------------------


async def when_raised(
    seen: Observations, key: str, make: Callable[[], AbstractAsyncContextManager[object]]
) -> None:
    """Record what making the context manager and entering it raised (``key``), and which did."""
    try:
        manager = make()
    except Exception as exc:  # noqa: BLE001 - recording it is the point
        seen[f"{key}: when"] = "when called"
        seen[key] = exc
        return
    try:
        async with manager:
            pass
    except Exception as exc:  # noqa: BLE001 - recording it is the point
        seen[f"{key}: when"] = "when entered"
        seen[key] = exc
        return
    seen[f"{key}: when"] = None
    seen[key] = "no exception"


@scenario(
    uses=["open_websocket", "open_websocket_url", "connect_websocket", "connect_websocket_url"],
    diverges={
        "open_websocket_url http:": "more-url-schemes",
        "connect_websocket_url http:": "more-url-schemes",
        "open_websocket_url no host message": "exception-messages",
        "connect_websocket_url no host message": "exception-messages",
    },
)
async def test_argument_checks(lib: Lib, seen: Observations) -> None:
    """use_ssl types, ssl_context with ws:, bad schemes and hostless URLs."""
    mod = lib.mod
    context = ssl.create_default_context()
    for value in (1, "yes", None):
        await when_raised(
            seen,
            f"open_websocket use_ssl={value!r}",
            partial(mod.open_websocket, "127.0.0.1", 1, "/", use_ssl=value),
        )
    async with trio.open_nursery() as nursery:
        for value in (1, "yes"):
            with seen.raises(f"connect_websocket use_ssl={value!r}"):
                await mod.connect_websocket(nursery, "127.0.0.1", 1, "/", use_ssl=value)
        with seen.raises("connect_websocket_url ssl_context with ws:"):
            await mod.connect_websocket_url(nursery, "ws://127.0.0.1:1/", context)
        with seen.raises("connect_websocket_url http:"):
            await mod.connect_websocket_url(nursery, "http://127.0.0.1:1/")
        try:
            await mod.connect_websocket_url(nursery, "ws:///path")
        except ValueError as exc:
            seen["connect_websocket_url no host"] = kinds(lib, exc)
            seen["connect_websocket_url no host message"] = str(exc)
    await when_raised(
        seen,
        "open_websocket_url ssl_context with ws:",
        lambda: mod.open_websocket_url("ws://127.0.0.1:1/", context),
    )
    await when_raised(
        seen, "open_websocket_url http:", partial(mod.open_websocket_url, "http://127.0.0.1:1/")
    )
    for url in ("ws:///path", "ws://:80/"):
        try:
            mod.open_websocket_url(url)
        except ValueError as exc:
            seen[f"open_websocket_url {url}"] = kinds(lib, exc)
            if url == "ws:///path":
                seen["open_websocket_url no host message"] = str(exc)


@scenario(uses=["open_websocket", "open_websocket_url", "WebSocketConnection.get_message"])
async def test_receive_buffer_sizes(lib: Lib, seen: Observations) -> None:
    """receive_buffer_size=None and =1024 both work, with messages larger than a read."""
    recorder = Recorder(lib)
    big = "x" * 100_000
    async with serving(lib, recorder) as port:
        for size in (None, 1024):
            async with lib.mod.open_websocket(
                "127.0.0.1", port, "/", use_ssl=False, receive_buffer_size=size
            ) as connection:
                await connection.send_message(big)
                seen[f"echo with receive_buffer_size={size}"] = await connection.get_message() == big
            async with lib.mod.open_websocket_url(
                f"ws://127.0.0.1:{port}/", receive_buffer_size=size
            ) as connection:
                await connection.send_message(b"b" * 5000)
                seen[f"url echo with receive_buffer_size={size}"] = len(await connection.get_message())


# -- 3. failures -------------------------------------------------------------------------


@scenario(
    uses=["open_websocket", "open_websocket_url", "connect_websocket", "HandshakeError"],
    diverges={
        "open_websocket refused": "connect-failed-is-oserror",
        "open_websocket_url refused": "connect-failed-is-oserror",
        "connect_websocket refused message": "exception-messages",
    },
)
async def test_connection_refused(lib: Lib, seen: Observations) -> None:
    """Nothing listening: open_* raise a HandshakeError from the OSError, connect_* the OSError."""
    with their_leaks(lib):
        port = await closed_port()
        makers: list[tuple[str, Callable[[], AbstractAsyncContextManager[object]]]] = [
            ("open_websocket", partial(lib.mod.open_websocket, "127.0.0.1", port, "/", use_ssl=False)),
            ("open_websocket_url", partial(lib.mod.open_websocket_url, f"ws://127.0.0.1:{port}/")),
        ]
        for name, make in makers:
            try:
                async with make():
                    pass
            except lib.mod.HandshakeError as exc:
                # The message is each library's own ("" in trio-websocket).
                seen[f"{name} refused"] = exc
                seen[f"{name} refused cause"] = kinds(lib, exc.__cause__)
        async with trio.open_nursery() as nursery:
            try:
                await lib.mod.connect_websocket(nursery, "127.0.0.1", port, "/", use_ssl=False)
            except OSError as exc:
                seen["connect_websocket refused"] = kinds(lib, exc)
                seen["connect_websocket refused message"] = without_port(str(exc), port)


async def silent_peer(stream: trio.SocketStream) -> None:
    """Accept TCP, read the request, never answer; close after a second.

    The close ends trio-websocket's wait: after connect_timeout its
    nursery still waits for the reader task, which waits for the server.
    """
    await read_head(stream)
    await trio.sleep(1)


@scenario(
    uses=["open_websocket", "open_websocket_url", "ConnectionTimeout"],
    diverges={"timeout message": "exception-messages"},
)
async def test_connect_timeout(lib: Lib, seen: Observations) -> None:
    """A server that accepts TCP and never answers: ConnectionTimeout after connect_timeout."""
    with their_leaks(lib):
        async with raw_serving(silent_peer) as port:
            try:
                async with lib.mod.open_websocket(
                    "127.0.0.1", port, "/", use_ssl=False, connect_timeout=0.3
                ):
                    pass
            except lib.mod.HandshakeError as exc:
                seen["open_websocket"] = kinds(lib, exc)
                seen["cause"] = kinds(lib, exc.__cause__)
                seen["timeout message"] = str(exc)
            try:
                async with lib.mod.open_websocket_url(f"ws://127.0.0.1:{port}/", connect_timeout=0.3):
                    pass
            except lib.mod.HandshakeError as exc:
                seen["open_websocket_url"] = kinds(lib, exc)


@scenario(
    uses=[
        "open_websocket",
        "WebSocketRequest.reject",
        "ConnectionRejected",
        "ConnectionRejected.status_code",
        "ConnectionRejected.headers",
        "ConnectionRejected.body",
    ]
)
async def test_rejection(lib: Lib, seen: Observations) -> None:
    """A handler's reject(): the client's ConnectionRejected carries status, headers, body."""
    with their_leaks(lib):

        async def handler(request: ws.WebSocketRequest) -> None:
            if request.path == "/forbidden":
                await request.reject(
                    403, extra_headers=[(b"X-Why", b"nope"), (b"X-Two", b"2")], body=b"go away"
                )
            else:
                await request.reject(404)

        async with serving(lib, handler) as port:
            for path in ("/forbidden", "/missing"):
                try:
                    async with lib.mod.open_websocket("127.0.0.1", port, path, use_ssl=False):
                        pass
                except lib.mod.ConnectionRejected as exc:
                    seen[f"{path} kinds"] = kinds(lib, exc)
                    seen[f"{path} status"] = exc.status_code
                    seen[f"{path} headers type"] = type(exc.headers).__name__
                    # Each library adds its own (content-length, date, ...): the
                    # handler's headers, in order, are what must match.
                    seen[f"{path} extra headers"] = extra(exc.headers)
                    seen[f"{path} body"] = exc.body
                    seen[f"{path} repr"] = repr(exc)


# -- 4. the closing handshake ------------------------------------------------------------


async def deaf_peer(stream: trio.SocketStream) -> None:
    """Complete the opening handshake, then never read nor answer anything."""
    await stream.send_all(switching(await read_head(stream)))
    await trio.sleep_forever()


async def lingering_peer(stream: trio.SocketStream) -> None:
    """Answer the close frame, but keep TCP open."""
    await stream.send_all(switching(await read_head(stream)))
    await stream.receive_some()
    await stream.send_all(b"\x88\x02\x03\xe8")
    await trio.sleep_forever()


@scenario(
    uses=["open_websocket", "DisconnectionTimeout", "WebSocketConnection.closed"],
    diverges={"deaf: message": "exception-messages"},
)
async def test_disconnect_timeout(lib: Lib, seen: Observations) -> None:
    """A close that is never answered raises DisconnectionTimeout; an answered one does not."""
    with their_leaks(lib):
        for name, peer in (("deaf", deaf_peer), ("lingering", lingering_peer)):
            async with raw_serving(peer) as port:
                try:
                    async with lib.mod.open_websocket(
                        "127.0.0.1", port, "/", use_ssl=False, disconnect_timeout=0.3
                    ) as connection:
                        await connection.send_message("unread")
                except lib.mod.HandshakeError as exc:
                    seen[f"{name}: raised"] = kinds(lib, exc)
                    seen[f"{name}: cause"] = exc.__cause__
                    seen[f"{name}: context shown"] = not exc.__suppress_context__ and (
                        exc.__context__ is not None
                    )
                    seen[f"{name}: message"] = str(exc)
                else:
                    seen[f"{name}: raised"] = None
                    seen[f"{name}: closed"] = connection.closed


@scenario(uses=["open_websocket", "DisconnectionTimeout"])
async def test_body_error_and_unanswered_close(lib: Lib, seen: Observations) -> None:
    """The body raises and the close is never answered: which exception comes out."""
    with their_leaks(lib):
        async with raw_serving(deaf_peer) as port:
            try:
                async with lib.mod.open_websocket(
                    "127.0.0.1", port, "/", use_ssl=False, disconnect_timeout=0.3
                ):
                    raise ValueError("from the body")
            except Exception as exc:  # noqa: BLE001 - recording it is the point
                seen["body error, close unanswered"] = exc
                chain = exc.__context__
                seen["context is the body error"] = isinstance(chain, ValueError) or isinstance(
                    exc, ValueError
                )


# -- 5. exceptions through open_websocket -----------------------------------------------


def context_text(exc: BaseException) -> tuple[str, str]:
    """An exception's type and text; a Cancelled's text names a task, so only its type."""
    return (type(exc).__name__, "" if isinstance(exc, trio.Cancelled) else str(exc))


def describe(lib: Lib, exc: BaseException) -> tuple[object, ...]:
    """An exception with its cause and context, as both libraries can show them."""
    return (
        kinds(lib, exc),
        str(exc),
        isinstance(exc, BaseExceptionGroup),
        None if exc.__cause__ is None else (kinds(lib, exc.__cause__), str(exc.__cause__)),
        None if exc.__context__ is None else context_text(exc.__context__),
        exc.__suppress_context__,
    )


@scenario(uses=["open_websocket", "WebSocketConnection.closed"])
async def test_body_exceptions_pass_through(lib: Lib, seen: Observations) -> None:
    """A body's exception propagates as itself, with its own __cause__ and __context__."""
    recorder = Recorder(lib)
    async with serving(lib, recorder) as port:
        opening = partial(lib.mod.open_websocket, "127.0.0.1", port, "/", use_ssl=False)
        try:
            async with opening():
                raise ValueError("plain")
        except BaseException as exc:  # noqa: BLE001 - recording it is the point
            seen["plain"] = describe(lib, exc)
        try:
            async with opening():
                raise ValueError("caused") from KeyError("the cause")
        except BaseException as exc:  # noqa: BLE001
            seen["raise from"] = describe(lib, exc)
        try:
            async with opening():
                try:
                    raise KeyError("first")
                except KeyError:
                    raise ValueError("while handling") from None
        except BaseException as exc:  # noqa: BLE001
            seen["raise from None"] = describe(lib, exc)
        try:
            async with opening() as connection:
                try:
                    raise KeyError("first")
                except KeyError:
                    raise ValueError("while handling")  # noqa: B904 - the context is the point
        except BaseException as exc:  # noqa: BLE001
            seen["raised while handling"] = describe(lib, exc)
            seen["closed after the error"] = connection.closed


@scenario(uses=["open_websocket"])
async def test_exception_in_finally_while_cancelled(lib: Lib, seen: Observations) -> None:
    """An exception raised in a finally: while the block is cancelled is not dropped (trio #1559)."""
    recorder = Recorder(lib)
    async with serving(lib, recorder) as port:
        opening = partial(lib.mod.open_websocket, "127.0.0.1", port, "/", use_ssl=False)
        try:
            with trio.CancelScope() as scope:
                async with opening():
                    try:
                        scope.cancel()
                        await trio.sleep_forever()
                    finally:
                        raise ValueError("from finally")  # noqa: B012 - the point of the scenario
            seen["cancel_scope.cancel()"] = ("swallowed", scope.cancelled_caught)
        except BaseException as exc:  # noqa: BLE001
            seen["cancel_scope.cancel()"] = describe(lib, exc)
        try:
            with trio.move_on_after(0.05) as scope:
                async with opening():
                    try:
                        await trio.sleep_forever()
                    finally:
                        raise ValueError("from finally")  # noqa: B012
            seen["move_on_after"] = ("swallowed", scope.cancelled_caught)
        except BaseException as exc:  # noqa: BLE001
            seen["move_on_after"] = describe(lib, exc)
        with trio.CancelScope() as scope:
            async with opening():
                scope.cancel()
                await trio.sleep_forever()
        seen["plain cancel caught by its scope"] = scope.cancelled_caught


# -- 6. interim responses -----------------------------------------------------------------


async def continue_and_close(stream: trio.SocketStream) -> None:
    """Answer with 100 Continue, then close."""
    await read_head(stream)
    await stream.send_all(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n")
    await stream.aclose()


async def early_hints_then_switch(stream: trio.SocketStream) -> None:
    """Answer with 103 Early Hints, then a valid 101; answer the close."""
    request = await read_head(stream)
    await stream.send_all(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
    await stream.send_all(switching(request))
    await answer_close(stream)


@scenario(
    uses=["open_websocket", "ConnectionRejected", "ConnectionRejected.status_code"],
    diverges={"103 then 101": "interim-responses"},
)
async def test_interim_responses(lib: Lib, seen: Observations) -> None:
    """A 1xx then the end is a rejection with body None; a 103 before a 101 splits the two."""
    with their_leaks(lib):
        async with raw_serving(continue_and_close) as port:
            try:
                async with lib.mod.open_websocket("127.0.0.1", port, "/", use_ssl=False):
                    pass
            except lib.mod.HandshakeError as exc:
                seen["100 then close"] = kinds(lib, exc)
                assert isinstance(exc, lib.mod.ConnectionRejected)
                seen["100 fields"] = (exc.status_code, exc.headers, exc.body)
        async with raw_serving(early_hints_then_switch) as port:
            with seen.raises("103 then 101"):
                async with lib.mod.open_websocket("127.0.0.1", port, "/", use_ssl=False):
                    pass


# -- 7. TLS mismatches ------------------------------------------------------------------


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for 127.0.0.1 and a client context that trusts its CA."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    return server, client


async def plain_http_peer(stream: trio.SocketStream) -> None:
    """A plain HTTP server: whatever comes, answer 400 and close."""
    await stream.receive_some()
    await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await stream.aclose()


@scenario(
    uses=["open_websocket", "open_websocket_url", "HandshakeError", "ConnectionTimeout"],
    diverges={
        "wss:// to a plain HTTP server": "tls-mismatch-fails-fast",
        "ws:// to a TLS server": "tls-mismatch-fails-fast",
    },
)
async def test_tls_mismatches(lib: Lib, seen: Observations) -> None:
    """wss:// to a server without TLS, ws:// to a TLS server; and the right pairing works."""
    with their_leaks(lib):
        server_context, client_context = tls_contexts()

        async def handler(request: ws.WebSocketRequest) -> None:
            connection = await request.accept()
            try:
                await connection.send_message(await connection.get_message())
            except lib.mod.ConnectionClosed:
                pass

        async def outcome(make: Callable[[], AbstractAsyncContextManager[object]]) -> object:
            # trio-websocket can wait past connect_timeout, for the server to give up.
            with trio.move_on_after(10):
                try:
                    async with make():
                        return "no exception"
                except Exception as exc:  # noqa: BLE001 - recording it is the point
                    return exc
            return "still waiting after 10 s"

        async with serving(lib, handler) as plain_port:
            # What the ws server answers to a ClientHello changes nothing here.
            result = await outcome(
                lambda: lib.mod.open_websocket_url(
                    f"wss://127.0.0.1:{plain_port}/", client_context, connect_timeout=0.5
                )
            )
            seen["wss:// to a plain WebSocket server is a HandshakeError"] = isinstance(
                result, lib.mod.HandshakeError
            )
        async with raw_serving(plain_http_peer) as http_port:
            seen["wss:// to a plain HTTP server"] = await outcome(
                lambda: lib.mod.open_websocket(
                    "127.0.0.1", http_port, "/", use_ssl=client_context, connect_timeout=0.5
                )
            )
        async with serving(lib, handler, server_context, connect_timeout=1) as tls_port:
            seen["ws:// to a TLS server"] = await outcome(
                lambda: lib.mod.open_websocket(
                    "127.0.0.1", tls_port, "/", use_ssl=False, connect_timeout=0.5
                )
            )
            async with lib.mod.open_websocket_url(
                f"wss://localhost:{tls_port}/", client_context
            ) as connection:
                await connection.send_message("over TLS")
                seen["wss:// to the TLS server"] = await connection.get_message()
                seen["remote is_ssl"] = connection.remote.is_ssl
