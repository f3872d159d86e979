"""``ws.sync.connect``: a blocking WebSocket client.

:func:`connect` takes the arguments of :func:`ws.open_websocket_url`, with
the same names, defaults and meaning, builds the same options in the
calling thread (so a bad URL or setting raises there, before any thread
starts), and enters ``open_websocket_url`` in a task of the background
Trio thread (:mod:`ws.sync._runtime`), which keeps it entered until
:meth:`~ws.sync.Connection.close`. Connecting therefore behaves as in the
async API: the same proxy choice, redirects, timeouts and exceptions.

The runtime is acquired before connecting and released when connecting
fails or when the connection is closed, so a script whose connections are
all closed has no thread of ours left. A connection still open when the
interpreter exits writes the messages queued by ``send()`` and closes
with 1001 (going away), within the runtime's exit grace.
"""

from __future__ import annotations

import atexit
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Unpack

from ws.client import open_websocket_url
from ws.connection import WebSocketConnection
from ws.frames.frame import CloseCode
from ws.options import (
    ARG_COMPRESSION,
    ARG_MAX_MESSAGE_SIZE,
    ARG_MESSAGE_QUEUE_SIZE,
    ARG_TIMEOUT,
    ClientOptions,
    ClientSettings,
    Compression,
    HeadersArg,
    make_client_options,
)
from ws.sync._runtime import runtime
from ws.sync.connection import Connection, Inbox, Outbox, attach, leave_and_release

__all__ = ["ClientConnection", "connect", "unix_connect"]

#: Set when the interpreter exits, before the runtime's atexit hook (hooks run
#: in reverse order of registration, and the runtime's was registered first).
_exiting = False


def _mark_exiting() -> None:
    global _exiting  # noqa: PLW0603 -- one flag for the whole process
    _exiting = True


atexit.register(_mark_exiting)


class ClientConnection(Connection):
    """A blocking client connection, returned by :func:`connect` and :func:`unix_connect`.

    It has every method and attribute of :class:`~ws.sync.Connection`;
    :attr:`~ws.sync.Connection.handshake_headers` holds the headers of the
    server's handshake response (less the ones the handshake itself uses),
    and :attr:`~ws.sync.Connection.path` the request target that was sent.

    Close it (or use it as a context manager): until the last connection is
    closed, the process keeps the :mod:`ws.sync` background thread. One
    that is forgotten is closed (with 1001) when the interpreter exits.
    """


def connect(
    url: str,
    ssl_context: ssl.SSLContext | None = None,
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
) -> ClientConnection:
    """Open a blocking WebSocket client connection to a URL, and return it open.

    The blocking twin of :func:`ws.open_websocket_url`: same arguments,
    same defaults. Use the connection as a context manager, or call its
    :meth:`~ws.sync.Connection.close`::

        with ws.sync.connect("wss://example.com/chat") as connection:
            connection.send("hello")
            print(connection.recv())

    Args:
        url: A ``ws://`` or ``wss://`` URL, or ``ws+unix://`` with the
            socket path percent-encoded as the authority (or see
            :func:`unix_connect`). A ``user:password@`` in it is sent as
            HTTP Basic ``Authorization``, unless ``extra_headers`` has one.
        ssl_context: The context for ``wss://`` URLs; ``None`` uses a
            default context that verifies certificates.
        subprotocols: Subprotocols to offer, in order of preference.
        extra_headers: More request headers, as ``(name, value)`` pairs.
        message_queue_size: Messages the connection buffers before it stops
            reading from the socket.
        max_message_size: The largest message accepted, in bytes; a larger
            one closes the connection with 1009 (``math.inf``: no limit).
        receive_buffer_size: Bytes asked for per read (``None``: 64 KiB).
        connect_timeout: Seconds to connect and complete the opening
            handshake, through any proxy and redirects (``math.inf``: none).
        disconnect_timeout: Seconds for the closing handshake.
        compression: ``"deflate"`` (default), a configured
            ``ClientPerMessageDeflateFactory``, or ``None`` for none.
        origin: An ``Origin`` header to send.
        options: A :class:`~ws.ClientOptions` with every setting, instead
            of settings as keyword arguments; giving both is a ``TypeError``.
        settings: Any other :class:`~ws.ClientOptions` field as a keyword
            argument (:class:`~ws.ClientSettings` lists them):
            ``ping_interval=None`` turns keepalive off, ``proxy=None``
            ignores the proxy environment variables, ``max_redirects=0``
            follows no redirect.

    Returns:
        The open connection.

    Raises:
        HandshakeError: Connecting failed, as for :func:`ws.open_websocket_url`:
            :class:`~ws.ConnectFailed` (network error; through a proxy,
            :class:`~ws.ProxyError`), :class:`~ws.ConnectionTimeout`, or
            :class:`~ws.ConnectionRejected` (the server answered without
            accepting; :class:`~ws.RedirectError` for a redirect that may
            not be followed).
        ValueError: ``url`` is not a WebSocket URL, or ``ssl_context`` was
            given for a ``ws://`` URL.
        TypeError: An unknown setting, or settings beside ``options``.
    """
    opts = make_client_options(
        "connect",
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
    # Built here, not in the Trio thread: a bad URL raises before the runtime starts.
    return _connect(open_websocket_url(url, ssl_context, options=opts))


def unix_connect(
    path: str,
    url: str = "ws://localhost/",
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
) -> ClientConnection:
    """Open a blocking WebSocket client connection over a Unix socket.

    For code written for ``websockets.sync.client.unix_connect``. It is
    :func:`connect` with the URL ``ws+unix://<path, percent-encoded><resource>``,
    where the resource (path and query) comes from ``url``; the ``Host``
    header is ``localhost``. A server started with
    :func:`ws.serve_websocket_unix` (or any server on a Unix socket) answers.

    Args:
        path: The socket's path in the file system.
        url: A ``ws://`` URL whose path and query are the resource to ask
            for; its host is not used.
        subprotocols, extra_headers, message_queue_size, max_message_size,
        receive_buffer_size, connect_timeout, disconnect_timeout,
        compression, origin, options, settings: As for :func:`connect`.

    Returns:
        The open connection.

    Raises:
        HandshakeError: As for :func:`connect` (:class:`~ws.ConnectFailed`
            when nothing listens on ``path``).
        ValueError: ``url`` is not a ``ws://`` URL (TLS over a Unix socket
            is not supported), or ``path`` is empty.
        TypeError: As for :func:`connect`.
    """
    if not path:
        raise ValueError("unix_connect() needs the path of a Unix socket")
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme.lower() != "ws":
        raise ValueError(
            f"unix_connect() takes a ws:// URL for the resource to ask for, not {url!r}"
            " (TLS over a Unix socket is not supported)"
        )
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return connect(
        f"ws+unix://{urllib.parse.quote(path, safe='')}{resource}",
        subprotocols=subprotocols,
        extra_headers=extra_headers,
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
        connect_timeout=connect_timeout,
        disconnect_timeout=disconnect_timeout,
        compression=compression,
        origin=origin,
        options=options,
        **settings,
    )


def _connect(opening: AbstractAsyncContextManager[WebSocketConnection]) -> ClientConnection:
    """Enter ``opening`` in the Trio thread and wrap what it yields; release the runtime on failure."""

    @asynccontextmanager
    async def opened() -> AsyncIterator[tuple[WebSocketConnection, Inbox, Outbox]]:
        async with opening as connection, attach(connection) as (inbox, outbox):
            yield connection, inbox, outbox
            if _exiting and connection.closed is None:
                # Never closed, and the runtime's atexit hook leaves it: write
                # what send() queued, then say we are going away.
                await outbox.flush()
                await connection.aclose(CloseCode.GOING_AWAY)

    runtime.acquire()
    try:
        (connection, inbox, outbox), held = runtime.hold(opened)
    except BaseException:
        runtime.release()
        raise
    return ClientConnection(connection, inbox, outbox, on_close=leave_and_release(held))
