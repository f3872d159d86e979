"""Client connections through a proxy: which proxy, and the tunnel through it.

Theory of operation
===================

Choosing. ``ClientOptions.proxy`` is ``None`` (connect directly), a proxy
URL (always used), or ``True``: take it from the environment as curl and
websockets do (:func:`environment_proxy`, a pure function of a mapping):

- ``ws://`` reads ``http_proxy`` then ``HTTP_PROXY``, ``wss://`` reads
  ``https_proxy`` then ``HTTPS_PROXY``; then ``all_proxy``, ``ALL_PROXY``.
  The first variable that is *set* decides, so a lower-case one wins over
  its upper-case twin, and a set but empty one means "no proxy".
- ``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set: under CGI a
  client's ``Proxy:`` request header arrives as ``HTTP_PROXY`` (httpoxy),
  as :mod:`urllib.request` and curl also guard.
- ``no_proxy`` / ``NO_PROXY`` (lower-case wins) bypasses the proxy for the
  hosts it lists, comma or space separated: ``*`` (every host), a name
  (``example.com`` or ``.example.com``: the name and its subdomains), an IP
  address or network (``127.0.0.1``, ``::1``, ``10.0.0.0/8``), any of them
  with ``:port`` (``[::1]:8080`` for IPv6). Names are not resolved.

Only when a proxy variable is set is ``NO_PROXY`` read or anything parsed:
the common call (no proxy in the environment) costs four mapping look-ups.

Tunnelling. The result is a :class:`~ws.transports.endpoint.Connected`
whose stream carries the WebSocket bytes end to end with the server:

- ``http://``: TCP to the proxy, ``CONNECT host:port`` (RFC 9110 section
  9.3.6) built and parsed with h11, with ``Proxy-Authorization: Basic``
  from the URL's percent-decoded ``user:password``. A 2xx opens the tunnel;
  bytes that came after its head belong to the tunnel and are handed on
  (:class:`_Prefixed`). Any other status raises :class:`~ws.ProxyError`
  with ``status_code``. The response head is bounded by
  ``handshake_limits.max_head_size`` (interim 1xx heads included).
- ``https://``: the same, inside TLS with the proxy (certificate checked
  against ``proxy_ssl_context``, or the system's CAs).
- ``socks5://``, ``socks4://`` (we resolve the server's name) and
  ``socks5h://``, ``socks4a://`` (the proxy resolves it): python-socks, an
  optional extra (``pip install 'trio-ws[socks]'``), imported on first use.
- ``wss://``: TLS with the server runs inside the tunnel, with SNI and
  certificate checks for the server's name, so the proxy sees ciphertext
  only (TLS in TLS through an ``https://`` proxy).

Failures on the way to the proxy and refusals by the proxy raise
:class:`~ws.ProxyError` (a ``ConnectFailed``, so an ``OSError`` too) naming
the proxy once, password redacted. What fails past the tunnel (TLS with
the server, the opening handshake) raises what it raises without a proxy.

The reported ends: ``local`` is our end of the socket to the proxy, and
``remote`` the proxy's address (an :class:`~ws.Endpoint` with ``is_ssl``
saying whether the WebSocket runs over TLS), since that is the peer the
socket has; the server's name is in the ``Host`` header as always.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import logging
import math
import os
import re
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Final

import attrs
import h11
import trio

from ws._logging import ROOT_LOGGER
from ws.errors import ProxyError
from ws.options import PROXY_SCHEMES, ClientOptions
from ws.transports.endpoint import Connected, endpoints_of
from ws.transports.tcp import connect_tcp
from ws.transports.tls import wrap_client_tls

__all__ = [
    "Proxy",
    "bypasses_proxy",
    "choose_proxy",
    "connect_via_proxy",
    "environment_proxy",
]

# The variables, in the order they are read; the first one set decides.
_WS_VARIABLES: Final = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
_WSS_VARIABLES: Final = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
_NO_PROXY_VARIABLES: Final = ("no_proxy", "NO_PROXY")

_DEFAULT_PORTS: Final = {
    "http": 80,
    "https": 443,
    "socks5": 1080,
    "socks5h": 1080,
    "socks4": 1080,
    "socks4a": 1080,
}
_SOCKS_SCHEMES: Final = frozenset({"socks5", "socks5h", "socks4", "socks4a"})
_NO_PROXY_SEPARATORS: Final = re.compile(r"[\s,]+")

#: Bytes asked for per read of the proxy's answer.
_RECEIVE_SIZE: Final = 65536

_SOCKS_MISSING: Final = (
    "a {scheme}:// proxy needs the python-socks package: pip install 'trio-ws[socks]'"
)


@attrs.frozen
class Proxy:
    """A parsed proxy URL.

    Attributes:
        scheme: ``http``, ``https``, ``socks5``, ``socks5h``, ``socks4`` or ``socks4a``.
        host: The proxy's host name or IP address (no brackets).
        port: The proxy's port (default: 80 for ``http``, 443 for
            ``https``, 1080 for SOCKS).
        username: The percent-decoded user name, or ``None``.
        password: The percent-decoded password, or ``None``.
    """

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str, source: str = "proxy") -> Proxy:
        """Parse a proxy URL; one without a scheme (``host:port``) is ``http://``.

        Args:
            url: The URL.
            source: Where it came from (``proxy`` or an environment
                variable's name), for error messages.

        Raises:
            ValueError: An unsupported scheme, no host, or a bad port.
        """
        return _parse_proxy_url(url, source)

    @property
    def url(self) -> str:
        """The URL, with the password (if any) replaced by ``***``: for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        credentials = ""
        if self.username is not None:
            user = urllib.parse.quote(self.username, safe="")
            credentials = f"{user}:***@" if self.password is not None else f"{user}@"
        return f"{self.scheme}://{credentials}{host}:{self.port}"

    @property
    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` value for the URL's credentials (RFC 7617), or ``None``."""
        if self.username is None:
            return None
        token = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")


@functools.lru_cache(maxsize=32)
def _parse_proxy_url(url: str, source: str) -> Proxy:
    text = url.strip()
    if "://" not in text:
        text = "http://" + text  # as curl: a bare host:port is an HTTP proxy
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ValueError(
            f"{source}: unsupported proxy scheme in {_redact(url)!r}; use "
            f"{', '.join(s + '://' for s in PROXY_SCHEMES)}"
        )
    if not parts.hostname:
        raise ValueError(f"{source}: the proxy URL {_redact(url)!r} has no host")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise ValueError(
            f"{source}: the port in the proxy URL {_redact(url)!r} is not a number from 1 to 65535"
        ) from None
    username = None if parts.username is None else urllib.parse.unquote(parts.username)
    password = None if parts.password is None else urllib.parse.unquote(parts.password)
    return Proxy(scheme, parts.hostname, port, username, password)


def _redact(url: str) -> str:
    """``url`` with the password of its ``user:password@``, if any, replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, tail = rest.partition("/")
    credentials, at, host = authority.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}{slash}{tail}"


def environment_proxy(
    environ: Mapping[str, str], host: str, port: int, secure: bool
) -> tuple[str, str] | None:
    """The proxy the environment names for a connection, as curl reads it.

    See the module's theory of operation for the variables and their order.

    Args:
        environ: The environment (``os.environ``, or any mapping in tests).
        host: The server's host name or IP address (no brackets).
        port: The server's port.
        secure: ``True`` for ``wss://`` (``HTTPS_PROXY``), ``False`` for ``ws://``.

    Returns:
        ``(url, variable)``: the proxy URL and the variable it came from;
        ``None`` for a direct connection (no variable set, an empty one,
        or ``NO_PROXY`` matches the host).
    """
    for name in _WSS_VARIABLES if secure else _WS_VARIABLES:
        value = environ.get(name)
        if value is None:
            continue
        if name == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
            continue  # httpoxy: under CGI this is a client's request header
        value = value.strip()
        if not value:
            return None
        for no_name in _NO_PROXY_VARIABLES:
            no_proxy = environ.get(no_name)
            if no_proxy is not None:
                if bypasses_proxy(no_proxy, host, port):
                    return None
                break
        return value, name
    return None


def bypasses_proxy(no_proxy: str, host: str, port: int) -> bool:
    """Whether a ``NO_PROXY`` value lists ``host:port``.

    Args:
        no_proxy: The variable's value: entries separated by commas or
            white space (see the module's theory of operation).
        host: The server's host name or IP address (brackets allowed).
        port: The server's port.
    """
    host = host.strip("[]").rstrip(".").lower()
    address = _ip_address(host)
    for entry in _NO_PROXY_SEPARATORS.split(no_proxy):
        if not entry:
            continue
        if entry == "*":
            return True
        entry_host, entry_port = _split_no_proxy_entry(entry.lower())
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            if _address_matches(address, entry_host):
                return True
            continue
        name = entry_host.lstrip("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_no_proxy_entry(entry: str) -> tuple[str, int | None]:
    """``(host, port)`` of a ``NO_PROXY`` entry; port ``-1`` for one that is not a number."""
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        if rest.startswith(":"):
            return inside, _port_of(rest[1:])
        return inside, None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, _port_of(port)
    return entry, None  # a name, or a bare IPv6 address


def _port_of(text: str) -> int:
    return int(text) if text.isdigit() else -1  # -1 never matches


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _address_matches(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str
) -> bool:
    if "/" in entry:
        try:
            return address in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    return _ip_address(entry) == address


def choose_proxy(
    option: str | bool | None,
    host: str,
    port: int,
    secure: bool,
    environ: Mapping[str, str] = os.environ,
) -> Proxy | None:
    """The proxy to connect through, or ``None`` to connect directly.

    Args:
        option: ``ClientOptions.proxy``: ``True`` (the environment), a
            proxy URL (used as given: ``NO_PROXY`` does not apply), or ``None``.
        host, port, secure: The server, and whether it is ``wss://``.
        environ: The environment.

    Raises:
        ValueError: The proxy URL (given, or in the environment) is not one.
    """
    if option is None or option is False:
        return None
    if option is True:
        found = environment_proxy(environ, host, port, secure)
        if found is None:
            return None
        url, source = found
        return _parse_proxy_url(url, source)
    return _parse_proxy_url(option, "proxy")


async def connect_via_proxy(
    proxy: Proxy,
    host: str,
    port: int,
    use_ssl: bool | ssl.SSLContext,
    options: ClientOptions,
) -> Connected:
    """Open a stream to ``host:port`` through ``proxy``, TLS with the server if ``use_ssl``.

    No timeout of its own: the caller's cancel scopes bound it.

    Args:
        proxy: The proxy.
        host: The server's host name or IP address.
        port: The server's port.
        use_ssl: ``False``, ``True`` (default TLS context) or the context
            for TLS with the server.
        options: For ``proxy_ssl_context``, ``handshake_limits``,
            ``user_agent_header`` and ``logger``.

    Returns:
        The stream, ready for the opening handshake; ``local`` is our end
        of the socket to the proxy, ``remote`` the proxy's end.

    Raises:
        ProxyError: The proxy could not be reached or refused the tunnel.
        ImportError: A SOCKS proxy without python-socks installed.
        OSError: TLS with the server failed: an :class:`ssl.SSLError`, or
            ``TLSHandshakeAborted`` when the tunnel closed (as without a proxy).
    """
    secure = bool(use_ssl)
    if proxy.scheme in _SOCKS_SCHEMES:
        socket_stream = await _open_socks(proxy, host, port)
        stream: trio.abc.Stream = socket_stream
    else:
        socket_stream = await _connect_to_proxy(proxy)
        stream = socket_stream
        try:
            if proxy.scheme == "https":
                stream = await _tls_to_proxy(socket_stream, proxy, options)
            stream = await _http_connect(stream, proxy, host, port, options)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    if secure:
        context = use_ssl if isinstance(use_ssl, ssl.SSLContext) else None
        try:
            # Its errors name the server and, in brackets, the proxy's address.
            stream = (await wrap_client_tls(stream, context, server_hostname=host)).stream
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    local, remote = endpoints_of(socket_stream, is_ssl=secure)
    logger = options.logger or ROOT_LOGGER
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("tunnel to %s open through the proxy %s", _authority(host, port), proxy.url)
    return Connected(stream, local, remote)


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _unreachable(proxy: Proxy, exc: OSError) -> ProxyError:
    """The ProxyError for a failed connection to the proxy: its errno, the proxy named once."""
    message = f"could not connect to the proxy {proxy.url}: {_reason(exc)}"
    if exc.errno is not None and exc.errno > 0:
        return ProxyError(exc.errno, message, proxy=proxy.url)
    return ProxyError(message, proxy=proxy.url)


def _reason(exc: OSError) -> str:
    """What went wrong, without the address a lower layer may already have put in the text."""
    if isinstance(exc, socket.gaierror) or isinstance(exc.__cause__, socket.gaierror):
        return "its host name did not resolve"
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


async def _connect_to_proxy(proxy: Proxy) -> trio.SocketStream:
    try:
        connected = await connect_tcp(proxy.host, proxy.port)
    except OSError as exc:
        raise _unreachable(proxy, exc) from exc
    stream = connected.stream
    assert isinstance(stream, trio.SocketStream)
    return stream


async def _tls_to_proxy(
    stream: trio.SocketStream, proxy: Proxy, options: ClientOptions
) -> trio.abc.Stream:
    try:
        connected = await wrap_client_tls(
            stream, options.proxy_ssl_context, server_hostname=proxy.host
        )
    except OSError as exc:
        raise ProxyError(
            f"TLS with the proxy {proxy.url} failed: {exc.strerror or exc}", proxy=proxy.url
        ) from exc
    return connected.stream


async def _http_connect(
    stream: trio.abc.Stream, proxy: Proxy, host: str, port: int, options: ClientOptions
) -> trio.abc.Stream:
    """Ask the proxy for a tunnel; return the stream that carries it."""
    authority = _authority(host, port)
    limit = options.handshake_limits.max_head_size
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=limit)
    headers = [("Host", authority)]
    if proxy.authorization is not None:
        headers.append(("Proxy-Authorization", proxy.authorization))
    if options.user_agent_header is not None:
        headers.append(("User-Agent", options.user_agent_header))
    request = conn.send(h11.Request(method="CONNECT", target=authority, headers=headers))
    end = conn.send(h11.EndOfMessage())
    try:
        await stream.send_all((request or b"") + (end or b""))
        response, received = await _read_response(stream, conn, proxy, limit)
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
        reason = _reason(cause) if cause is not None else "the connection broke"
        raise ProxyError(
            f"the connection to the proxy {proxy.url} broke during CONNECT: {reason}",
            proxy=proxy.url,
        ) from exc
    if not 200 <= response.status_code < 300:
        raise _refusal(proxy, authority, response.status_code, response.reason.decode("latin-1"))
    # h11 switched protocols on the 2xx: what came after its head is the tunnel's.
    trailing, _ = conn.trailing_data
    if received - len(trailing) > limit:  # a whole head can come in one read
        raise _head_too_big(proxy, limit)
    return _Prefixed(stream, trailing) if trailing else stream


async def _read_response(
    stream: trio.abc.Stream, conn: h11.Connection, proxy: Proxy, limit: int
) -> tuple[h11.Response, int]:
    """The proxy's final answer to CONNECT, and how many bytes were read for it.

    Reading stops once ``limit`` bytes came without a final head (1xx heads count).
    """
    received = 0
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == 431:  # h11's max_incomplete_event_size
                raise _head_too_big(proxy, limit) from exc
            raise ProxyError(
                f"the proxy {proxy.url} did not answer CONNECT with valid HTTP: {exc}",
                proxy=proxy.url,
            ) from exc
        if isinstance(event, h11.Response):
            return event, received
        if event is h11.NEED_DATA:
            if received > limit:
                raise _head_too_big(proxy, limit)
            data = await stream.receive_some(_RECEIVE_SIZE)
            if not data:
                raise ProxyError(
                    f"the proxy {proxy.url} closed the connection without answering CONNECT",
                    proxy=proxy.url,
                )
            received += len(data)
            conn.receive_data(bytes(data))
        # Otherwise an interim 1xx head: read on (its bytes count towards the limit).


def _head_too_big(proxy: Proxy, limit: int) -> ProxyError:
    return ProxyError(
        f"the proxy {proxy.url} answered CONNECT with a head over "
        f"handshake_limits.max_head_size={limit} bytes",
        proxy=proxy.url,
    )


def _refusal(proxy: Proxy, authority: str, status: int, reason: str) -> ProxyError:
    answer = f"HTTP {status} {reason}".rstrip()
    # 407 is the proxy's "authenticate"; some proxies (tinyproxy) answer a
    # CONNECT with bad credentials 401: no server is behind it yet, so it
    # means the same.
    if status in (401, 407):
        if proxy.username is None:
            message = (
                f"the proxy {proxy.url} wants credentials ({answer}): "
                "put user:password@ in the proxy URL"
            )
        else:
            message = f"the proxy {proxy.url} rejected the credentials in its URL ({answer})"
    else:
        message = f"the proxy {proxy.url} refused to open a tunnel to {authority}: {answer}"
    return ProxyError(message, proxy=proxy.url, status_code=status)


@attrs.define(eq=False)
class _Prefixed(trio.abc.Stream):
    """A stream that first hands out bytes already read from it (those after the proxy's 2xx)."""

    _stream: trio.abc.Stream
    _buffer: bytes

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if not self._buffer:
            return await self._stream.receive_some(max_bytes)
        await trio.lowlevel.checkpoint()
        size = len(self._buffer) if max_bytes is None else max_bytes
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def aclose(self) -> None:
        self._buffer = b""
        await self._stream.aclose()


async def _open_socks(proxy: Proxy, host: str, port: int) -> trio.SocketStream:
    try:
        import python_socks
        from python_socks.async_.trio import Proxy as TrioProxy
    except ImportError as exc:
        raise ImportError(_SOCKS_MISSING.format(scheme=proxy.scheme), name="python_socks") from exc
    socks5 = proxy.scheme in ("socks5", "socks5h")
    kind = python_socks.ProxyType.SOCKS5 if socks5 else python_socks.ProxyType.SOCKS4
    client = TrioProxy(
        kind,
        proxy.host,
        proxy.port,
        username=proxy.username,
        # A user without a password (socks5://user@host) logs in with an empty one.
        password="" if proxy.password is None and proxy.username is not None else proxy.password,
        # socks5h / socks4a: the proxy resolves the server's name.
        rdns=proxy.scheme in ("socks5h", "socks4a"),
    )
    try:
        # Our caller's cancel scopes bound it, not python-socks' own timeout.
        sock = await client.connect(host, port, timeout=math.inf)
    except python_socks.ProxyConnectionError as exc:
        raise _unreachable(proxy, exc) from exc
    except socket.gaierror as exc:
        # socks5:// and socks4:// resolve the server's name here.
        remote = "socks5h" if socks5 else "socks4a"
        raise ProxyError(
            f"the server's host name {host!r} did not resolve here ({exc.strerror or exc}); "
            f"with {remote}:// the proxy resolves it",
            proxy=proxy.url,
        ) from exc
    except python_socks.ProxyError as exc:
        raise ProxyError(
            f"the proxy {proxy.url} refused to open a tunnel to {_authority(host, port)}: {exc}",
            proxy=proxy.url,
        ) from exc
    except OSError as exc:
        raise ProxyError(
            f"the connection to the proxy {proxy.url} broke: {_reason(exc)}", proxy=proxy.url
        ) from exc
    return trio.SocketStream(sock)
