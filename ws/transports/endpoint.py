"""Where a connection's ends are: :class:`Endpoint`, :class:`Connected` and helpers.

A WebSocket connection reports its ``local`` and ``remote`` ends the way
trio-websocket does: an :class:`Endpoint` (IP address, port, TLS or not) for
TCP, and a plain string for everything else — the socket path of a Unix
socket, or a description for an in-memory or a user-supplied stream.
"""

from __future__ import annotations

import ipaddress
import os
import socket as _stdlib_socket
from typing import TypeAlias, final

import attrs
import trio

__all__ = [
    "UNNAMED_UNIX_SOCKET",
    "Address",
    "Connected",
    "Endpoint",
    "IPAddress",
    "endpoints_of",
    "listener_address",
]

#: An IPv4 or IPv6 address.
IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The address reported for the unnamed end of a Unix socket (a client that did not bind).
UNNAMED_UNIX_SOCKET = "unix:"

_DEFAULT_PORTS = {False: 80, True: 443}
_AF_UNIX: int | None = getattr(_stdlib_socket, "AF_UNIX", None)
_IP_FAMILIES = frozenset({_stdlib_socket.AF_INET, _stdlib_socket.AF_INET6})


def _to_ip_address(value: str | IPAddress) -> IPAddress:
    """Accept an address object or its text form (``"::1"``, ``"fe80::1%eth0"``)."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    if not isinstance(value, str):
        raise TypeError(f"address must be a str or an ipaddress address, not {value!r}")
    return ipaddress.ip_address(value)


def _check_port(instance: Endpoint, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"port must be an int, not {value!r}")
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"port must be in 0..65535, not {value}")


@final
@attrs.frozen(repr=False)
class Endpoint:
    """One end of a TCP connection: an IP address, a port and whether TLS is on.

    This is trio-websocket's ``Endpoint(address, port, is_ssl)``.

    Args:
        address: The IP address, as an :mod:`ipaddress` object or as text
            (``"127.0.0.1"``, ``"::1"``); text is converted.
        port: The TCP port.
        is_ssl: Whether the connection runs over TLS.
    """

    address: IPAddress = attrs.field(converter=_to_ip_address)
    port: int = attrs.field(validator=_check_port)
    is_ssl: bool = attrs.field(validator=attrs.validators.instance_of(bool))

    @property
    def host(self) -> str:
        """The address as it appears in a URL: IPv6 in brackets, a zone as ``%25``.

        See RFC 3986 section 3.2.2 and RFC 6874 section 2.
        """
        if isinstance(self.address, ipaddress.IPv4Address):
            return str(self.address)
        return "[" + str(self.address).replace("%", "%25") + "]"

    @property
    def url(self) -> str:
        """The endpoint as a URL, e.g. ``ws://127.0.0.1:8000`` or ``wss://[::1]``.

        The port is left out when it is the default of the scheme (80 for
        ``ws``, 443 for ``wss``), as RFC 6455 section 3 allows.
        """
        scheme = "wss" if self.is_ssl else "ws"
        if self.port == _DEFAULT_PORTS[self.is_ssl]:
            return f"{scheme}://{self.host}"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def authority(self) -> str:
        """``host:port``, e.g. ``127.0.0.1:8000`` or ``[::1]:443``, for messages."""
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        # trio-websocket's form, for str() too: users print and log it.
        return f'Endpoint(address="{self.address}", port={self.port}, is_ssl={self.is_ssl})'

    __str__ = __repr__


#: What ``local`` and ``remote`` hold: an :class:`Endpoint` for TCP, a string otherwise.
Address: TypeAlias = Endpoint | str


def _check_stream(
    instance: Connected, attribute: attrs.Attribute[trio.abc.Stream], value: object
) -> None:
    if not isinstance(value, trio.abc.Stream):
        raise TypeError(f"stream must be a trio.abc.Stream, not {value!r}")


@final
@attrs.frozen
class Connected:
    """A freshly opened transport: the stream and where its two ends are.

    Every ``connect_*`` and ``wrap_*`` function of :mod:`ws.transports`
    returns one; the layers above read the stream and report the ends.

    Args:
        stream: The byte stream (a :class:`trio.SocketStream`, a
            :class:`trio.SSLStream`, an in-memory stream, ...).
        local: Our end: an :class:`Endpoint` for TCP, a path for a Unix
            socket, a description otherwise.
        remote: The peer's end, in the same form.
    """

    stream: trio.abc.Stream = attrs.field(validator=_check_stream)
    local: Address = attrs.field(validator=attrs.validators.instance_of((Endpoint, str)))
    remote: Address = attrs.field(validator=attrs.validators.instance_of((Endpoint, str)))

    @classmethod
    def from_stream(cls, stream: trio.abc.Stream, *, is_ssl: bool | None = None) -> Connected:
        """Describe an already open stream; see :func:`endpoints_of`.

        Args:
            stream: The stream.
            is_ssl: Whether to report the ends as TLS; ``None`` detects it.

        Returns:
            The stream with its ends.
        """
        local, remote = endpoints_of(stream, is_ssl=is_ssl)
        return cls(stream, local, remote)


def endpoints_of(stream: trio.abc.Stream, *, is_ssl: bool | None = None) -> tuple[Address, Address]:
    """Find out where the two ends of a stream are.

    - A :class:`trio.SSLStream` is looked through to its transport, and
      reports ``is_ssl=True`` unless *is_ssl* says otherwise.
    - A :class:`trio.SocketStream` over TCP gives two :class:`Endpoint`\\ s.
    - A :class:`trio.SocketStream` over a Unix socket gives socket paths, or
      :data:`UNNAMED_UNIX_SOCKET` for an end that is not bound to a path (a
      client, usually). A Linux abstract name is kept as is, leading NUL
      included, so that it can be passed back to ``connect_unix``.
    - Any other stream gives its ``repr()`` for both ends, as
      trio-websocket does.

    If the socket cannot say where an end is (it is already closed, or the
    peer went away before we asked), that end is described as
    ``"unknown"`` rather than raising: the connection itself is still
    there to be used or closed.

    Args:
        stream: The stream.
        is_ssl: Whether the ends use TLS; ``None`` means "TLS if the stream
            is a :class:`trio.SSLStream`".

    Returns:
        ``(local, remote)``.
    """
    if isinstance(stream, trio.SSLStream):
        return endpoints_of(stream.transport_stream, is_ssl=True if is_ssl is None else is_ssl)
    if isinstance(stream, trio.SocketStream):
        sock = stream.socket
        ssl_on = bool(is_ssl)
        return (
            _socket_address(sock, peer=False, is_ssl=ssl_on),
            _socket_address(sock, peer=True, is_ssl=ssl_on),
        )
    described = repr(stream)  # as trio-websocket: both ends are the stream's repr()
    return described, described


def listener_address(
    listener: trio.abc.Listener[trio.abc.Stream], *, is_ssl: bool | None = None
) -> Address:
    """Find out which address a listener accepts connections on.

    This is what ``WebSocketServer.listeners`` reports: an :class:`Endpoint`
    for TCP (with the real port after binding port 0), the socket path for a
    Unix socket, its ``repr()`` otherwise (as trio-websocket). A :class:`trio.SSLListener` is
    looked through to its transport listener and reports ``is_ssl=True``.

    Args:
        listener: The listener.
        is_ssl: Whether connections use TLS; ``None`` means "if the listener
            is a :class:`trio.SSLListener`".

    Returns:
        The listening address.
    """
    # Imported here because unix.py builds on this module.
    from ws.transports.unix import UnixSocketListener

    if isinstance(listener, trio.SSLListener):
        return listener_address(
            listener.transport_listener, is_ssl=True if is_ssl is None else is_ssl
        )
    if isinstance(listener, trio.SocketListener | UnixSocketListener):
        return _socket_address(listener.socket, peer=False, is_ssl=bool(is_ssl))
    return repr(listener)  # as trio-websocket


def _socket_address(sock: trio.socket.SocketType, *, peer: bool, is_ssl: bool) -> Address:
    """The local or peer address of a socket, as :func:`endpoints_of` reports it."""
    try:
        raw = sock.getpeername() if peer else sock.getsockname()
    except OSError:
        return "unknown"
    # The shape of the address tells the family apart before asking the
    # socket, whose family property builds an enum member each time
    # (measured: 1% of a sequential connect + handshake + close).
    if type(raw) is tuple and len(raw) == 2:
        try:
            return _endpoint_from_socket(_stdlib_socket.AF_INET, raw[0], raw[1], is_ssl)
        except (OSError, TypeError):  # another family with pairs (Bluetooth...)
            pass
    family = sock.family
    if family in _IP_FAMILIES:
        # AF_INET gives (host, port); AF_INET6 gives (host, port, flowinfo,
        # scope_id) with any zone already in host ("fe80::1%eth0").
        return _endpoint_from_socket(family, raw[0], raw[1], is_ssl)
    if family == _AF_UNIX:
        # A path comes back as str, a Linux abstract name as bytes b"\0...".
        return os.fsdecode(raw) or UNNAMED_UNIX_SOCKET
    return f"{getattr(family, 'name', family)}:{raw!r}"


def _endpoint_from_socket(family: int, host: str, port: int, is_ssl: bool) -> Endpoint:
    """An :class:`Endpoint` from what the socket itself reported, without checks.

    The socket's own answer needs no validation, and an IPv4 address is
    converted from its packed form: 0.9 against 2.6 us for ``Endpoint(host,
    port, is_ssl)``, which parses the text octet by octet (measured with
    timeit; each connection makes two endpoints, and a client and server in
    one process four).
    """
    address: IPAddress
    if family == _stdlib_socket.AF_INET:
        address = ipaddress.IPv4Address(_stdlib_socket.inet_aton(host))
    else:
        address = ipaddress.ip_address(host)
    endpoint = object.__new__(Endpoint)
    object.__setattr__(endpoint, "address", address)
    object.__setattr__(endpoint, "port", port)
    object.__setattr__(endpoint, "is_ssl", is_ssl)
    return endpoint
