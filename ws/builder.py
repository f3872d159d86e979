"""Compose a transport, the opening handshake, extensions and the protocol into a connection.

The client and server modules call these; they hold no state of their own.
The functions here set no timeouts: callers wrap them in cancel scopes.

Logging: each connection has one :class:`~ws._logging.Log`, made by whoever
accepts or opens it and handed in here. Whether frames are logged is
decided once, in :func:`build_connection`, from whether DEBUG is enabled
for that logger at that moment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import trio

from ws._logging import FrameLoggingProtocol, Log
from ws.connection import WebSocketConnection, assemble, reader_of
from ws.errors import HandshakeError, InvalidRequest, InvalidResponse
from ws.extensions.base import Extension
from ws.handshake.client import ClientHandshake, HandshakeAccepted, HandshakeRejected
from ws.handshake.request import HandshakeRequest
from ws.handshake.server import ServerHandshake
from ws.transports.fastio import io_for
from ws.options import ClientOptions, ServerOptions
from ws.protocol import Protocol, Side
from ws.transports.endpoint import Address

__all__ = [
    "build_connection",
    "perform_client_handshake",
    "read_client_request",
]

_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


def build_connection(
    stream: trio.abc.Stream,
    side: Side,
    *,
    options: ClientOptions | ServerOptions,
    extensions: list[Extension],
    trailing_data: bytes,
    path: str,
    local: Address,
    remote: Address,
    subprotocol: str | None,
    handshake_headers: Sequence[tuple[bytes, bytes]],
    close_timeout: float | None,
    log: Log | None = None,
) -> WebSocketConnection:
    """Make the protocol and the connection; feed bytes that came after the handshake.

    Args:
        log: The connection's log (its id is the connection's); ``None``
            makes one with a fresh id on ``options.logger``. If DEBUG is
            enabled for it now, every frame of this connection is logged.
    """
    if log is None:
        log = Log.for_new_connection(options.logger)
    protocol: Protocol
    if log.debug_enabled:
        protocol = FrameLoggingProtocol(
            side,
            extensions,
            max_message_size=options.protocol_max_size,
            max_fragments=options.max_fragments,
            max_frame_size=options.protocol_max_frame_size,
            log=log,
        )
    else:
        protocol = Protocol(
            side,
            extensions,
            max_message_size=options.protocol_max_size,
            max_fragments=options.max_fragments,
            max_frame_size=options.protocol_max_frame_size,
        )
    connection = assemble(
        stream,
        io_for(stream),
        protocol,
        path=path,
        local=local,
        remote=remote,
        subprotocol=subprotocol,
        handshake_headers=handshake_headers,
        message_queue_size=options.message_queue_size,
        message_queue_bytes=options.message_queue_bytes,
        close_timeout=close_timeout,
        receive_size=options.receive_buffer_size,
        ping_interval=options.ping_interval,
        ping_timeout=options.ping_timeout,
        log=log,
    )
    if trailing_data:
        reader_of(connection).add_early_data(trailing_data)
    return connection


async def perform_client_handshake(
    stream: trio.abc.Stream,
    *,
    host_header: str,
    resource: str,
    options: ClientOptions,
    log: Log,
) -> HandshakeAccepted[Extension]:
    """Send the opening request and read the response.

    The request and response heads go to ``log`` at DEBUG (credentials and
    cookies redacted); a rejection or a failed handshake at INFO.

    Returns:
        The accepted handshake, with the bytes that followed the response head.

    Raises:
        ConnectionRejected: The server answered with another status than 101.
        InvalidResponse: The response is not a valid 101 for our request.
        HandshakeError: The stream broke during the handshake.
    """
    handshake: ClientHandshake[Extension] = ClientHandshake(
        host=host_header,
        resource=resource,
        subprotocols=options.subprotocols,
        extra_headers=options.extra_headers,
        extensions=options.extension_factories(),
        origin=options.origin,
        user_agent=options.user_agent_header,
        limits=options.handshake_limits,
    )
    io = io_for(stream)
    request = handshake.data_to_send()
    log.head("request", request)
    try:
        await io.send_all(request)
        while True:
            result = handshake.next_result()
            if result is not None:
                break
            data = await io.receive_some(options.receive_buffer_size)
            if data:
                handshake.receive_data(bytes(data))
            else:
                handshake.receive_eof()
    except _STREAM_ERRORS as exc:
        log.info("the opening handshake failed: %r", exc)
        raise HandshakeError(f"the connection failed during the opening handshake: {exc!r}") from exc
    except InvalidResponse as exc:
        log.info("the opening handshake failed: %s", exc)
        raise
    log.head("response", result.headers, f"HTTP/1.1 {result.status_code}")
    if isinstance(result, HandshakeRejected):
        log.info("rejected by the server: %d", result.status_code)
        raise result.to_exception()
    return result


async def read_client_request(
    stream: trio.abc.Stream, options: ServerOptions
) -> tuple[ServerHandshake[Extension], HandshakeRequest]:
    """Read a client's opening request.

    An invalid request is answered with its HTTP error status before this
    raises.

    Raises:
        InvalidRequest: The request is not valid HTTP/1.1 or not a WebSocket
            upgrade (the error response was sent).
        HandshakeError: The stream broke or ended.
    """
    handshake: ServerHandshake[Extension] = ServerHandshake(
        limits=options.handshake_limits, server_header=options.server_header
    )
    io = io_for(stream)
    try:
        while True:
            try:
                request = handshake.next_request()
            except InvalidRequest as exc:
                # Answer with the status it implies; the client may be gone already.
                with contextlib.suppress(*_STREAM_ERRORS):
                    await stream.send_all(handshake.error_response(exc))
                raise
            if request is not None:
                break
            data = await io.receive_some(options.receive_buffer_size)
            if data:
                handshake.receive_data(bytes(data))
            else:
                handshake.receive_eof()
    except _STREAM_ERRORS as exc:
        raise HandshakeError(f"the connection failed during the opening handshake: {exc!r}") from exc
    return handshake, request

