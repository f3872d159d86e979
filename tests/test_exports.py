"""The public names: every ``__all__`` is accurate, and trio-websocket's names are all there."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import ws

TRIO_WEBSOCKET_NAMES = [
    "open_websocket", "open_websocket_url", "connect_websocket", "connect_websocket_url",
    "wrap_client_stream", "serve_websocket", "wrap_server_stream", "WebSocketServer",
    "WebSocketRequest", "WebSocketConnection", "CloseReason", "Endpoint", "ConnectionClosed",
    "HandshakeError", "ConnectionRejected", "ConnectionTimeout", "DisconnectionTimeout",
]

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(ws.__path__, "ws.")
    if info.name != "ws.__main__"
)


@pytest.mark.parametrize("name", TRIO_WEBSOCKET_NAMES)
def test_trio_websocket_name_is_exported(name: str) -> None:
    """Each name trio-websocket documents is importable from ws and listed in __all__."""
    assert hasattr(ws, name)
    assert name in ws.__all__


@pytest.mark.parametrize("module_name", ["ws", *MODULES])
def test_all_lists_only_existing_names(module_name: str) -> None:
    """Every name in a module's __all__ exists and __all__ has no duplicates."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        pytest.fail(f"{module_name} has no __all__")
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(module, name), f"{module_name}.__all__ lists missing {name}"


def test_handshake_errors_share_a_base() -> None:
    """Timeouts, rejections and refused redirects are HandshakeErrors, as in trio-websocket."""
    for cls in (
        ws.ConnectionRejected, ws.ConnectionTimeout, ws.DisconnectionTimeout, ws.RedirectError
    ):
        assert issubclass(cls, ws.HandshakeError)


def test_proxy_error_is_exported_and_a_connect_failure() -> None:
    """ws.ProxyError is public, and existing ``except ConnectFailed/OSError`` clauses catch it."""
    assert "ProxyError" in ws.__all__
    assert issubclass(ws.ProxyError, ws.ConnectFailed)
    assert issubclass(ws.ProxyError, ws.HandshakeError)
    assert issubclass(ws.ProxyError, OSError)


def test_connection_closed_kinds_are_exported_subclasses() -> None:
    """ws.ConnectionClosedOK and ws.ConnectionClosedError are public ConnectionClosed subclasses."""
    for name in ("ConnectionClosedOK", "ConnectionClosedError"):
        assert name in ws.__all__
        assert issubclass(getattr(ws, name), ws.ConnectionClosed)
    assert not issubclass(ws.ConnectionClosedOK, ws.ConnectionClosedError)


def test_broadcast_is_exported() -> None:
    """ws.broadcast is the function from ws/_broadcast.py, listed in __all__."""
    import sys

    assert ws.broadcast is sys.modules["ws._broadcast"].broadcast
    assert "broadcast" in ws.__all__


def test_the_connection_shows_only_its_api() -> None:
    """help(ws.WebSocketConnection) lists the API, none of the machinery that builds connections."""
    public = {name for name in dir(ws.WebSocketConnection) if not name.startswith("_")}
    assert public == {
        "aclose", "close_timed_out", "closed", "extensions", "get_message",
        "get_message_fragments", "handshake_headers", "id", "is_client", "is_server",
        "local", "path", "ping", "pong", "remote", "send_message",
        "send_message_fragments", "stream", "subprotocol",
    }
