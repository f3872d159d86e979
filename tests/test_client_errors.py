"""Errors a user can act on: what failed, named once; bad URLs quoted; dict headers; plain HTTP servers."""

from __future__ import annotations

import socket
from functools import partial

import pytest
import trio

import ws
import ws.testing


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_refused_connection_names_host_and_port_once() -> None:
    port = free_port()
    with pytest.raises(ws.ConnectFailed) as failed:
        async with ws.open_websocket_url(f"ws://127.0.0.1:{port}/"):
            raise AssertionError("not reached")
    message = str(failed.value)
    assert f"could not connect to 127.0.0.1:{port}: Connection refused" in message
    assert message.count("could not connect") == 1 and message.count(str(port)) == 1
    assert isinstance(failed.value, OSError) and failed.value.errno is not None


class NoSuchNames(trio.abc.HostnameResolver):
    """A resolver that knows no names: resolution fails without asking any DNS server."""

    calls = 0

    async def getaddrinfo(self, *args: object, **kwargs: object) -> list[object]:  # type: ignore[override]
        NoSuchNames.calls += 1
        await trio.lowlevel.checkpoint()
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def getnameinfo(self, *args: object) -> tuple[str, str]:
        raise AssertionError("not used")


async def test_a_name_that_does_not_resolve_names_the_host() -> None:
    previous = trio.socket.set_custom_hostname_resolver(NoSuchNames())
    try:
        await _connect_to_unknown_name()
    finally:
        trio.socket.set_custom_hostname_resolver(previous)
    assert NoSuchNames.calls >= 1  # our resolver answered, not a DNS server


async def _connect_to_unknown_name() -> None:
    with pytest.raises(ws.ConnectFailed) as failed:
        async with ws.open_websocket_url("ws://chat.example.invalid:8000/"):
            raise AssertionError("not reached")
    message = str(failed.value)
    assert "could not connect to chat.example.invalid:8000" in message
    assert "the host name 'chat.example.invalid' did not resolve" in message
    assert message.count("chat.example.invalid:8000") == 1


async def test_a_missing_unix_socket_names_its_path(tmp_path: object) -> None:
    path = f"{tmp_path}/nope.sock"
    with pytest.raises(ws.ConnectFailed) as failed:
        async with ws.open_websocket_url("ws+unix://" + path.replace("/", "%2F") + "/"):
            raise AssertionError("not reached")
    assert f"could not connect to the Unix socket {path!r}" in str(failed.value)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ws://localhost:abc/", r"the port in the WebSocket URL 'ws://localhost:abc/' is not a number"),
        ("ws://localhost:99999/", r"the port in the WebSocket URL 'ws://localhost:99999/' is not a number"),
        ("ws://localhost/a b", r"the WebSocket URL 'ws://localhost/a b' contains a space.*%20"),
        ("ws://localhost/a\nb", r"contains a space or a control character"),
    ],
)
def test_a_bad_url_is_a_value_error_that_quotes_it(url: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ws.open_websocket_url(url)


async def test_extra_headers_as_a_dict() -> None:
    seen: list[list[tuple[bytes, bytes]]] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        seen.append(request.headers)
        await request.accept()

    async with ws.testing.open_memory_server(handler) as server:
        async with server.open_websocket("/", extra_headers={"X-Token": "abc"}):
            pass
    assert (b"x-token", b"abc") in seen[0]


@pytest.mark.parametrize("headers", ["X-A: 1", [("X-A",)], [3]])
def test_headers_of_another_shape_are_a_clear_type_error(headers: object) -> None:
    with pytest.raises(TypeError, match=r"headers are \(name, value\) pairs or a mapping"):
        ws.ClientOptions(extra_headers=headers)  # type: ignore[arg-type]


async def test_a_plain_http_server_is_called_out() -> None:
    async def web_server(stream: trio.SocketStream) -> None:
        await stream.receive_some()
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, web_server, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        with pytest.raises(ws.ConnectionRejected) as rejected:
            async with ws.open_websocket_url(f"ws://127.0.0.1:{port}/"):
                raise AssertionError("not reached")
        nursery.cancel_scope.cancel()
    assert str(rejected.value) == (
        "the server answered HTTP 200 instead of switching protocols: is this a WebSocket endpoint?"
    )
    assert rejected.value.status_code == 200 and rejected.value.body == b"hi"
    assert str(ws.ConnectionRejected(403, [], None)) == "the server rejected the WebSocket connection: HTTP 403"
