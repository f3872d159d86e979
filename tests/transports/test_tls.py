"""Tests for ws.transports.tls: TLS over memory streams and over loopback TCP."""

from __future__ import annotations

import re
import ssl

import pytest
import trio
import trio.testing

from ws.transports import (
    Connected,
    Endpoint,
    TLSHandshakeAborted,
    connect_tls,
    memory_pair,
    open_tcp_listeners,
    tls_stream,
    wrap_client_tls,
    wrap_server_tls,
)

from .conftest import SERVER_NAME
from .helpers import lazy_tls_memory_pair, port_of, tls_memory_pair, tls_tcp_pair

# A guard for tests with real sockets: it only fires if the code under test
# hangs, which is the failure these tests look for.
HANG_GUARD = 10


def _record_sni(server_context: ssl.SSLContext) -> list[str | None]:
    """Make the server record each server name it is sent with SNI."""
    seen: list[str | None] = []

    def record(
        connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, context: ssl.SSLContext
    ) -> None:
        seen.append(name)

    server_context.sni_callback = record
    return seen


# -- trio's generic stream checks -------------------------------------------------------


@pytest.mark.parametrize("https_compatible", [True, False])
async def test_tls_over_memory_passes_trio_stream_checks(
    client_context: ssl.SSLContext, server_context: ssl.SSLContext, https_compatible: bool
) -> None:
    """tls_stream over in-memory streams behaves as a trio two-way stream."""

    async def stream_maker() -> tuple[trio.abc.Stream, trio.abc.Stream]:
        return lazy_tls_memory_pair(
            client_context, server_context, https_compatible=https_compatible
        )

    async def clogged_stream_maker() -> tuple[trio.abc.Stream, trio.abc.Stream]:
        # Handshake first: a lazy handshake would itself block on the clogged pipe.
        client, server = await tls_memory_pair(client_context, server_context, lockstep=True)
        return client.stream, server.stream

    await trio.testing.check_two_way_stream(stream_maker, clogged_stream_maker)


async def test_tls_over_tcp_passes_trio_stream_checks(
    loopback: str, client_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """connect_tls and wrap_server_tls give streams that behave as trio two-way streams."""

    async def stream_maker() -> tuple[trio.abc.Stream, trio.abc.Stream]:
        client, server = await tls_tcp_pair(loopback, client_context, server_context)
        return client.stream, server.stream

    # Clogging needs a cancelled send_all, which breaks an SSLStream; the
    # memory test above covers the clogged cases.
    await trio.testing.check_two_way_stream(stream_maker, None)


# -- results ------------------------------------------------------------------------------


async def test_tls_over_tcp_reports_ssl_endpoints(
    loopback: str, trusting_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """Both ends of a TLS connection are Endpoints with is_ssl=True and wss URLs."""
    client, server = await tls_tcp_pair(loopback, trusting_context, server_context)
    async with client.stream, server.stream:
        assert isinstance(client.stream, trio.SSLStream)
        assert isinstance(server.stream, trio.SSLStream)
        assert isinstance(client.remote, Endpoint)
        assert client.remote.is_ssl
        assert client.remote.url.startswith("wss://")
        assert client.local == server.remote
        assert client.remote == server.local
        # The handshake is done: the peer's certificate is already known.
        assert client.stream.getpeercert() is not None


async def test_tls_over_memory_describes_the_memory_ends(
    trusting_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """TLS over a memory stream reports descriptions of the underlying stream."""
    client, server = await tls_memory_pair(trusting_context, server_context)
    assert isinstance(client.stream, trio.SSLStream) and isinstance(server.stream, trio.SSLStream)
    assert client.local == repr(client.stream.transport_stream)
    assert server.remote == repr(server.stream.transport_stream)
    await client.stream.send_all(b"over tls")
    assert await server.stream.receive_some() == b"over tls"


async def test_close_without_close_notify_is_an_eof(
    trusting_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """By default (https_compatible) a peer that drops TCP without close_notify is just an EOF."""
    client, server = await tls_memory_pair(trusting_context, server_context)
    assert isinstance(server.stream, trio.SSLStream)
    await server.stream.transport_stream.aclose()
    assert await client.stream.receive_some() == b""


async def test_sni_is_sent(
    trusting_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """The client sends server_hostname with SNI; the server's callback sees it."""
    seen = _record_sni(server_context)
    await tls_memory_pair(trusting_context, server_context)
    assert seen == [SERVER_NAME]


async def test_connect_tls_uses_host_as_server_hostname(
    trusting_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """Without server_hostname, connect_tls checks the certificate and sends SNI for host."""
    seen = _record_sni(server_context)
    listeners = await open_tcp_listeners(0, "127.0.0.1")

    async def serve(listener: trio.SocketListener) -> None:
        connected = await wrap_server_tls(await listener.accept(), server_context)
        await connected.stream.aclose()

    with trio.fail_after(HANG_GUARD):
        async with listeners[0] as listener, trio.open_nursery() as nursery:
            nursery.start_soon(serve, listener)
            client = await connect_tls("localhost", port_of(listener), trusting_context)
            await client.stream.aclose()
    assert seen == ["localhost"]


# -- failures at connect time -------------------------------------------------------------


async def _connect_tls_expecting_failure(
    server_context: ssl.SSLContext,
    client_context: ssl.SSLContext | None,
    server_hostname: str = SERVER_NAME,
) -> tuple[pytest.ExceptionInfo[OSError], list[BaseException]]:
    """connect_tls to a loopback TLS server; return the client's error and the server's."""
    listeners = await open_tcp_listeners(0, "127.0.0.1")
    server_errors: list[BaseException] = []

    async def serve(listener: trio.SocketListener) -> None:
        try:
            await wrap_server_tls(await listener.accept(), server_context)
        except OSError as exc:
            server_errors.append(exc)

    with trio.fail_after(HANG_GUARD):
        async with listeners[0] as listener, trio.open_nursery() as nursery:
            nursery.start_soon(serve, listener)
            with pytest.raises(OSError) as info:
                await connect_tls(
                    "127.0.0.1", port_of(listener), client_context, server_hostname=server_hostname
                )
    return info, server_errors


async def test_untrusted_certificate_fails_at_connect(server_context: ssl.SSLContext) -> None:
    """The default context verifies certificates: an unknown CA is an SSLCertVerificationError."""
    info, server_errors = await _connect_tls_expecting_failure(server_context, None)
    error = info.value
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert "TLS handshake with trio-ws.example (127.0.0.1:" in str(error)
    assert error.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    assert error.reason == "CERTIFICATE_VERIFY_FAILED"
    assert isinstance(error.__cause__, trio.BrokenResourceError)
    assert isinstance(error.__cause__.__cause__, ssl.SSLCertVerificationError)
    # The server learns that the client rejected its certificate.
    assert len(server_errors) == 1
    assert isinstance(server_errors[0], ssl.SSLError | TLSHandshakeAborted)


async def test_hostname_mismatch_fails_at_connect(
    trusting_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """A trusted certificate for another name is an SSLCertVerificationError."""
    info, _ = await _connect_tls_expecting_failure(
        server_context, trusting_context, server_hostname="other.example"
    )
    error = info.value
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert error.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    assert "other.example" in str(error)


async def test_plain_tcp_server_is_a_tls_error_not_a_hang() -> None:
    """A server that answers in plain text makes connect_tls raise an SSLError."""
    listeners = await open_tcp_listeners(0, "127.0.0.1")

    async def plain_http_server(listener: trio.SocketListener) -> None:
        async with await listener.accept() as stream:
            await stream.receive_some()
            await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            while await stream.receive_some():  # Until the client gives up.
                pass

    with trio.fail_after(HANG_GUARD):
        async with listeners[0] as listener, trio.open_nursery() as nursery:
            nursery.start_soon(plain_http_server, listener)
            with pytest.raises(ssl.SSLError, match="TLS handshake with") as info:
                await connect_tls("127.0.0.1", port_of(listener), server_hostname=SERVER_NAME)
    assert not isinstance(info.value, ssl.SSLCertVerificationError)


async def test_server_closing_mid_handshake_over_tcp(trusting_context: ssl.SSLContext) -> None:
    """A server that reads the ClientHello and hangs up gives TLSHandshakeAborted."""
    listeners = await open_tcp_listeners(0, "127.0.0.1")

    async def hang_up(listener: trio.SocketListener) -> None:
        async with await listener.accept() as stream:
            await stream.receive_some()

    with trio.fail_after(HANG_GUARD):
        async with listeners[0] as listener, trio.open_nursery() as nursery:
            nursery.start_soon(hang_up, listener)
            with pytest.raises(TLSHandshakeAborted, match="handshake .* failed") as info:
                await connect_tls("127.0.0.1", port_of(listener), trusting_context)
    assert isinstance(info.value, ConnectionError)


async def test_peer_eof_mid_handshake_over_memory(trusting_context: ssl.SSLContext) -> None:
    """A peer that sends EOF during the handshake: TLSHandshakeAborted, transport closed."""
    client, server = memory_pair()

    async def hang_up() -> None:
        await server.stream.receive_some()
        await server.stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hang_up)
        with pytest.raises(TLSHandshakeAborted, match="the peer closed the connection"):
            await wrap_client_tls(client.stream, trusting_context, server_hostname=SERVER_NAME)
    with pytest.raises(trio.ClosedResourceError):
        await client.stream.send_all(b"x")


async def test_transport_broken_mid_handshake(trusting_context: ssl.SSLContext) -> None:
    """A transport that breaks during the handshake gives TLSHandshakeAborted, with the cause."""
    client, server = memory_pair()
    await server.stream.aclose()
    with pytest.raises(TLSHandshakeAborted, match="the connection broke") as info:
        await wrap_client_tls(client.stream, trusting_context, server_hostname=SERVER_NAME)
    assert isinstance(info.value.__cause__, trio.BrokenResourceError)


async def test_client_speaking_plain_text_to_server(server_context: ssl.SSLContext) -> None:
    """A client that sends an HTTP request to a TLS server: the server gets an SSLError."""
    client, server = memory_pair()
    await client.stream.send_all(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    with pytest.raises(ssl.SSLError, match=re.escape(f"TLS handshake with {server.stream!r} failed")):
        await wrap_server_tls(server.stream, server_context)
    with pytest.raises(trio.ClosedResourceError):
        await server.stream.send_all(b"x")


# -- deadlines and cancellation -----------------------------------------------------------


async def test_server_handshake_timeout(
    server_context: ssl.SSLContext, autojump_clock: trio.testing.MockClock
) -> None:
    """A client that never speaks is dropped after handshake_timeout with TimeoutError."""
    client, server = memory_pair()
    start = trio.current_time()
    with pytest.raises(TimeoutError, match="did not finish within 5 seconds"):
        await wrap_server_tls(server.stream, server_context, handshake_timeout=5)
    assert trio.current_time() - start == pytest.approx(5)
    with pytest.raises(trio.ClosedResourceError):
        await server.stream.send_all(b"x")
    await client.stream.aclose()


async def test_silent_server_is_bounded_by_the_callers_deadline(
    trusting_context: ssl.SSLContext, autojump_clock: trio.testing.MockClock
) -> None:
    """A client handshake has no timeout of its own: a cancel scope ends it, closing the stream."""
    client, server = memory_pair()
    with trio.move_on_after(30) as scope:
        await wrap_client_tls(client.stream, trusting_context, server_hostname=SERVER_NAME)
    assert scope.cancelled_caught
    with pytest.raises(trio.ClosedResourceError):
        await client.stream.send_all(b"x")
    await server.stream.aclose()


# -- arguments ----------------------------------------------------------------------------


async def test_bad_handshake_timeout_leaves_the_stream_alone(
    server_context: ssl.SSLContext,
) -> None:
    """A negative or NaN handshake_timeout is a ValueError and the stream stays open."""
    client, server = memory_pair()
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="handshake_timeout"):
            await wrap_server_tls(server.stream, server_context, handshake_timeout=bad)
    await server.stream.send_all(b"still open")
    assert await client.stream.receive_some() == b"still open"


def test_tls_stream_checks_the_context_type() -> None:
    """tls_stream wants an ssl.SSLContext."""
    client, _ = memory_pair()
    with pytest.raises(TypeError, match="ssl_context"):
        tls_stream(client.stream, "not a context")  # type: ignore[arg-type]


def test_tls_stream_is_lazy(trusting_context: ssl.SSLContext) -> None:
    """tls_stream only builds the SSLStream; no bytes are sent yet."""
    client, _ = memory_pair()
    ssl_stream = tls_stream(client.stream, trusting_context, server_hostname=SERVER_NAME)
    assert ssl_stream.transport_stream is client.stream
    assert not ssl_stream.server_side


async def test_missing_server_hostname_is_a_value_error(
    trusting_context: ssl.SSLContext,
) -> None:
    """A client context that checks host names needs server_hostname."""
    client, _ = memory_pair()
    with pytest.raises(ValueError, match="server_hostname"):
        await wrap_client_tls(client.stream, trusting_context, server_hostname=None)


def test_tls_stream_refuses_to_skip_the_hostname_check(trusting_context: ssl.SSLContext) -> None:
    """ssl's wrap_bio would silently skip the host name check without a name; we refuse."""
    client, _ = memory_pair()
    for missing in (None, ""):
        with pytest.raises(ValueError, match="server_hostname is required"):
            tls_stream(client.stream, trusting_context, server_hostname=missing)


async def test_no_server_hostname_with_check_hostname_off(server_context: ssl.SSLContext) -> None:
    """A context without host name checks needs no server_hostname (and sends no SNI)."""
    seen = _record_sni(server_context)
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    client, server = memory_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(wrap_server_tls, server.stream, server_context)
        connected = await wrap_client_tls(client.stream, unverified, server_hostname=None)
    assert connected.local == repr(client.stream)
    assert seen == [None]


async def test_connect_tls_closes_tcp_on_argument_errors(trusting_context: ssl.SSLContext) -> None:
    """If the TLS layer rejects its arguments, connect_tls still closes its TCP connection."""
    listeners = await open_tcp_listeners(0, "127.0.0.1")
    async with listeners[0] as listener:
        with pytest.raises(ValueError):
            await connect_tls(
                "127.0.0.1", port_of(listener), trusting_context, server_hostname=".bad"
            )
        async with await listener.accept() as accepted:
            assert await accepted.receive_some() == b""


async def test_results_are_connected_values(
    trusting_context: ssl.SSLContext, server_context: ssl.SSLContext
) -> None:
    """wrap_client_tls and wrap_server_tls return Connected values around SSLStreams."""
    client, server = await tls_memory_pair(trusting_context, server_context)
    assert isinstance(client, Connected)
    assert isinstance(client.stream, trio.SSLStream)
    assert isinstance(server.stream, trio.SSLStream)
    assert server.stream.server_side
