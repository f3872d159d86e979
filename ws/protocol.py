"""The sans-IO WebSocket connection, for both roles (RFC 6455 sections 5-7).

Theory of operation
-------------------

A :class:`Protocol` starts after the opening handshake: it owns the frame
parser, the negotiated extensions and the closing handshake. It does no I/O,
reads no clock and draws no randomness except through the injected
``mask_key`` source.

Inputs and what the caller must do after each:

* :meth:`~Protocol.receive_data` (bytes read from the network) and
  :meth:`~Protocol.receive_eof` (the network said EOF): then call
  :meth:`~Protocol.events_received` and handle the events, and call
  :meth:`~Protocol.data_to_send` and write what it returns: receiving a ping
  queues a pong, receiving a close queues the answering close, a protocol
  error queues a close frame with the error's code.
* :meth:`~Protocol.send_text`, :meth:`~Protocol.send_binary`,
  :meth:`~Protocol.send_continuation`, :meth:`~Protocol.send_ping`,
  :meth:`~Protocol.send_pong`, :meth:`~Protocol.send_close` and
  :meth:`~Protocol.fail`: then call :meth:`~Protocol.data_to_send` and write.

:meth:`~Protocol.data_to_send` returns a list of byte strings to write in
order; an empty ``b""`` in it means "half-close the transport now" (send EOF
on a stream that can, close it otherwise). :meth:`~Protocol.close_expected`
turns true when the caller should expect the transport to close and should
start the close timeout, after which it drops the connection itself.

States (:class:`State`) and their transitions (``_TRANSITIONS``):

* ``OPEN``: messages flow both ways.
* ``CLOSING``: we sent a close frame and wait for the peer's; we send
  nothing more, and still read (and validate) what the peer sends.
* ``CLOSED``: the closing handshake is over, or the connection failed, or
  the peer hung up. Everything received from now on is discarded.

Entering ``CLOSED`` makes the server half-close the transport ("the
underlying TCP connection, in most normal cases, SHOULD be closed first by
the server", RFC 6455 section 7.1.1); the client waits for the server to do
it. A failure (:meth:`~Protocol.fail`, or a protocol error in the received
bytes) sends a close frame with the error's code unless one was sent already
(section 7.1.7), then goes to ``CLOSED``. After EOF from the peer, both
sides close their end too.

Two refinements make a failure look the way RFC 6455 intends from the
other end (the Autobahn TestSuite checks both):

* Messages before the error are answered first. When the bytes of one
  :meth:`~Protocol.receive_data` call hold complete messages and then a
  protocol error, the error is held back (:attr:`~Protocol.error_pending`)
  until the caller has collected those messages with
  :meth:`~Protocol.events_received` and next calls
  :meth:`~Protocol.data_to_send` (or feeds more input). Whatever the
  application sends in reply in between goes out before the close frame,
  as if the bad frame had arrived a moment later. Nothing after the bad
  frame is parsed.
* Invalid UTF-8 fails fast. The text of a frame is validated as its
  bytes arrive, not when the frame is complete, so a long frame with an
  invalid byte early fails the connection at once (RFC 6455 section 8.1:
  "When an endpoint is to interpret a byte stream as UTF-8 but finds that
  the byte stream is not, in fact, a valid UTF-8 stream, that endpoint
  MUST *Fail the WebSocket Connection*"). Compressed messages are checked
  frame by frame, after inflating.

Invariants: at most one close frame is sent; no frame is sent after it;
``_in_opcode`` is the opcode of the message being received (``None`` between
messages), ``_out_opcode`` that of the message being sent fragment by
fragment.
"""

from __future__ import annotations

import codecs
import enum
import math
from collections.abc import Callable, Sequence
from typing import Final

import attrs

from ws.errors import (
    InvalidPayload,
    LocalProtocolError,
    MessageTooBig,
    ProtocolError,
    RemoteProtocolError,
)
from ws.events import Close, Event, Fragment, Message, Ping, Pong
from ws.extensions.base import Extension
from ws.extensions.pipeline import ExtensionPipeline
from ws.frames.close import MAX_CLOSE_REASON, CloseReason, parse_close, serialize_close
from ws.frames.frame import CloseCode, Frame, Opcode
from ws.frames.parser import FrameParser
from ws.frames.serializer import random_mask_key, serialize, serialize_frame, serialize_parts
from ws.typing import BytesLike, StateEnum

__all__ = ["DEFAULT_MAX_FRAGMENTS", "Protocol", "Side", "State"]

#: The default cap on the number of frames in one message.
DEFAULT_MAX_FRAGMENTS: Final = 65536

# Deflate expands incompressible data: each stored block adds 5 bytes, and
# zlib's blocks hold about 2**(memLevel+6) bytes, so the overhead grows as
# memLevel shrinks (measured on 1 MiB of random bytes: 321 bytes at
# memLevel 8, 2,561 at 5, 41,262 = 3.9% at 1). A compressed frame may thus
# exceed the inflated size limit on the wire by 1/16 (6.25%, enough for
# every memLevel) plus a few bytes; the inflated size is checked exactly.
_DEFLATE_SLACK_SHIFT: Final = 4
_DEFLATE_SLACK: Final = 64
#: Frames with payloads from this size on are queued in :meth:`Protocol.data_to_send`
#: as two chunks, head and body, so that the body is not copied into one
#: frame: a vectored write (``os.writev``) sends both at once.
_PARTS_FROM: Final = 65536


class Side(enum.Enum):
    """Which end of the connection a :class:`Protocol` plays."""

    CLIENT = "client"
    SERVER = "server"


class State(StateEnum):
    """The states of the closing handshake (see the module docstring)."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class _Input(StateEnum):
    SEND_CLOSE = "send close"
    RECEIVE_CLOSE = "receive close"
    FAIL = "fail"
    RECEIVE_EOF = "receive EOF"


_TRANSITIONS: Final[dict[tuple[State, _Input], State]] = {
    (State.OPEN, _Input.SEND_CLOSE): State.CLOSING,
    (State.OPEN, _Input.RECEIVE_CLOSE): State.CLOSED,
    (State.OPEN, _Input.FAIL): State.CLOSED,
    (State.OPEN, _Input.RECEIVE_EOF): State.CLOSED,
    (State.CLOSING, _Input.RECEIVE_CLOSE): State.CLOSED,
    (State.CLOSING, _Input.FAIL): State.CLOSED,
    (State.CLOSING, _Input.RECEIVE_EOF): State.CLOSED,
    (State.CLOSED, _Input.FAIL): State.CLOSED,
    (State.CLOSED, _Input.RECEIVE_EOF): State.CLOSED,
}

_OPEN: Final = State.OPEN
_CLOSED: Final = State.CLOSED
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONTINUATION: Final = Opcode.CONTINUATION
_utf8_decoder = codecs.getincrementaldecoder("utf-8")


def _truncate_reason(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON:
        return text
    return data[: MAX_CLOSE_REASON - 3].decode("utf-8", "ignore") + "..."


@attrs.define(eq=False)
class Protocol:
    """A WebSocket connection with no I/O, from the end of the opening handshake on.

    Args:
        side: Whether we are the client or the server.
        extensions: The extensions negotiated in the opening handshake, in
            the order of the ``Sec-WebSocket-Extensions`` response header.
        max_message_size: The largest message accepted, in payload bytes
            after decompression (UTF-8 bytes for text), or ``None`` for no
            limit. A larger message fails the connection with 1009; the size
            is checked from each frame header before its payload is buffered
            and again while inflating.
        max_fragments: The most frames one message may have (1009 beyond).
        assemble_messages: Deliver whole :class:`~ws.events.Message` events
            (``True``) or a :class:`~ws.events.Fragment` per data frame
            (``False``) for callers that stream.
        mask_key: Where a client gets a fresh 4-byte masking key per frame;
            inject a fixed source for deterministic tests.
        max_frame_size: The largest data frame accepted, in payload bytes
            on the wire (before inflating), or ``None`` for no limit of its
            own. Checked from the frame header before the payload is
            buffered; a larger frame fails the connection with 1009.
    """

    side: Side
    extensions: Sequence[Extension] = ()
    max_message_size: int | None = 1024 * 1024
    max_fragments: int = DEFAULT_MAX_FRAGMENTS
    assemble_messages: bool = True
    mask_key: Callable[[], bytes] = random_mask_key
    max_frame_size: int | None = None

    #: The current state of the closing handshake.
    state: State = attrs.field(default=State.OPEN, init=False)
    #: The close frame we sent, once sent.
    close_sent: CloseReason | None = attrs.field(default=None, init=False)
    #: The close frame we received, once received.
    close_rcvd: CloseReason | None = attrs.field(default=None, init=False)
    #: Whether we received the peer's close before sending ours.
    close_rcvd_then_sent: bool = attrs.field(default=False, init=False)
    #: The protocol error that failed the connection, if one did.
    error: ProtocolError | None = attrs.field(default=None, init=False)
    #: Whether the transport reported EOF.
    eof_received: bool = attrs.field(default=False, init=False)
    #: Whether we asked the caller to half-close the transport.
    eof_sent: bool = attrs.field(default=False, init=False)

    _parser: FrameParser = attrs.field(init=False)
    _pipeline: ExtensionPipeline | None = attrs.field(default=None, init=False)
    _client: bool = attrs.field(init=False)
    _events: list[Event] = attrs.field(factory=list, init=False)
    _out: list[bytes] = attrs.field(factory=list, init=False)
    _in_opcode: Opcode | None = attrs.field(default=None, init=False)
    _in_parts: list[bytes] = attrs.field(factory=list, init=False)
    _in_text: list[str] = attrs.field(factory=list, init=False)
    _in_size: int = attrs.field(default=0, init=False)
    _in_count: int = attrs.field(default=0, init=False)
    _in_decoder: codecs.IncrementalDecoder | None = attrs.field(default=None, init=False)
    _out_opcode: Opcode | None = attrs.field(default=None, init=False)
    _slack: bool = attrs.field(default=False, init=False)
    # A received error held back behind messages the caller has not handled yet.
    _pending_error: RemoteProtocolError | None = attrs.field(default=None, init=False)
    _pending_armed: bool = attrs.field(default=False, init=False)
    # Fail-fast UTF-8: whether a text message's frames may be validated
    # before they are complete, and the decoder for the incomplete frame.
    _can_peek: bool = attrs.field(default=True, init=False)
    _in_plain: bool = attrs.field(default=True, init=False)
    _peek_decoder: codecs.IncrementalDecoder | None = attrs.field(default=None, init=False)
    # Whether the last receive_data() stopped early with bytes left to parse.
    _more: bool = attrs.field(default=False, init=False)
    # stream_messages() was called: messages go out as Fragment events,
    # bounded frame by frame.
    _streaming: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._client = self.side is Side.CLIENT
        rsv = 0
        if self.extensions:
            self._pipeline = ExtensionPipeline(self.extensions)
            rsv = self._pipeline.rsv_mask
            self._slack = True
            self._can_peek = all(ext.passes_plain_messages for ext in self.extensions)
        if self.max_message_size is not None and self.max_message_size < 0:
            raise ValueError("max_message_size must be >= 0 or None")
        if self.max_fragments < 1:
            raise ValueError("max_fragments must be >= 1")
        if self.max_frame_size is not None and self.max_frame_size < 0:
            raise ValueError("max_frame_size must be >= 0 or None")
        self._parser = FrameParser(mask_required=not self._client, allowed_rsv=rsv)
        self._set_limit()

    # -- outputs ---------------------------------------------------------

    def events_received(self) -> list[Event]:
        """Return (and forget) the events parsed since the last call."""
        events = self._events
        self._events = []
        if self._pending_error is not None:
            self._pending_armed = True
        return events

    def data_to_send(self) -> list[bytes]:
        """Return (and forget) the bytes to write; ``b""`` means half-close now.

        Write the chunks in order, joined or one by one. A frame with a
        large payload comes as two chunks, its head and its body, so that
        a vectored write can send the body without copying it.

        A protocol error held back behind received messages
        (:attr:`error_pending`) takes effect here, once those messages were
        collected with :meth:`events_received`: its close frame comes after
        anything sent in the meantime.
        """
        if self._pending_armed:
            self._apply_pending_error()
        out = self._out
        self._out = []
        return out

    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` would return anything (cheap to ask)."""
        return bool(self._out) or self._pending_armed

    @property
    def error_pending(self) -> bool:
        """Whether a received protocol error waits behind undelivered messages.

        True from the :meth:`receive_data` call that found the error (after
        complete messages in the same bytes) until the next
        :meth:`data_to_send` after :meth:`events_received`, or the next
        :meth:`receive_data` or :meth:`receive_eof`. A caller that wants
        the application to answer those messages first lets it handle them
        before calling :meth:`data_to_send`.
        """
        return self._pending_error is not None

    def close_expected(self) -> bool:
        """Whether the transport is expected to close soon.

        Once true, the caller should give the closing handshake at most its
        close timeout and then drop the connection itself.
        """
        return self.state is not _OPEN

    @property
    def close_reason(self) -> CloseReason | None:
        """Why the connection closed, or ``None`` while it is open.

        The close frame of whichever side closed first; 1006
        (ABNORMAL_CLOSURE) if the transport ended before any close frame.
        """
        if self.state is _OPEN:
            return None
        if self.close_rcvd is not None and (self.close_sent is None or self.close_rcvd_then_sent):
            return self.close_rcvd
        if self.close_sent is not None:
            return self.close_sent
        return CloseReason(CloseCode.ABNORMAL_CLOSURE, None)

    # -- receiving -------------------------------------------------------

    def receive_data(
        self,
        data: BytesLike,
        *,
        hold_errors: bool = False,
        max_messages: float = math.inf,
        max_bytes: float = math.inf,
    ) -> None:
        """Feed bytes read from the transport.

        Protocol errors in them do not raise: they fail the connection (a
        close frame with the error's code is queued and :attr:`error` is
        set).

        Parsing may stop early, to bound what the caller must hold: after
        ``max_messages`` complete messages, or once the messages parsed by
        this call add up to ``max_bytes`` or more. The rest stays buffered
        (:attr:`has_pending_input`) and is parsed by a later call, which may
        pass ``b""`` as ``data``.

        Args:
            data: The bytes; ``b""`` to go on parsing buffered bytes.
            hold_errors: The caller still holds messages from earlier calls
                that the application has not taken: hold a protocol error in
                ``data`` back (:attr:`error_pending`) as if those messages
                had come in the same bytes.
            max_messages: Stop after this many complete messages.
            max_bytes: Stop once the messages parsed add up to this size
                (UTF-8 characters for text, bytes for binary) or more.
        """
        if self._pending_error is not None:
            self._apply_pending_error()
        if self.state is _CLOSED or not (data or self._more):
            return
        if data:
            self._parser.feed(data)
        self._parse(hold_errors, max_messages, max_bytes)

    def _parse(self, hold_errors: bool, max_messages: float, max_bytes: float) -> None:
        # receive_data() after its checks: parse what is buffered, within the bounds.
        parser = self._parser
        self._more = False
        count = 0
        size = 0
        try:
            # _receive_frame() may close the connection; stop reading then.
            while (frame := parser.next_frame()) is not None:
                completed = self._receive_frame(frame)
                if self._closed():  # a method: mypy would think the state unchanged
                    break
                if completed >= 0:  # a message: count it against the bounds
                    count += 1
                    size += completed
                    if count >= max_messages or size >= max_bytes:
                        self._more = parser.buffered > 0
                        break
            else:
                if self._can_peek and parser.buffered:
                    self._check_partial_text()
        except RemoteProtocolError as exc:
            self._more = False
            if hold_errors or any(
                type(event) is Message or type(event) is Fragment for event in self._events
            ):
                # Let the caller deliver (and answer) these messages first.
                self._pending_error = exc
            else:
                self.error = exc
                self.fail(exc.close_code, self._close_reason_for(exc))

    def receive_buffered(self, max_messages: float, max_bytes: float) -> list[Event]:
        """Go on parsing buffered bytes (:attr:`has_pending_input`) and return the events.

        :meth:`receive_data` with ``b""`` and then :meth:`events_received`,
        in one call: consumers that parse for themselves call it once per
        message or two, so its cost counts.
        """
        # receive_data() and events_received(), inlined.
        if self._pending_error is not None:
            self._apply_pending_error()
        if self._more and self.state is not _CLOSED:
            self._parse(False, max_messages, max_bytes)
        events = self._events
        self._events = []
        if self._pending_error is not None:
            self._pending_armed = True
        return events

    def stream_messages(self) -> Fragment | None:
        """From now on, deliver messages in pieces: a :class:`~ws.events.Fragment` per data frame.

        For a consumer that streams messages instead of holding them whole
        (``assemble_messages=False`` from the start gives pieces too, but
        keeps the limits of whole messages). A streamed message is never
        held whole here, so ``max_message_size`` bounds each of its frames
        (after inflating) rather than their sum, and ``max_fragments`` does
        not apply: a consumer that assembles pieces applies them itself.
        Calling it again does nothing.

        Returns:
            What was assembled of the message being received, as its first
            fragment, when one is under way (the events to come continue
            it); else ``None``.
        """
        if self._streaming or not self.assemble_messages:
            return None
        self._streaming = True
        self.assemble_messages = False
        first: Fragment | None = None
        if self._in_opcode is not None:
            data: str | bytes
            if self._in_decoder is not None:
                data = "".join(self._in_text)
                self._in_text = []
            else:
                data = b"".join(self._in_parts)
                self._in_parts = []
            first = Fragment(data, True, False)
            self._in_size = 0
        self._set_limit()
        return first

    def needs_writer(self) -> bool:
        """Whether something owed must be written or handled: data to send, a held error, a close."""
        return bool(self._out) or self._pending_armed or self._pending_error is not None or self.state is not _OPEN

    @property
    def has_pending_input(self) -> bool:
        """Whether received bytes wait to be parsed (see :meth:`receive_data`)."""
        return self._more and self.state is not _CLOSED

    def _apply_pending_error(self) -> None:
        error = self._pending_error
        self._pending_error = None
        self._pending_armed = False
        if error is not None and self.state is not _CLOSED:
            self.error = error
            self.fail(error.close_code, self._close_reason_for(error))

    def _check_partial_text(self) -> None:
        # Fail fast on invalid UTF-8 in a text frame that is still arriving.
        parser = self._parser
        header = parser.partial_header()
        if header is None:
            return
        opcode, rsv = header
        if opcode is _TEXT:
            if rsv or self._in_opcode is not None:
                return  # compressed, or out of sequence (reported when complete)
            decoder = self._peek_decoder
            if decoder is None:
                decoder = self._peek_decoder = _utf8_decoder()
        elif opcode is _CONTINUATION:
            if self._in_opcode is not _TEXT or not self._in_plain or self._in_decoder is None:
                return
            decoder = self._peek_decoder
            if decoder is None:
                decoder = self._peek_decoder = _utf8_decoder()
                decoder.setstate(self._in_decoder.getstate())
        else:
            return
        frame = parser.partial_frame()
        if frame is not None:
            _decode_text(decoder, frame.payload, False)

    def receive_eof(self) -> None:
        """Tell the protocol that the transport reached EOF."""
        if self._pending_error is not None:
            self._apply_pending_error()
        if self.eof_received:
            return
        self.eof_received = True
        self._transition(_Input.RECEIVE_EOF)
        self._send_eof()

    def _set_limit(self) -> None:
        # The parser's limit for the next data frame's payload on the wire:
        # what is left of max_message_size (with deflate's slack: inflating
        # checks the real size), and max_frame_size, whichever is lower.
        limit = self.max_message_size
        frame_limit = self.max_frame_size
        if limit is None:
            if frame_limit is not None:
                self._parser.max_payload = frame_limit
            return
        remaining = limit - self._in_size
        if self._slack:
            remaining += (remaining >> _DEFLATE_SLACK_SHIFT) + _DEFLATE_SLACK
        if frame_limit is not None and frame_limit < remaining:
            remaining = frame_limit
        self._parser.max_payload = remaining

    def _receive_frame(self, frame: Frame) -> int:
        # Returns the size of the message this frame completed, else -1.
        opcode = frame.opcode
        pipeline = self._pipeline
        if opcode >= 8:
            if pipeline is not None:
                frame = pipeline.decode(frame, max_size=None)
            self._receive_control(frame)
            return -1
        # Data frames: check the sequence first (RFC 6455 section 5.4).
        if opcode is _CONTINUATION:
            if self._in_opcode is None:
                raise RemoteProtocolError("continuation frame without a message to continue")
            self._in_count += 1
            if self._in_count > self.max_fragments and not self._streaming:
                raise MessageTooBig(f"message in more than {self.max_fragments} frames")
        elif self._in_opcode is not None:
            raise RemoteProtocolError(
                f"{opcode.name} frame inside a fragmented message; expected a continuation"
            )
        self._peek_decoder = None
        limit = self.max_message_size
        if pipeline is not None:
            if opcode is not _CONTINUATION:
                self._in_plain = not (frame.rsv1 or frame.rsv2 or frame.rsv3)
            frame = pipeline.decode(
                frame, max_size=None if limit is None else limit - self._in_size
            )
        payload = frame.payload
        if (
            opcode is not _CONTINUATION
            and frame.fin
            and self.assemble_messages
        ):
            # The common case: a whole message in one frame.
            if limit is not None and len(payload) > limit:
                raise MessageTooBig(f"message of {len(payload)} bytes exceeds {limit} bytes")
            if opcode is _TEXT:
                try:
                    text = payload.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _invalid_utf8(exc) from exc
                self._events.append(Message(text))
                return len(text)
            self._events.append(Message(payload))
            return len(payload)
        return self._receive_fragment(opcode, payload, frame.fin)

    def _receive_fragment(self, opcode: Opcode, payload: bytes, fin: bool) -> int:
        # Returns the size of the message this fragment completed, else -1.
        first = opcode is not _CONTINUATION
        if first:
            self._in_opcode = opcode
            self._in_size = 0
            self._in_count = 1
            self._in_decoder = _utf8_decoder() if opcode is _TEXT else None
        size = self._in_size + len(payload)
        limit = self.max_message_size
        if limit is not None and size > limit:
            raise MessageTooBig(f"message of more than {limit} bytes")
        if not self._streaming:  # a streamed message is bounded frame by frame
            self._in_size = size
        decoder = self._in_decoder
        text: str | None = None
        completed = -1
        if decoder is not None:
            text = _decode_text(decoder, payload, fin)
        if self.assemble_messages:
            if text is not None:
                self._in_text.append(text)
            else:
                self._in_parts.append(payload)
            if fin:
                if decoder is not None:
                    data: str | bytes = "".join(self._in_text)
                    self._in_text = []
                else:
                    data = b"".join(self._in_parts)
                    self._in_parts = []
                self._events.append(Message(data))
                completed = len(data)
        else:
            piece = payload if text is None else text
            self._events.append(Fragment(piece, first, fin))
            completed = len(piece)  # counts against receive_data()'s bounds
        if fin:
            self._in_opcode = None
            self._in_decoder = None
            self._in_size = 0
        self._set_limit()
        return completed

    def _receive_control(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PING:
            # "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
            # in response, unless it already received a Close frame" (5.5.2);
            # and nothing goes out after our own close frame.
            if self.state is _OPEN:
                self._send_frame(Opcode.PONG, frame.payload)
            self._events.append(Ping(frame.payload))
        elif opcode is Opcode.PONG:
            self._events.append(Pong(frame.payload))
        else:
            reason = parse_close(frame.payload)
            self.close_rcvd = reason
            if self.state is _OPEN:
                # Echo the code, as RFC 6455 section 5.5.1 suggests, and the
                # reason, as trio-websocket (wsproto) does: a peer on either
                # library then reads back the close it asked for.
                self.close_rcvd_then_sent = True
                if reason.code == CloseCode.NO_STATUS_RCVD:
                    self._send_close_frame(None, None)
                else:
                    self._send_close_frame(reason.code, reason.reason)
            self._transition(_Input.RECEIVE_CLOSE)
            self._events.append(Close(reason))
            if not self._client:
                self._send_eof()

    # -- sending ---------------------------------------------------------

    def send_text(
        self, data: str | BytesLike, fin: bool = True, compress: bool | None = None
    ) -> None:
        """Send a text message, or its first fragment when ``fin`` is false.

        Args:
            data: The text; ``bytes`` are sent as they are and must be UTF-8.
            fin: Whether this frame ends the message.
            compress: ``None`` follows the negotiated extensions' policy
                (permessage-deflate: compress unless the whole message is
                below its threshold); ``True`` compresses, ``False`` sends
                uncompressed. Decided here for the whole message: its
                continuations follow. Without a compression extension
                negotiated, nothing is compressed whatever it says.

        Raises:
            LocalProtocolError: The connection is not open, or a fragmented
                message is still being sent.
        """
        self._start_message(_TEXT, fin)
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self._send_frame(_TEXT, payload, fin, compress)

    def send_binary(
        self, data: BytesLike, fin: bool = True, compress: bool | None = None
    ) -> None:
        """Send a binary message, or its first fragment when ``fin`` is false.

        Args:
            data: The bytes.
            fin: Whether this frame ends the message.
            compress: As for :meth:`send_text`.

        Raises:
            LocalProtocolError: The connection is not open, or a fragmented
                message is still being sent.
        """
        self._start_message(_BINARY, fin)
        self._send_frame(_BINARY, data, fin, compress)

    @property
    def sending_fragments(self) -> bool:
        """Whether a message sent in fragments is under way (its final frame not sent)."""
        return self._out_opcode is not None

    def send_continuation(self, data: str | BytesLike, fin: bool) -> None:
        """Send the next fragment of the message started by ``send_text``/``send_binary``.

        Raises:
            LocalProtocolError: The connection is not open, or no fragmented
                message is being sent.
        """
        self._check_open()
        if self._out_opcode is None:
            raise LocalProtocolError("send_continuation() without a fragmented message to continue")
        if fin:
            self._out_opcode = None
        payload = data.encode("utf-8") if isinstance(data, str) else data
        self._send_frame(_CONTINUATION, payload, fin)

    def send_serialized(self, frame: bytes) -> None:
        """Queue a whole message that was serialized elsewhere, as one frame.

        For a server sending the same message to many connections (see
        :func:`ws.broadcast`): the frame is made once and queued on each.
        The state checks are those of :meth:`send_text`; what the frame
        holds is the caller's promise.

        Args:
            frame: One final, unmasked TEXT or BINARY frame, with the RSV
                bits and payload this connection's extensions would have
                produced for it from a fresh context (none, or
                permessage-deflate without context takeover), or one that
                leaves them untouched (an uncompressed message, which
                permessage-deflate allows with any context).

        Raises:
            LocalProtocolError: The connection is not open, a fragmented
                message is being sent, or this is a client (whose frames
                each need a fresh masking key).
        """
        self._check_open()
        if self._out_opcode is not None:
            raise LocalProtocolError("a fragmented message is being sent")
        if self._client:
            raise LocalProtocolError("a client masks each frame with a fresh key: none is shared")
        self._out.append(frame)

    def send_ping(self, payload: BytesLike = b"") -> None:
        """Send a ping (at most 125 bytes).

        Raises:
            LocalProtocolError: The connection is not open or the payload is too long.
        """
        self._check_open()
        self._send_frame(Opcode.PING, payload)

    def send_pong(self, payload: BytesLike = b"") -> None:
        """Send an unsolicited pong (at most 125 bytes).

        Raises:
            LocalProtocolError: The connection is not open or the payload is too long.
        """
        self._check_open()
        self._send_frame(Opcode.PONG, payload)

    def send_close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str | None = None) -> None:
        """Start the closing handshake (RFC 6455 section 7.1.2).

        Args:
            code: The close code, or ``None`` for a close frame without one.
            reason: An optional reason, at most 123 bytes in UTF-8.

        Raises:
            LocalProtocolError: A close frame was already sent or received,
                or the code or reason cannot be sent.
        """
        payload = serialize_close(code, reason)  # validates before any state change
        self._transition(_Input.SEND_CLOSE)
        self._out_opcode = None
        self._send_close_payload(payload, code, reason)

    def fail(self, code: int = CloseCode.PROTOCOL_ERROR, reason: str = "") -> None:
        """Fail the connection (RFC 6455 section 7.1.7).

        Sends a close frame with ``code`` and ``reason`` unless a close frame
        was sent already, stops reading, and (on a server) half-closes.
        Calling it on a closed connection does nothing.
        """
        self._pending_error = None
        self._pending_armed = False
        if self.state is _OPEN:
            self._send_close_frame(code, _truncate_reason(reason) or None)
        self._transition(_Input.FAIL)
        if not self._client:
            self._send_eof()

    # -- helpers ---------------------------------------------------------

    def _close_reason_for(self, error: RemoteProtocolError) -> str:
        # The close reason for a received error. A message over
        # max_message_size is told by the frame header, a fragment's sum or
        # inflating, each with its own detail (kept in self.error); the peer
        # gets one wording. The other MessageTooBig is too many fragments,
        # raised as _in_count passes max_fragments.
        limit = self.max_message_size
        too_big = type(error) is MessageTooBig and self._in_count <= self.max_fragments
        frame_limit = self.max_frame_size
        if (
            too_big
            and frame_limit is not None
            and self._parser.max_payload == frame_limit
            and str(error).startswith("frame of ")
        ):
            return f"frame bigger than the limit of {frame_limit} bytes"
        if too_big and limit is not None:
            return f"message bigger than the limit of {limit} bytes"
        return str(error)

    def _transition(self, event: _Input) -> None:
        try:
            self.state = _TRANSITIONS[self.state, event]
        except KeyError:
            raise LocalProtocolError(
                f"cannot {event.value} in state {self.state.name}"
            ) from None

    def _closed(self) -> bool:
        return self.state is _CLOSED

    def _check_open(self) -> None:
        if self.state is not _OPEN:
            raise LocalProtocolError(f"cannot send in state {self.state.name}")

    def _start_message(self, opcode: Opcode, fin: bool) -> None:
        self._check_open()
        if self._out_opcode is not None:
            raise LocalProtocolError(
                "a fragmented message is being sent; finish it with send_continuation(fin=True)"
            )
        if not fin:
            self._out_opcode = opcode

    def _send_frame(
        self, opcode: Opcode, payload: BytesLike, fin: bool = True, compress: bool | None = None
    ) -> None:
        pipeline = self._pipeline
        mask = self.mask_key() if self._client else None
        if pipeline is None:
            if len(payload) < _PARTS_FROM:
                self._out.append(serialize(opcode, payload, fin, 0, mask))
            else:
                # Head and body apart: a vectored write sends them without
                # copying the body once more into one frame.
                self._out += serialize_parts(opcode, payload, fin, 0, mask)
        elif compress is None:
            frame = pipeline.encode(Frame(opcode, bytes(payload), fin))
            self._out.append(serialize_frame(frame, mask))
        else:
            # The sender's choice, for a message's first frame only.
            frame = pipeline.encode_message(Frame(opcode, bytes(payload), fin), compress)
            self._out.append(serialize_frame(frame, mask))

    def _send_close_frame(self, code: int | None, reason: str | None) -> None:
        try:
            payload = serialize_close(code, reason)
        except LocalProtocolError:
            # A code we may not send (e.g. echoing an unexpected value): use 1011.
            code, reason = CloseCode.INTERNAL_ERROR, None
            payload = serialize_close(code, reason)
        self._send_close_payload(payload, code, reason)

    def _send_close_payload(self, payload: bytes, code: int | None, reason: str | None) -> None:
        self._send_frame(Opcode.CLOSE, payload)
        self.close_sent = CloseReason(
            CloseCode.NO_STATUS_RCVD if code is None else code, reason or None
        )

    def _send_eof(self) -> None:
        if not self.eof_sent:
            self.eof_sent = True
            self._out.append(b"")


def _decode_text(decoder: codecs.IncrementalDecoder, data: bytes, final: bool) -> str:
    """Decode part of a text message, failing as soon as the bytes cannot be UTF-8."""
    try:
        text = decoder.decode(data, final)
    except UnicodeDecodeError as exc:
        raise _invalid_utf8(exc) from exc
    if not final:
        # CPython's decoder rejects every impossible prefix at once except
        # 0xED 0xA0-0xBF, the start of a UTF-16 surrogate: it waits for the
        # third byte. No continuation makes that valid, so fail now.
        pending = decoder.getstate()[0]
        if len(pending) > 1 and pending[0] == 0xED and pending[1] > 0x9F:
            raise InvalidPayload("invalid UTF-8 in text message: a UTF-16 surrogate")
    return text


def _invalid_utf8(exc: UnicodeDecodeError) -> ProtocolError:
    return InvalidPayload(f"invalid UTF-8 in text message: {exc.reason}")
