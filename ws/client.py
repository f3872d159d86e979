"""Client API: open_websocket(_url), connect_websocket(_url), wrap_client_stream.

The names, arguments, defaults and behaviour are trio-websocket's, so code
written for it runs after changing the import to ``ws``. New settings come
as keyword arguments (``compression``, ``origin``, ``options`` for
everything at once).

The context managers (``open_*``) apply ``connect_timeout`` and
``disconnect_timeout`` and own a nursery for the connection's reader task;
the ``connect_*`` and ``wrap_*`` functions set no timeout and run the reader
in the nursery you give them.
"""

from __future__ import annotations

import base64
import math
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Final, Unpack

import attrs
import trio

from ws._groups import collapse_exception_groups
from ws._logging import Log, where
from ws._proxy import choose_proxy, connect_via_proxy
from ws._redirect import REDIRECT_STATUSES, Redirects
from ws.builder import build_connection, perform_client_handshake
from ws.connection import WebSocketConnection, reader_of, start_reader
from ws.errors import ConnectFailed, ConnectionRejected, ConnectionTimeout, DisconnectionTimeout
from ws.handshake.headers import format_host
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
from ws.protocol import Side
from ws.transports.endpoint import Connected
from ws.transports.tcp import connect_tcp
from ws.transports.tls import connect_tls, wrap_client_tls
from ws.transports.unix import connect_unix

__all__ = [
    "connect_websocket",
    "connect_websocket_url",
    "open_websocket",
    "open_websocket_url",
    "wrap_client_stream",
]


@attrs.frozen
class _Target:
    host: str
    port: int
    resource: str
    secure: bool
    unix_path: str | None = None
    # "Basic ..." from the URL's user:password, if it has one.
    authorization: str | None = None

    def options_for(self, options: ClientOptions) -> ClientOptions:
        """``options``, plus the URL's ``Authorization`` unless ``extra_headers`` has one."""
        if self.authorization is None or any(
            name.lower() == b"authorization" for name, _ in options.extra_headers
        ):
            return options
        field = (b"Authorization", self.authorization.encode("ascii"))
        return attrs.evolve(options, extra_headers=(*options.extra_headers, field))

    @property
    def url(self) -> str:
        """The target as a URL, without credentials: the base of a redirect, and its name in errors."""
        resource = self.resource if self.resource.startswith("/") else "/" + self.resource
        if self.unix_path is not None:
            return f"ws+unix://{urllib.parse.quote(self.unix_path, safe='')}{resource}"
        authority = format_host(self.host, self.port, self.secure)
        return f"{'wss' if self.secure else 'ws'}://{authority}{resource}"


def _check_use_ssl(use_ssl: object) -> None:
    # trio-websocket's check and message: 1 or "yes" must not start TLS.
    if not isinstance(use_ssl, (bool, ssl.SSLContext)):
        raise TypeError("`use_ssl` argument must be bool or ssl.SSLContext")


def _url_target(url: str, ssl_context: ssl.SSLContext | None) -> tuple[_Target, bool | ssl.SSLContext]:
    """The target of a URL and what to pass as ``use_ssl`` for it.

    Raises:
        ValueError: Not a WebSocket URL, or an ``ssl_context`` with a
            ``ws:`` URL (trio-websocket's message).
    """
    target = _parse_url(url)
    if not target.secure:
        if ssl_context is not None:
            raise ValueError("SSL context must be None for ws: URL scheme")
        return target, False
    return target, True if ssl_context is None else ssl_context


def _parse_url(url: str) -> _Target:
    """Split a ws://, wss:// or ws+unix:// URL.

    ``ws+unix://`` takes the socket path percent-encoded in the authority:
    ``ws+unix://%2Ftmp%2Fapp.sock/chat`` reaches ``/chat`` over the Unix
    socket ``/tmp/app.sock``. Anything whose ``str()`` is a URL (e.g. a
    ``yarl.URL``) is accepted, as trio-websocket does.
    """
    url = str(url)
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise ValueError(
            f"the WebSocket URL {url!r} contains a space or a control character; "
            "percent-encode it (a space is %20)"
        )
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    # RFC 9112 section 3.2.1: an empty path is sent as "/". The query is
    # kept as written, even an empty one ("/p?"), as trio-websocket sends it.
    resource = parts.path or "/"
    if parts.query or url.partition("#")[0].endswith("?"):
        resource += "?" + parts.query
    if scheme == "ws+unix":
        path = urllib.parse.unquote(parts.netloc)
        if not path:
            raise ValueError(f"a ws+unix URL names the socket path in its authority: {url!r}")
        return _Target("localhost", 80, resource, False, path)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"a WebSocket URL starts with ws://, wss:// or ws+unix://, not {url!r}")
    if not parts.hostname:
        raise ValueError(f"the WebSocket URL {url!r} has no host")
    secure = scheme == "wss"
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise ValueError(
            f"the port in the WebSocket URL {url!r} is not a number from 0 to 65535"
        ) from None
    return _Target(parts.hostname, port, resource, secure, authorization=_basic(parts))


def _basic(parts: urllib.parse.SplitResult) -> str | None:
    """The ``Authorization`` value for a URL's ``user:password@`` (RFC 7617), or ``None``.

    The user and password are percent-decoded, then sent as UTF-8.
    """
    if parts.username is None:
        return None
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    if ":" in user:
        raise ValueError("a user name in a WebSocket URL cannot contain ':'")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


async def _connect(
    nursery: trio.Nursery,
    *,
    target: _Target,
    use_ssl: bool | ssl.SSLContext,
    options: ClientOptions,
) -> WebSocketConnection:
    # Here, not in open_websocket(): trio-websocket raises it on entering
    # the context manager, as the connection starts.
    _check_use_ssl(use_ssl)
    # Redirects (ws/_redirect.py decides where each one leads): every hop
    # is a new stream, closed by _connect_once when its answer is not 101.
    # connect_timeout, applied by the caller, bounds the whole chain.
    redirects: Redirects[_Target] | None = None
    while True:
        try:
            return await _connect_once(nursery, target=target, use_ssl=use_ssl, options=options)
        except ConnectionRejected as rejected:
            if rejected.status_code not in REDIRECT_STATUSES or not options.max_redirects:
                raise
            if redirects is None:
                redirects = Redirects(target, options.max_redirects, _parse_url)
            hop = redirects.follow(rejected, use_ssl, options)
            if hop is None:
                raise  # no Location: the answer stands
        target, use_ssl, options = hop.target, hop.use_ssl, hop.options


async def _connect_once(
    nursery: trio.Nursery,
    *,
    target: _Target,
    use_ssl: bool | ssl.SSLContext,
    options: ClientOptions,
) -> WebSocketConnection:
    """Open the stream to ``target`` and run the opening handshake on it."""
    connected = await _open_stream(target, use_ssl, options)
    host_header = format_host(target.host, target.port, bool(use_ssl))
    try:
        return await client_handshake(nursery, connected, host_header, target.resource, options)
    except BaseException:
        await trio.aclose_forcefully(connected.stream)
        raise


async def _open_stream(
    target: _Target, use_ssl: bool | ssl.SSLContext, options: ClientOptions
) -> Connected:
    """The TCP, TLS or Unix stream to ``target``, ready for the opening handshake.

    Through a proxy (``options.proxy``: ws/_proxy.py) unless it is a Unix socket.
    """
    if options.proxy is not None and target.unix_path is None:
        proxy = choose_proxy(options.proxy, target.host, target.port, bool(use_ssl))
        if proxy is not None:
            # Its errors name the proxy (ProxyError) or the server already.
            return await connect_via_proxy(proxy, target.host, target.port, use_ssl, options)
    try:
        if target.unix_path is not None:
            connected = await connect_unix(target.unix_path)
            if use_ssl:
                context = use_ssl if isinstance(use_ssl, ssl.SSLContext) else None
                connected = await wrap_client_tls(
                    connected.stream, context, server_hostname=target.host
                )
        elif use_ssl:
            context = use_ssl if isinstance(use_ssl, ssl.SSLContext) else None
            connected = await connect_tls(target.host, target.port, context)
        else:
            connected = await connect_tcp(target.host, target.port)
    except ssl.SSLError:
        raise  # the TLS handshake's own error says what went wrong
    except OSError as exc:
        raise _where_it_failed(exc, target) from exc
    return connected


#: Response headers that only make the handshake, left out of ``handshake_headers``.
_HANDSHAKE_RESPONSE_HEADERS: Final = frozenset(
    {
        b"upgrade",
        b"connection",
        b"sec-websocket-accept",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
    }
)


async def client_handshake(
    nursery: trio.Nursery,
    connected: Connected,
    host_header: str,
    resource: str,
    options: ClientOptions,
) -> WebSocketConnection:
    """Run the opening handshake on ``connected`` and start the reader in ``nursery``."""
    log = Log.for_new_connection(options.logger)
    accepted = await perform_client_handshake(
        connected.stream, host_header=host_header, resource=resource, options=options, log=log
    )
    connection = build_connection(
        connected.stream,
        Side.CLIENT,
        options=options,
        extensions=list(accepted.extensions),
        trailing_data=accepted.trailing_data,
        path=resource,
        local=connected.local,
        remote=connected.remote,
        subprotocol=accepted.subprotocol,
        # As trio-websocket (wsproto) has them: the headers the handshake
        # itself uses are left out.
        handshake_headers=[
            (name, value)
            for name, value in accepted.headers
            if name.lower() not in _HANDSHAKE_RESPONSE_HEADERS
        ],
        # Bounds the closing handshake the reader waits for after a close
        # (ours, or one the protocol sent on an error): a peer that keeps
        # TCP open is dropped. The low-level functions pass math.inf: none.
        close_timeout=None if options.disconnect_timeout == math.inf else options.disconnect_timeout,
        log=log,
    )
    start_reader(connection, nursery)
    if log.info_enabled:  # the arguments cost more than the check
        log.info(
            "connected to %s%s (remote %s, subprotocol %s, extensions %s)",
            host_header,
            resource,
            where(connected.remote),
            accepted.subprotocol,
            ", ".join(extension.name for extension in accepted.extensions) or "none",
        )
    return connection


#: Opens a connection whose reader runs in the given nursery.
Connector = Callable[[trio.Nursery], Awaitable[WebSocketConnection]]


def _open(
    target: _Target, use_ssl: bool | ssl.SSLContext, options: ClientOptions
) -> AbstractAsyncContextManager[WebSocketConnection]:
    return open_connection(partial(_connect, target=target, use_ssl=use_ssl, options=options), options)


@asynccontextmanager
async def open_connection(
    connect: Connector, options: ClientOptions
) -> AsyncIterator[WebSocketConnection]:
    """The context manager behind ``open_websocket*``, for any way of connecting.

    Applies ``connect_timeout`` to ``connect`` and ``disconnect_timeout``
    to the closing handshake, owns the nursery of the reader task, and lets
    no ``ExceptionGroup`` out.
    """
    with collapse_exception_groups():
        async with trio.open_nursery() as nursery:
            # A plain scope, not trio.fail_after: that is a @contextmanager
            # generator, which costs more than the scope itself.
            connection: WebSocketConnection | None = None
            try:
                with trio.CancelScope(deadline=trio.current_time() + options.connect_timeout):
                    connection = await connect(nursery)
            except ConnectFailed:
                raise
            except OSError as exc:
                raise _connect_failed(exc) from exc
            if connection is None:
                raise ConnectionTimeout(
                    f"no WebSocket connection within connect_timeout={options.connect_timeout}s"
                )
            try:
                yield connection
            except trio.Cancelled:
                # The reader, cancelled too, closes with 1001 (going away).
                raise
            except BaseException:
                # The body's exception wins; close without waiting long. If
                # the block is being cancelled (an exception raised in a
                # `finally:` while a Cancelled unwinds the body), the close
                # is cut short at once: its Cancelled must not replace the
                # body's exception (trio issue 1559), which the cancelled
                # scope would then swallow.
                try:
                    with trio.move_on_after(options.disconnect_timeout):
                        await connection.aclose()
                except trio.Cancelled:
                    pass
                raise
            # Bounded by disconnect_timeout already: client_handshake gives
            # the connection that close timeout, and aclose() keeps to it.
            await connection.aclose()
            if _close_unanswered(connection):
                raise DisconnectionTimeout(
                    f"the server did not answer the close within disconnect_timeout="
                    f"{options.disconnect_timeout}s"
                )


def _where_it_failed(exc: OSError, target: _Target) -> OSError:
    """``exc`` as an OSError whose message names what we tried to reach, once.

    ``could not connect to example.com:443: Connection refused``; a name
    that did not resolve says so and names the host; a Unix socket names
    its path. The errno is kept.
    """
    if target.unix_path is not None:
        where = f"the Unix socket {target.unix_path!r}"
    else:
        where = format_host(target.host, target.port, False) if target.port else target.host
        if ":" not in where.rpartition("]")[2]:
            where = f"{where}:{target.port}"
    reason = exc.strerror or str(exc)
    # A message from below may name the address already: keep its reason only.
    if reason.startswith("could not connect to ") and ": " in reason:
        reason = reason.split(": ", 1)[1]
    if isinstance(exc, socket.gaierror):
        message = f"could not connect to {where}: the host name {target.host!r} did not resolve ({reason})"
    else:
        message = f"could not connect to {where}: {reason}"
    return OSError(message) if exc.errno is None else OSError(exc.errno, message)


def _connect_failed(exc: OSError) -> ConnectFailed:
    """The ConnectFailed for ``exc``: its errno, and its text said once."""
    detail = exc.strerror if exc.errno is not None and exc.strerror else str(exc)
    if not detail.startswith("could not connect"):
        detail = f"could not connect: {detail}"
    # OSError(None, text) would print as "[Errno None] text".
    return ConnectFailed(detail) if exc.errno is None else ConnectFailed(exc.errno, detail)


def _close_unanswered(connection: WebSocketConnection) -> bool:
    """Whether the closing handshake ran out of time before the peer's close frame came.

    A peer that answered the close but kept TCP open past the deadline
    completed the closing handshake (the stream was dropped after waiting
    for its TCP close, as RFC 6455 section 7.1.1 lets a client do): no
    DisconnectionTimeout then, as in trio-websocket.
    """
    return connection.close_timed_out and reader_of(connection).close_received is None


def open_websocket(
    host: str,
    port: int,
    resource: str,
    *,
    use_ssl: bool | ssl.SSLContext,
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
    """Open a WebSocket client connection to a host (an async context manager).

    Connects and completes the opening handshake on entry, yields a
    :class:`~ws.WebSocketConnection`, and closes it on exit.

    Args:
        host: The host to connect to.
        port: The port to connect to.
        resource: The resource: path and query, e.g. ``"/chat?room=1"``.
        use_ssl: An ``ssl.SSLContext`` to use, ``True`` for a default
            context (certificates verified), ``False`` for plain TCP.
        subprotocols: Subprotocols to offer, in order of preference.
        extra_headers: More request headers, as ``(name, value)`` pairs.
        message_queue_size: Messages buffered before the reader waits.
        max_message_size: The largest message accepted, in bytes; a larger
            one closes the connection with 1009 (``math.inf``: no limit).
        receive_buffer_size: Bytes asked for per read (default 64 KiB;
            ``None``: the default).
        connect_timeout: Seconds to connect and handshake (``math.inf``: none).
        disconnect_timeout: Seconds for the closing handshake.
        compression: ``"deflate"`` (default), a configured
            ``ClientPerMessageDeflateFactory``, or ``None``.
        origin: An ``Origin`` header to send.
        options: A :class:`~ws.ClientOptions` with every setting, instead
            of settings as keyword arguments; giving both is a ``TypeError``.
        settings: Any other :class:`~ws.ClientOptions` field as a keyword
            argument (:class:`~ws.ClientSettings` lists them);
            ``ping_interval=None`` turns keepalive off, ``proxy=None``
            ignores the proxy environment variables, ``max_redirects=0``
            follows no redirect.

    Raises:
        HandshakeError: A network error (:class:`ConnectFailed`; through a
            proxy, :class:`ProxyError` when the proxy failed or refused), a
            timeout (:class:`ConnectionTimeout`, :class:`DisconnectionTimeout`)
            or a rejection (:class:`ConnectionRejected`; a redirect that may
            not be followed, :class:`RedirectError`) during the handshakes.
    """
    opts = make_client_options(
        "open_websocket",
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
    return _open(_Target(host, port, resource, bool(use_ssl)), use_ssl, opts)


def open_websocket_url(
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
) -> AbstractAsyncContextManager[WebSocketConnection]:
    """Open a WebSocket client connection to a URL (an async context manager).

    Args:
        url: A ``ws://`` or ``wss://`` URL, or ``ws+unix://`` with the
            socket path percent-encoded as the authority
            (``ws+unix://%2Ftmp%2Fapp.sock/chat``). A ``user:password@``
            in it is sent as HTTP Basic ``Authorization`` (percent-decoded,
            UTF-8), unless ``extra_headers`` has an ``Authorization``.
        ssl_context: The context for ``wss://`` URLs; ``None`` uses a
            default context that verifies certificates.
        subprotocols, extra_headers, message_queue_size, max_message_size,
        receive_buffer_size,
        connect_timeout, disconnect_timeout, compression, origin, options,
        settings: As for :func:`open_websocket`.

    Raises:
        HandshakeError: As for :func:`open_websocket`.
        ValueError: The URL is not a WebSocket URL.
    """
    target, use_ssl = _url_target(url, ssl_context)
    opts = make_client_options(
        "open_websocket_url",
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
    return _open(target, use_ssl, target.options_for(opts))


async def connect_websocket(
    nursery: trio.Nursery,
    host: str,
    port: int,
    resource: str,
    *,
    use_ssl: bool | ssl.SSLContext,
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
    """Return an open client connection; its reader task runs in ``nursery``.

    No internal timeouts: wrap the call in a cancel scope. The caller must
    close the connection (``await connection.aclose()``). The settings are
    those of :func:`open_websocket`, less its two timeouts.

    Raises:
        OSError: The TCP or TLS connection failed.
        HandshakeError: The opening handshake failed (see :func:`open_websocket`).
    """
    opts = make_client_options(
        "connect_websocket",
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
    return await _connect(
        nursery, target=_Target(host, port, resource, bool(use_ssl)), use_ssl=use_ssl, options=opts
    )


async def connect_websocket_url(
    nursery: trio.Nursery,
    url: str,
    ssl_context: ssl.SSLContext | None = None,
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
    """Return an open client connection to a URL; its reader runs in ``nursery``.

    Raises:
        OSError: The TCP or TLS connection failed.
        HandshakeError: The opening handshake failed.
        ValueError: The URL is not a WebSocket URL.
    """
    target, use_ssl = _url_target(url, ssl_context)
    opts = make_client_options(
        "connect_websocket_url",
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
    return await _connect(nursery, target=target, use_ssl=use_ssl, options=target.options_for(opts))


async def wrap_client_stream(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    host: str,
    resource: str,
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
    """Run the client side of WebSocket over any Trio stream.

    Args:
        nursery: Where the connection's reader task runs.
        stream: A connected stream (TCP, TLS, Unix, in-memory, ...).
        host: The value of the ``Host`` header.
        resource: The resource: path and query.
        subprotocols, extra_headers, message_queue_size, max_message_size,
        receive_buffer_size,
        compression, origin, options, settings: As for :func:`open_websocket`
            (no timeouts: wrap the call in a cancel scope).

    Raises:
        HandshakeError: The opening handshake failed.
    """
    opts = make_client_options(
        "wrap_client_stream",
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
    connected = Connected.from_stream(stream)
    return await client_handshake(nursery, connected, host, resource, opts)
