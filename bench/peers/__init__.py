"""The libraries the benchmark compares, one small module each.

:func:`load` imports a library's module only when asked, so a missing
peer library costs a note in the report rather than the whole run.
"""

from __future__ import annotations

import importlib
from typing import Final

from bench.peers.base import Peer

__all__ = ["LIBRARIES", "Peer", "load"]

#: Command-line name -> (module, class). "raw" is the floor the ratios use.
LIBRARIES: Final[dict[str, tuple[str, str]]] = {
    "raw": ("bench.peers.raw_trio", "RawTrioPeer"),
    "ws": ("bench.peers.ws_peer", "WsPeer"),
    "trio-websocket": ("bench.peers.trio_websocket_peer", "TrioWebsocketPeer"),
    "websockets": ("bench.peers.websockets_peer", "WebsocketsPeer"),
}


def load(name: str) -> Peer:
    """The peer registered as ``name``.

    Raises:
        KeyError: No such library.
        ImportError: The library is not installed.
    """
    module_name, class_name = LIBRARIES[name]
    module = importlib.import_module(module_name)
    peer: Peer = getattr(module, class_name)()
    return peer
