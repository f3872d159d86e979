"""The opening handshake of RFC 6455 (section 4), sans I/O, on top of h11.

:class:`ClientHandshake` writes the client's request and checks the server's
response; :class:`ServerHandshake` parses and checks a client's request and
writes the response. Both take bytes in and give bytes and results out; the
limits in :class:`HandshakeLimits` bound what they buffer. Extension
negotiation and subprotocol selection reach ``ws.extensions`` only through
the protocols of :mod:`ws.handshake.hooks`.
"""

from __future__ import annotations

from ws.handshake.client import ClientHandshake, HandshakeAccepted, HandshakeRejected
from ws.handshake.headers import (
    build_extension_list,
    build_subprotocol_list,
    format_host,
    parse_extension_list,
    parse_subprotocol_list,
)
from ws.handshake.hooks import (
    ClientExtensionFactoryHook,
    ServerExtensionFactoryHook,
    SubprotocolSelector,
)
from ws.handshake.keys import accept_key, generate_key
from ws.handshake.limits import HandshakeLimits
from ws.handshake.request import HandshakeRequest
from ws.handshake.server import ServerHandshake

__all__ = [
    "ClientExtensionFactoryHook",
    "ClientHandshake",
    "HandshakeAccepted",
    "HandshakeLimits",
    "HandshakeRejected",
    "HandshakeRequest",
    "ServerExtensionFactoryHook",
    "ServerHandshake",
    "SubprotocolSelector",
    "accept_key",
    "build_extension_list",
    "build_subprotocol_list",
    "format_host",
    "generate_key",
    "parse_extension_list",
    "parse_subprotocol_list",
]
