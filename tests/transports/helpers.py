"""Shared helpers for the transport tests: connected pairs and a stream filler."""

from __future__ import annotations

import ssl

import trio
import trio.testing

from ws.transports import (
    Connected,
    Endpoint,
    connect_tcp,
    connect_tls,
    connect_unix,
    listener_address,
    memory_pair,
    open_tcp_listeners,
    open_unix_listener,
    tls_stream,
    wrap_client_tls,
    wrap_server_tls,
)

from .conftest import SERVER_NAME


async def fill_stream(stream: trio.abc.SendStream) -> None:
    """Send until the transport pushes back (all buffers full), then stop."""

    async def send_forever() -> None:
        while True:
            await stream.send_all(b"x" * 65536)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_forever)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()


def port_of(listener: trio.SocketListener) -> int:
    """The port a TCP listener is bound to."""
    address = listener_address(listener)
    assert isinstance(address, Endpoint)
    return address.port


async def tcp_pair(host: str) -> tuple[Connected, Connected]:
    """A TCP client and server connected over *host* (a loopback address)."""
    listeners = await open_tcp_listeners(0, host)
    assert len(listeners) == 1
    async with listeners[0] as listener:
        client = await connect_tcp(host, port_of(listener))
        server = Connected.from_stream(await listener.accept())
    return client, server


async def tls_tcp_pair(
    host: str, client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> tuple[Connected, Connected]:
    """A TLS client and server over TCP on *host*, handshake done."""
    listeners = await open_tcp_listeners(0, host)
    server: list[Connected] = []

    async def serve(listener: trio.SocketListener) -> None:
        server.append(await wrap_server_tls(await listener.accept(), server_context))

    async with listeners[0] as listener, trio.open_nursery() as nursery:
        nursery.start_soon(serve, listener)
        client = await connect_tls(
            host, port_of(listener), client_context, server_hostname=SERVER_NAME
        )
    return client, server[0]


def lazy_tls_memory_pair(
    client_context: ssl.SSLContext,
    server_context: ssl.SSLContext,
    *,
    lockstep: bool = False,
    https_compatible: bool = True,
) -> tuple[trio.SSLStream[trio.abc.Stream], trio.SSLStream[trio.abc.Stream]]:
    """TLS over an in-memory pair; the handshake happens on first use."""
    client, server = memory_pair(lockstep=lockstep)
    return (
        tls_stream(
            client.stream,
            client_context,
            server_hostname=SERVER_NAME,
            https_compatible=https_compatible,
        ),
        tls_stream(
            server.stream, server_context, server_side=True, https_compatible=https_compatible
        ),
    )


async def tls_memory_pair(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext, *, lockstep: bool = False
) -> tuple[Connected, Connected]:
    """TLS over an in-memory pair, handshake done on both sides."""
    client, server = memory_pair(lockstep=lockstep)
    results: list[Connected] = []

    async def serve() -> None:
        results.append(await wrap_server_tls(server.stream, server_context))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        tls_client = await wrap_client_tls(
            client.stream, client_context, server_hostname=SERVER_NAME
        )
    return tls_client, results[0]


async def unix_pair(path: str) -> tuple[Connected, Connected]:
    """A client and server connected over a Unix socket at *path*."""
    async with await open_unix_listener(path) as listener:
        client = await connect_unix(path)
        server = Connected.from_stream(await listener.accept())
    return client, server
