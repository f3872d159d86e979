"""A ClientHandshake and a ServerHandshake talking to each other."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ws.handshake import (
    ClientHandshake,
    HandshakeAccepted,
    HandshakeRejected,
    ServerHandshake,
    format_host,
)

from ._fakes import FakeClientFactory, FakeExtension, FakeServerFactory


def test_round_trip_with_subprotocols_and_extensions() -> None:
    """The client's request is accepted by the server and its 101 by the client."""
    client: ClientHandshake[FakeExtension] = ClientHandshake(
        host=format_host("::1", 8443, True),
        resource="/chat?room=1",
        subprotocols=["v2.chat", "v1.chat"],
        extensions=[
            FakeClientFactory("x-foo", [("a", "1")]),
            FakeClientFactory("x-bar"),
            FakeClientFactory("x-unsupported"),
        ],
        origin="https://example.com",
        extra_headers=[(b"Authorization", b"Bearer t")],
    )
    server: ServerHandshake[FakeExtension] = ServerHandshake()
    server.receive_data(client.data_to_send() + b"\x81\x82client-frame")
    request = server.next_request()
    assert request is not None and request.error is None
    assert request.path == "/chat?room=1"
    assert (b"host", b"[::1]:8443") in request.headers
    assert (b"authorization", b"Bearer t") in request.headers
    assert request.subprotocols == ("v2.chat", "v1.chat")
    assert [name for name, _ in request.extensions] == ["x-foo", "x-bar", "x-unsupported"]

    response, server_extensions = server.accept(
        request,
        subprotocol="v1.chat",
        extensions=[FakeServerFactory("x-bar"), FakeServerFactory("x-foo", answer=[("a", "2")])],
    )
    assert server.trailing_data == b"\x81\x82client-frame"
    assert server_extensions == [FakeExtension("x-foo", (("a", "2"),)), FakeExtension("x-bar")]

    client.receive_data(response + b"\x81\x0cserver-frame")
    result = client.next_result()
    assert isinstance(result, HandshakeAccepted)
    assert result.subprotocol == "v1.chat"
    assert result.extensions == (FakeExtension("x-foo", (("a", "2"),)), FakeExtension("x-bar"))
    assert result.trailing_data == b"\x81\x0cserver-frame"


def test_round_trip_rejection() -> None:
    """The server's rejection reaches the client as a HandshakeRejected."""
    client: ClientHandshake[FakeExtension] = ClientHandshake(host="example.com", resource="/")
    server: ServerHandshake[FakeExtension] = ServerHandshake()
    server.receive_data(client.data_to_send())
    assert server.next_request() is not None
    client.receive_data(server.reject(403, headers=[(b"X-Reason", b"banned")], body=b"no"))
    result = client.next_result()
    assert result == HandshakeRejected(
        403, ((b"x-reason", b"banned"), (b"content-length", b"2"), (b"connection", b"close")), b"no"
    )


def test_round_trip_error_response() -> None:
    """The server's error response to a bad version reaches the client as a rejection."""
    client: ClientHandshake[FakeExtension] = ClientHandshake(host="example.com", resource="/")
    request_bytes = client.data_to_send().replace(b"Version: 13", b"Version: 99")
    server: ServerHandshake[FakeExtension] = ServerHandshake()
    server.receive_data(request_bytes)
    request = server.next_request()
    assert request is not None and request.error is not None
    client.receive_data(server.error_response(request.error))
    result = client.next_result()
    assert isinstance(result, HandshakeRejected)
    assert result.status_code == 426
    assert (b"sec-websocket-version", b"13") in result.headers
    assert b"unsupported Sec-WebSocket-Version" in result.body


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "chat", "v1.json"]), unique=True, max_size=4),
    st.data(),
)
def test_round_trip_any_offer(offers: list[str], data: st.DataObject) -> None:
    """Whatever the client offers and the server picks, both agree on the subprotocol."""
    client: ClientHandshake[FakeExtension] = ClientHandshake(
        host="h", resource="/", subprotocols=offers
    )
    server: ServerHandshake[FakeExtension] = ServerHandshake()
    server.receive_data(client.data_to_send())
    request = server.next_request()
    assert request is not None
    chosen = data.draw(st.none() | st.sampled_from(offers)) if offers else None
    response, _ = server.accept(request, subprotocol=chosen)
    client.receive_data(response)
    result = client.next_result()
    assert isinstance(result, HandshakeAccepted)
    assert result.subprotocol == chosen
