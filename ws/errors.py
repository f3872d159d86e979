"""The exceptions raised by ``ws``, in one tree.

::

    WebSocketError
     ├── ProtocolError                  carries close_code and http_status
     │    ├── LocalProtocolError        our side asked for something RFC 6455 forbids
     │    └── RemoteProtocolError       the peer broke RFC 6455 / RFC 7692 (1002)
     │         ├── InvalidPayload       bad UTF-8, bad close payload, bad deflate data (1007)
     │         ├── MessageTooBig        a message over max_message_size (1009)
     │         └── InvalidHandshake     a malformed opening handshake (also a HandshakeError)
     │              ├── InvalidRequest  what the server received (400, 405, 414, 426, 431, 505)
     │              └── InvalidResponse what the client received
     ├── NegotiationError               extension parameters cannot be accepted
     ├── HandshakeError                 trio-websocket's name: connecting or disconnecting failed
     │    ├── InvalidHandshake          (see above)
     │    ├── ConnectFailed             TCP/TLS connection failed (also an OSError)
     │    │    └── ProxyError           the proxy could not be reached or refused the tunnel
     │    ├── ConnectionRejected        the server answered with a non-101 status
     │    │    └── RedirectError        with a redirect the client must not follow
     │    ├── ConnectionTimeout         connect_timeout expired
     │    └── DisconnectionTimeout      disconnect_timeout expired
     └── ConnectionClosed               the connection is closed or closing
          ├── ConnectionClosedOK        it closed normally: 1000, 1001 or no code, both ways
          └── ConnectionClosedError     it did not: another code, no answer, or a dropped stream

The sans-IO layers raise :class:`LocalProtocolError` when *our* code misuses
them (sending after a close, a control payload over 125 bytes) and a
:class:`RemoteProtocolError` subclass when the bytes from the peer are wrong.
Each protocol error carries what it implies: ``close_code`` is the code of the
close frame the connection sends before it drops the peer, ``http_status`` the
status of the error response a server sends for a bad opening handshake.

A closed connection raises :class:`ConnectionClosedOK` or
:class:`ConnectionClosedError`, never the bare :class:`ConnectionClosed`
(``closed_error_type()`` chooses); ``except ConnectionClosed`` catches both.

This module imports nothing else of ours, so every layer may import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

__all__ = [
    "CloseInfo",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "ConnectionRejected",
    "ConnectionTimeout",
    "DisconnectionTimeout",
    "HandshakeError",
    "InvalidHandshake",
    "InvalidPayload",
    "InvalidRequest",
    "InvalidResponse",
    "LocalProtocolError",
    "MessageTooBig",
    "MessageTypeError",
    "NegotiationError",
    "ProtocolError",
    "ProxyError",
    "RedirectError",
    "RemoteProtocolError",
    "WebSocketError",
    "closed_error_type",
]

# Close codes used as defaults here; ws.frames.CloseCode names them all.
_PROTOCOL_ERROR = 1002
_INVALID_DATA = 1007
_MESSAGE_TOO_BIG = 1009
#: The codes of a normal closure: 1000 (normal), 1001 (going away) and 1005,
#: which stands for a close frame without a code (RFC 6455 section 7.1.5).
_NORMAL_CODES: Final = frozenset({1000, 1001, 1005})

Headers = Sequence[tuple[bytes, bytes]]


class WebSocketError(Exception):
    """Base class of every exception ``ws`` raises on purpose."""


class MessageTypeError(WebSocketError, TypeError, ValueError):
    """A message to send is neither ``str`` nor bytes-like.

    Both a :class:`TypeError` (what Python code expects for a wrong type)
    and a :class:`ValueError` (what trio-websocket raises), so that callers
    written for either keep working.
    """


class ProtocolError(WebSocketError):
    """A violation of RFC 6455 or RFC 7692.

    Attributes:
        close_code: The close code a connection sends because of this error.
        http_status: The HTTP status a server answers with, when the error
            happens during the opening handshake.
    """

    default_close_code = _PROTOCOL_ERROR
    default_http_status = 400

    def __init__(
        self,
        message: str,
        *,
        close_code: int | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.close_code: int = self.default_close_code if close_code is None else close_code
        self.http_status: int = self.default_http_status if http_status is None else http_status


class LocalProtocolError(ProtocolError):
    """Our side tried to do something the protocol forbids.

    This is a programming error in the code that uses ``ws`` (or in ``ws``),
    never something a peer can cause.
    """

    default_close_code = 1011
    default_http_status = 500


class RemoteProtocolError(ProtocolError):
    """The peer sent something RFC 6455 or RFC 7692 forbids (close code 1002)."""


class InvalidPayload(RemoteProtocolError):
    """The peer sent data that is not valid for its type (close code 1007).

    Text that is not UTF-8, a close reason that is not UTF-8, or compressed
    data that does not inflate.
    """

    default_close_code = _INVALID_DATA


class MessageTooBig(RemoteProtocolError):
    """The peer sent a message larger than ``max_message_size`` (close code 1009)."""

    default_close_code = _MESSAGE_TOO_BIG


class NegotiationError(WebSocketError):
    """Extension parameters cannot be accepted.

    A server-side extension factory raises it to decline one offer (the
    handshake goes on without that offer); a client that receives parameters
    it cannot accept fails the handshake with :class:`InvalidResponse`.
    """


class HandshakeError(WebSocketError):
    """Connecting or disconnecting failed.

    The base of every error during the opening or the closing handshake:
    a network error, a timeout, a rejection or an invalid handshake.
    """


class InvalidHandshake(RemoteProtocolError, HandshakeError):
    """The peer's side of the opening handshake is malformed.

    Attributes:
        headers: Extra headers an error response must carry (for instance
            ``Sec-WebSocket-Version: 13`` with a 426).
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        headers: Headers = (),
    ) -> None:
        super().__init__(message, http_status=http_status)
        self.headers: list[tuple[bytes, bytes]] = list(headers)


class InvalidRequest(InvalidHandshake):
    """A client's opening request is malformed; ``http_status`` says how to answer."""


class InvalidResponse(InvalidHandshake):
    """A server's response to our opening request is malformed."""


class ConnectFailed(HandshakeError, OSError):
    """The TCP or TLS connection to the server could not be made.

    It is both a :class:`HandshakeError` (trio-websocket's API reference)
    and an ``OSError`` (what trio-websocket's examples catch); the
    original ``OSError`` is its ``__cause__`` and its ``errno`` is copied.
    """


class ProxyError(ConnectFailed):
    """The proxy could not be reached, or it would not open a tunnel to the server.

    Raised when the TCP (or TLS) connection to the proxy fails, when an HTTP
    proxy answers ``CONNECT`` with a status other than 2xx (407: it wants
    credentials, or rejected those in the proxy URL), and when a SOCKS proxy
    refuses the request. Failures past the tunnel (TLS with the server, the
    opening handshake) raise what they raise without a proxy.

    Attributes:
        status_code: The HTTP status an HTTP proxy answered ``CONNECT``
            with; ``None`` for a SOCKS proxy and when the proxy could not be
            reached or spoke no HTTP.
        proxy: The proxy's URL, its password replaced with ``***``.
    """

    def __init__(self, *args: object, proxy: str = "", status_code: int | None = None) -> None:
        # Keyword defaults: pickle and copy rebuild the error from its
        # positional args, then restore these attributes.
        super().__init__(*args)
        self.proxy = proxy
        self.status_code = status_code


class ConnectionRejected(HandshakeError):
    """The server answered the opening handshake with a status other than 101.

    Attributes:
        status_code: The HTTP status code of the response.
        headers: The response headers, as ``(name, value)`` byte pairs.
        body: The response body (possibly truncated to the handshake limits).
    """

    def __init__(self, status_code: int, headers: Headers, body: bytes | None) -> None:
        headers = tuple(headers)
        # The arguments, as trio-websocket keeps them: copy and pickle rebuild from them.
        super().__init__(status_code, headers, body)
        self.status_code = status_code
        self.headers: tuple[tuple[bytes, bytes], ...] = headers
        self.body = body

    def __str__(self) -> str:
        if 200 <= self.status_code < 300:
            # Not a refusal: a plain web server answered.
            return (
                f"the server answered HTTP {self.status_code} instead of switching protocols: "
                "is this a WebSocket endpoint?"
            )
        return f"the server rejected the WebSocket connection: HTTP {self.status_code}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}<status_code={self.status_code}>"


class RedirectError(ConnectionRejected):
    """The server redirected the opening handshake somewhere the client must not follow.

    Raised for a ``Location`` that is not a WebSocket URL, a redirect from
    ``wss://`` to ``ws://``, a redirect loop, or more than
    ``max_redirects`` redirects. It is the :class:`ConnectionRejected` of
    the last redirect answer (its ``status_code``, ``headers`` and
    ``body``), so code that handles a rejected redirect keeps working; that
    answer's own ConnectionRejected is its ``__cause__``.

    Attributes:
        chain: The URLs in order, without credentials: each one the client
            tried, then the one it refused to follow, if the ``Location``
            was a valid URL.
    """

    def __init__(
        self,
        message: str,
        chain: Sequence[str],
        status_code: int,
        headers: Headers = (),
        body: bytes | None = None,
    ) -> None:
        super().__init__(status_code, headers, body)
        self.message = message
        self.chain: tuple[str, ...] = tuple(chain)
        # Every argument, so that copy and pickle rebuild the error whole.
        self.args = (message, self.chain, status_code, self.headers, body)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}<status_code={self.status_code}, chain={self.chain!r}>"


class ConnectionTimeout(HandshakeError):
    """The opening handshake did not finish within ``connect_timeout``."""


class DisconnectionTimeout(HandshakeError):
    """The closing handshake did not finish within ``disconnect_timeout``."""


class CloseInfo(Protocol):
    """What a close reason looks like (``ws.CloseReason`` is one)."""

    @property
    def code(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def reason(self) -> str | None: ...


class ConnectionClosed(WebSocketError):
    """The operation cannot complete because the connection is closed or closing.

    Connections raise one of its two subclasses, which say how the
    connection ended: :class:`ConnectionClosedOK` (a normal closure) or
    :class:`ConnectionClosedError` (anything else). ``except
    ConnectionClosed`` catches both, as it catches trio-websocket's. The
    class itself can still be raised and caught, e.g. by tests that build
    one.

    Attributes:
        reason: Why the connection closed (``ws.CloseReason``): the close
            frame of the side that closed first, or 1006 when the
            connection dropped without a closing handshake.
        sent: The close frame we sent, if any.
        rcvd: The close frame we received, if any.

    The exception that made the connection close, if any, is chained as
    ``__cause__``.
    """

    def __init__(
        self,
        reason: CloseInfo,
        *,
        sent: CloseInfo | None = None,
        rcvd: CloseInfo | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent
        self.rcvd = rcvd

    def __repr__(self) -> str:
        return f"{type(self).__name__}<{self.reason}>"


class ConnectionClosedOK(ConnectionClosed):
    """The connection is closed, or closing, normally.

    Raised when the closing handshake went as it should: both close frames
    were exchanged (:attr:`~ConnectionClosed.sent` and
    :attr:`~ConnectionClosed.rcvd` are both set), and each carries 1000
    (normal closure), 1001 (going away) or no code at all (read as 1005: a
    close frame without a code states no problem). Only then has each side
    said that it was done, and heard the other say so: nothing was cut
    short. Whoever closed first, and whatever the reasons say, do not
    matter.

    Also raised while a closing handshake that we started with one of these
    codes is under way: our close frame is sent (or waits for its turn to
    be written), the peer's answer has not come yet, and nothing has failed.
    If the peer then never answers, or the stream breaks first, later calls
    raise :class:`ConnectionClosedError`.

    It takes the same arguments and has the same attributes as
    :class:`ConnectionClosed`. ``async for`` over a connection never raises
    it: the loop ends. (The loop looks at ``reason.code`` only, as it
    always did: it also ends quietly on a :class:`ConnectionClosedError`
    whose reason is 1000, 1001 or 1005, such as our 1000 that got no
    answer.)
    """


class ConnectionClosedError(ConnectionClosed):
    """The connection closed, or is closing, other than normally.

    Raised in every case that is not a :class:`ConnectionClosedOK`:

    * a close frame, sent or received, carries another code: 1002 (protocol
      error), 1007, 1009, 1011 (internal error, or a keepalive timeout),
      an application's 3000-4999, ...;
    * the stream ended before any close frame (``reason.code`` 1006: a
      dropped TCP connection, a failed write);
    * our close frame got no answer: the close timeout ran out, the peer
      ended the stream without one, or the close was cut short.

    It takes the same arguments and has the same attributes as
    :class:`ConnectionClosed`.
    """


def closed_error_type(
    sent: CloseInfo | None, rcvd: CloseInfo | None, *, closing: bool = False
) -> type[ConnectionClosed]:
    """Which subclass of :class:`ConnectionClosed` describes a closed connection.

    :class:`ConnectionClosedOK` when ``sent`` and ``rcvd`` both carry a
    normal code (1000, 1001, 1005), or when ``closing`` and ``sent`` does
    (``rcvd`` still ``None``); :class:`ConnectionClosedError` otherwise.

    Args:
        sent: The close frame we sent (or are sending), if any.
        rcvd: The close frame we received, if any.
        closing: Whether our closing handshake is still under way: the
            peer may yet answer, and nothing has failed.
    """
    if sent is None or sent.code not in _NORMAL_CODES:
        return ConnectionClosedError
    if rcvd is None:
        return ConnectionClosedOK if closing else ConnectionClosedError
    return ConnectionClosedOK if rcvd.code in _NORMAL_CODES else ConnectionClosedError
