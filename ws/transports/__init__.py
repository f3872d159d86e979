"""Transports: byte streams for WebSocket connections, and where their ends are.

Each ``connect_*`` / ``wrap_*`` function returns a :class:`Connected`: a
:class:`trio.abc.Stream` plus its ``local`` and ``remote`` ends
(:class:`Endpoint` for TCP, a string otherwise). This package knows nothing
about WebSocket framing or handshakes.

- TCP: :func:`connect_tcp`, :func:`open_tcp_listeners`.
- TLS: :func:`connect_tls`, :func:`wrap_client_tls`, :func:`wrap_server_tls`
  (handshake done before they return), :func:`tls_stream` (TLS over any
  stream, no I/O).
- Unix sockets: :func:`connect_unix`, :func:`open_unix_listener`.
- In memory: :func:`memory_pair`, and :class:`MemoryListener` to serve them.

Every failure to open a transport is an :class:`OSError`; see
:class:`TLSHandshakeAborted` and ``_errors.py`` for the TLS cases.
"""

from __future__ import annotations

from ws.transports._errors import TLSHandshakeAborted
from ws.transports.endpoint import (
    UNNAMED_UNIX_SOCKET,
    Address,
    Connected,
    Endpoint,
    IPAddress,
    endpoints_of,
    listener_address,
)
from ws.transports.memory import MemoryListener, memory_pair
from ws.transports.tcp import connect_tcp, open_tcp_listeners
from ws.transports.tls import connect_tls, tls_stream, wrap_client_tls, wrap_server_tls
from ws.transports.unix import UnixSocketListener, connect_unix, open_unix_listener

__all__ = [
    "UNNAMED_UNIX_SOCKET",
    "Address",
    "Connected",
    "Endpoint",
    "IPAddress",
    "MemoryListener",
    "TLSHandshakeAborted",
    "UnixSocketListener",
    "connect_tcp",
    "connect_tls",
    "connect_unix",
    "endpoints_of",
    "listener_address",
    "memory_pair",
    "open_tcp_listeners",
    "open_unix_listener",
    "tls_stream",
    "wrap_client_tls",
    "wrap_server_tls",
]
