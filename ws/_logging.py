"""What ws logs, and how every record names its connection.

Every record about a connection goes through a :class:`Log`, which holds the
logger (``logger=``, by default the ``ws`` logger) and the connection's id.
The id starts the message (``"[ws-2a] closed 1000 ..."``) and is also the
record attribute ``ws_connection_id``, for filters and structured handlers.

Levels: INFO for what a deployment wants to see (connections accepted,
rejected and closed, keepalive timeouts), DEBUG for handshake heads and
frames. Nothing a peer can cause logs above INFO. Checks for DEBUG happen
once per connection, when it is built, so that frames cost nothing while
DEBUG is off: the builder then makes a :class:`FrameLoggingProtocol`
instead of a plain :class:`~ws.protocol.Protocol`, and the plain one has
no logging branch at all.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Final

import attrs

from ws.frames.frame import Frame, Opcode
from ws.protocol import Protocol
from ws.transports.endpoint import Endpoint
from ws.typing import BytesLike

__all__ = [
    "FrameLoggingProtocol",
    "Log",
    "Logger",
    "ROOT_LOGGER",
    "format_head",
    "new_connection_id",
    "where",
]

#: The ``ws`` logger: the default of ``logger=``.
ROOT_LOGGER: Final = logging.getLogger("ws")

_ids = itertools.count(1)

#: Header fields whose values never reach the logs.
_REDACTED: Final = frozenset(
    {b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"}
)


def new_connection_id() -> str:
    """A short id, unique in this process: ``"ws-1"``, ``"ws-2"``, ..."""
    return f"ws-{next(_ids):x}"


#: What ``logger=`` takes: a logger, or an adapter around one.
Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def where(address: Endpoint | str) -> str:
    """An address for the logs: ``host:port``, or a Unix socket's path."""
    return address if isinstance(address, str) else address.authority


@attrs.define(eq=False, slots=True)
class Log:
    """A connection's logger: its records carry the connection's id.

    Args:
        logger: Where the records go.
        id: The connection's id (see :func:`new_connection_id`).
    """

    logger: Logger
    id: str

    @classmethod
    def for_new_connection(cls, logger: Logger | None) -> Log:
        """A Log with a fresh id, on ``logger`` or the ``ws`` logger."""
        return cls(ROOT_LOGGER if logger is None else logger, new_connection_id())

    @property
    def debug_enabled(self) -> bool:
        """Whether DEBUG records would be emitted now."""
        return self.logger.isEnabledFor(logging.DEBUG)

    @property
    def info_enabled(self) -> bool:
        """Whether INFO records would be emitted now: guard costly arguments with it."""
        return self.logger.isEnabledFor(logging.INFO)

    def info(self, message: str, *args: object) -> None:
        """Log at INFO, the message prefixed with the connection's id."""
        if self.logger.isEnabledFor(logging.INFO):
            self._log(logging.INFO, message, args)

    def debug(self, message: str, *args: object) -> None:
        """Log at DEBUG, the message prefixed with the connection's id."""
        if self.logger.isEnabledFor(logging.DEBUG):
            self._log(logging.DEBUG, message, args)

    def error(self, message: str, *args: object, exc_info: bool | BaseException = False) -> None:
        """Log at ERROR: only for our application's faults (a handler's exception), never a peer's."""
        self._log(logging.ERROR, message, args, exc_info=exc_info)

    def head(self, what: str, head: bytes | Sequence[tuple[bytes, bytes]], first_line: str = "") -> None:
        """Log a handshake head at DEBUG, credentials and cookies redacted.

        Args:
            what: What it is, e.g. ``"request"`` or ``"response"``.
            head: The raw head, or its header fields.
            first_line: With fields, the request or status line to show first.
        """
        if self.logger.isEnabledFor(logging.DEBUG):
            self._log(logging.DEBUG, "%s:\n%s", (what, format_head(head, first_line)))

    def _log(
        self, level: int, message: str, args: tuple[object, ...], *, exc_info: bool | BaseException = False
    ) -> None:
        logger = self.logger
        text = "[%s] " + message
        extra: Mapping[str, object] = {"ws_connection_id": self.id}
        if isinstance(logger, logging.LoggerAdapter):
            # An adapter's process() replaces `extra` with its own (before
            # Python 3.13): let it do its work, then add the id back.
            text, kwargs = logger.process(text, {"extra": extra})
            extra = {**(kwargs.get("extra") or {}), "ws_connection_id": self.id}
            logger = logger.logger
        logger.log(level, text, self.id, *args, exc_info=exc_info, extra=extra, stacklevel=3)


def format_head(head: bytes | Sequence[tuple[bytes, bytes]], first_line: str = "") -> str:
    """A handshake head as text for the logs, with credentials and cookies redacted."""
    fields: list[tuple[bytes, bytes]]
    if isinstance(head, (bytes, bytearray)):
        lines = bytes(head).decode("latin-1").split("\r\n")
        first_line, fields = lines[0], []
        for line in lines[1:]:
            if not line:
                continue
            field, _, text = line.partition(":")
            fields.append((field.encode("latin-1"), text.strip().encode("latin-1")))
    else:
        fields = list(head)
    out = [first_line] if first_line else []
    for name, value in fields:
        shown = b"<redacted>" if name.lower() in _REDACTED else value
        out.append(f"  {name.decode('latin-1')}: {shown.decode('latin-1')}")
    return "\n".join(out)


@attrs.define(eq=False)
class FrameLoggingProtocol(Protocol):
    """A :class:`~ws.protocol.Protocol` that logs every frame at DEBUG.

    The builder makes one instead of a plain Protocol when DEBUG is enabled
    for the connection's logger as the connection is built. Each record
    names the direction, the opcode, the payload length and whether the
    frame ends its message; never the payload. A received frame's length
    is the payload's on the wire (``compressed`` marks RSV1, i.e.
    permessage-deflate); a sent frame's is the payload's before extensions.

    Args:
        log: Where the records go (keyword only); the other arguments are
            :class:`~ws.protocol.Protocol`'s.
    """

    _log: Log = attrs.field(kw_only=True)

    def _receive_frame(self, frame: Frame) -> int:
        self._log.debug(
            "received %s frame, %d bytes, %s%s",
            frame.opcode.name,
            len(frame.payload),
            "fin" if frame.fin else "not fin",
            ", compressed" if frame.rsv1 else "",
        )
        return super()._receive_frame(frame)

    def _send_frame(
        self, opcode: Opcode, payload: BytesLike, fin: bool = True, compress: bool | None = None
    ) -> None:
        self._log.debug(
            "sending %s frame, %d bytes, %s", opcode.name, len(payload), "fin" if fin else "not fin"
        )
        super()._send_frame(opcode, payload, fin, compress)

    def send_serialized(self, frame: bytes) -> None:
        """As :meth:`ws.protocol.Protocol.send_serialized`, logging the frame at DEBUG."""
        super().send_serialized(frame)
        self._log.debug("sending a frame made for a broadcast, %d bytes with its header", len(frame))
