"""``ws.sync.serve``: a blocking WebSocket server whose handlers are plain functions.

Theory of operation
-------------------

The server is :func:`ws.serve_websocket` (or :func:`ws.serve_websocket_unix`)
running in the background Trio thread of :mod:`ws.sync._runtime`; only the
code the user writes runs in other threads:

* :func:`serve` acquires the runtime and enters :meth:`Server._serving` there
  with :meth:`~ws.sync._runtime.Runtime.hold`: a nursery that runs the async
  server, which it leaves with a graceful
  :meth:`WebSocketServer.aclose <ws.WebSocketServer.aclose>`. The async
  server reads requests, runs the ``process_request`` hooks, checks
  ``origins`` and answers plain HTTP exactly as it does for async code.
* Each WebSocket request reaches :meth:`Server._serve_connection` in the
  Trio thread, which first claims one of ``max_workers`` *worker* tokens
  (a :class:`trio.CapacityLimiter`). A handler keeps its thread for the
  life of its connection, so the pool bounds the connections served at
  once. When every worker is busy the request waits up to
  ``worker_timeout`` seconds for one, then gets ``503`` with
  ``Retry-After``: it is never accepted into a queue where the client
  would think it is served while nobody reads its messages.
* With a worker, the request is accepted (with the first of the server's
  ``subprotocols`` the client offered), :func:`~ws.sync.connection.attach`
  runs the connection's pump and sender, and the handler runs in a thread
  of its own (:meth:`~ws.sync._runtime.Runtime.run_in_thread`, which leaves
  no idle thread behind) with a :class:`ServerConnection`. When
  it returns, the messages it sent are flushed and the async server closes
  the connection with 1000; its exception goes to the async server, which
  logs it and closes with 1011 (``handler_errors="raise"`` stops the server
  instead, and :meth:`Server.serve_forever` raises it).
* Plain ``process_request`` hooks run in threads of their own too, outside
  the workers: a full pool must not keep health
  checks or a 401 from being answered. Async hooks (``ws.basic_auth``)
  run in the Trio thread as they are.
* :meth:`Server.shutdown` leaves the held context: the async server stops
  accepting, closes every connection with 1001, waits up to ``grace``
  seconds for the handlers (whose ``recv()`` raises
  :class:`~ws.ConnectionClosedOK`), then abandons the threads still running
  (they are not interruptible) and releases the runtime. One thread does
  that work; others that call ``shutdown()`` meanwhile wait for it. A
  worker thread of the server (a handler or a hook) cannot wait for the
  shutdown, which waits for it: there ``shutdown()`` hands the work to a
  short-lived thread and returns at once.
* :meth:`Server.serve_forever` waits until the async server has ended, by
  a shutdown or by failing; Ctrl-C there shuts the server down gracefully,
  then propagates.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Final, Literal, Self, TypeAlias, TypedDict, TypeVar, Unpack, cast, final

import attrs
import trio

from ws._groups import collapse_exception_groups
from ws.connection import WebSocketConnection
from ws.auth import basic_auth as _basic_auth
from ws.extensions.base import ServerExtensionFactory
from ws.frames.close import serialize_close
from ws.frames.frame import CloseCode
from ws.handshake.limits import HandshakeLimits
from ws.http import HTTPRequest, HTTPResponse, ProcessRequest
from ws.options import (
    ARG_COMPRESSION,
    ARG_MAX_MESSAGE_SIZE,
    ARG_MESSAGE_QUEUE_SIZE,
    ARG_TIMEOUT,
    Compression,
    Logger,
    Origins,
    ServerOptions,
    make_server_options,
    subprotocol_tuple,
)
from ws.server import WebSocketRequest, WebSocketServer, serve_websocket, serve_websocket_unix
from ws.sync._runtime import Held, runtime, wait_event
from ws.sync.connection import Connection, Inbox, Outbox, attach
from ws.transports.endpoint import Address

__all__ = [
    "DEFAULT_MAX_WORKERS",
    "DEFAULT_WORKER_TIMEOUT",
    "Handler",
    "ProcessRequestArg",
    "Server",
    "ServerConnection",
    "SyncProcessRequest",
    "SyncServerSettings",
    "basic_auth",
    "serve",
    "serve_unix",
]

logger = logging.getLogger("ws")

T = TypeVar("T")

#: Handlers run at once (one thread each, for the life of a connection), by default.
DEFAULT_MAX_WORKERS: Final = 100
#: Seconds a request waits for a free worker before ``503``, by default.
DEFAULT_WORKER_TIMEOUT: Final = 5.0
#: The ``Retry-After`` of the ``503`` a request gets when every worker stays busy.
RETRY_AFTER: Final = 5
#: Seconds :meth:`Server.serve_forever` waits for the thread that finishes a
#: shutdown begun in a handler (it only leaves the Trio context and returns).
_JOIN_TIMEOUT: Final = 10.0

#: A connection's handler: ``def handler(connection: ServerConnection) -> None``.
Handler: TypeAlias = Callable[["ServerConnection"], object]

#: A ``process_request`` hook of the sync server: a plain function (run in a
#: thread) or an async one (run in the Trio thread, as :func:`ws.basic_auth`'s).
SyncProcessRequest: TypeAlias = Callable[
    [HTTPRequest], HTTPResponse | None | Awaitable[HTTPResponse | None]
]
#: What ``process_request=`` takes: one hook, several tried in order, or ``None``.
ProcessRequestArg: TypeAlias = SyncProcessRequest | Sequence[SyncProcessRequest] | None


class SyncServerSettings(TypedDict, total=False):
    """The settings of :func:`serve` and :func:`serve_unix` without a name in their signature.

    The fields of :class:`ws.ServerSettings`, with ``process_request``
    taking plain functions too.
    """

    max_fragments: int
    max_frame_size: float
    handshake_limits: HandshakeLimits
    message_queue_bytes: float
    ping_interval: float | None
    ping_timeout: float | None
    logger: Logger | None
    extensions: Iterable[ServerExtensionFactory]
    handler_errors: Literal["log", "raise"]
    process_request: ProcessRequestArg
    origins: Origins | None
    server_header: str | None


class ServerConnection(Connection):
    """A blocking server connection: what a :func:`serve` handler receives.

    It has every method and attribute of :class:`~ws.sync.Connection`
    (``recv``, ``send``, ``ping``, ``close``, iteration, ``remote``,
    ``subprotocol``, ``path``...), and the opening request.

    Args:
        connection, inbox, outbox: As for :class:`~ws.sync.Connection`.
        request: The opening request, as the ``process_request`` hooks saw it.
    """

    def __init__(
        self, connection: WebSocketConnection, inbox: Inbox, outbox: Outbox, request: HTTPRequest
    ) -> None:
        super().__init__(connection, inbox, outbox)
        self._request = request

    @property
    def request(self) -> HTTPRequest:
        """The opening request: path, query, headers, and what hooks left in ``state``."""
        return self._request

    @property
    def user(self) -> str | None:
        """The user a :func:`basic_auth` (or :func:`ws.basic_auth`) hook let in, or ``None``."""
        return self._request.user


_Listen: TypeAlias = Callable[
    [Callable[[WebSocketRequest], Awaitable[None]], ServerOptions, "trio.TaskStatus[WebSocketServer]"],
    Awaitable[None],
]


@final
class Server:
    """A running blocking server, returned by :func:`serve` and :func:`serve_unix`.

    Use it as a context manager, and block in :meth:`serve_forever`
    until :meth:`shutdown` (from another thread, a handler, or Ctrl-C)::

        with ws.sync.serve(echo, "127.0.0.1", 8000) as server:
            server.serve_forever()

    Every method may be called from any thread (not from an async handler
    in the :mod:`ws.sync` Trio thread).
    """

    def __init__(
        self,
        handler: Handler,
        listen: _Listen,
        options: ServerOptions,
        *,
        max_workers: int,
        worker_timeout: float,
        subprotocols: tuple[str, ...],
    ) -> None:
        """Made by :func:`serve` and :func:`serve_unix`, which start it."""
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be an int >= 1, not {max_workers!r}")
        if not worker_timeout >= 0:
            raise ValueError(
                f"worker_timeout must be >= 0 seconds (math.inf: no limit), not {worker_timeout!r}"
            )
        self._handler = handler
        self._listen = listen
        self._max_workers = max_workers
        self._worker_timeout = worker_timeout
        self._subprotocols = subprotocols
        self._options = attrs.evolve(
            options, process_request=tuple(self._async_hook(hook) for hook in options.process_request)
        )
        #: Marks the threads of this server's handlers and hooks (see shutdown()).
        self._local = threading.local()
        self._lock = threading.Lock()
        #: The connections whose handler runs, and their outboxes (flushed before a shutdown).
        self._connections: dict[ServerConnection, Outbox] = {}
        self._listeners: list[Address] = []
        self._held: Held[WebSocketServer] | None = None
        #: Set once the async server ended: shut down, or failed.
        self._ended = threading.Event()
        #: Set once a shutdown is complete and the runtime released.
        self._finished = threading.Event()
        self._finishing = False
        self._finisher: threading.Thread | None = None
        #: What stopped the server when it was not a shutdown; serve_forever() raises it.
        self._failure: BaseException | None = None
        self._close: tuple[int, str | None, float] = (CloseCode.GOING_AWAY, "server shutting down", 10.0)
        # Trio thread only, made there:
        self._workers: trio.CapacityLimiter | None = None
        self._waiting: set[trio.CancelScope] = set()
        self._stopping = False

    def _start(self) -> Self:
        runtime.acquire()
        try:
            _, self._held = runtime.hold(self._serving)
        except BaseException:
            self._finished.set()
            runtime.release()
            raise
        return self

    # -- what the server tells ----------------------------------------------------

    @property
    def port(self) -> int:
        """The port of the server's one TCP listener (with ``port=0``, the one chosen).

        Raises:
            RuntimeError: The server has several listeners (``host=None``
                may bind several interfaces: see :attr:`listeners`), or
                listens on a Unix socket.
        """
        listeners = self._listeners
        if len(listeners) != 1:
            raise RuntimeError(f"this server has {len(listeners)} listeners, so no one port: see listeners")
        listener = listeners[0]
        if isinstance(listener, str):
            raise RuntimeError(f"this server listens on a Unix socket, without a port: {listener!r}")
        return listener.port

    @property
    def listeners(self) -> list[Address]:
        """Where the server listens: an :class:`~ws.Endpoint` per TCP listener, or a socket path."""
        return list(self._listeners)

    @property
    def connections(self) -> frozenset[ServerConnection]:
        """The connections whose handler runs and that are open (a snapshot)."""
        with self._lock:
            return frozenset(one for one in self._connections if one.closed is None)

    def __repr__(self) -> str:
        state = "stopped" if self._ended.is_set() else "serving"
        where = ", ".join(str(listener) for listener in self._listeners)
        return f"<ws.sync.Server {state} on {where}>"

    # -- lifetime -----------------------------------------------------------------

    def serve_forever(self) -> None:
        """Block until the server is shut down.

        Ctrl-C (:exc:`KeyboardInterrupt`) here shuts the server down
        gracefully, as :meth:`shutdown` does, then propagates. Returns at
        once when the server is shut down already.

        Raises:
            Exception: What stopped the server, if it was not a shutdown
                (an accept error, or a handler's error with
                ``handler_errors="raise"``); every call raises it, and
                :meth:`shutdown` does not.
            RuntimeError: Called from a handler of this server, which the
                shutdown would wait for.
        """
        self._check_not_worker("serve_forever")
        try:
            wait_event(self._ended)
        except BaseException:  # KeyboardInterrupt, or another asynchronous exception
            self.shutdown()
            raise
        self._finish(*self._close)
        finisher = self._finisher
        if finisher is not None and finisher is not threading.current_thread():
            finisher.join(_JOIN_TIMEOUT)
        failure = self._failure
        if failure is not None:
            raise failure

    def shutdown(
        self,
        code: int = CloseCode.GOING_AWAY,
        reason: str | None = "server shutting down",
        *,
        grace: float = 10.0,
    ) -> None:
        """Shut the server down gracefully, and wait until it is done.

        Stops accepting (a request in progress gets 503), writes what the
        handlers have sent, closes every connection with ``code`` (the
        handler's ``recv()`` raises
        :class:`~ws.ConnectionClosedOK`), waits up to ``grace`` seconds for
        the handlers to return, then stops waiting for those that do not
        (their threads run on, their connections dropped) and releases
        the :mod:`ws.sync` thread; :meth:`serve_forever` then returns.

        Safe to call more than once and from several threads: later calls
        wait for the first. In a handler (or hook) of this server, which the
        shutdown waits for, it starts the shutdown and returns at once.

        Args:
            code: The close code for the open connections (1001, going away).
            reason: The close reason.
            grace: Seconds the handlers have to return.

        Raises:
            ValueError: A negative grace.
            ws.LocalProtocolError: A code or reason that cannot be sent.
        """
        if not grace >= 0:
            raise ValueError(f"grace must be >= 0 seconds, not {grace!r}")
        serialize_close(code, reason)  # a bad code fails here, before anything stops
        if getattr(self._local, "active", False):
            if self._claim(code, reason, grace):
                finisher = threading.Thread(
                    target=self._finish_claimed, name="ws.sync.server shutdown", daemon=True
                )
                self._finisher = finisher
                finisher.start()
            return
        self._finish(code, reason, grace)

    def _claim(self, code: int, reason: str | None, grace: float) -> bool:
        """Make the calling thread the one that shuts down, unless one is already."""
        with self._lock:
            if self._finishing:
                return False
            self._finishing = True
            self._close = (code, reason, grace)
            return True

    def _finish(self, code: int, reason: str | None, grace: float) -> None:
        if self._claim(code, reason, grace):
            self._finish_claimed()
        else:
            wait_event(self._finished)

    def _finish_claimed(self) -> None:
        held = self._held
        try:
            if held is not None:
                held.leave()
        except Exception as exc:  # what stopped the server: for serve_forever() to raise
            self._failure = exc
        finally:
            try:
                runtime.release()
            finally:
                self._finished.set()

    def _check_not_worker(self, what: str) -> None:
        if getattr(self._local, "active", False):
            raise RuntimeError(
                f"{what}() was called in a handler of the same server, which would wait for itself;"
                " call shutdown() there instead"
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    # -- the Trio side ------------------------------------------------------------

    @asynccontextmanager
    async def _serving(self) -> AsyncIterator[WebSocketServer]:
        """Run the async server while held; leave it with a graceful aclose (Trio thread)."""
        self._workers = trio.CapacityLimiter(self._max_workers)
        try:
            with collapse_exception_groups():
                async with trio.open_nursery() as nursery:
                    server: WebSocketServer = await nursery.start(self._listen_task)
                    self._listeners = server.listeners
                    try:
                        yield server
                    finally:
                        self._stopping = True
                        for waiting in self._waiting:
                            waiting.cancel()
                        code, reason, grace = self._close
                        deadline = trio.current_time() + grace
                        # What handlers sent before the shutdown goes out before its close frame.
                        with trio.move_on_at(deadline):
                            async with trio.open_nursery() as flushing:
                                for outbox in list(self._connections.values()):
                                    flushing.start_soon(outbox.flush)
                        await server.aclose(code, reason, grace=max(0.0, deadline - trio.current_time()))
        finally:
            self._ended.set()

    async def _listen_task(
        self, task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await self._listen(self._serve_connection, self._options, task_status)

    async def _serve_connection(self, request: WebSocketRequest) -> None:
        """The async handler of every request: a worker, the upgrade, the handler in a thread."""
        workers = self._workers
        assert workers is not None
        if not await self._claim_worker(workers, request):
            if self._stopping:
                body = "503 Service Unavailable: the server is shutting down\n"
            else:
                body = "503 Service Unavailable: every worker of the server is busy; retry later\n"
            await request.reject(
                503, extra_headers=[("Retry-After", str(RETRY_AFTER))], body=body.encode()
            )
            return
        try:
            offered = request.proposed_subprotocols
            subprotocol = next((name for name in self._subprotocols if name in offered), None)
            connection = await request.accept(subprotocol=subprotocol)
            # The handler's exception reaches the async server as it is (it logs it, 1011).
            with collapse_exception_groups():
                async with attach(connection) as (inbox, outbox):
                    sync_connection = ServerConnection(connection, inbox, outbox, request.http_request)
                    with self._lock:
                        self._connections[sync_connection] = outbox
                    try:
                        await self._run_handler(sync_connection, outbox)
                    finally:
                        with self._lock:
                            del self._connections[sync_connection]
        finally:
            workers.release_on_behalf_of(request)

    async def _claim_worker(self, workers: trio.CapacityLimiter, request: WebSocketRequest) -> bool:
        if self._stopping:
            return False
        try:
            workers.acquire_on_behalf_of_nowait(request)
            return True
        except trio.WouldBlock:
            pass
        with trio.move_on_after(self._worker_timeout) as waiting:
            self._waiting.add(waiting)
            try:
                await workers.acquire_on_behalf_of(request)
            finally:
                self._waiting.discard(waiting)
            if self._stopped_waiting():  # the shutdown began while it waited
                workers.release_on_behalf_of(request)
                return False
            return True
        return False

    def _stopped_waiting(self) -> bool:
        return self._stopping

    async def _run_handler(self, connection: ServerConnection, outbox: Outbox) -> None:
        try:
            await runtime.run_in_thread(
                self._in_worker,
                self._handler,
                connection,
                name=f"ws.sync.server handler {connection.id}",
            )
        except trio.Cancelled:
            (self._options.logger or logger).warning(
                "[%s] ws.sync: the handler did not return within the shutdown's grace;"
                " its thread was left running and its connection dropped",
                connection.id,
            )
            raise
        except BaseException:
            await self._flush(outbox)
            raise
        await self._flush(outbox)

    async def _flush(self, outbox: Outbox) -> None:
        """Write what the handler sent before it ended (bounded by disconnect_timeout)."""
        with trio.move_on_after(self._options.disconnect_timeout):
            await outbox.flush()

    def _in_worker(self, fn: Callable[[T], object], argument: T) -> object:
        """Call ``fn(argument)`` in a worker thread marked as this server's."""
        local = self._local
        local.active = True
        try:
            return fn(argument)
        finally:
            local.active = False

    def _async_hook(self, hook: SyncProcessRequest) -> ProcessRequest:
        """An async hook as it is; a plain one as an async hook that runs it in a thread."""
        if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
            getattr(hook, "__call__", None)  # an object with an async __call__
        ):
            return cast(ProcessRequest, hook)

        async def in_thread(request: HTTPRequest) -> HTTPResponse | None:
            result = await runtime.run_in_thread(
                self._in_worker, hook, request, name="ws.sync.server process_request"
            )
            if isinstance(result, Awaitable):  # a plain function that returned a coroutine
                answer: object = await result
                return cast("HTTPResponse | None", answer)
            return cast("HTTPResponse | None", result)

        return in_thread


def serve(
    handler: Handler,
    host: str | bytes | None,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT,
    subprotocols: Iterable[str] | None = None,
    message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
    max_message_size: float = ARG_MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = None,
    connect_timeout: float = ARG_TIMEOUT,
    disconnect_timeout: float = ARG_TIMEOUT,
    compression: Compression = ARG_COMPRESSION,
    reuse_port: bool = False,
    options: ServerOptions | None = None,
    **settings: Unpack[SyncServerSettings],
) -> Server:
    """Start a blocking WebSocket server on TCP (or TLS) and return it, listening.

    The blocking twin of :func:`ws.serve_websocket`, with the same options.
    Each accepted connection is handed to ``handler`` in a thread of its
    own; the connection closes with 1000 when the handler returns, and
    with 1011 when it raises (the error is logged to the ``ws`` logger)::

        def echo(connection: ws.sync.ServerConnection) -> None:
            for message in connection:
                connection.send(message)

        with ws.sync.serve(echo, "127.0.0.1", 8000) as server:
            server.serve_forever()

    Args:
        handler: ``def handler(connection: ServerConnection)``, called in a
            worker thread for each connection.
        host: The interface to bind; ``None`` binds all of them (possibly
            several listeners: see :attr:`Server.listeners`).
        port: The port; 0 picks a free one (:attr:`Server.port`).
        ssl_context: A server ``ssl.SSLContext`` for TLS, or ``None``.
        max_workers: How many handlers run at once. A handler holds its
            thread for its connection's whole life, so this is the number
            of connections served at once (default 100, where websockets'
            sync server starts a thread per connection without a bound).
        worker_timeout: Seconds a new connection waits for a free worker
            when all are busy; then it gets ``503 Service Unavailable`` with
            ``Retry-After`` and the handler does not run (0: at once;
            ``math.inf``: as long as the client waits).
        subprotocols: The subprotocols the server speaks, in its order of
            preference; a connection gets the first one its client offered,
            or none (``connection.subprotocol`` is then ``None``).
        message_queue_size, max_message_size, receive_buffer_size,
        connect_timeout, disconnect_timeout, compression, reuse_port,
        options: As for :func:`ws.serve_websocket`.
        settings: Any other :class:`~ws.ServerOptions` field, as for
            :func:`ws.serve_websocket`. ``process_request`` takes plain
            functions (run in a thread, at most 40 at once) as well as async
            ones such as :func:`ws.basic_auth`'s (run in the background Trio
            thread); ``origins`` is as for the async server.

    Returns:
        The server, accepting connections.

    Raises:
        OSError: The server could not listen (``EADDRINUSE``: the port is taken).
        TypeError: An unknown setting, or settings beside ``options``.
        ValueError: A bad ``max_workers``, ``worker_timeout`` or setting.
    """
    opts = make_server_options(
        "serve",
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

    async def listen(
        on_request: Callable[[WebSocketRequest], Awaitable[None]],
        options: ServerOptions,
        task_status: trio.TaskStatus[WebSocketServer],
    ) -> None:
        await serve_websocket(
            on_request,
            host,
            port,
            ssl_context,
            reuse_port=reuse_port,
            options=options,
            task_status=task_status,
        )

    server = Server(
        handler,
        listen,
        opts,
        max_workers=max_workers,
        worker_timeout=worker_timeout,
        subprotocols=subprotocol_tuple(subprotocols),
    )
    return server._start()


def serve_unix(
    handler: Handler,
    path: str | os.PathLike[str],
    *,
    ssl_context: ssl.SSLContext | None = None,
    mode: int | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT,
    subprotocols: Iterable[str] | None = None,
    message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
    max_message_size: float = ARG_MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = None,
    connect_timeout: float = ARG_TIMEOUT,
    disconnect_timeout: float = ARG_TIMEOUT,
    compression: Compression = ARG_COMPRESSION,
    options: ServerOptions | None = None,
    **settings: Unpack[SyncServerSettings],
) -> Server:
    """Start a blocking WebSocket server on a Unix socket and return it, listening.

    :func:`serve` with a socket file instead of a host and port, as
    :func:`ws.serve_websocket_unix` is: the file is created (a stale one
    replaced) and removed at shutdown. :attr:`Server.listeners` holds the
    path; clients connect with ``ws.sync.unix_connect(path)`` or a
    ``ws+unix://`` URL.

    Args:
        handler: ``def handler(connection: ServerConnection)``.
        path: The socket file to create, or a Linux abstract name (``"\\0name"``).
        ssl_context: A server ``ssl.SSLContext`` for TLS over the socket, or ``None``.
        mode: Permission bits for the socket file (e.g. ``0o660``).
        max_workers, worker_timeout, subprotocols, message_queue_size,
        max_message_size, receive_buffer_size, connect_timeout,
        disconnect_timeout, compression, options, settings: As for :func:`serve`.

    Returns:
        The server, accepting connections.

    Raises:
        OSError: The socket could not be created (``EADDRINUSE``: a server
            listens on ``path`` already).
        TypeError: An unknown setting, or settings beside ``options``.
    """
    opts = make_server_options(
        "serve_unix",
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

    async def listen(
        on_request: Callable[[WebSocketRequest], Awaitable[None]],
        options: ServerOptions,
        task_status: trio.TaskStatus[WebSocketServer],
    ) -> None:
        await serve_websocket_unix(
            on_request, path, ssl_context, mode=mode, options=options, task_status=task_status
        )

    server = Server(
        handler,
        listen,
        opts,
        max_workers=max_workers,
        worker_timeout=worker_timeout,
        subprotocols=subprotocol_tuple(subprotocols),
    )
    return server._start()


def basic_auth(
    credentials: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    *,
    check_credentials: Callable[[str, str], bool] | None = None,
    realm: str = "WebSocket",
) -> ProcessRequest:
    """A ``process_request`` hook that lets in only users with valid Basic credentials.

    :func:`ws.basic_auth` with a plain ``check_credentials`` function,
    which runs in a thread (a database query may block there). With
    ``credentials``, it is :func:`ws.basic_auth` itself. The handler finds
    the user in :attr:`ServerConnection.user`.

    Args:
        credentials: The users and their passwords, as a mapping or pairs.
        check_credentials: Or ``def check(username, password) -> bool``.
        realm: The protection space named in the challenge.

    Raises:
        TypeError: Neither or both of ``credentials`` and ``check_credentials``.
        ValueError: A realm that cannot be quoted.
    """
    if check_credentials is None:
        return _basic_auth(credentials, realm=realm)
    check = check_credentials

    async def in_thread(username: str, password: str) -> bool:
        return await runtime.run_in_thread(
            check, username, password, name="ws.sync.server check_credentials"
        )

    return _basic_auth(credentials, check_credentials=in_thread, realm=realm)

