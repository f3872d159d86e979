"""``connect_forever``: a client that comes back after the server goes away.

Theory of operation. :func:`connect_forever` runs one loop; each turn is an
*attempt*: open a connection with :func:`ws.open_websocket_url` and, once it
is open, run the handler on it. An attempt ends in one of three ways:

* final: the handler returned on a connection that is still open, or that
  it closed itself, or that the server closed with a code that does not ask
  for a retry (1000, 1008, 4xxx, ...). :func:`connect_forever` returns.
  Errors that no retry can fix end it too (the handler's own exception, a
  4xx rejection, a certificate that does not verify, a bad URL): they
  propagate.
* retry: connecting failed (a network error, a timeout, an invalid
  handshake, a status in ``retry_statuses``), or the connection was lost or
  closed with a code in :data:`RECONNECT_CODES`, whether the handler saw
  :class:`~ws.ConnectionClosed` or ended quietly (``async for`` ends without
  an error on 1001, which a server restart sends).
* cancelled: ``trio.Cancelled`` goes through at any point, in a sleep as in
  a connection; no other attempt is made.

Between attempts it sleeps for :meth:`Backoff.delay` of the number of
attempts since the last *healthy* connection: one that stayed open for at
least ``Backoff.reset_after`` seconds. A server that accepts and drops
clients at once therefore sees the delays grow as if it refused them.
"""

from __future__ import annotations

import logging
import math
import random as _random
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable, Container, Iterable
from typing import Final, Generic, Literal, TypeVar, Unpack, final

import attrs
import trio

from ws._logging import ROOT_LOGGER, Logger
from ws.client import open_websocket_url
from ws.connection import WebSocketConnection, reader_of
from ws.errors import ConnectionClosed, ConnectionRejected, HandshakeError
from ws.frames import CloseCode
from ws.options import (
    ARG_COMPRESSION,
    ARG_MAX_MESSAGE_SIZE,
    ARG_MESSAGE_QUEUE_SIZE,
    ARG_TIMEOUT,
    ClientOptions,
    ClientSettings,
    Compression,
    HeadersArg,
    make_client_options,
)

__all__ = ["Backoff", "DEFAULT_RETRY_STATUSES", "RECONNECT_CODES", "connect_forever"]

T = TypeVar("T")

#: Close codes after which ``connect_forever`` reconnects: going away (a
#: restart or a graceful shutdown), a lost connection, an internal error
#: (also a keepalive timeout), service restart, try again later, bad gateway.
RECONNECT_CODES: Final = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.ABNORMAL_CLOSURE,
        CloseCode.INTERNAL_ERROR,
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.BAD_GATEWAY,
    }
)

#: The rejections retried by default: 429 (too many requests) and every 5xx.
DEFAULT_RETRY_STATUSES: Final = frozenset({429, *range(500, 600)})

Jitter = Literal["full", "equal", "none"]


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value > 0 and value != math.inf):
        raise ValueError(f"Backoff.{attribute.name} must be a number of seconds > 0, not {value!r}")


def _at_least_one(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value >= 1 and value != math.inf):
        raise ValueError(f"Backoff.{attribute.name} must be >= 1, not {value!r}")


def _not_negative(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"Backoff.{attribute.name} must be >= 0 seconds, not {value!r}")


@final
@attrs.frozen(kw_only=True)
class Backoff:
    """How long :func:`connect_forever` waits between attempts: exponential, with jitter.

    The n-th attempt in a row that fails (n = 1, 2, ...) is followed by a
    delay drawn below the ceiling ``min(maximum, initial * factor ** (n - 1))``:
    with the defaults, under 1, 2, 4, 8, 16, 32, then 60 seconds. "Full"
    jitter draws it uniformly from 0 to the ceiling, so that clients cut off
    together (a server restart) come back spread out instead of all at once
    (RFC 6455 section 7.2.3 asks for a random first delay; the AWS
    Architecture Blog's "Exponential Backoff And Jitter" shows full jitter
    making the fewest calls).

    Attributes:
        initial: The ceiling of the first delay, in seconds (default 1).
        factor: How much the ceiling grows after each failure (default 2).
        maximum: The largest ceiling, in seconds (default 60). It also
            bounds a ``Retry-After`` header's delay.
        jitter: ``"full"`` (default): a delay from 0 to the ceiling;
            ``"equal"``: from half the ceiling to the ceiling; ``"none"``:
            the ceiling itself (for tests, or a single client).
        reset_after: A connection that stayed open this many seconds
            (default 10) was healthy: the next delay starts again from
            ``initial``. One that closed sooner counts as a failure.
        random: The random source, returning floats in [0, 1): default
            :func:`random.random`; a seeded ``random.Random(...).random``
            makes the delays reproducible.
    """

    initial: float = attrs.field(default=1.0, validator=_positive)
    factor: float = attrs.field(default=2.0, validator=_at_least_one)
    maximum: float = attrs.field(default=60.0, validator=_positive)
    jitter: Jitter = attrs.field(
        default="full", validator=attrs.validators.in_(("full", "equal", "none"))
    )
    reset_after: float = attrs.field(default=10.0, validator=_not_negative)
    random: Callable[[], float] = attrs.field(default=_random.random, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.maximum < self.initial:
            raise ValueError(
                f"Backoff.maximum ({self.maximum!r}) must be >= Backoff.initial ({self.initial!r})"
            )

    def ceiling(self, failures: int) -> float:
        """The largest delay after ``failures`` failed attempts in a row (``failures >= 1``)."""
        if failures < 1:
            raise ValueError(f"failures counts from 1, not {failures!r}")
        try:
            grown = self.initial * self.factor ** (failures - 1)
        except OverflowError:
            return self.maximum
        return min(self.maximum, grown)

    def delay(self, failures: int) -> float:
        """The delay after ``failures`` failed attempts in a row, jitter applied."""
        ceiling = self.ceiling(failures)
        if self.jitter == "full":
            return ceiling * self.random()
        if self.jitter == "equal":
            return ceiling / 2 * (1 + self.random())
        return ceiling


@attrs.frozen
class _Done(Generic[T]):
    """The attempt ended for good; ``connect_forever`` returns ``value``."""

    value: T | None


@attrs.frozen
class _Retry:
    """The attempt failed or its connection was lost; another one follows."""

    what: str
    #: When the connection opened (``trio.current_time()``), if it did.
    opened_at: float | None = None
    #: The server's Retry-After, in seconds, if it sent one.
    retry_after: float | None = None


def _shown(url: str) -> str:
    """``url`` for the logs: without credentials, query or fragment, which may hold secrets."""
    parts = urllib.parse.urlsplit(str(url))
    netloc = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _retry_after(headers: Iterable[tuple[bytes, bytes]]) -> float | None:
    """A ``Retry-After`` in seconds (RFC 9110 section 10.2.3), or ``None``.

    The HTTP-date form is ignored: it needs the wall clock, and the
    backoff's own delay applies then.
    """
    for name, value in headers:
        if name.lower() == b"retry-after":
            text = value.strip()
            return float(text) if text.isdigit() else None
    return None


def _certificate_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was caused by, a TLS certificate that did not verify."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__
    return False


@attrs.define(eq=False)
class _Reconnector(Generic[T]):
    """The state of one ``connect_forever`` call."""

    handler: Callable[[WebSocketConnection], Awaitable[T]]
    url: str
    ssl_context: ssl.SSLContext | None
    options: ClientOptions
    backoff: Backoff
    retry_statuses: Container[int]
    task_status: trio.TaskStatus[None] | None
    logger: Logger
    shown: str

    def _info(self, message: str, *args: object) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info("connect_forever %s: " + message, self.shown, *args)

    async def run(self) -> T | None:
        failures = 0
        while True:
            attempt = failures + 1
            outcome = await self._attempt(attempt)
            if isinstance(outcome, _Done):
                return outcome.value
            if outcome.opened_at is not None:
                lasted = trio.current_time() - outcome.opened_at
                if lasted >= self.backoff.reset_after:
                    failures = 0
            failures += 1
            delay = self.backoff.delay(failures)
            if outcome.retry_after is not None:
                delay = min(max(delay, outcome.retry_after), self.backoff.maximum)
            self._info("attempt %d: %s; next attempt in %.2f s", attempt, outcome.what, delay)
            await trio.sleep(delay)

    async def _attempt(self, attempt: int) -> _Done[T] | _Retry:
        opened_at: float | None = None
        outcome: _Done[T] | _Retry | None = None
        try:
            opening = open_websocket_url(self.url, self.ssl_context, options=self.options)
            async with opening as connection:
                opened_at = trio.current_time()
                if attempt > 1:
                    self._info("attempt %d connected", attempt)
                if self.task_status is not None:
                    self.task_status.started()
                    self.task_status = None
                try:
                    value = await self.handler(connection)
                except ConnectionClosed:
                    if connection.closed is None:
                        raise  # about another connection: the handler's own error
                    outcome = self._after_close(connection, None, opened_at)
                else:
                    outcome = self._after_close(connection, value, opened_at)
        except (OSError, HandshakeError) as exc:
            if opened_at is None:
                retry = self._after_connect_error(exc, attempt)
                if retry is None:
                    raise
                return retry
            if isinstance(outcome, _Retry):
                # Closing a connection that was lost failed too: reconnect anyway.
                return outcome
            raise
        assert outcome is not None
        return outcome

    def _after_close(
        self, connection: WebSocketConnection, value: T | None, opened_at: float
    ) -> _Done[T] | _Retry:
        """What follows a handler that ended, by how its connection ended."""
        reason = connection.closed
        if reason is None or reader_of(connection).local_close is not None:
            return _Done(value)  # open, or closed by the handler: its choice to stop
        text = f"{reason.code} ({reason.reason})" if reason.reason else f"{reason.code}"
        if reason.code in RECONNECT_CODES:
            return _Retry(f"the connection closed with {text}", opened_at)
        self._info("the connection closed with %s: not reconnecting", text)
        return _Done(value)

    def _after_connect_error(self, exc: OSError | HandshakeError, attempt: int) -> _Retry | None:
        """The retry after a failed attempt to connect, or ``None`` if the error is final."""
        # A rejection by the server, or by an HTTP proxy asked for a tunnel
        # (a ConnectFailed that carries the proxy's status): same rule.
        status: int | None = getattr(exc, "status_code", None)
        if status is not None:
            if isinstance(exc, ConnectionRejected):
                what = f"rejected with HTTP {status}"
                retry_after = _retry_after(exc.headers)
            else:
                what, retry_after = _describe(exc), None
            if status not in self.retry_statuses:
                self._info("attempt %d: %s, which is not retried: giving up", attempt, what)
                return None
            return _Retry(what, retry_after=retry_after)
        if _certificate_failed(exc):
            self._info("attempt %d: %s: giving up", attempt, _describe(exc))
            return None
        return _Retry(f"failed: {_describe(exc)}")


async def connect_forever(
    handler: Callable[[WebSocketConnection], Awaitable[T]],
    url: str,
    ssl_context: ssl.SSLContext | None = None,
    *,
    backoff: Backoff = Backoff(),
    retry_statuses: Container[int] = DEFAULT_RETRY_STATUSES,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    subprotocols: Iterable[str] | None = None,
    extra_headers: HeadersArg = None,
    message_queue_size: float = ARG_MESSAGE_QUEUE_SIZE,
    max_message_size: float = ARG_MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = None,
    connect_timeout: float = ARG_TIMEOUT,
    disconnect_timeout: float = ARG_TIMEOUT,
    compression: Compression = ARG_COMPRESSION,
    origin: str | None = None,
    options: ClientOptions | None = None,
    **settings: Unpack[ClientSettings],
) -> T | None:
    """Stay connected to a WebSocket server: run ``handler`` on each connection, with backoff.

    The client counterpart of :func:`ws.serve_websocket`. Each attempt
    opens a connection as :func:`ws.open_websocket_url` does (with the same
    settings) and awaits ``handler(connection)`` on it; the connection is
    closed when the handler ends. Supports ``await nursery.start(...)``,
    which returns once the first connection is open.

    Retried, after a delay from ``backoff``:

    * a failed attempt to connect: ``OSError`` (:class:`~ws.ConnectFailed`),
      :class:`~ws.ConnectionTimeout`, an invalid handshake, a rejection
      whose status is in ``retry_statuses`` (a ``Retry-After`` in seconds
      is honoured, up to ``backoff.maximum``), the same for an HTTP
      proxy's answer to ``CONNECT`` (a 407 is final by default);
    * a connection lost or closed with 1001, 1006, 1011, 1012, 1013 or
      1014, by the server or by a keepalive timeout (1011), whether the
      handler let :class:`~ws.ConnectionClosed` out or returned
      (``async for`` ends quietly on 1001).

    Final:

    * the handler returns on an open connection, or on one it closed
      itself: its value is returned;
    * the connection closed with another code (1000, 1008, 4xxx, ...):
      logged at INFO, and ``None`` (after ``ConnectionClosed``) or the
      handler's value is returned;
    * the handler raises anything else: it propagates, unwrapped;
    * a rejection whose status is not in ``retry_statuses`` (403, 404, a
      redirect not followed, ...), or a TLS certificate that does not
      verify: the error propagates.

    Every retry is logged at INFO on ``logger`` (default: the ``ws``
    logger) with the attempt's number since the last healthy connection,
    what went wrong and the delay before the next attempt; the URL is shown
    without credentials and query.

    Args:
        handler: ``async def handler(connection)``, called for each connection.
        url: As for :func:`ws.open_websocket_url`.
        ssl_context: As for :func:`ws.open_websocket_url`.
        backoff: The delays between attempts (see :class:`Backoff`).
        retry_statuses: The rejection statuses retried: by default 429 and
            every 5xx (:data:`ws.DEFAULT_RETRY_STATUSES`). For instance
            ``{403, *ws.DEFAULT_RETRY_STATUSES}`` also retries a 403 while
            a token is being renewed.
        task_status: Part of Trio's ``nursery.start`` protocol.
        subprotocols, extra_headers, message_queue_size, max_message_size,
        receive_buffer_size, connect_timeout, disconnect_timeout,
        compression, origin, options, settings: As for
            :func:`ws.open_websocket_url`; ``connect_timeout`` applies to
            each attempt.

    Returns:
        The handler's return value, or ``None`` when its connection ended
        with :class:`~ws.ConnectionClosed` and a final close code.

    Raises:
        ConnectionRejected: A rejection whose status is not retried.
        ConnectFailed: The TLS certificate did not verify, or an HTTP proxy
            refused the tunnel with a status not in ``retry_statuses``.
        DisconnectionTimeout: The server did not answer the close after a
            handler returned on an open connection.
        ValueError: The URL is not a WebSocket URL.
        TypeError: ``backoff`` is not a :class:`Backoff`, or a setting is wrong.
    """
    if not isinstance(backoff, Backoff):
        raise TypeError(f"backoff is a ws.Backoff, not {type(backoff).__name__}")
    if isinstance(retry_statuses, (str, bytes)) or not isinstance(retry_statuses, Container):
        raise TypeError(f"retry_statuses is a collection of HTTP status codes, not {retry_statuses!r}")
    opts = make_client_options(
        "connect_forever",
        options,
        dict(
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
            receive_buffer_size=receive_buffer_size,
            connect_timeout=connect_timeout,
            disconnect_timeout=disconnect_timeout,
            compression=compression,
            origin=origin,
        ),
        settings,
    )
    # A bad URL (or an ssl_context with ws://) fails here, before any attempt:
    # open_websocket_url checks it when called, before it is entered.
    open_websocket_url(url, ssl_context, options=opts)
    reconnector = _Reconnector(
        handler,
        url,
        ssl_context,
        opts,
        backoff,
        retry_statuses,
        task_status,
        ROOT_LOGGER if opts.logger is None else opts.logger,
        _shown(url),
    )
    return await reconnector.run()
