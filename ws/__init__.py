"""ws: a fast, correct and safe WebSocket client and server for Trio.

The public API is trio-websocket's (same names, arguments and behaviour),
plus permessage-deflate, Unix sockets, ``async for`` over messages, and
in-memory pairs for tests (:mod:`ws.testing`).
"""

from __future__ import annotations

from ws._version import __version__ as __version__
from ws._broadcast import broadcast
from ws.auth import basic_auth
from ws.client import (
    connect_websocket,
    connect_websocket_url,
    open_websocket,
    open_websocket_url,
    wrap_client_stream,
)
from ws.connection import WebSocketConnection
from ws.errors import (
    ConnectFailed,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ConnectionRejected,
    ConnectionTimeout,
    DisconnectionTimeout,
    HandshakeError,
    InvalidHandshake,
    InvalidPayload,
    InvalidRequest,
    InvalidResponse,
    LocalProtocolError,
    MessageTooBig,
    MessageTypeError,
    NegotiationError,
    ProtocolError,
    ProxyError,
    RedirectError,
    RemoteProtocolError,
    WebSocketError,
)
from ws.extensions import (
    ClientExtensionFactory,
    ClientPerMessageDeflateFactory,
    Extension,
    ServerExtensionFactory,
    ServerPerMessageDeflateFactory,
)
from ws.frames import CloseCode, CloseReason
from ws.handshake.limits import HandshakeLimits
from ws.http import HTTPRequest, HTTPResponse
from ws.options import ClientOptions, ClientSettings, ServerOptions, ServerSettings
from ws.routing import Router
from ws._reconnect import DEFAULT_RETRY_STATUSES, Backoff, connect_forever
from ws.server import (
    WebSocketRequest,
    WebSocketServer,
    serve_websocket,
    serve_websocket_unix,
    wrap_server_stream,
)
from ws.transports.endpoint import Endpoint


__all__ = [
    "Backoff",
    "ClientExtensionFactory",
    "ClientOptions",
    "ClientSettings",
    "ClientPerMessageDeflateFactory",
    "CloseCode",
    "CloseReason",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "ConnectionRejected",
    "ConnectionTimeout",
    "DEFAULT_RETRY_STATUSES",
    "DisconnectionTimeout",
    "Endpoint",
    "Extension",
    "HandshakeError",
    "HTTPRequest",
    "HTTPResponse",
    "HandshakeLimits",
    "InvalidHandshake",
    "InvalidPayload",
    "InvalidRequest",
    "InvalidResponse",
    "LocalProtocolError",
    "MessageTooBig",
    "MessageTypeError",
    "NegotiationError",
    "ProtocolError",
    "ProxyError",
    "RedirectError",
    "RemoteProtocolError",
    "Router",
    "ServerExtensionFactory",
    "ServerOptions",
    "ServerSettings",
    "ServerPerMessageDeflateFactory",
    "WebSocketConnection",
    "WebSocketError",
    "WebSocketRequest",
    "WebSocketServer",
    "basic_auth",
    "broadcast",
    "connect_forever",
    "connect_websocket",
    "connect_websocket_url",
    "open_websocket",
    "open_websocket_url",
    "serve_websocket",
    "serve_websocket_unix",
    "wrap_client_stream",
    "wrap_server_stream",
]
