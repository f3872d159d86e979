"""TCP: connect to a host and port, or listen on one.

Both functions are thin layers over trio's: :func:`trio.open_tcp_stream`
(happy eyeballs over every address a name resolves to; ``TCP_NODELAY`` is on
for every :class:`trio.SocketStream`) and :func:`trio.open_tcp_listeners`.
What we add is the :class:`~ws.transports.Connected` result and errors that
say what failed (see ``_errors.py``).
"""

from __future__ import annotations

import errno
import os
import socket

import trio

from ws.transports._errors import map_connect_errors
from ws.transports.endpoint import Connected

__all__ = ["connect_tcp", "open_tcp_listeners"]


async def connect_tcp(host: str, port: int) -> Connected:
    """Open a TCP connection.

    Args:
        host: An IPv4 or IPv6 address, or a name to resolve; every address
            of a name is tried, IPv6 and IPv4 alike (RFC 8305).
        port: The TCP port.

    Returns:
        The :class:`trio.SocketStream` (with ``TCP_NODELAY`` set) and its
        two :class:`~ws.transports.Endpoint`\\ s.

    Raises:
        OSError: The connection failed. When every attempt failed the same
            way the subclass says how (:class:`ConnectionRefusedError`, ...);
            a name that does not resolve raises :class:`socket.gaierror`.
    """
    family = _literal_family(host)
    if family is None:
        with map_connect_errors():
            stream = await trio.open_tcp_stream(host, port)
    else:
        stream = await _connect_literal(family, host, port)
    return Connected.from_stream(stream, is_ssl=False)


def _literal_family(host: str) -> int | None:
    """The address family of an IP address literal, or ``None`` for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return family
    return None  # a name, or an IPv6 literal with a zone: trio resolves it


async def _connect_literal(family: int, host: str, port: int) -> trio.SocketStream:
    # One address, so none of open_tcp_stream's happy eyeballs: no
    # getaddrinfo, no nursery, no task (measured, sequential WebSocket
    # connect + handshake + close in one process on 127.0.0.1, 4 x 3,000:
    # 1,567 against 1,298 connections/s).
    #
    # The connect itself is the non-blocking one of the standard socket:
    # trio's SocketType.connect resolves even a literal address again with
    # getaddrinfo (measured with py-spy: 5% of that scenario).
    raw = socket.socket(family, socket.SOCK_STREAM)
    sock = trio.socket.from_stdlib_socket(raw)
    try:
        raw.setblocking(False)
        error = raw.connect_ex((host, port))
        if error == errno.EINPROGRESS:
            await trio.lowlevel.wait_writable(sock)
            error = raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        else:
            await trio.lowlevel.checkpoint()
        if error:
            # As the socket would have raised it, and as the cause of ours.
            cause = OSError(error, os.strerror(error))
            raise OSError(error, f"could not connect to {host}:{port}: {cause.strerror}") from cause
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


async def open_tcp_listeners(
    port: int, host: str | bytes | None = None, *, backlog: int | None = None
) -> list[trio.SocketListener]:
    """Listen for TCP connections.

    Args:
        port: The port; 0 picks a free one. With ``host=None`` and port 0,
            each listener gets its own port.
        host: The interface to bind: an address (``"127.0.0.1"``,
            ``"::1"``), a name that resolves to interface addresses (one
            listener per address), a wildcard (``"0.0.0.0"``, ``"::"``), or
            ``None`` for every interface, IPv4 and IPv6.
        backlog: The listen backlog; ``None`` lets trio pick the system's
            maximum.

    Returns:
        One :class:`trio.SocketListener` per bound address; use
        :func:`~ws.transports.listener_address` to see which.

    Raises:
        OSError: A bind failed (for instance, the port is in use).
    """
    return await trio.open_tcp_listeners(port, host=host, backlog=backlog)
