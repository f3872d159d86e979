"""TCP: connect to a host and port, or listen on one.

Both functions are thin layers over trio's: :func:`trio.open_tcp_stream`
(happy eyeballs over every address a name resolves to; ``TCP_NODELAY`` is on
for every :class:`trio.SocketStream`) and :func:`trio.open_tcp_listeners`.
What we add is the :class:`~ws.transports.Connected` result, errors that
say what failed (see ``_errors.py``), and ``reuse_port``: trio has no switch
for ``SO_REUSEPORT``, so with it we bind and listen as trio does, plus the
option; :func:`reserve_tcp_port` holds a port for such listeners.
"""

from __future__ import annotations

import errno
import os
import platform
import socket
import sys

import trio

from ws.transports._errors import map_connect_errors
from ws.transports.endpoint import Connected

__all__ = ["ReusePortUnsupported", "connect_tcp", "open_tcp_listeners", "reserve_tcp_port"]


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


class ReusePortUnsupported(OSError):
    """``reuse_port=True`` was asked for where the system has no ``SO_REUSEPORT``.

    Windows has no such option, nor had Linux before 3.9. Its ``errno`` is
    ``ENOPROTOOPT``, as the kernel's own answer would be, and its message
    names the platform and what to do instead: one process per port (behind
    a load balancer), or a single process.
    """


async def open_tcp_listeners(
    port: int,
    host: str | bytes | None = None,
    *,
    backlog: int | None = None,
    reuse_port: bool = False,
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
        reuse_port: Set ``SO_REUSEPORT`` (``SO_REUSEPORT_LB`` on FreeBSD),
            so that other sockets with the option, in this process or in
            others of the same user, can listen on the same address and
            port; Linux and FreeBSD spread the incoming connections over
            them. Every socket on the port must set it.

    Returns:
        One :class:`trio.SocketListener` per bound address; use
        :func:`~ws.transports.listener_address` to see which.

    Raises:
        OSError: A bind failed (for instance, the port is in use:
            ``EADDRINUSE``, also when another socket on it lacks
            ``reuse_port``).
        ReusePortUnsupported: ``reuse_port=True`` on a system without
            ``SO_REUSEPORT`` (Windows).
    """
    if not reuse_port:
        return await trio.open_tcp_listeners(port, host=host, backlog=backlog)
    sockets = await _bind_tcp_sockets(port, host, reuse_port=True)
    # trio's default: the kernel clamps it to its own maximum (somaxconn).
    backlog = 0xFFFF if backlog is None else min(backlog, 0xFFFF)
    try:
        for sock in sockets:
            sock.listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return [trio.SocketListener(sock) for sock in sockets]


async def reserve_tcp_port(
    port: int, host: str | bytes | None = None
) -> list[trio.socket.SocketType]:
    """Hold a TCP port for the ``reuse_port`` listeners of other processes.

    Binds one socket per address ``host`` resolves to, all on one port (with
    ``port=0``, the one the kernel picks for the first), with
    ``SO_REUSEPORT`` but without ``SO_REUSEADDR``, and does not listen. A
    bound socket that does not listen receives no connections (Linux), yet
    holds the port: listeners with ``reuse_port=True`` of the same user can
    bind it, any other socket gets ``EADDRINUSE``. ``python -m ws serve
    --workers`` keeps its port so while its workers come and go.

    Args:
        port: The port; 0 picks a free one.
        host: As for :func:`open_tcp_listeners`.

    Returns:
        The bound sockets; close them to release the port.

    Raises:
        OSError: A bind failed (the port is in use: ``EADDRINUSE``).
        ReusePortUnsupported: The system has no ``SO_REUSEPORT`` (Windows).
    """
    for attempt in range(_PORT_ATTEMPTS):
        try:
            return await _bind_tcp_sockets(
                port, host, reuse_port=True, reuse_addr=False, one_port=True
            )
        except OSError as exc:
            # Port 0 and several addresses: the port picked for the first
            # can be taken for another (the IPv6 one); pick again.
            if port != 0 or exc.errno != errno.EADDRINUSE or attempt == _PORT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


_PORT_ATTEMPTS = 5


async def _bind_tcp_sockets(
    port: int,
    host: str | bytes | None,
    *,
    reuse_port: bool,
    reuse_addr: bool = True,
    one_port: bool = False,
) -> list[trio.socket.SocketType]:
    # One bound socket per address, set up as trio sets up its listeners'.
    addresses = await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[trio.socket.SocketType] = []
    unsupported: list[OSError] = []
    try:
        for family, kind, proto, _, address in addresses:
            try:
                sock = trio.socket.socket(family, kind, proto)
            except OSError as exc:
                if exc.errno != errno.EAFNOSUPPORT:  # e.g. no IPv6 in this kernel
                    raise
                unsupported.append(exc)
                continue
            try:
                _set_listening_options(sock, family, reuse_port, reuse_addr)
                if one_port and sockets:
                    address = (address[0], sockets[0].getsockname()[1], *address[2:])
                await sock.bind(address)
            except BaseException:
                sock.close()
                raise
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        message = f"this system supports none of the address families of {host!r}"
        raise OSError(errno.EAFNOSUPPORT, message) from (unsupported[0] if unsupported else None)
    return sockets


def _set_listening_options(
    sock: trio.socket.SocketType, family: int, reuse_port: bool, reuse_addr: bool
) -> None:
    if reuse_addr and sys.platform != "win32":
        # Rebinding a port whose old connections linger in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        # FreeBSD's SO_REUSEPORT lets sockets share a port but sends every
        # connection to one of them; SO_REUSEPORT_LB balances them.
        option = getattr(socket, "SO_REUSEPORT_LB", None) or getattr(socket, "SO_REUSEPORT", None)
        unsupported = ReusePortUnsupported(
            errno.ENOPROTOOPT,
            f"reuse_port: {platform.system() or sys.platform} has no SO_REUSEPORT, so processes "
            "cannot share a port; run one server per port (behind a load balancer), "
            "or a single process",
        )
        if option is None:
            raise unsupported
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, 1)
        except OSError as exc:  # defined, yet refused: Linux before 3.9
            if exc.errno not in (errno.ENOPROTOOPT, errno.EINVAL):
                raise
            raise unsupported from exc
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
