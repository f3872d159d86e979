"""Helpers for testing code that uses ws: WebSocket connections in memory.

No sockets, no ports, nothing to clean up: the connections run over Trio's
in-memory streams, with a real opening handshake (so subprotocols, headers
and permessage-deflate are negotiated exactly as over TCP), and work with
:class:`trio.testing.MockClock`.

Two helpers:

* :func:`open_websocket_pair` gives a connected client and server
  :class:`~ws.WebSocketConnection`, to test code that takes a connection::

      async with ws.testing.open_websocket_pair() as (client, server):
          await client.send_message("hello")
          assert await server.get_message() == "hello"

* :func:`open_memory_server` runs your server handler, as
  :func:`ws.serve_websocket` would, and lets clients connect to it::

      async with ws.testing.open_memory_server(my_handler) as server:
          async with server.open_websocket("/chat") as connection:
              await connection.send_message("hello")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Unpack

import attrs
import trio

from ws._groups import collapse_exception_groups
from ws.builder import read_client_request
from ws.client import client_handshake, open_connection
from ws.connection import WebSocketConnection
from ws.errors import DisconnectionTimeout
from ws.options import (
    ARG_COMPRESSION,
    ARG_MAX_MESSAGE_SIZE,
    ARG_MESSAGE_QUEUE_SIZE,
    ARG_TIMEOUT,
    ClientOptions,
    ClientSettings,
    Compression,
    HeadersArg,
    ServerOptions,
    ServerSettings,
    make_client_options,
    make_server_options,
)
from ws.server import Handler, WebSocketRequest, WebSocketServer
from ws.transports.memory import MemoryListener, memory_pair

__all__ = ["MemoryWebSocketServer", "open_memory_server", "open_websocket_pair"]

_HOST = "localhost"


@asynccontextmanager
async def open_websocket_pair(
    resource: str = "/",
    *,
    subprotocols: Iterable[str] | None = None,
    extra_headers: HeadersArg = None,
    compression: Compression = ARG_COMPRESSION,
    client_options: ClientOptions | None = None,
    server_options: ServerOptions | None = None,
    lockstep: bool = False,
) -> AsyncIterator[tuple[WebSocketConnection, WebSocketConnection]]:
    """Open a connected ``(client, server)`` pair of WebSocket connections in memory.

    The client sends a real opening request for ``resource``; the server
    accepts it, choosing the first of ``subprotocols`` if any. On exit
    both ends close at once, with 1000 unless the test closed them
    already; messages left unread on either side are discarded. The
    closing handshake has the client's ``disconnect_timeout``.

    Args:
        resource: The requested path and query (``server.path``).
        subprotocols: Subprotocols the client offers; the server picks the first.
        extra_headers: More request headers (``server.handshake_headers``).
        compression: ``"deflate"`` (default) or ``None``, for each side
            whose options object is not given.
        client_options: Every client setting at once, instead of
            ``subprotocols`` and ``extra_headers``.
        server_options: Every server setting at once.
        lockstep: ``True`` uses unbuffered streams, where a write waits
            until the peer reads, to make back-pressure visible.

    Yields:
        ``(client, server)``.

    Raises:
        DisconnectionTimeout: The closing handshake did not finish within
            the client's ``disconnect_timeout``.
        TypeError: A setting given beside the options object it belongs in.
    """
    if client_options is not None and server_options is not None and compression is not ARG_COMPRESSION:
        raise TypeError(
            "open_websocket_pair() got client_options=, server_options= and also compression: "
            "set compression in the options objects"
        )
    client_compression = compression if client_options is None else ARG_COMPRESSION
    named = {"subprotocols": subprotocols, "extra_headers": extra_headers}
    client_options = make_client_options(
        "open_websocket_pair", client_options, {**named, "compression": client_compression}, {}
    )
    server_options = make_server_options(
        "open_websocket_pair",
        server_options,
        {"compression": compression if compression is None and server_options is None else ARG_COMPRESSION},
        {},
    )
    client_end, server_end = memory_pair(lockstep=lockstep, name="pair")
    with collapse_exception_groups():
        async with trio.open_nursery() as nursery:
            server_box: list[WebSocketConnection] = []
            accepted = trio.Event()

            async def serve() -> None:
                handshake, parsed = await read_client_request(server_end.stream, server_options)
                request = WebSocketRequest(server_end, handshake, parsed, server_options, nursery)
                offered = request.proposed_subprotocols
                server_box.append(await request.accept(subprotocol=offered[0] if offered else None))
                accepted.set()

            nursery.start_soon(serve)
            with trio.fail_after(client_options.connect_timeout):
                client = await client_handshake(
                    nursery, client_end, _HOST, resource, client_options
                )
                await accepted.wait()
            server = server_box[0]
            try:
                yield client, server
            except BaseException:
                nursery.cancel_scope.cancel()
                raise
            with trio.move_on_after(client_options.disconnect_timeout) as scope:
                # Both ends at once: each aclose() discards the messages the
                # test left unread on its side, which frees that side's reader
                # (it reads nothing while its queue is full) to see the closing
                # handshake through. One at a time, the client's close would
                # wait behind a server queue that nobody empties.
                async with trio.open_nursery() as closing:
                    closing.start_soon(client.aclose)
                    closing.start_soon(server.aclose)
            nursery.cancel_scope.cancel()
            if scope.cancelled_caught or client.close_timed_out or server.close_timed_out:
                raise DisconnectionTimeout(
                    "the in-memory pair did not close within disconnect_timeout="
                    f"{client_options.disconnect_timeout}s"
                )


@attrs.define(eq=False)
class MemoryWebSocketServer:
    """A WebSocket server reachable only in memory; see :func:`open_memory_server`.

    Attributes:
        server: The :class:`~ws.WebSocketServer` that runs the handler.
        listener: The :class:`~ws.transports.MemoryListener` it accepts on.
    """

    server: WebSocketServer
    listener: MemoryListener

    def open_websocket(
        self,
        resource: str = "/",
        *,
        subprotocols: Iterable[str] | None = None,
        extra_headers: HeadersArg = None,
        message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
        max_message_size: float = ARG_MAX_MESSAGE_SIZE,
        receive_buffer_size: int | None = None,
        connect_timeout: float = ARG_TIMEOUT,
        disconnect_timeout: float = ARG_TIMEOUT,
        compression: Compression = ARG_COMPRESSION,
        origin: str | None = None,
        options: ClientOptions | None = None,
        **settings: Unpack[ClientSettings],
    ) -> AbstractAsyncContextManager[WebSocketConnection]:
        """Connect a client, like :func:`ws.open_websocket` (an async context manager).

        The arguments are :func:`ws.open_websocket`'s, without host, port and TLS;
        ``settings`` are the other :class:`~ws.ClientOptions` fields.
        """
        options = make_client_options(
            "MemoryWebSocketServer.open_websocket",
            options,
            dict(
                subprotocols=subprotocols,
                extra_headers=extra_headers,
                message_queue_size=message_queue_size,
                max_message_size=max_message_size,
                receive_buffer_size=receive_buffer_size,
                connect_timeout=connect_timeout,
                disconnect_timeout=disconnect_timeout,
                compression=compression,
                origin=origin,
            ),
            settings,
        )
        return open_connection(partial(self._connect, resource=resource, options=options), options)

    async def connect_websocket(
        self,
        nursery: trio.Nursery,
        resource: str = "/",
        *,
        subprotocols: Iterable[str] | None = None,
        extra_headers: HeadersArg = None,
        message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
        max_message_size: float = ARG_MAX_MESSAGE_SIZE,
        receive_buffer_size: int | None = None,
        compression: Compression = ARG_COMPRESSION,
        origin: str | None = None,
        options: ClientOptions | None = None,
        **settings: Unpack[ClientSettings],
    ) -> WebSocketConnection:
        """Connect a client whose reader runs in ``nursery``, like :func:`ws.connect_websocket`.

        The caller closes the connection.
        """
        options = make_client_options(
            "MemoryWebSocketServer.connect_websocket",
            options,
            dict(
                subprotocols=subprotocols,
                extra_headers=extra_headers,
                message_queue_size=message_queue_size,
                max_message_size=max_message_size,
                receive_buffer_size=receive_buffer_size,
                compression=compression,
                origin=origin,
            ),
            settings,
            timeouts=False,
        )
        return await self._connect(nursery, resource=resource, options=options)

    async def _connect(
        self, nursery: trio.Nursery, *, resource: str, options: ClientOptions
    ) -> WebSocketConnection:
        connected = await self.listener.connect()
        try:
            return await client_handshake(nursery, connected, _HOST, resource, options)
        except BaseException:
            await trio.aclose_forcefully(connected.stream)
            raise


@asynccontextmanager
async def open_memory_server(
    handler: Handler,
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
) -> AsyncIterator[MemoryWebSocketServer]:
    """Run ``handler`` as a WebSocket server that clients reach in memory.

    The handler runs exactly as under :func:`ws.serve_websocket` (same
    request object, same error handling and logging). On exit the server
    stops and open connections are dropped.

    Args:
        handler: ``async def handler(request: ws.WebSocketRequest)``.
        handler_nursery, message_queue_size, max_message_size, receive_buffer_size,
        connect_timeout, disconnect_timeout, compression, options, settings:
            As for :func:`ws.serve_websocket`.

    Yields:
        The server; connect with :meth:`MemoryWebSocketServer.open_websocket`.
    """
    options = make_server_options(
        "open_memory_server",
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
    listener = MemoryListener(name="memory")
    server = WebSocketServer(handler, [listener], handler_nursery=handler_nursery, options=options)
    with collapse_exception_groups():
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            try:
                yield MemoryWebSocketServer(server, listener)
            finally:
                nursery.cancel_scope.cancel()
