"""Tests for ws.transports.tcp: TCP connections and listeners on loopback."""

from __future__ import annotations

import errno
import ipaddress
import socket

import pytest
import trio
import trio.testing

from ws.transports import Connected, Endpoint, connect_tcp, listener_address, open_tcp_listeners

from .helpers import fill_stream, port_of, tcp_pair


async def _half_closeable_pair(
    host: str,
) -> tuple[trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream]:
    client, server = await tcp_pair(host)
    assert isinstance(client.stream, trio.SocketStream)
    assert isinstance(server.stream, trio.SocketStream)
    return client.stream, server.stream


async def test_tcp_stream_passes_trio_stream_checks(loopback: str) -> None:
    """A TCP connection behaves as a trio half-closeable stream."""

    async def stream_maker() -> tuple[trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream]:
        return await _half_closeable_pair(loopback)

    async def clogged_stream_maker() -> tuple[
        trio.abc.HalfCloseableStream, trio.abc.HalfCloseableStream
    ]:
        left, right = await _half_closeable_pair(loopback)
        await fill_stream(left)
        await fill_stream(right)
        return left, right

    await trio.testing.check_half_closeable_stream(stream_maker, clogged_stream_maker)


async def test_connect_tcp_reports_both_endpoints(loopback: str) -> None:
    """Client and server see each other's address and port, without TLS."""
    client, server = await tcp_pair(loopback)
    async with client.stream, server.stream:
        assert isinstance(client.local, Endpoint)
        assert isinstance(client.remote, Endpoint)
        assert client.remote.address == ipaddress.ip_address(loopback)
        assert client.local == server.remote
        assert client.remote == server.local
        assert not client.local.is_ssl
        assert not client.remote.is_ssl
        assert client.remote.url.startswith("ws://")


async def test_connect_tcp_sets_tcp_nodelay() -> None:
    """trio turns Nagle's algorithm off on the streams we return."""
    client, server = await tcp_pair("127.0.0.1")
    async with client.stream, server.stream:
        assert isinstance(client.stream, trio.SocketStream)
        assert client.stream.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def test_connect_tcp_resolves_names() -> None:
    """A host name is resolved: localhost reaches a listener on 127.0.0.1."""
    listeners = await open_tcp_listeners(0, "127.0.0.1")
    async with listeners[0] as listener:
        client = await connect_tcp("localhost", port_of(listener))
        async with client.stream, await listener.accept() as accepted:
            await client.stream.send_all(b"ping")
            assert await accepted.receive_some() == b"ping"


async def test_refused_connection_raises_connection_refused_error() -> None:
    """Nobody listening gives ConnectionRefusedError (an OSError), not trio's errno-less OSError."""
    with socket.socket() as reserved:  # Bound but not listening: connections are refused.
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        with pytest.raises(ConnectionRefusedError) as info:
            await connect_tcp("127.0.0.1", port)
    assert info.value.errno == errno.ECONNREFUSED
    assert f"127.0.0.1:{port}" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


async def test_listeners_on_all_interfaces_with_port_zero_work() -> None:
    """host=None and port=0 give listeners (one per family) that accept connections."""
    listeners = await open_tcp_listeners(0)
    try:
        assert listeners
        for listener in listeners:
            address = listener_address(listener)
            assert isinstance(address, Endpoint)
            assert address.port != 0
            assert address.address.is_unspecified
            host = "127.0.0.1" if address.address.version == 4 else "::1"
            client = await connect_tcp(host, address.port)
            async with client.stream, await listener.accept() as accepted:
                await client.stream.send_all(b"hello")
                assert await accepted.receive_some() == b"hello"
    finally:
        for listener in listeners:
            await listener.aclose()


async def test_listener_on_one_address_reports_its_port() -> None:
    """A listener on 127.0.0.1 port 0 reports the port the system chose."""
    listeners = await open_tcp_listeners(0, "127.0.0.1", backlog=8)
    assert len(listeners) == 1
    async with listeners[0] as listener:
        address = listener_address(listener)
        assert isinstance(address, Endpoint)
        assert address.address == ipaddress.ip_address("127.0.0.1")
        assert address.port == listener.socket.getsockname()[1]


async def test_listening_on_a_busy_port_raises_address_in_use() -> None:
    """A second listener on a port in use fails with EADDRINUSE."""
    listeners = await open_tcp_listeners(0, "127.0.0.1")
    async with listeners[0] as listener:
        with pytest.raises(OSError) as info:
            await open_tcp_listeners(port_of(listener), "127.0.0.1")
    assert info.value.errno == errno.EADDRINUSE


async def test_connected_from_accepted_stream() -> None:
    """Connected.from_stream describes a stream a listener accepted."""
    client, server = await tcp_pair("127.0.0.1")
    async with client.stream, server.stream:
        assert server == Connected(server.stream, client.remote, client.local)


@pytest.mark.parametrize(
    ("host", "family"),
    [
        ("127.0.0.1", socket.AF_INET),
        ("10.1.2.3", socket.AF_INET),
        ("::1", socket.AF_INET6),
        ("2001:db8::1", socket.AF_INET6),
        ("localhost", None),
        ("example.org", None),
        ("1.2.3", None),  # inet_aton would take it; it is a name to resolve here
        ("fe80::1%eth0", None),  # a zone: left to trio's resolver
        ("", None),
    ],
)
def test_literal_family_tells_ip_literals_from_names(host: str, family: int | None) -> None:
    """IP literals connect directly; everything else goes through trio's resolver."""
    from ws.transports.tcp import _literal_family

    assert _literal_family(host) == family


async def test_refused_connection_by_name_raises_connection_refused_error() -> None:
    """A name whose every address refuses gives ConnectionRefusedError too."""
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            await connect_tcp("localhost", port)


async def test_cancelled_connect_to_a_literal_leaves_no_socket_open() -> None:
    """Cancelling a connect to an IP literal closes its socket (no ResourceWarning)."""
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with trio.CancelScope() as scope:
            scope.cancel()
            await connect_tcp("127.0.0.1", 9)
        assert scope.cancelled_caught
        gc.collect()
