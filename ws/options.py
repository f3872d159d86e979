"""Connection options: one frozen configuration object per side.

The public functions take trio-websocket's keyword arguments and build one
of these; :mod:`ws.builder` reads it. Building one yourself lets you pass
every setting, including those trio-websocket did not have, at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal, TypeVar

import attrs

from ws.extensions.base import ClientExtensionFactory, ServerExtensionFactory
from ws.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from ws.handshake.limits import HandshakeLimits
from ws.protocol import DEFAULT_MAX_FRAGMENTS

__all__ = [
    "ClientOptions",
    "Compression",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MESSAGE_QUEUE_BYTES",
    "DEFAULT_RECEIVE_BUFFER_SIZE",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "HeadersArg",
    "ServerOptions",
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

HeadersArg = Iterable[tuple[bytes | str, bytes | str]] | None


def normalize_headers(headers: HeadersArg) -> tuple[tuple[bytes, bytes], ...]:
    """Turn ``extra_headers`` (str or bytes pairs, or ``None``) into byte pairs."""
    if headers is None:
        return ()
    result = []
    for name, value in headers:
        result.append(
            (
                name.encode("ascii") if isinstance(name, str) else bytes(name),
                value.encode("latin-1") if isinstance(value, str) else bytes(value),
            )
        )
    return tuple(result)


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


@attrs.frozen(kw_only=True)
class _CommonOptions:
    message_queue_size: float = attrs.field(default=1, validator=_int_or_inf)
    max_message_size: float = attrs.field(default=DEFAULT_MAX_MESSAGE_SIZE, validator=_int_or_inf)
    max_fragments: int = attrs.field(default=DEFAULT_MAX_FRAGMENTS, validator=_positive_int)
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

    @property
    def protocol_max_size(self) -> int | None:
        """``max_message_size`` as the protocol takes it (``None`` = no limit)."""
        return None if self.max_message_size == math.inf else int(self.max_message_size)


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

    Attributes:
        compression: ``"deflate"`` to accept permessage-deflate with default
            settings, a :class:`~ws.extensions.ServerPerMessageDeflateFactory`
            for other settings, or ``None`` to decline it.
        extensions: More extension factories to accept, after compression.
        handler_errors: ``"log"`` (the default) logs a handler's exception to
            the ``ws`` logger and closes that connection with 1011; ``"raise"``
            lets it propagate out of the server (and stop it).
        See :class:`ClientOptions` for the others; ``connect_timeout`` covers
        reading the client's request, ``disconnect_timeout`` the closing
        handshake after the handler returns.
    """

    compression: Compression = "deflate"
    extensions: tuple[ServerExtensionFactory, ...] = attrs.field(
        default=(), converter=_server_factories
    )
    handler_errors: Literal["log", "raise"] = "log"

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




def make_client_options(
    options: ClientOptions | None,
    *,
    subprotocols: Iterable[str] | None = None,
    extra_headers: HeadersArg = None,
    message_queue_size: float = 1,
    max_message_size: float = DEFAULT_MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = None,
    connect_timeout: float = 60,
    disconnect_timeout: float = 60,
    compression: Compression = "deflate",
    origin: str | None = None,
) -> ClientOptions:
    """``options`` if given, else one built from trio-websocket's keyword arguments.

    Options are frozen, so the common case (no subprotocols, no extra
    headers) is built once per set of arguments and then shared (measured:
    building and checking them took 2.5% of a sequential connect +
    handshake + close).
    """
    if options is not None:
        return options
    key: tuple[object, ...] | None = None
    if subprotocols is None and extra_headers is None:
        key = (
            message_queue_size,
            max_message_size,
            receive_buffer_size,
            connect_timeout,
            disconnect_timeout,
            compression,
            origin,
        )
        try:
            cached = _CLIENT_OPTIONS.get(key)
        except TypeError:  # an unhashable compression factory: build anew
            key = cached = None
        if cached is not None:
            return cached
    built = ClientOptions(
        subprotocols=subprotocol_tuple(subprotocols),
        extra_headers=extra_headers,
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
        connect_timeout=connect_timeout,
        disconnect_timeout=disconnect_timeout,
        compression=compression,
        origin=origin,
    )
    if key is not None:
        if len(_CLIENT_OPTIONS) >= _CLIENT_OPTIONS_KEPT:
            _CLIENT_OPTIONS.clear()
        _CLIENT_OPTIONS[key] = built
    return built


#: Client options built from keyword arguments, by those arguments (see make_client_options).
_CLIENT_OPTIONS: dict[tuple[object, ...], ClientOptions] = {}
_CLIENT_OPTIONS_KEPT = 32


def make_server_options(
    options: ServerOptions | None,
    *,
    message_queue_size: float = 1,
    max_message_size: float = DEFAULT_MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = None,
    connect_timeout: float = 60,
    disconnect_timeout: float = 60,
    compression: Compression = "deflate",
) -> ServerOptions:
    """``options`` if given, else one built from trio-websocket's keyword arguments."""
    if options is not None:
        return options
    return ServerOptions(
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
        connect_timeout=connect_timeout,
        disconnect_timeout=disconnect_timeout,
        compression=compression,
    )
