"""Server API: serve_websocket, WebSocketServer, WebSocketRequest, wrap_server_stream.

As in trio-websocket, a handler receives a :class:`WebSocketRequest` for
each connection, inspects it, and calls :meth:`~WebSocketRequest.accept`
(to get a :class:`~ws.WebSocketConnection`) or
:meth:`~WebSocketRequest.reject`. When the handler returns, the connection
is closed. A handler's exception is logged to the ``ws`` logger and closes
that connection with 1011; it never stops the server (unless
``handler_errors="raise"``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import ssl
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Unpack

import attrs
import trio

from ws._groups import collapse_exception_groups
from ws._logging import Log, where
from ws.builder import build_connection, read_client_request
from ws.connection import CLOSE_FRAME_GRACE, WebSocketConnection, reader_of, start_reader
from ws.errors import (
    ConnectionClosed,
    HandshakeError,
    InvalidRequest,
    LocalProtocolError,
    WebSocketError,
)
from ws.extensions.base import Extension
from ws.handshake.request import HandshakeRequest
from ws.handshake.server import ServerHandshake
from ws.frames.close import serialize_close
from ws.http import HTTPRequest, HTTPResponse
from ws.routing import Router
from ws.options import (
    ARG_COMPRESSION,
    ARG_MAX_MESSAGE_SIZE,
    ARG_MESSAGE_QUEUE_SIZE,
    ARG_TIMEOUT,
    Compression,
    HeadersArg,
    ServerOptions,
    ServerSettings,
    make_server_options,
    normalize_headers,
)
from ws.frames.frame import CloseCode
from ws.protocol import Side
from ws.transports.endpoint import Address, Connected, listener_address
from ws.transports.fastio import close_forcefully, io_for
from ws.transports.memory import MemoryListener
from ws.transports.tcp import open_tcp_listeners
from ws.transports.unix import open_unix_listener


__all__ = [
    "Handler",
    "WebSocketRequest",
    "WebSocketServer",
    "serve_websocket",
    "serve_websocket_unix",
    "wrap_server_stream",
]

logger = logging.getLogger("ws")

_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


@attrs.define(eq=False)
class WebSocketRequest:
    """A client's opening handshake, waiting for the handler's answer."""

    _connected: Connected
    _handshake: ServerHandshake[Extension] | None  # dropped once answered
    _request: HandshakeRequest
    _options: ServerOptions
    _nursery: trio.Nursery
    _http: HTTPRequest | None = None  # made for the hooks, or when asked for
    _log: Log | None = None
    _on_accept: Callable[[WebSocketConnection], None] | None = None
    _connection: WebSocketConnection | None = attrs.field(default=None, init=False)
    _answered: bool = attrs.field(default=False, init=False)
    _client_gone: HandshakeError | None = attrs.field(default=None, init=False)

    @property
    def http_request(self) -> HTTPRequest:
        """The request as ``process_request`` hooks saw it, with what they left in it."""
        if self._http is None:
            self._http = _http_request_of(self._request, self._connected)
        return self._http

    @property
    def user(self) -> str | None:
        """The user :func:`ws.basic_auth` authenticated, or ``None``."""
        return None if self._http is None else self._http.user

    @property
    def state(self) -> dict[str, object]:
        """What ``process_request`` hooks left for the handler (``request.state`` there)."""
        return self.http_request.state

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The request headers as ``(name, value)`` bytes; names in lower case."""
        return list(self._request.headers)

    @property
    def path(self) -> str:
        """The requested resource: path and query string."""
        return self._request.path

    @property
    def proposed_subprotocols(self) -> tuple[str, ...]:
        """The subprotocols the client offered, in its order of preference."""
        return self._request.subprotocols

    @property
    def local(self) -> Address:
        """The server's end of the connection."""
        return self._connected.local

    @property
    def remote(self) -> Address:
        """The client's end of the connection."""
        return self._connected.remote

    @property
    def connection(self) -> WebSocketConnection | None:
        """The connection, once accepted."""
        return self._connection

    async def accept(
        self, *, subprotocol: str | None = None, extra_headers: HeadersArg = None
    ) -> WebSocketConnection:
        """Accept the connection: send the 101 response.

        Args:
            subprotocol: The subprotocol to use; one the client proposed, or ``None``.
            extra_headers: More response headers, as ``(name, value)`` pairs.

        Raises:
            ws.errors.LocalProtocolError: Already answered, or a subprotocol
                the client did not propose.
            ConnectionClosed: The client went away meanwhile.
        """
        handshake = self._handshake
        if self._answered or handshake is None:
            raise LocalProtocolError("this request was already accepted or rejected")
        response, extensions = handshake.accept(
            self._request,
            subprotocol=subprotocol,
            extra_headers=normalize_headers(extra_headers),
            extensions=self._options.extension_factories(),
        )
        self._answered = True
        self._handshake = None  # the h11 state is not needed any more
        connection = build_connection(
            self._connected.stream,
            Side.SERVER,
            options=self._options,
            extensions=extensions,
            trailing_data=handshake.trailing_data,
            path=self._request.path,
            local=self._connected.local,
            remote=self._connected.remote,
            subprotocol=subprotocol,
            handshake_headers=self._request.headers,
            close_timeout=self._options.disconnect_timeout,
            log=self._log,
        )
        self._connection = connection
        try:
            await io_for(self._connected.stream).send_all(response)
        except _STREAM_ERRORS as exc:
            gone = self._client_gone = HandshakeError(
                f"the client went away during the handshake: {exc!r}"
            )
            raise gone from exc
        start_reader(connection, self._nursery)
        log = self._log
        if log is not None and log.info_enabled:  # the arguments cost more than the check
            log.info(
                "accepted %s from %s (subprotocol %s, extensions %s)",
                self._request.path,
                where(self._connected.remote),
                subprotocol,
                ", ".join(extension.name for extension in extensions) or "none",
            )
        if self._on_accept is not None:
            self._on_accept(connection)
        return connection

    async def reject(
        self, status_code: int, *, extra_headers: HeadersArg = None, body: bytes | None = None
    ) -> None:
        """Refuse the connection with an HTTP response, then close it.

        Args:
            status_code: The status, e.g. 403; not 101.
            extra_headers: More response headers.
            body: The response body, if any.

        Raises:
            ws.errors.LocalProtocolError: Already answered, or an invalid status.
        """
        handshake = self._handshake
        if self._answered or handshake is None:
            raise LocalProtocolError("this request was already accepted or rejected")
        response = handshake.reject(
            status_code, headers=normalize_headers(extra_headers), body=body or b""
        )
        self._answered = True
        self._handshake = None
        if self._log is not None:
            self._log.info(
                "rejected %s %s from %s: %d by the handler",
                self._request.method,
                self._request.path,
                where(self._connected.remote),
                status_code,
            )
        with contextlib.suppress(*_STREAM_ERRORS):
            await self._connected.stream.send_all(response)
        await trio.aclose_forcefully(self._connected.stream)


Handler = Callable[[WebSocketRequest], Awaitable[object]]


@attrs.define(eq=False, init=False)
class WebSocketServer:
    """Accepts connections on listeners and runs a handler for each.

    Args:
        handler: ``async def handler(request: WebSocketRequest)``.
        listeners: Trio listeners, e.g. from ``trio.open_tcp_listeners``
            (wrapped in ``trio.SSLListener`` for TLS); at least one.
        handler_nursery: Where the handlers run; by default a nursery of
            the server's own. Connections' reader tasks always run in the
            server's own nursery.
        message_queue_size, max_message_size, receive_buffer_size,
        connect_timeout, disconnect_timeout, compression: As for
            :func:`serve_websocket`.
        options: A :class:`~ws.ServerOptions` with every setting, instead
            of settings as keyword arguments; giving both is a ``TypeError``.
        settings: Any other :class:`~ws.ServerOptions` field as a keyword
            argument (:class:`~ws.ServerSettings` lists them): ``process_request``,
            ``origins``, ``ping_interval=None``, ...

    Raises:
        ValueError: ``listeners`` is empty.
    """

    _handler: Handler
    _listeners: Sequence[trio.abc.Listener[trio.abc.Stream]]
    _handler_nursery: trio.Nursery | None
    _options: ServerOptions
    # The open connections, for `connections` and aclose(); one set entry each.
    _connections: set[WebSocketConnection] = attrs.field(factory=set, init=False)
    _accepting: list[trio.CancelScope] = attrs.field(factory=list, init=False)
    _nursery: trio.Nursery | None = attrs.field(default=None, init=False)
    _shutdown: tuple[int, str | None] | None = attrs.field(default=None, init=False)
    _handlers: int = attrs.field(default=0, init=False)
    _handlers_done: trio.Event | None = attrs.field(default=None, init=False)
    _stopped: trio.Event = attrs.field(factory=trio.Event, init=False)

    def __init__(
        self,
        handler: Handler,
        listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
        *,
        handler_nursery: trio.Nursery | None = None,
        message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
        max_message_size: float = ARG_MAX_MESSAGE_SIZE,
        receive_buffer_size: int | None = None,
        connect_timeout: float = ARG_TIMEOUT,
        disconnect_timeout: float = ARG_TIMEOUT,
        compression: Compression = ARG_COMPRESSION,
        options: ServerOptions | None = None,
        **settings: Unpack[ServerSettings],
    ) -> None:
        if len(listeners) == 0:
            raise ValueError("Listeners must contain at least one item.")
        self.__attrs_init__(
            handler,
            listeners,
            handler_nursery,
            make_server_options(
                "WebSocketServer",
                options,
                dict(
                    message_queue_size=message_queue_size,
                    max_message_size=max_message_size,
                    receive_buffer_size=receive_buffer_size,
                    connect_timeout=connect_timeout,
                    disconnect_timeout=disconnect_timeout,
                    compression=compression,
                ),
                settings,
            ),
        )

    @property
    def port(self) -> int:
        """The port of the server's one TCP listener.

        Raises:
            RuntimeError: The server has more than one listener (as in
                trio-websocket, even when they share a port: see
                :attr:`listeners`), or its listener is not a TCP socket.
        """
        if len(self._listeners) > 1:
            raise RuntimeError("Cannot get port because this server has more than 1 listener.")
        listener = self.listeners[0]
        if isinstance(listener, str):
            raise RuntimeError(f"This socket does not have a port: {listener!r}")
        return listener.port

    @property
    def listeners(self) -> list[Address]:
        """Where the server listens: an ``Endpoint`` per TCP listener, or a str."""
        return [listener_address(listener) for listener in self._listeners]

    @property
    def connections(self) -> frozenset[WebSocketConnection]:
        """The server's open connections: accepted, and not closed or closing.

        A snapshot, for :func:`ws.broadcast` or to count clients; it does not
        change when connections come and go.
        """
        return frozenset(
            connection for connection in self._connections if connection.closed is None
        )

    @property
    def options(self) -> ServerOptions:
        """Every setting of the server."""
        return self._options

    async def run(self, *, task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled, or until :meth:`aclose` (supports ``nursery.start``).

        Raises:
            RuntimeError: The server runs already, or ran.
        """
        if self._nursery is not None or self._stopped.is_set():
            raise RuntimeError("a WebSocketServer runs once")
        try:
            with collapse_exception_groups():
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    handler_nursery = self._handler_nursery or nursery
                    for listener in self._listeners:
                        accepting = trio.CancelScope()
                        if self._shutdown is not None:
                            accepting.cancel()  # aclose() came first: only close the listener
                        self._accepting.append(accepting)
                        describe = (
                            listener.describe
                            if isinstance(listener, MemoryListener)
                            else Connected.from_stream
                        )
                        # Readers go in the server's own nursery: handler_nursery
                        # holds handlers only.
                        serve = partial(self._serve_stream, nursery, describe)
                        nursery.start_soon(_accept_loop, listener, handler_nursery, serve, accepting)
                    task_status.started(self)
        finally:
            self._stopped.set()

    async def aclose(
        self,
        code: int = CloseCode.GOING_AWAY,
        reason: str | None = "server shutting down",
        *,
        grace: float = 10,
    ) -> None:
        """Shut the server down gracefully.

        1. Stop accepting at once (the listeners close); a request that
           arrives on a connection accepted before gets 503.
        2. Close every open connection with ``code`` and ``reason``: its
           handler's next ``get_message``/``send_message`` raises
           :class:`~ws.ConnectionClosed` (not ``Cancelled``), so it can
           finish its work.
        3. Wait up to ``grace`` seconds for the handlers to return.
        4. Then cancel what is left: handlers in the server's own nursery
           are cancelled, and every connection still open is dropped.

        Returns once the server stopped (:meth:`run` returned). Calling it
        again, or while it runs, waits for the same shutdown. Cancelling
        the server's nursery instead keeps working as before (1001 and a
        short grace for the close frames).

        Args:
            code: The close code for the open connections (1001, going away).
            reason: The close reason.
            grace: Seconds the handlers have to finish.

        Raises:
            ValueError: A negative grace.
            ws.errors.LocalProtocolError: A code or reason that cannot be sent.
        """
        if not grace >= 0:
            raise ValueError(f"grace must be >= 0 seconds, not {grace!r}")
        serialize_close(code, reason)  # a bad code fails here, before anything stops
        if self._shutdown is None:
            self._shutdown = (code, reason)
            for accepting in self._accepting:
                accepting.cancel()
            with trio.move_on_after(grace):
                async with trio.open_nursery() as closing:
                    for connection in list(self._connections):
                        closing.start_soon(_close_quietly, connection, code, reason)
                await self._wait_handlers()
            # Past the grace: force what is left.
            for connection in list(self._connections):
                reader_of(connection).abort()
                await close_forcefully(connection.stream)
            if self._nursery is not None:
                # With handler_nursery=, the handlers left are the caller's to
                # cancel; the server's own tasks (readers, accept loops) end here.
                self._nursery.cancel_scope.cancel()
        if self._nursery is not None:
            await self._stopped.wait()

    async def _wait_handlers(self) -> None:
        if self._handlers:
            done = self._handlers_done = trio.Event()
            await done.wait()

    def _accepted(self, connection: WebSocketConnection) -> None:
        if self._shutdown is not None:
            # Accepted during the shutdown's grace: closed at once, as the others.
            code, reason = self._shutdown
            reader_of(connection).fail(code, reason or "")
        self._connections.add(connection)

    async def _serve_stream(
        self,
        reader_nursery: trio.Nursery,
        describe: Callable[[trio.abc.Stream], Connected],
        stream: trio.abc.Stream,
    ) -> None:
        options = self._options
        try:
            connected = describe(stream)
        except OSError:  # pragma: no cover - endpoints_of reports "unknown" instead
            await trio.aclose_forcefully(stream)
            return
        log = Log.for_new_connection(options.logger)
        request: WebSocketRequest | None = None
        self._handlers += 1
        try:
            with trio.move_on_after(options.connect_timeout):
                if isinstance(stream, trio.SSLStream):
                    await stream.do_handshake()
                try:
                    handshake, parsed = await read_client_request(stream, options)
                except InvalidRequest as exc:
                    log.info("rejected a request from %s: %d %s", where(connected.remote), exc.http_status, exc)
                    return
                log.head("request", parsed.headers, f"{parsed.method} {parsed.target}")
                try:
                    http = await self._preflight(connected, parsed, log)
                except Exception:  # a hook's, with handler_errors="raise": answer, then raise
                    await _answer(stream, handshake, parsed, HTTPResponse.plain(500), connected, log)
                    raise
                if isinstance(http, HTTPResponse):
                    await _answer(stream, handshake, parsed, http, connected, log)
                    return
                if parsed.error is not None:
                    log.info(
                        "rejected %s %s from %s: %d %s",
                        parsed.method,
                        parsed.path,
                        where(connected.remote),
                        parsed.error.http_status,
                        parsed.error,
                    )
                    with contextlib.suppress(*_STREAM_ERRORS, LocalProtocolError):
                        await stream.send_all(handshake.error_response(parsed.error))
                    return
                request = WebSocketRequest(
                    connected, handshake, parsed, options, reader_nursery, http, log, self._accepted
                )
            if request is None:
                log.info("dropped %s: no complete request within connect_timeout", where(connected.remote))
                return  # the handler never runs
            await self._run_handler(request)
        except (WebSocketError, *_STREAM_ERRORS):
            pass  # a client that broke the handshake; it got its error response
        finally:
            self._handlers -= 1
            if self._handlers == 0 and self._handlers_done is not None:
                self._handlers_done.set()
            # Once accepted, the connection's reader closes the stream when
            # it ends; close it here in every other case.
            connection = None if request is None else request.connection
            if connection is not None:
                self._connections.discard(connection)
            if connection is None or not reader_of(connection).done:
                await close_forcefully(stream)

    async def _preflight(
        self, connected: Connected, parsed: HandshakeRequest, log: Log
    ) -> HTTPRequest | HTTPResponse | None:
        if self._shutdown is not None:
            return HTTPResponse.plain(503, "503 Service Unavailable: the server is shutting down\n")
        return await _preflight_request(self._options, connected, parsed, log, _router_of(self._handler))

    async def _handler_failed(self, request: WebSocketRequest, error: Exception) -> None:
        """A handler raised: log it (or re-raise it, with handler_errors="raise") and tell the client."""
        # The client learns of the error in both modes: 1011 on an open
        # connection, 500 before an answer. The finally clause then
        # closes the connection, before a "raise" error leaves.
        raising = self._options.handler_errors == "raise"
        if not raising:
            log = request._log or Log.for_new_connection(None)
            log.error("unhandled exception in the WebSocket handler for %s", request.path, exc_info=error)
        connection = request.connection
        if connection is not None and connection.closed is None:
            reader_of(connection).fail(CloseCode.INTERNAL_ERROR, "internal server error")
        elif connection is None and not request._answered:
            with contextlib.suppress(WebSocketError):
                await request.reject(500)
        if raising:
            raise error

    async def _run_handler(self, request: WebSocketRequest) -> None:
        cancelled = False
        try:
            await self._handler(request)
        except ConnectionClosed:
            pass  # the peer closed or broke the connection: a normal way for a handler to end
        except HandshakeError as exc:
            if exc is not request._client_gone:
                await self._handler_failed(request, exc)
            elif request._log is not None:
                # accept() found the client gone: the peer's doing, so INFO at most.
                request._log.info("the client went away before the handshake ended: %s", exc)
        except trio.Cancelled:
            # The server is shutting down: close with 1001 (the connection's
            # reader, if cancelled too, does the same) and wait for the
            # reader to close the stream, as trio.serve_listeners drops the
            # stream once we return.
            cancelled = True
            connection = request.connection
            if connection is not None:
                code, reason = self._shutdown or (CloseCode.GOING_AWAY, "server shutting down")
                with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_FRAME_GRACE):
                    with contextlib.suppress(WebSocketError):
                        await connection.aclose(code, reason)
            raise
        except Exception as exc:
            await self._handler_failed(request, exc)
        finally:
            connection = request.connection
            if cancelled:
                pass
            elif connection is not None:
                # Bounded by disconnect_timeout: accept() gives the
                # connection that close timeout, and aclose() keeps to it.
                with contextlib.suppress(WebSocketError):
                    await connection.aclose()
            elif not request._answered:
                # The handler returned without answering: refuse politely.
                with contextlib.suppress(WebSocketError):
                    await request.reject(500, body=b"The WebSocket handler did not accept.\n")


async def _answer(
    stream: trio.abc.Stream,
    handshake: ServerHandshake[Extension],
    parsed: HandshakeRequest,
    response: HTTPResponse,
    connected: Connected,
    log: Log,
) -> None:
    """Send a plain HTTP response for the request, then let the stream close."""
    try:
        data = handshake.reject(response.status_code, headers=response.fields(), body=response.body)
    except LocalProtocolError as exc:
        log.error("cannot send %r: %s", response, exc)
        data = handshake.reject(500, body=b"500 Internal Server Error\n")
    log.info(
        "answered %s %s from %s with HTTP %d",
        parsed.method,
        parsed.path,
        where(connected.remote),
        response.status_code,
    )
    with contextlib.suppress(*_STREAM_ERRORS):
        await stream.send_all(data)


async def _preflight_request(
    options: ServerOptions,
    connected: Connected,
    parsed: HandshakeRequest,
    log: Log,
    router: Router | None = None,
) -> HTTPRequest | HTTPResponse | None:
    """Run the hooks, the Origin check and the router before the handler.

    Returns:
        A response that answers the request; else the HTTPRequest the hooks
        saw, or ``None`` when there was nothing to run.

    Raises:
        Exception: A hook's, with ``handler_errors="raise"`` (answer 500, then raise).
    """
    if not options.process_request and options.origins is None and router is None:
        return None
    http = _http_request_of(parsed, connected)
    for hook in options.process_request:
        try:
            # object: a hook may break its contract, checked below.
            response: object = await hook(http)
        except Exception:
            if options.handler_errors == "raise":
                raise
            log.error(
                "unhandled exception in process_request hook %r for %s %s",
                hook,
                http.method,
                http.path,
                exc_info=True,
            )
            return HTTPResponse.plain(500)
        if response is not None:
            if not isinstance(response, HTTPResponse):
                log.error(
                    "process_request hook %r returned %r, not an HTTPResponse or None",
                    hook,
                    response,
                )
                return HTTPResponse.plain(500)
            return response
    if options.origins is not None and not _origin_allowed(http.header("origin"), options.origins):
        return HTTPResponse.plain(403, "403 Forbidden: this Origin is not allowed\n")
    if router is not None:
        return await router.process_request(http) or http
    return http


async def _close_quietly(connection: WebSocketConnection, code: int, reason: str | None) -> None:
    with contextlib.suppress(WebSocketError):
        await connection.aclose(code, reason)


def _router_of(handler: Handler) -> Router | None:
    return handler if isinstance(handler, Router) else None


def _http_request_of(parsed: HandshakeRequest, connected: Connected) -> HTTPRequest:
    """The :class:`~ws.HTTPRequest` a hook sees for a parsed request."""
    path, _, query = parsed.path.partition("?")
    return HTTPRequest(
        method=parsed.method,
        path=path,
        query=query,
        headers=parsed.headers,
        local=connected.local,
        remote=connected.remote,
        is_websocket=parsed.error is None,
        has_body=parsed.has_body,
    )


def _origin_allowed(origin: str | None, allowed: Sequence[str | re.Pattern[str] | None]) -> bool:
    """Whether an ``Origin`` value (``None``: no header) is one of ``allowed``.

    Strings match exactly (RFC 6454 serializes an origin in lower case, so
    compare with the form browsers send: ``https://example.com``, no
    trailing slash); patterns must match the whole value.
    """
    for candidate in allowed:
        if candidate is None:
            if origin is None:
                return True
        elif origin is None:
            continue
        elif isinstance(candidate, str):
            if candidate == origin:
                return True
        elif candidate.fullmatch(origin):
            return True
    return False


#: accept() errors that mean "too many connections for now" (as trio.serve_listeners has them).
_ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
#: How long to wait before accepting again after one of those.
_ACCEPT_RETRY = 0.1


async def _accept_loop(
    listener: trio.abc.Listener[trio.abc.Stream],
    handler_nursery: trio.Nursery,
    serve: Callable[[trio.abc.Stream], Awaitable[None]],
    accepting: trio.CancelScope,
) -> None:
    """Accept connections for ever, each served in its own task in ``handler_nursery``.

    What :func:`trio.serve_listeners` does, less the ``aclose_forcefully``
    it wraps around every handler: ``_serve_stream`` closes its stream
    itself, more cheaply (measured, sequential connect + handshake + close
    in one process, 4 x 3,000: 1,567 against 1,372 connections/s).
    """
    async with listener:
        with accepting:  # cancelled by WebSocketServer.aclose(): stop accepting
            await _accept_forever(listener, handler_nursery, serve)


async def _accept_forever(
    listener: trio.abc.Listener[trio.abc.Stream],
    handler_nursery: trio.Nursery,
    serve: Callable[[trio.abc.Stream], Awaitable[None]],
) -> None:
    while True:
        try:
            stream = await listener.accept()
        except OSError as exc:
            if exc.errno not in _ACCEPT_CAPACITY_ERRNOS:
                raise
            # WARNING, the one record above INFO that many peers together
            # can cause: the process is out of file descriptors or memory,
            # which its operator must hear of (at most 10 records a second).
            logger.warning(
                "ws: accept() failed with %s (%s); accepting again in %s s",
                errno.errorcode[exc.errno],
                os.strerror(exc.errno),
                _ACCEPT_RETRY,
            )
            await trio.sleep(_ACCEPT_RETRY)
            continue
        handler_nursery.start_soon(serve, stream)


async def serve_websocket(
    handler: Handler,
    host: str | bytes | None,
    port: int,
    ssl_context: ssl.SSLContext | None,
    *,
    handler_nursery: trio.Nursery | None = None,
    message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
    max_message_size: float = ARG_MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = None,
    connect_timeout: float = ARG_TIMEOUT,
    disconnect_timeout: float = ARG_TIMEOUT,
    compression: Compression = ARG_COMPRESSION,
    reuse_port: bool = False,
    options: ServerOptions | None = None,
    task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED,
    **settings: Unpack[ServerSettings],
) -> None:
    """Serve WebSocket over TCP (or TLS) until cancelled.

    Supports ``server = await nursery.start(serve_websocket, ...)``, which
    returns the :class:`WebSocketServer` once it accepts connections.

    Args:
        handler: ``async def handler(request)`` called for each connection.
        host: The interface to bind; ``None`` binds all interfaces (with
            ``port=0`` that may give listeners on different ports).
        port: The port; 0 picks a free one.
        ssl_context: A server ``ssl.SSLContext`` for TLS, or ``None``.
        handler_nursery: Where handlers and reader tasks run.
        message_queue_size, max_message_size, receive_buffer_size: As for clients.
        connect_timeout: Seconds from the TCP connection to a complete
            request; a slower client is dropped and the handler never runs.
        disconnect_timeout: Seconds for the closing handshake after the
            handler returns.
        compression: ``"deflate"`` (default), a configured
            ``ServerPerMessageDeflateFactory``, or ``None``.
        reuse_port: Listen with ``SO_REUSEPORT``, so that several
            processes (each running ``serve_websocket(..., reuse_port=True)``
            on the same host and port) share the port; Linux spreads the
            connections over them. Not an option of the connections, so not
            in ``options``. For a :class:`WebSocketServer` built from
            listeners, make them with
            ``ws.transports.open_tcp_listeners(port, host, reuse_port=True)``.
            ``python -m ws serve --workers N`` runs such processes for you.
        options: A :class:`~ws.ServerOptions` with every setting, instead
            of settings as keyword arguments; giving both is a ``TypeError``.
        settings: Any other :class:`~ws.ServerOptions` field as a keyword
            argument (:class:`~ws.ServerSettings` lists them): ``process_request``,
            ``origins``, ``ping_interval=None``, ...
        task_status: Part of Trio's ``nursery.start`` protocol.

    Raises:
        OSError: The server could not listen (``EADDRINUSE``: the port is
            taken, also when the other socket on it lacks ``reuse_port``).
            ``reuse_port=True`` on a system without ``SO_REUSEPORT``
            (Windows) raises the subclass ``ws.transports.tcp.ReusePortUnsupported``.
    """
    options = make_server_options(
        "serve_websocket",
        options,
        dict(
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
            receive_buffer_size=receive_buffer_size,
            connect_timeout=connect_timeout,
            disconnect_timeout=disconnect_timeout,
            compression=compression,
        ),
        settings,
    )
    if isinstance(host, bytes):
        host = host.decode("ascii")
    listeners: list[trio.abc.Listener[trio.abc.Stream]] = list(
        await open_tcp_listeners(port, host, reuse_port=reuse_port)
    )
    if ssl_context is not None:
        listeners = [
            trio.SSLListener(listener, ssl_context, https_compatible=True)
            for listener in listeners
        ]
    server = WebSocketServer(handler, listeners, handler_nursery=handler_nursery, options=options)
    await server.run(task_status=task_status)


async def serve_websocket_unix(
    handler: Handler,
    path: str | os.PathLike[str],
    ssl_context: ssl.SSLContext | None = None,
    *,
    mode: int | None = None,
    handler_nursery: trio.Nursery | None = None,
    message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
    max_message_size: float = ARG_MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = None,
    connect_timeout: float = ARG_TIMEOUT,
    disconnect_timeout: float = ARG_TIMEOUT,
    compression: Compression = ARG_COMPRESSION,
    options: ServerOptions | None = None,
    task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED,
    **settings: Unpack[ServerSettings],
) -> None:
    """Serve WebSocket on a Unix socket until cancelled.

    Like :func:`serve_websocket`, with a socket file instead of a host and
    port. The file is created (a stale one left by a dead server is
    replaced) and removed when the server stops. Clients connect with
    ``ws+unix://`` URLs: ``open_websocket_url("ws+unix://%2Ftmp%2Fapp.sock/chat")``.
    ``server.listeners`` reports the path.

    Args:
        handler: ``async def handler(request)`` called for each connection.
        path: The socket file to create, or a Linux abstract name (``"\\0name"``).
        ssl_context: A server ``ssl.SSLContext`` for TLS over the socket, or ``None``.
        mode: Permission bits for the socket file (e.g. ``0o660``); clients
            need write permission. ``None`` leaves what the umask gives.
        handler_nursery, message_queue_size, max_message_size, receive_buffer_size,
        connect_timeout, disconnect_timeout, compression, options, task_status,
        settings: As for :func:`serve_websocket`.

    Raises:
        OSError: The socket could not be created (``EADDRINUSE`` when a
            server already listens on ``path``).
    """
    options = make_server_options(
        "serve_websocket_unix",
        options,
        dict(
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
            receive_buffer_size=receive_buffer_size,
            connect_timeout=connect_timeout,
            disconnect_timeout=disconnect_timeout,
            compression=compression,
        ),
        settings,
    )
    unix_listener = await open_unix_listener(path, mode=mode)
    listener: trio.abc.Listener[trio.abc.Stream] = unix_listener
    if ssl_context is not None:
        listener = trio.SSLListener(unix_listener, ssl_context, https_compatible=True)
    try:
        server = WebSocketServer(handler, [listener], handler_nursery=handler_nursery, options=options)
        await server.run(task_status=task_status)
    finally:
        await trio.aclose_forcefully(unix_listener)


async def wrap_server_stream(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
    max_message_size: float = ARG_MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = None,
    *,
    compression: Compression = ARG_COMPRESSION,
    options: ServerOptions | None = None,
    **settings: Unpack[ServerSettings],
) -> WebSocketRequest:
    """Read a client's opening request from any Trio stream.

    No timeout: wrap the call in a cancel scope. Accept or reject the
    returned request; an accepted connection's reader runs in ``nursery``.
    ``process_request`` hooks and the ``origins`` check run as in a server.

    Raises:
        ws.errors.InvalidRequest: The request was invalid (the error
            response was sent).
        HandshakeError: The stream broke or ended first, or a hook or the
            ``origins`` check answered the request (the response was sent).
    """
    options = make_server_options(
        "wrap_server_stream",
        options,
        dict(
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
            receive_buffer_size=receive_buffer_size,
            compression=compression,
        ),
        settings,
        timeouts=False,
    )
    connected = Connected.from_stream(stream)
    log = Log.for_new_connection(options.logger)
    handshake, parsed = await read_client_request(stream, options)
    try:
        http = await _preflight_request(options, connected, parsed, log)
    except Exception:  # a hook's, with handler_errors="raise"
        await _answer(stream, handshake, parsed, HTTPResponse.plain(500), connected, log)
        raise
    if isinstance(http, HTTPResponse):
        await _answer(stream, handshake, parsed, http, connected, log)
        raise HandshakeError(
            f"the request {parsed.method} {parsed.path} was answered with HTTP "
            f"{http.status_code} before the upgrade (process_request or origins)"
        )
    if parsed.error is not None:
        with contextlib.suppress(*_STREAM_ERRORS):
            await stream.send_all(handshake.error_response(parsed.error))
        raise parsed.error
    return WebSocketRequest(connected, handshake, parsed, options, nursery, http, log)
