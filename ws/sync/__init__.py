"""A blocking API, for code without an event loop: ``ws.sync.connect`` and ``ws.sync.serve``.

Every blocking connection and server runs on one background Trio thread
that the process starts with the first of them and stops after the last
(:mod:`ws.sync._runtime`); the protocol is the same Trio core as the async
API's.
"""

from __future__ import annotations

from ws.sync._runtime import RuntimeStopped
from ws.sync.client import ClientConnection, connect, unix_connect
from ws.sync.connection import Connection
from ws.sync.server import Server, ServerConnection, serve, serve_unix

__all__ = [
    "ClientConnection",
    "Connection",
    "RuntimeStopped",
    "Server",
    "ServerConnection",
    "connect",
    "serve",
    "serve_unix",
    "unix_connect",
]
