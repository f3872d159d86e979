# Theory of operation
# ===================
#
# TLS here is trio's SSLStream: an ssl.SSLObject driven over any trio stream.
# This module decides four things around it.
#
# 1. The handshake is eager. trio would run it lazily, on the first
#    send_all or receive_some, and report a failure there as a bare
#    BrokenResourceError. A WebSocket client would then see a bad
#    certificate as "the opening handshake failed to send", and a server
#    would see it in the middle of reading a request. So every wrap_* /
#    connect_* function here calls do_handshake() before it returns; when it
#    returns, the peer is authenticated (clients) and the stream is ready.
#
# 2. Failures are OSErrors that say what happened (see _errors.py):
#    an ssl.SSLError subclass when the peer spoke bad TLS or presented a
#    certificate we do not trust (ssl.SSLCertVerificationError, also for a
#    hostname mismatch), TLSHandshakeAborted (a ConnectionError) when the
#    connection ended or broke with no TLS error to report. A peer that
#    answers with plain text (an HTTP server, say) fails with an SSLError as
#    soon as its first bytes arrive. A peer that says nothing at all cannot
#    be told from a slow one: only a deadline ends that wait (point 4).
#    On the client side, both a plain-text answer and a peer that closes
#    during the handshake usually mean a server without TLS on that port
#    (a ws:// server, which answers a ClientHello with a 400 or by
#    closing): the message says so (_hint_no_tls).
#
# 3. Ownership. wrap_* functions take ownership of the stream they are
#    given once their arguments are checked: if the handshake fails, is
#    cancelled or times out, the transport is closed before the exception
#    propagates (a cancelled handshake leaves an SSLStream unusable anyway).
#    Argument errors (ValueError, TypeError) leave the stream alone.
#
# 4. Deadlines. Clients use their caller's cancel scopes (trio's style; the
#    builder wraps connect_timeout around the whole opening handshake).
#    Servers take handshake_timeout, because a server handshakes with
#    strangers: run wrap_server_tls in the handler task of each accepted
#    connection, never in the accept loop, so a slow client delays only
#    itself. (trio.SSLListener is fine too: it returns streams whose
#    handshake has not started, and wrap_server_tls-style code can finish
#    it; we do not need our own listener class.)
#
# Close semantics: every SSLStream made here is https_compatible by default.
# WebSocket has its own closing handshake (RFC 6455 section 7), so a missing
# TLS close_notify is just an EOF, and we neither send one on close nor insist
# on receiving one; browsers and most servers behave the same way, and so
# does trio-websocket.
"""TLS over TCP or over any trio stream, with the handshake done up front."""

from __future__ import annotations

import functools
import math
import ssl
from typing import Final, TypeVar

import trio

from ws.transports._errors import TLSHandshakeAborted, map_tls_handshake_errors
from ws.transports.endpoint import Address, Connected, Endpoint, endpoints_of
from ws.transports.tcp import connect_tcp

__all__ = ["connect_tls", "tls_stream", "wrap_client_tls", "wrap_server_tls"]

_StreamT = TypeVar("_StreamT", bound=trio.abc.Stream)


@functools.cache
def _authority(address: Address) -> str:
    return address.authority if isinstance(address, Endpoint) else address


def _default_client_context() -> ssl.SSLContext:
    # Loading the system's CA certificates takes milliseconds: do it once.
    # The context never leaves this module, so nobody can change it.
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


def tls_stream(
    stream: _StreamT,
    ssl_context: ssl.SSLContext,
    *,
    server_side: bool = False,
    server_hostname: str | None = None,
    https_compatible: bool = True,
) -> trio.SSLStream[_StreamT]:
    """Layer TLS over any trio stream, without doing any I/O.

    The handshake happens on first use, or when you call
    :meth:`trio.SSLStream.do_handshake`; :func:`wrap_client_tls` and
    :func:`wrap_server_tls` do it for you and translate its errors. Use this
    function directly to build TLS over in-memory streams in tests, or when
    you drive the handshake yourself.

    Args:
        stream: The transport (a TCP stream, a memory stream, ...).
        ssl_context: The TLS configuration.
        server_side: Whether we are the TLS server.
        server_hostname: For clients: the name to send with SNI and to check
            the certificate against. Required when the context checks host
            names (the default for client contexts).
        https_compatible: Whether to close without a TLS close_notify and to
            treat the peer closing without one as an EOF (see the module's
            theory of operation). ``False`` gives strict TLS shutdown.

    Returns:
        The TLS stream.

    Raises:
        ValueError: ``server_hostname`` is missing for a context that checks
            host names.
    """
    if not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext, not {ssl_context!r}")
    if not server_side and ssl_context.check_hostname and not server_hostname:
        # ssl.SSLContext.wrap_socket refuses this, but wrap_bio (which trio
        # uses) silently skips the host name check. Refuse it here.
        raise ValueError("server_hostname is required when ssl_context.check_hostname is on")
    return trio.SSLStream(
        stream,
        ssl_context,
        server_hostname=server_hostname,
        server_side=server_side,
        https_compatible=https_compatible,
    )


async def wrap_client_tls(
    stream: trio.abc.Stream,
    ssl_context: ssl.SSLContext | None = None,
    *,
    server_hostname: str | None,
) -> Connected:
    """Run a client TLS handshake over an open stream.

    Args:
        stream: The transport; this function owns it from now on (closes it
            if the handshake fails).
        ssl_context: The TLS configuration; ``None`` means
            :func:`ssl.create_default_context`: the system's trusted CAs,
            certificate and host name checks on.
        server_hostname: The server's name, sent with SNI and checked
            against its certificate. ``None`` is only allowed with a context
            whose ``check_hostname`` is off.

    Returns:
        The :class:`trio.SSLStream`, handshake done, and its ends
        (``is_ssl=True``).

    Raises:
        ssl.SSLCertVerificationError: The server's certificate is not
            trusted or does not match ``server_hostname``.
        ssl.SSLError: The server does not speak TLS, or TLS failed.
        TLSHandshakeAborted: The connection ended during the handshake.
        ValueError: ``server_hostname`` is ``None`` but the context checks
            host names.
    """
    context = _default_client_context() if ssl_context is None else ssl_context
    ssl_stream = tls_stream(stream, context, server_hostname=server_hostname)
    _, remote = endpoints_of(stream, is_ssl=True)
    where = _authority(remote)
    peer = where if server_hostname is None else f"{server_hostname} ({where})"
    try:
        await _handshake(ssl_stream, peer)
    except OSError as exc:
        _hint_no_tls(exc)
        raise
    return Connected.from_stream(ssl_stream, is_ssl=True)


async def wrap_server_tls(
    stream: trio.abc.Stream,
    ssl_context: ssl.SSLContext,
    *,
    handshake_timeout: float = math.inf,
) -> Connected:
    """Run a server TLS handshake over an accepted stream.

    Call it from the task that handles the connection (see the module's
    theory of operation), with a finite ``handshake_timeout`` for anything
    that faces the network.

    Args:
        stream: The accepted transport; this function owns it from now on
            (closes it if the handshake fails or times out).
        ssl_context: The server's TLS configuration, with its certificate.
        handshake_timeout: Seconds the client has to finish the handshake.

    Returns:
        The :class:`trio.SSLStream`, handshake done, and its ends
        (``is_ssl=True``).

    Raises:
        TimeoutError: The handshake did not finish in time.
        ssl.SSLError: The client does not speak TLS, or TLS failed (for
            instance, the client rejected our certificate).
        TLSHandshakeAborted: The connection ended during the handshake.
        ValueError: ``handshake_timeout`` is negative or NaN.
    """
    if not handshake_timeout >= 0:
        raise ValueError(f"handshake_timeout must be >= 0, not {handshake_timeout!r}")
    ssl_stream = tls_stream(stream, ssl_context, server_side=True)
    _, remote = endpoints_of(stream, is_ssl=True)
    where = _authority(remote)
    with trio.move_on_after(handshake_timeout) as scope:
        await _handshake(ssl_stream, where)
    if scope.cancelled_caught:
        raise TimeoutError(
            f"TLS handshake with {where} did not finish within {handshake_timeout} seconds"
        )
    return Connected.from_stream(ssl_stream, is_ssl=True)


async def connect_tls(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    *,
    server_hostname: str | None = None,
) -> Connected:
    """Open a TCP connection and run a client TLS handshake over it.

    There is no timeout of its own: wrap it in :func:`trio.fail_after` (or
    any cancel scope) to bound it.

    Args:
        host: The server's address or name (see
            :func:`~ws.transports.connect_tcp`).
        port: The TCP port.
        ssl_context: The TLS configuration; ``None`` means
            :func:`ssl.create_default_context` (system CAs, certificate and
            host name checks on).
        server_hostname: The name to send with SNI and to check the
            certificate against; ``None`` means ``host``.

    Returns:
        The :class:`trio.SSLStream` over TCP, handshake done, and its two
        :class:`~ws.transports.Endpoint`\\ s (``is_ssl=True``).

    Raises:
        OSError: The TCP connection failed (see
            :func:`~ws.transports.connect_tcp`).
        ssl.SSLCertVerificationError: The server's certificate is not
            trusted or does not match.
        ssl.SSLError: The server does not speak TLS, or TLS failed.
        TLSHandshakeAborted: The server closed the connection during the
            handshake.
    """
    connected = await connect_tcp(host, port)
    try:
        return await wrap_client_tls(
            connected.stream,
            ssl_context,
            server_hostname=host if server_hostname is None else server_hostname,
        )
    except BaseException:
        # wrap_client_tls closes the stream on I/O failures, not on argument
        # errors; the TCP connection is ours, so close it either way.
        await trio.aclose_forcefully(connected.stream)
        raise


#: OpenSSL's reasons for a first record that is not TLS at all (plain text).
_NOT_TLS_REASONS: Final = frozenset(
    {"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
)
_NO_TLS_HINT: Final = " (the server does not speak TLS? use ws://)"


def _hint_no_tls(exc: OSError) -> None:
    """Say in ``exc``'s message that the server probably does not speak TLS, if it looks so."""
    if isinstance(exc, ssl.SSLError):
        if getattr(exc, "reason", None) in _NOT_TLS_REASONS and isinstance(exc.strerror, str):
            # SSLError's text is its strerror (type and attributes stay).
            exc.strerror += _NO_TLS_HINT
    elif isinstance(exc, TLSHandshakeAborted) and len(exc.args) == 1:
        exc.args = (f"{exc.args[0]}{_NO_TLS_HINT}",)


async def _handshake(ssl_stream: trio.SSLStream[_StreamT], peer: str) -> None:
    """Handshake now; on any failure close the transport, then raise."""
    try:
        with map_tls_handshake_errors(peer):
            await ssl_stream.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(ssl_stream.transport_stream)
        raise
