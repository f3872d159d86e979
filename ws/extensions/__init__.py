"""WebSocket extensions: the interface, the pipeline and permessage-deflate.

* :mod:`ws.extensions.base`: :class:`Extension` and the factories that
  negotiate extensions during the opening handshake (RFC 6455 section 9).
* :mod:`ws.extensions.pipeline`: :class:`ExtensionPipeline`, which applies a
  connection's negotiated extensions to its frames.
* :mod:`ws.extensions.permessage_deflate`: permessage-deflate (RFC 7692).

This package does no I/O; it imports only ``ws.frames``, ``ws.errors`` and
``ws.typing``.
"""

from __future__ import annotations

from ws.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from ws.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from ws.extensions.pipeline import ExtensionPipeline

__all__ = [
    "ClientExtensionFactory",
    "ClientPerMessageDeflateFactory",
    "Extension",
    "ExtensionPipeline",
    "PerMessageDeflate",
    "ServerExtensionFactory",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]
