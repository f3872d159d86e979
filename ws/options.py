"""Connection options: one frozen configuration object per side.

The public functions take trio-websocket's keyword arguments and build one
of these; :mod:`ws.builder` reads it. Building one yourself lets you pass
every setting, including those trio-websocket did not have, at once.
"""

from __future__ import annotations

import logging
import math
import re
import ssl
from collections.abc import Iterable, Mapping
from typing import Final, Literal, TypedDict, TypeVar

import attrs

from ws._headers import HeadersArg, normalize_headers
from ws._logging import Logger
from ws._version import DEFAULT_PRODUCT
from ws.http import ProcessRequest, ProcessRequestArg, hook_tuple

from ws.extensions.base import ClientExtensionFactory, ServerExtensionFactory
from ws.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from ws.handshake.limits import HandshakeLimits
from ws.protocol import DEFAULT_MAX_FRAGMENTS

__all__ = [
    "ClientOptions",
    "ClientSettings",
    "Compression",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MESSAGE_QUEUE_BYTES",
    "DEFAULT_RECEIVE_BUFFER_SIZE",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "DEFAULT_SERVER_HEADER",
    "DEFAULT_USER_AGENT",
    "HeadersArg",
    "Logger",
    "Origins",
    "ServerOptions",
    "ServerSettings",
    "make_client_options",
    "make_server_options",
    "normalize_headers",
]

#: trio-websocket's default: 1 MiB.
DEFAULT_MAX_MESSAGE_SIZE: Final = 1024 * 1024

#: The reader stops reading while this many bytes (characters for text)
#: wait in the message queue; one message of any allowed size always fits.
DEFAULT_MESSAGE_QUEUE_BYTES: Final[float] = 4 * 1024 * 1024

#: Bytes asked for per read: 64 KiB, as Trio's own default (trio-websocket's is 4 KiB).
DEFAULT_RECEIVE_BUFFER_SIZE: Final = 65536

#: Keepalive: a ping every 20 s; no pong within 20 s closes with 1011.
DEFAULT_PING_INTERVAL: Final[float | None] = 20.0
DEFAULT_PING_TIMEOUT: Final[float | None] = 20.0

#: What ``compression=`` accepts: ``"deflate"`` (the default settings), a
#: configured permessage-deflate factory, or ``None`` to turn it off.
Compression = Literal["deflate"] | ClientPerMessageDeflateFactory | ServerPerMessageDeflateFactory | None


#: What ``origins=`` takes: allowed ``Origin`` values, exact strings or
#: compiled patterns (matched in full), and ``None`` to allow requests
#: without an ``Origin`` header (non-browser clients).
Origins = Iterable[str | re.Pattern[str] | None]

#: The proxy URL schemes ``proxy=`` takes.
PROXY_SCHEMES: Final = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")

#: The default ``Server`` header (servers) and ``User-Agent`` header (clients).
DEFAULT_SERVER_HEADER: Final = DEFAULT_PRODUCT
DEFAULT_USER_AGENT: Final = DEFAULT_PRODUCT


_Number = TypeVar("_Number", int, float)


def _int_or_inf(_instance: object, attribute: attrs.Attribute[_Number], value: _Number) -> None:
    if value != math.inf and (value < 0 or int(value) != value):
        raise ValueError(f"{attribute.name} must be an int >= 0 or math.inf, not {value!r}")


def _timeout(_instance: object, attribute: attrs.Attribute[_Number], value: _Number) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0 (math.inf disables it), not {value!r}")


def _optional_interval(
    _instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, not {value!r}")


def _at_least_one(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 1:
        raise ValueError(f"{attribute.name} must be >= 1 or math.inf, not {value!r}")


def _receive_buffer_size(value: int | None) -> int:
    return DEFAULT_RECEIVE_BUFFER_SIZE if value is None else value


def _positive_int(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, not {value!r}")


def _client_factories(
    factories: Iterable[ClientExtensionFactory],
) -> tuple[ClientExtensionFactory, ...]:
    return tuple(factories)


def _server_factories(
    factories: Iterable[ServerExtensionFactory],
) -> tuple[ServerExtensionFactory, ...]:
    return tuple(factories)


def subprotocol_tuple(subprotocols: Iterable[str] | None) -> tuple[str, ...]:
    """``subprotocols`` argument as a tuple (``None`` = none)."""
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols is an iterable of names, not one str")
    return () if subprotocols is None else tuple(subprotocols)


def _origins(
    origins: Origins | None,
) -> tuple[str | re.Pattern[str] | None, ...] | None:
    if origins is None:
        return None
    if isinstance(origins, (str, re.Pattern)):
        raise TypeError(
            "origins is a list of allowed origins (str, compiled patterns, None), "
            f"not one {type(origins).__name__}: write origins=[{origins!r}]"
        )
    result = tuple(origins)
    for origin in result:
        if origin is not None and not isinstance(origin, (str, re.Pattern)):
            raise TypeError(
                f"origins holds str, compiled patterns or None, not {type(origin).__name__}"
            )
    return result


def _logger(_instance: object, attribute: attrs.Attribute[Logger | None], value: object) -> None:
    if value is not None and not isinstance(value, (logging.Logger, logging.LoggerAdapter)):
        raise TypeError(
            f"{attribute.name} is a logging.Logger or logging.LoggerAdapter, "
            f"not {type(value).__name__}"
        )


def _proxy(_instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if value is None or value is True:
        return
    if not isinstance(value, str):
        raise TypeError(
            f"{attribute.name} is True (from the environment), a proxy URL or None, "
            f"not {value!r}"
        )
    scheme = value.partition("://")[0].lower()
    if "://" not in value or scheme not in PROXY_SCHEMES:
        raise ValueError(
            f"{attribute.name} must be a URL starting with "
            f"{', '.join(s + '://' for s in PROXY_SCHEMES)}, not {value!r}"
        )


def _header_value(_instance: object, attribute: attrs.Attribute[str], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} is a str or None, not {type(value).__name__}")
    if any(char in value for char in "\r\n\0"):
        raise ValueError(f"{attribute.name} may not contain CR, LF or NUL: {value!r}")


@attrs.frozen(kw_only=True)
class _CommonOptions:
    message_queue_size: float = attrs.field(default=1, validator=_int_or_inf)
    max_message_size: float = attrs.field(default=DEFAULT_MAX_MESSAGE_SIZE, validator=_int_or_inf)
    max_fragments: int = attrs.field(default=DEFAULT_MAX_FRAGMENTS, validator=_positive_int)
    max_frame_size: float = attrs.field(default=math.inf, validator=_int_or_inf)
    connect_timeout: float = attrs.field(default=60, validator=_timeout)
    disconnect_timeout: float = attrs.field(default=60, validator=_timeout)
    handshake_limits: HandshakeLimits = attrs.field(factory=HandshakeLimits)
    message_queue_bytes: float = attrs.field(
        default=DEFAULT_MESSAGE_QUEUE_BYTES, validator=_at_least_one
    )
    receive_buffer_size: int = attrs.field(
        default=DEFAULT_RECEIVE_BUFFER_SIZE, converter=_receive_buffer_size, validator=_positive_int
    )
    ping_interval: float | None = attrs.field(
        default=DEFAULT_PING_INTERVAL, validator=_optional_interval
    )
    ping_timeout: float | None = attrs.field(
        default=DEFAULT_PING_TIMEOUT, validator=_optional_interval
    )
    logger: Logger | None = attrs.field(default=None, validator=_logger)

    @property
    def protocol_max_size(self) -> int | None:
        """``max_message_size`` as the protocol takes it (``None`` = no limit)."""
        return None if self.max_message_size == math.inf else int(self.max_message_size)

    @property
    def protocol_max_frame_size(self) -> int | None:
        """``max_frame_size`` as the protocol takes it (``None`` = no limit of its own)."""
        return None if self.max_frame_size == math.inf else int(self.max_frame_size)


@attrs.frozen(kw_only=True)
class ClientOptions(_CommonOptions):
    """Everything a client connection can be configured with.

    Attributes:
        subprotocols: Subprotocols to offer, in order of preference.
        extra_headers: More request headers, as ``(name, value)`` pairs.
        origin: An ``Origin`` header to send, or ``None``.
        compression: ``"deflate"`` to offer permessage-deflate with default
            settings, a :class:`~ws.extensions.ClientPerMessageDeflateFactory`
            for other settings, or ``None`` for no compression.
        extensions: More extension factories to offer, after compression.
        message_queue_size: Messages buffered before the reader waits
            (0 = hand over directly, ``math.inf`` = unbounded).
        max_message_size: Largest message accepted, in bytes (``math.inf``
            disables the limit); larger ones close the connection with 1009.
        max_fragments: Most frames in one message (1009 beyond).
        max_frame_size: Largest data frame accepted, in bytes on the wire
            (compressed, if it is), checked from the frame header before its
            payload is buffered; larger ones close with 1009. Separate from
            ``max_message_size``, which bounds the message after inflating.
            Default ``math.inf``: only ``max_message_size`` applies.
        connect_timeout: Seconds for the connection and opening handshake
            (high-level APIs only; ``math.inf`` disables it).
        disconnect_timeout: Seconds for the closing handshake (high-level
            APIs only; ``math.inf`` disables it).
        message_queue_bytes: The reader waits while this many bytes
            (characters for text) are queued; one message always fits
            (default 4 MiB; ``math.inf``: no byte limit).
        handshake_limits: Size limits on the server's response head.
        receive_buffer_size: Bytes asked for per read from the stream
            (default 64 KiB; ``None`` also means the default, as "let Trio
            choose" does in trio-websocket, whose default is 4 KiB).
        ping_interval: Send a keepalive ping this often, in seconds
            (default 20; ``None``: no keepalive).
        ping_timeout: When a keepalive pong takes longer than this many
            seconds (default 20), close with 1011 and drop the connection;
            ``None`` waits for ever.
        logger: Where the connection logs (default: the ``ws`` logger).
            Every record carries the connection's id (see the logging docs).
        user_agent_header: The ``User-Agent`` header to send (default
            ``trio-ws/<version> Python/<x.y>``); ``None`` sends none. A
            ``User-Agent`` in ``extra_headers`` replaces it.
        proxy: ``True`` (the default) takes the proxy from the environment
            as curl does (``HTTP_PROXY`` for ``ws://``, ``HTTPS_PROXY`` for
            ``wss://``, then ``ALL_PROXY``; ``NO_PROXY`` honoured; lower-case
            names too); a proxy URL (``http://``, ``https://``,
            ``socks5://``, ``socks5h://``, ``socks4://``, ``socks4a://``)
            uses that proxy; ``None`` connects directly. ``ws+unix://`` and
            ``wrap_client_stream`` never use one. See ``docs/proxies.md``.
        proxy_ssl_context: The TLS configuration for an ``https://``
            proxy (TLS to the proxy itself, not to the server); ``None``
            verifies the proxy's certificate against the system's CAs.
        max_redirects: How many redirects (301, 302, 303, 307, 308) the
            opening handshake follows before giving up (0: none).
    """

    subprotocols: tuple[str, ...] = attrs.field(default=(), converter=subprotocol_tuple)
    extra_headers: tuple[tuple[bytes, bytes], ...] = attrs.field(
        default=(), converter=normalize_headers
    )
    origin: str | None = None
    compression: Compression = "deflate"
    extensions: tuple[ClientExtensionFactory, ...] = attrs.field(
        default=(), converter=_client_factories
    )
    user_agent_header: str | None = attrs.field(default=DEFAULT_USER_AGENT, validator=_header_value)
    proxy: str | bool | None = attrs.field(default=True, validator=_proxy)
    proxy_ssl_context: ssl.SSLContext | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.instance_of(ssl.SSLContext)),
    )
    max_redirects: int = attrs.field(default=10, validator=_int_or_inf)

    def extension_factories(self) -> list[ClientExtensionFactory]:
        """The factories to offer, compression first."""
        factories: list[ClientExtensionFactory] = []
        if self.compression == "deflate":
            factories.append(ClientPerMessageDeflateFactory())
        elif isinstance(self.compression, ClientPerMessageDeflateFactory):
            factories.append(self.compression)
        elif self.compression is not None:
            raise TypeError(
                "a client's compression is 'deflate', None or a ClientPerMessageDeflateFactory"
            )
        factories.extend(self.extensions)
        return factories


@attrs.frozen(kw_only=True)
class ServerOptions(_CommonOptions):
    """Everything a server connection can be configured with.

    See :class:`ClientOptions` for the fields not listed here;
    ``connect_timeout`` covers reading the client's request,
    ``disconnect_timeout`` the closing handshake after the handler returns.

    Attributes:
        compression: ``"deflate"`` to accept permessage-deflate with default
            settings, a :class:`~ws.extensions.ServerPerMessageDeflateFactory`
            for other settings, or ``None`` to decline it.
        extensions: More extension factories to accept, after compression.
        handler_errors: ``"log"`` (the default) logs a handler's exception to
            the ``ws`` logger and closes that connection with 1011; ``"raise"``
            lets it propagate out of the server (and stop it).
        process_request: An async hook, or several tried in order, called
            with a :class:`~ws.HTTPRequest` for every request before the
            WebSocket handshake; one that returns a :class:`~ws.HTTPResponse`
            answers the request with it (see :mod:`ws.http`).
        origins: The allowed values of the ``Origin`` header: exact strings,
            compiled patterns (matched in full), and ``None`` for requests
            without one. Any other request gets 403 before the upgrade.
            ``None`` (the default) does not check.
        server_header: The ``Server`` header of every response (default
            ``trio-ws/<version> Python/<x.y>``); ``None`` sends none.
    """

    compression: Compression = "deflate"
    extensions: tuple[ServerExtensionFactory, ...] = attrs.field(
        default=(), converter=_server_factories
    )
    handler_errors: Literal["log", "raise"] = attrs.field(
        default="log", validator=attrs.validators.in_(("log", "raise"))
    )
    process_request: tuple[ProcessRequest, ...] = attrs.field(default=(), converter=hook_tuple)
    origins: tuple[str | re.Pattern[str] | None, ...] | None = attrs.field(
        default=None, converter=_origins
    )
    server_header: str | None = attrs.field(default=DEFAULT_SERVER_HEADER, validator=_header_value)

    def extension_factories(self) -> list[ServerExtensionFactory]:
        """The factories that may accept offers, compression first."""
        factories: list[ServerExtensionFactory] = []
        if self.compression == "deflate":
            factories.append(ServerPerMessageDeflateFactory())
        elif isinstance(self.compression, ServerPerMessageDeflateFactory):
            factories.append(self.compression)
        elif self.compression is not None:
            raise TypeError(
                "a server's compression is 'deflate', None or a ServerPerMessageDeflateFactory"
            )
        factories.extend(self.extensions)
        return factories


class ClientSettings(TypedDict, total=False):
    """The client settings that are keyword arguments without a name of their own.

    Every :class:`ClientOptions` field is a keyword argument of the client
    functions. trio-websocket's (``subprotocols`` to ``disconnect_timeout``),
    ``compression`` and ``origin`` are named in the signatures; these are the
    others. ``open_websocket(..., ping_interval=None)`` turns keepalive off.
    """

    max_fragments: int
    max_frame_size: float
    handshake_limits: HandshakeLimits
    message_queue_bytes: float
    ping_interval: float | None
    ping_timeout: float | None
    logger: Logger | None
    extensions: Iterable[ClientExtensionFactory]
    user_agent_header: str | None
    proxy: str | bool | None
    proxy_ssl_context: ssl.SSLContext | None
    max_redirects: int


class ServerSettings(TypedDict, total=False):
    """The server settings that are keyword arguments without a name of their own.

    Every :class:`ServerOptions` field is a keyword argument of
    :func:`~ws.serve_websocket`, :func:`~ws.serve_websocket_unix` and
    :class:`~ws.WebSocketServer`; these are the ones not named in their
    signatures.
    """

    max_fragments: int
    max_frame_size: float
    handshake_limits: HandshakeLimits
    message_queue_bytes: float
    ping_interval: float | None
    ping_timeout: float | None
    logger: Logger | None
    extensions: Iterable[ServerExtensionFactory]
    handler_errors: Literal["log", "raise"]
    process_request: ProcessRequestArg
    origins: Origins | None
    server_header: str | None


class _DefaultInt(int):
    """A default argument that tells itself apart from the same number passed by a caller.

    ``options=`` with a setting beside it is an error, even when the setting
    has its default value; these defaults print as plain numbers in
    signatures.
    """

    __slots__ = ()


class _DefaultStr(str):
    """As :class:`_DefaultInt`, for a str default."""

    __slots__ = ()


#: The defaults of the trio-websocket arguments in the public signatures.
ARG_MESSAGE_QUEUE_SIZE: Final[int] = _DefaultInt(1)
ARG_MAX_MESSAGE_SIZE: Final[int] = _DefaultInt(DEFAULT_MAX_MESSAGE_SIZE)
ARG_TIMEOUT: Final[int] = _DefaultInt(60)
ARG_COMPRESSION: Final[Literal["deflate"]] = _DefaultStr("deflate")  # type: ignore[assignment]

_CLIENT_FIELDS: Final = frozenset(field.name for field in attrs.fields(ClientOptions))
_SERVER_FIELDS: Final = frozenset(field.name for field in attrs.fields(ServerOptions))
_TIMEOUTS: Final = frozenset({"connect_timeout", "disconnect_timeout"})
_NONE_IS_A_VALUE: Final = frozenset({"compression"})


def _given(named: Mapping[str, object], settings: Mapping[str, object]) -> dict[str, object]:
    """The settings a caller gave.

    ``named`` are the arguments named in the signature, given unless left
    at their default (``None`` is the default "not set" of all but
    ``compression``, where it means "off"); ``settings``
    are the other keyword arguments, all given (``ping_interval=None`` is
    a setting).
    """
    given = {
        name: value
        for name, value in named.items()
        if type(value) not in (_DefaultInt, _DefaultStr)
        and (value is not None or name in _NONE_IS_A_VALUE)
    }
    given.update(settings)
    return given


def _check(
    caller: str,
    options: object | None,
    given: Mapping[str, object],
    fields: frozenset[str],
    timeouts: bool,
) -> None:
    """Raise TypeError for a setting the caller cannot give, or one given beside ``options``."""
    unknown = sorted(set(given) - fields)
    if not timeouts:
        unknown += sorted(_TIMEOUTS & set(given))
    if unknown:
        kind = "Client" if fields is _CLIENT_FIELDS else "Server"
        names = ", ".join(unknown)
        if not timeouts and set(unknown) <= _TIMEOUTS:
            raise TypeError(
                f"{caller}() sets no timeouts of its own, so it takes no {names}: "
                "wrap the call in a cancel scope (trio.fail_after) instead"
            )
        raise TypeError(
            f"{caller}() got unexpected keyword argument(s): {names}. "
            f"Its settings are the fields of ws.{kind}Options."
        )
    if options is not None and given:
        names = ", ".join(sorted(given))
        raise TypeError(
            f"{caller}() got options= and also {names}. Give every setting in one place: "
            f"either as keyword arguments, or in the options object "
            f"(attrs.evolve(options, {next(iter(sorted(given)))}=...))."
        )


def make_client_options(
    caller: str,
    options: ClientOptions | None,
    named: Mapping[str, object],
    settings: Mapping[str, object],
    *,
    timeouts: bool = True,
) -> ClientOptions:
    """``options``, or options built from a client function's keyword arguments.

    Args:
        caller: The public function's name, for error messages.
        options: The ``options=`` argument.
        named: The settings named in the signature, left at their
            default or not.
        settings: The other settings (``**settings``).
        timeouts: Whether the caller applies ``connect_timeout`` and
            ``disconnect_timeout``; the low-level functions do not (and
            build options without timeouts).

    Raises:
        TypeError: An unknown setting, or settings beside ``options``.

    Options are frozen, so those built from the same hashable arguments
    are built once and then shared (measured: building and checking them
    took 2.5% of a sequential connect + handshake + close).
    """
    if options is None and not settings:
        # The common call: only named arguments. Their values (a default
        # prints and hashes as its value) key the cache; no checks needed.
        args = (caller, *named.values())
        key: tuple[object, ...] | None = args
        try:
            return _CLIENT_BY_ARGS[args]
        except KeyError:
            pass
        except TypeError:  # an unhashable value (a list of subprotocols)
            key = None
        built = _build_client(caller, options, named, settings, timeouts)
        if key is not None:
            if len(_CLIENT_BY_ARGS) >= _OPTIONS_KEPT:
                _CLIENT_BY_ARGS.clear()
            _CLIENT_BY_ARGS[key] = built
        return built
    return _build_client(caller, options, named, settings, timeouts)


def _build_client(
    caller: str,
    options: ClientOptions | None,
    named: Mapping[str, object],
    settings: Mapping[str, object],
    timeouts: bool,
) -> ClientOptions:
    given = _given(named, settings)
    _check(caller, options, given, _CLIENT_FIELDS, timeouts)
    if options is not None:
        return options
    if not timeouts:
        given["connect_timeout"] = given["disconnect_timeout"] = math.inf
    return _cached(_CLIENT_OPTIONS, ClientOptions, given)


def make_server_options(
    caller: str,
    options: ServerOptions | None,
    named: Mapping[str, object],
    settings: Mapping[str, object],
    *,
    timeouts: bool = True,
) -> ServerOptions:
    """``options``, or options built from a server function's keyword arguments.

    As :func:`make_client_options`, for :class:`ServerOptions`.
    """
    given = _given(named, settings)
    _check(caller, options, given, _SERVER_FIELDS, timeouts)
    if options is not None:
        return options
    return _cached(_SERVER_OPTIONS, ServerOptions, given)


_Options = TypeVar("_Options", ClientOptions, ServerOptions)


def _cached(
    cache: dict[tuple[tuple[str, object], ...], _Options],
    make: type[_Options],
    given: dict[str, object],
) -> _Options:
    key: tuple[tuple[str, object], ...] | None = tuple(sorted(given.items()))
    try:
        cached = cache.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable value (a list of subprotocols): build anew
        key = cached = None
    if cached is not None:
        return cached
    built = make(**given)  # type: ignore[arg-type]  # checked by _check and the fields
    if key is not None:
        if len(cache) >= _OPTIONS_KEPT:
            cache.clear()
        cache[key] = built
    return built


#: Options built from keyword arguments, by those arguments (see make_client_options).
_CLIENT_OPTIONS: dict[tuple[tuple[str, object], ...], ClientOptions] = {}
_SERVER_OPTIONS: dict[tuple[tuple[str, object], ...], ServerOptions] = {}
#: Client options by (caller, named argument values), for calls without other settings.
_CLIENT_BY_ARGS: dict[tuple[object, ...], ClientOptions] = {}
_OPTIONS_KEPT = 32
