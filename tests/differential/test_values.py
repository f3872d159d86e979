"""Values users build, print, copy and compare: CloseReason, Endpoint, the exceptions."""

from __future__ import annotations

import copy
import importlib.metadata
import inspect
import pickle

from tests.differential.harness import Lib, Observations, scenario

CODES = (1000, 1001, 1006, 1011, 2999, 3000, 4000, 4999, 5000, 999)


@scenario(uses=["CloseReason", "CloseReason.code", "CloseReason.name", "CloseReason.reason"])
async def test_close_reason_texts(lib: Lib, seen: Observations) -> None:
    for code in CODES:
        for reason in (None, "", "bye"):
            value = lib.mod.CloseReason(code, reason)
            seen[f"{code} {reason!r}"] = (value.code, value.name, value.reason, repr(value), str(value))


@scenario(
    uses=[
        "Endpoint",
        "Endpoint.address",
        "Endpoint.port",
        "Endpoint.is_ssl",
        "Endpoint.url",
    ]
)
async def test_endpoint_texts(lib: Lib, seen: Observations) -> None:
    for address, port, is_ssl in [
        ("10.105.0.2", 80, False),
        ("10.105.0.2", 443, True),
        ("10.105.0.2", 443, False),
        ("127.0.0.1", 8000, True),
        ("::1", 8443, True),
        ("::1", 80, False),
        ("2001:db8::1", 9000, False),
    ]:
        endpoint = lib.mod.Endpoint(address, port, is_ssl)
        seen[f"{address} {port} {is_ssl}"] = (
            str(endpoint.address),
            endpoint.port,
            endpoint.is_ssl,
            endpoint.url,
            repr(endpoint),
            str(endpoint),
        )


@scenario(
    uses=[
        "ConnectionClosed",
        "ConnectionClosed.reason",
        "ConnectionRejected",
        "ConnectionRejected.status_code",
        "ConnectionRejected.headers",
        "ConnectionRejected.body",
        "HandshakeError",
        "ConnectionTimeout",
        "DisconnectionTimeout",
    ],
    diverges={"str ConnectionRejected": "exception-messages"},
)
async def test_exception_values(lib: Lib, seen: Observations) -> None:
    mod = lib.mod
    closed = mod.ConnectionClosed(mod.CloseReason(1001, "going"))
    rejected = mod.ConnectionRejected(403, ((b"x-why", b"no"),), b"forbidden")
    samples = {
        "ConnectionClosed": closed,
        "ConnectionRejected": rejected,
        "HandshakeError": mod.HandshakeError("h"),
        "ConnectionTimeout": mod.ConnectionTimeout(),
        "DisconnectionTimeout": mod.DisconnectionTimeout(),
    }
    seen["closed reason"] = closed.reason
    seen["rejected fields"] = (rejected.status_code, rejected.headers, rejected.body)
    for name, exc in samples.items():
        seen[f"repr {name}"] = repr(exc)
        if name != "ConnectionRejected":
            seen[f"str {name}"] = str(exc)
        seen[f"bases {name}"] = [
            base for base in ("HandshakeError", "ConnectionClosed") if isinstance(exc, getattr(mod, base))
        ]
        for how, clone in (("copy", copy.copy), ("deepcopy", copy.deepcopy)):
            with seen.raises(f"{how} {name}"):
                twin = clone(exc)
                assert type(twin) is type(exc) and repr(twin) == repr(exc)
        with seen.raises(f"pickle {name}"):
            twin = pickle.loads(pickle.dumps(exc))
            assert repr(twin) == repr(exc)
    seen["str ConnectionRejected"] = str(rejected)


@scenario(
    uses=["open_websocket", "serve_websocket", "wrap_server_stream", "WebSocketServer"],
    diverges={"receive_buffer_size default": "receive-buffer-default"},
)
async def test_signatures(lib: Lib, seen: Observations) -> None:
    """Every trio-websocket parameter is accepted by the function of the same name."""
    import trio_websocket

    for name in (
        "open_websocket",
        "open_websocket_url",
        "connect_websocket",
        "connect_websocket_url",
        "wrap_client_stream",
        "wrap_server_stream",
        "serve_websocket",
    ):
        ours = inspect.signature(getattr(lib.mod, name)).parameters
        theirs = inspect.signature(getattr(trio_websocket, name)).parameters
        seen[f"{name} parameters"] = [
            (param, ours[param].kind if param in ours else "missing") for param in theirs
        ]
    ours = inspect.signature(lib.mod.WebSocketServer).parameters
    theirs = inspect.signature(trio_websocket.WebSocketServer).parameters
    seen["WebSocketServer parameters"] = [
        (param, ours[param].kind if param in ours else "missing") for param in theirs
    ]
    seen["receive_buffer_size default"] = (
        inspect.signature(lib.mod.open_websocket).parameters["receive_buffer_size"].default
    )


@scenario(uses=[], diverges={"requires-python": "python-versions"})
async def test_python_versions(lib: Lib, seen: Observations) -> None:
    distribution = "trio-ws" if lib.is_ws else "trio-websocket"
    seen["requires-python"] = importlib.metadata.metadata(distribution)["Requires-Python"]
