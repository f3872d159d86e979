"""Tests for ws.transports.endpoint: Endpoint, Connected, endpoints_of and listener_address."""

from __future__ import annotations

import ipaddress
import socket
import ssl

import attrs
import pytest
import trio
import trio.testing

from ws.transports import (
    UNNAMED_UNIX_SOCKET,
    Connected,
    Endpoint,
    endpoints_of,
    listener_address,
    memory_pair,
    tls_stream,
)

from ws.transports.endpoint import _socket_address

from .conftest import SERVER_NAME
from .helpers import tcp_pair


@pytest.mark.parametrize(
    ("address", "port", "is_ssl", "url"),
    [
        ("127.0.0.1", 8000, False, "ws://127.0.0.1:8000"),
        ("127.0.0.1", 80, False, "ws://127.0.0.1"),
        ("127.0.0.1", 443, False, "ws://127.0.0.1:443"),
        ("127.0.0.1", 443, True, "wss://127.0.0.1"),
        ("127.0.0.1", 80, True, "wss://127.0.0.1:80"),
        ("10.1.2.3", 8443, True, "wss://10.1.2.3:8443"),
        ("::1", 8443, True, "wss://[::1]:8443"),
        ("::1", 443, True, "wss://[::1]"),
        ("::1", 80, False, "ws://[::1]"),
        ("::1", 8000, False, "ws://[::1]:8000"),
        ("2001:db8::1", 9000, False, "ws://[2001:db8::1]:9000"),
        ("fe80::1%eth0", 8000, False, "ws://[fe80::1%25eth0]:8000"),
    ],
)
def test_url(address: str, port: int, is_ssl: bool, url: str) -> None:
    """url uses ws/wss, brackets IPv6, escapes zones, and omits the scheme's default port."""
    assert Endpoint(address, port, is_ssl).url == url


def test_address_text_is_converted() -> None:
    """A str address becomes an ipaddress object; address objects are kept."""
    v4 = Endpoint("127.0.0.1", 1, False)
    assert v4.address == ipaddress.IPv4Address("127.0.0.1")
    v6 = Endpoint("::1", 1, False)
    assert v6.address == ipaddress.IPv6Address("::1")
    obj = ipaddress.ip_address("192.0.2.1")
    assert Endpoint(obj, 1, False).address is obj


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"address": "localhost", "port": 1, "is_ssl": False}, ValueError),
        ({"address": b"\x7f\x00\x00\x01", "port": 1, "is_ssl": False}, TypeError),
        ({"address": "127.0.0.1", "port": -1, "is_ssl": False}, ValueError),
        ({"address": "127.0.0.1", "port": 65536, "is_ssl": False}, ValueError),
        ({"address": "127.0.0.1", "port": "80", "is_ssl": False}, TypeError),
        ({"address": "127.0.0.1", "port": True, "is_ssl": False}, TypeError),
        ({"address": "127.0.0.1", "port": 80, "is_ssl": 1}, TypeError),
    ],
)
def test_invalid_fields_are_rejected(kwargs: dict[str, object], error: type[Exception]) -> None:
    """Names, out-of-range ports and non-bool is_ssl are rejected."""
    with pytest.raises(error):
        Endpoint(**kwargs)  # type: ignore[arg-type]


def test_port_range_ends_are_valid() -> None:
    """Ports 0 and 65535 are accepted."""
    assert Endpoint("127.0.0.1", 0, False).port == 0
    assert Endpoint("127.0.0.1", 65535, False).port == 65535


def test_repr_and_str() -> None:
    """repr and str are trio-websocket's constructor-like form; authority is host:port."""
    endpoint = Endpoint("::1", 8443, True)
    assert repr(endpoint) == str(endpoint) == 'Endpoint(address="::1", port=8443, is_ssl=True)'
    assert str(Endpoint("10.105.0.2", 80, False)) == 'Endpoint(address="10.105.0.2", port=80, is_ssl=False)'
    assert endpoint.authority == "[::1]:8443"
    assert Endpoint("127.0.0.1", 80, False).authority == "127.0.0.1:80"
    assert eval(repr(endpoint), {"Endpoint": Endpoint}) == endpoint


def test_endpoint_is_a_frozen_value() -> None:
    """Endpoints compare and hash by value and cannot be changed."""
    a = Endpoint("127.0.0.1", 80, False)
    assert a == Endpoint(ipaddress.ip_address("127.0.0.1"), 80, False)
    assert len({a, Endpoint("127.0.0.1", 80, False)}) == 1
    assert a != Endpoint("127.0.0.1", 80, True)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.port = 81  # type: ignore[misc]


def test_connected_validates_its_fields() -> None:
    """Connected wants a trio stream and Endpoint-or-str ends."""
    client, _ = memory_pair()
    with pytest.raises(TypeError, match="trio.abc.Stream"):
        Connected(object(), "a", "b")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Connected(client.stream, 1, "b")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Connected(client.stream, "a", None)  # type: ignore[arg-type]


def test_other_streams_are_described_by_their_repr() -> None:
    """A stream that is not a socket is its repr() at both ends, as in trio-websocket."""
    client, _ = memory_pair()
    assert endpoints_of(client.stream) == (repr(client.stream), repr(client.stream))


def test_tls_over_memory_is_looked_through(trusting_context: ssl.SSLContext) -> None:
    """An SSLStream is described by its transport."""
    client, _ = memory_pair()
    ssl_stream = tls_stream(client.stream, trusting_context, server_hostname=SERVER_NAME)
    assert endpoints_of(ssl_stream) == (repr(client.stream), repr(client.stream))


async def test_is_ssl_is_detected_and_can_be_overridden() -> None:
    """is_ssl defaults to False for a plain TCP stream, and the caller can override it."""
    client, server = await tcp_pair("127.0.0.1")
    async with client.stream, server.stream:
        local, remote = endpoints_of(client.stream)
        assert isinstance(local, Endpoint)
        assert isinstance(remote, Endpoint)
        assert not local.is_ssl
        assert not remote.is_ssl
        local, remote = endpoints_of(client.stream, is_ssl=True)
        assert isinstance(remote, Endpoint)
        assert remote.is_ssl
        assert Connected.from_stream(client.stream, is_ssl=True).remote == remote


async def test_socketpair_ends_are_unnamed() -> None:
    """Both ends of a socketpair are unnamed Unix sockets."""
    left, right = trio.socket.socketpair()
    with left, right:
        stream = trio.SocketStream(left)
        if left.family == getattr(socket, "AF_UNIX", None):
            assert endpoints_of(stream) == (UNNAMED_UNIX_SOCKET, UNNAMED_UNIX_SOCKET)


async def test_closed_socket_ends_are_unknown() -> None:
    """If the socket cannot say where its ends are, they are "unknown" (no exception)."""
    client, server = await tcp_pair("127.0.0.1")
    await server.stream.aclose()
    await client.stream.aclose()
    assert endpoints_of(client.stream) == ("unknown", "unknown")


async def test_other_socket_families_are_described() -> None:
    """A socket of a family we do not model (AF_NETLINK on Linux) gets a description."""
    family = getattr(socket, "AF_NETLINK", None)
    if family is None:
        pytest.skip("no AF_NETLINK on this platform")
    try:
        sock = trio.socket.socket(family, socket.SOCK_DGRAM, 0)
    except OSError as exc:
        pytest.skip(f"cannot open an AF_NETLINK socket: {exc}")
    with sock:
        description = _socket_address(sock, peer=False, is_ssl=False)
        assert isinstance(description, str)
        assert description.startswith("AF_NETLINK:")


async def test_listener_address_for_each_kind() -> None:
    """listener_address reports TCP, TLS and other listeners."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0] as listener:
        plain = listener_address(listener)
        assert isinstance(plain, Endpoint)
        assert not plain.is_ssl
        secure = listener_address(trio.SSLListener(listener, ssl.create_default_context()))
        assert secure == Endpoint(plain.address, plain.port, True)
        assert listener_address(listener, is_ssl=True) == secure

    class OtherListener(trio.abc.Listener[trio.abc.Stream]):
        async def accept(self) -> trio.abc.Stream:
            raise NotImplementedError

        async def aclose(self) -> None:
            pass

    other = OtherListener()
    assert listener_address(other) == repr(other)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_socket_endpoints_equal_the_checked_constructor(host: str) -> None:
    """The unchecked fast path gives the same values as Endpoint(host, port, is_ssl)."""
    client, server = await tcp_pair(host)
    async with client.stream, server.stream:
        for stream in (client.stream, server.stream):
            assert isinstance(stream, trio.SocketStream)
            sock = stream.socket
            local, remote = endpoints_of(stream)
            expected_local = Endpoint(sock.getsockname()[0], sock.getsockname()[1], False)
            expected_remote = Endpoint(sock.getpeername()[0], sock.getpeername()[1], False)
            assert (local, remote) == (expected_local, expected_remote)
            assert hash(local) == hash(expected_local)
            assert isinstance(local, Endpoint)
            assert type(local.address) is type(ipaddress.ip_address(host))
            assert str(local.address) == host
            assert repr(remote) == repr(expected_remote)
