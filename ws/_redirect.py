"""Following redirects in the client's opening handshake, without I/O.

A server may answer the opening request with 301, 302, 303, 307 or 308 and
a ``Location``. The client's connect loop (``ws.client._connect``) asks
:class:`Redirects` what to do with each such answer and does the I/O; this
module holds every decision:

- Where to go: the ``Location`` is resolved against the URL just tried
  (RFC 3986 section 5), ``http://`` and ``https://`` becoming ``ws://`` and
  ``wss://``, as browsers and other WebSocket clients do. Another scheme,
  ``ws+unix://`` included (a server may not send us into a local socket),
  or a URL that is not a valid WebSocket URL is a :class:`RedirectError`.
- Unix sockets: a ``Location`` without an authority (``/chat``, ``../x``,
  ``?room=2``) stays on the ``ws+unix://`` socket; one with an authority
  (``ws://host/``, ``//host/``) leaves it for TCP.
- Security: ``wss://`` to ``ws://`` is refused. Once the origin (scheme,
  host, port; or the socket path) changes, ``Authorization`` and ``Cookie``
  are no longer sent, for the rest of the chain. TLS after ``ws://`` to
  ``wss://`` uses a default verifying context, unless the caller gave an
  ``ssl.SSLContext``, which every ``wss://`` hop keeps.
- Limits: ``max_redirects`` hops at most, and no URL twice (a loop).

The URLs in :attr:`RedirectError.chain` and in the logs never carry a user
name or password.
"""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import Callable
from typing import Final, Generic, Protocol, TypeVar

import attrs

from ws._logging import ROOT_LOGGER
from ws.errors import ConnectionRejected, RedirectError
from ws.options import ClientOptions

__all__ = ["REDIRECT_STATUSES", "Hop", "Redirects", "location_of", "resolve", "without_credentials"]

#: The answers to the opening request that a client follows.
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})

#: Request headers that are not sent to another origin.
_CREDENTIALS: Final = frozenset({b"authorization", b"cookie"})

#: The schemes a Location may have, and the WebSocket scheme each means.
_WEBSOCKET_SCHEME: Final = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
#: What a WebSocket URL is resolved against: urljoin only knows the HTTP schemes' rules.
_HTTP_SCHEME: Final = {"ws": "http", "wss": "https", "ws+unix": "http"}


class Target(Protocol):
    """What this module needs of a connection target (``ws.client._Target`` is one)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def secure(self) -> bool: ...

    @property
    def unix_path(self) -> str | None: ...

    @property
    def url(self) -> str:
        """The target as a URL without credentials, the same for the same target."""
        ...

    def options_for(self, options: ClientOptions) -> ClientOptions:
        """``options`` plus what the target's URL adds (its credentials)."""
        ...


T = TypeVar("T", bound=Target)


def location_of(rejected: ConnectionRejected) -> str | None:
    """The ``Location`` of a redirect answer, or ``None`` for any other answer.

    The value is read as UTF-8 (Latin-1 if it is not), and characters
    outside ASCII are percent-encoded, as browsers do.
    """
    if rejected.status_code not in REDIRECT_STATUSES:
        return None
    for name, value in rejected.headers:
        if name.lower() == b"location":
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                text = value.decode("latin-1")
            if not text.isascii():
                text = "".join(c if c.isascii() else urllib.parse.quote(c) for c in text)
            return text.strip()
    return None


def resolve(current: str, location: str) -> str:
    """The WebSocket URL a ``Location`` names, resolved against the ``current`` URL.

    Args:
        current: The ``ws://``, ``wss://`` or ``ws+unix://`` URL just tried.
        location: The ``Location`` value: absolute (``ws``, ``wss``,
            ``http``, ``https``) or relative.

    Returns:
        An absolute ``ws://`` or ``wss://`` URL, or a ``ws+unix://`` one
        when ``current`` is one and ``location`` has no authority. The
        fragment is dropped.

    Raises:
        ValueError: ``location`` has another scheme.
    """
    parts = urllib.parse.urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme:
        if scheme not in _WEBSOCKET_SCHEME:
            raise ValueError("it is not a ws://, wss://, http:// or https:// URL")
        return urllib.parse.urlunsplit((_WEBSOCKET_SCHEME[scheme], *parts[1:4], ""))
    base = urllib.parse.urlsplit(current)
    base_scheme = base.scheme.lower()
    http_base = urllib.parse.urlunsplit((_HTTP_SCHEME[base_scheme], *base[1:4], ""))
    joined = urllib.parse.urlsplit(urllib.parse.urljoin(http_base, location))
    if parts.netloc:
        # "//host/path" names another authority: TCP with the current scheme.
        scheme = "wss" if base_scheme == "wss" else "ws"
    else:
        scheme = base_scheme
    return urllib.parse.urlunsplit((scheme, *joined[1:4], ""))


def without_credentials(headers: tuple[tuple[bytes, bytes], ...]) -> tuple[tuple[bytes, bytes], ...]:
    """``headers`` less ``Authorization`` and ``Cookie``, for another origin."""
    return tuple(field for field in headers if field[0].lower() not in _CREDENTIALS)


def _origin(target: Target) -> tuple[str | None, bool, str, int]:
    return (target.unix_path, target.secure, target.host, target.port)


def _chain_text(chain: list[str]) -> str:
    return " -> ".join(chain)


def _error(message: str, chain: list[str], rejected: ConnectionRejected) -> RedirectError:
    return RedirectError(message, chain, rejected.status_code, rejected.headers, rejected.body)


@attrs.frozen
class Hop(Generic[T]):
    """The next connection attempt after a redirect.

    Attributes:
        target: Where to connect.
        use_ssl: ``False`` for ``ws://``; for ``wss://``, the caller's
            ``ssl.SSLContext`` if it gave one, else ``True`` (a default
            context that verifies certificates).
        options: The options for that attempt: credentials dropped once
            the origin has changed.
    """

    target: T
    use_ssl: bool | ssl.SSLContext
    options: ClientOptions


@attrs.define(eq=False)
class Redirects(Generic[T]):
    """One connection attempt's way through redirects.

    Made at the first redirect answer; :meth:`follow` is called with each
    one.

    Args:
        target: The target the first answer came from.
        max_redirects: How many redirects to follow at most (``>= 1``).
        parse: Makes a target from a WebSocket URL; ``ValueError`` if the
            URL is not a valid one.
    """

    _target: T
    _max_redirects: float
    _parse: Callable[[str], T]
    #: Every URL tried so far, in order.
    chain: list[str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.chain = [self._target.url]

    def follow(
        self, rejected: ConnectionRejected, use_ssl: bool | ssl.SSLContext, options: ClientOptions
    ) -> Hop[T] | None:
        """The attempt to make after the answer ``rejected``.

        Args:
            rejected: The answer to the last attempt.
            use_ssl: What the last attempt used for TLS.
            options: The last attempt's options.

        Returns:
            The next attempt, or ``None`` if the answer is not a redirect
            with a ``Location`` (it stands as the error).

        Raises:
            RedirectError: The redirect must not be followed: a Location that
                is not a WebSocket URL, ``wss://`` to ``ws://``, a loop, or
                more than ``max_redirects`` redirects. Its cause is
                ``rejected``.
        """
        location = location_of(rejected)
        if location is None:
            return None
        status = rejected.status_code
        current = self._target
        try:
            target = self._parse(resolve(current.url, location))
        except ValueError as exc:
            earlier = f" (after {_chain_text(self.chain)})" if len(self.chain) > 1 else ""
            raise _error(
                f"{current.url} redirected ({status}) to {location!r}, which is not a valid "
                f"WebSocket URL: {exc}{earlier}",
                self.chain,
                rejected,
            ) from rejected
        chain = [*self.chain, target.url]
        if current.secure and not target.secure:
            raise _error(
                f"refused a redirect ({status}) from wss:// to ws://, which would send the "
                f"connection in clear text: {_chain_text(chain)}",
                chain,
                rejected,
            ) from rejected
        if target.url in self.chain:
            raise _error(f"redirect loop: {_chain_text(chain)}", chain, rejected) from rejected
        if len(self.chain) > self._max_redirects:
            raise _error(
                f"more than max_redirects={self._max_redirects:g} redirects: "
                f"{_chain_text(chain)}; raise max_redirects to follow more",
                chain,
                rejected,
            ) from rejected
        self.chain = chain
        self._target = target
        if _origin(current) != _origin(target):
            options = attrs.evolve(options, extra_headers=without_credentials(options.extra_headers))
        if target.secure:
            use_ssl = use_ssl if isinstance(use_ssl, ssl.SSLContext) else True
        else:
            use_ssl = False
        logger = ROOT_LOGGER if options.logger is None else options.logger
        logger.info("redirected (%d) from %s to %s", status, current.url, target.url)
        return Hop(target, use_ssl, target.options_for(options))
