# Theory of operation
# ===================
#
# permessage-deflate (RFC 7692) compresses each data message with DEFLATE
# (RFC 1951) and marks it with RSV1 on its first frame. Negotiation happens
# once, in the opening handshake (the two factories at the end of this
# module); what it agrees on is frozen into one PerMessageDeflate object per
# connection, which then sees every frame in both directions.
#
# State. Each direction has its own zlib stream and needs two pieces of state:
#
#   direction  persistent stream  message in progress
#   receiving  _decompressor      _inflating   (the stream, or None)
#   sending    _compressor        _deflating   (the stream, or None)
#
# The persistent stream carries the LZ77 window from one message to the next
# ("context takeover"). It is created lazily, on the first compressed message,
# so a connection that never exchanges one costs nothing. With
# *_no_context_takeover negotiated for a direction, it is dropped after every
# message and the next message starts from an empty window; dropping also
# frees the memory of idle connections. "Message in progress" is set while
# the frames of a fragmented compressed message are still coming; it is
# None between messages. Invariant: _inflating is None or _inflating is
# _decompressor, and likewise for sending.
#
# Receiving (RFC 7692 sections 6 and 7.2.2):
#
#   frame                        message in progress?  action
#   TEXT/BINARY without RSV1     no                    pass through (not compressed)
#   TEXT/BINARY with RSV1        no                    inflate; in progress unless FIN
#   TEXT/BINARY                  yes                   RemoteProtocolError (1002)
#   CONTINUATION with RSV1       -                     RemoteProtocolError (1002)
#   CONTINUATION                 no                    pass through (uncompressed message)
#   CONTINUATION                 yes                   inflate; done at FIN
#   control frame with RSV1      -                     RemoteProtocolError (1002)
#   control frame                -                     pass through
#
# Each frame is inflated as it arrives (streaming), and the final frame gets
# the 0x00 0x00 0xff 0xff that the sender stripped appended before inflating.
# Inflation is bounded: decode(frame, max_size=N) asks zlib for at most N + 1
# bytes and fails with MessageTooBig (1009) if it gets them, so a
# compression bomb costs at most N + 1 bytes of output, whatever its ratio.
# Data that zlib rejects fails with InvalidPayload (1007).
#
# A peer may end a DEFLATE stream with a BFINAL block (RFC 7692 section
# 7.2.3.4). zlib then stops and keeps the rest of the input aside; we start
# a new stream with an empty window and feed it that rest. A peer that
# refers back across its BFINAL block gets "invalid distance too far back"
# (1007): zlib-based senders, which are the ones that use BFINAL, cannot
# produce such references.
#
# Sending (RFC 7692 section 7.2.1). The first frame of a message decides
# whether the whole message is compressed: RSV1 "indicates whether a message
# is compressed or not" (section 6), so a sender may leave any message
# uncompressed. encode() compresses every message except a whole one (first
# frame with FIN) of fewer than `threshold` bytes; encode_message() follows
# the sender's choice instead (send_message(..., compress=True/False)). An
# uncompressed message leaves the compressor untouched, so the peer's
# window, built from compressed messages only, stays in step with ours; a
# connection that only ever sends small messages never allocates a
# compressor at all. While an uncompressed fragmented message is being sent,
# _plain is true and its continuations pass through.
#
# Compressing: each frame's payload goes through compress() +
# flush(Z_SYNC_FLUSH), which ends the output on a byte boundary with an
# empty stored block, 0x00 0x00 0xff 0xff. Non-final frames keep it; the
# final frame drops those four bytes.
# After compress(), zlib always emits that stored block in full, header
# bits included, so a final payload is never empty: an empty message (or
# an empty last fragment) becomes the single byte 0x00, as in section
# 7.2.3.6. RSV1 goes on the first frame only; control frames pass through.
#
# Window bits. RFC 7692 allows 8 to 15. zlib inflates raw DEFLATE with an
# 8-bit window, but refuses to compress with one. When 8 bits are agreed for
# our side we compress with 9: zlib never emits a distance larger than its
# window minus 262 bytes (MAX_DIST in deflate.c), that is 250 bytes for a
# 512-byte window, so the stream is readable with a 256-byte window. A test
# checks this with an inflater that only ever sees one output byte at a
# time, so every reference must come from its 256-byte window. Measured on
# 44 KB of JSON: compressing with 9 bits gives 23% of the input size,
# Z_RLE or Z_HUFFMAN_ONLY (which would be safe with any zlib) give 58%.
#
# Memory, measured with tracemalloc on CPython 3.11 / zlib 1.2.13 after one
# message (the zlib formulas: deflate ~ 2**(wbits+2) + 2**(memLevel+9),
# inflate ~ 2**wbits, plus about 7 KiB of state each):
#
#   compressor  15 bits, memLevel 8 (zlib's default)   262 KiB
#               15 bits, memLevel 5                    150 KiB
#               12 bits, memLevel 5                     38 KiB
#   inflater    15 bits                                 39 KiB
#               12 bits                                 11 KiB
#
# So a server connection with the defaults below (our compressor 12 bits /
# memLevel 5, the client free to use 15 bits) holds about 77 KiB once both
# directions have carried a compressed message; ServerPerMessageDeflateFactory(
# client_max_window_bits=12) brings that to about 49 KiB. A client compresses
# with 15 bits unless the server limits it, and keeps zlib's memLevel 8
# there: with a 15-bit window a small memLevel means long hash chains, which
# made compressing 128 KiB of a bitmap twice as slow at memLevel 5.
#
# Re-creating a stream for every message under no_context_takeover is cheap
# for small windows: zlib.compressobj(-1, DEFLATED, -12, 5) takes about
# 0.5 us, decompressobj about 0.13 us. A 15-bit / memLevel 8 compressor
# takes about 52 us (its buffers are big enough for malloc to mmap them), a
# cost a sender that picks those settings and no_context_takeover accepts.
"""The permessage-deflate extension (RFC 7692): frames and negotiation."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Final, Literal, final

import attrs

from ws.errors import (
    InvalidPayload,
    LocalProtocolError,
    MessageTooBig,
    NegotiationError,
    RemoteProtocolError,
)
from ws.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from ws.frames.frame import RSV1, Frame, Opcode
from ws.typing import ExtensionName, ExtensionParameter

__all__ = [
    "ClientPerMessageDeflateFactory",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

_NAME: Final = ExtensionName("permessage-deflate")

#: What Z_SYNC_FLUSH ends with and the sender strips (RFC 7692 section 7.2.1).
_TAIL: Final = b"\x00\x00\xff\xff"

_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONTINUATION: Final = Opcode.CONTINUATION

_MIN_WINDOW_BITS: Final = 8
_MAX_WINDOW_BITS: Final = 15
#: RFC 7692 section 7.1.2: decimal integers from 8 to 15, without leading zeros.
_WINDOW_BITS_VALUES: Final = {str(bits): bits for bits in range(8, 16)}

#: Our compressor's window on a server, unless configured otherwise.
_DEFAULT_SERVER_MAX_WINDOW_BITS: Final[int | None] = 12

#: The factories' size threshold: whole messages smaller than this go
#: uncompressed. On small JSON messages, each byte that compression saves
#: costs 50-120 ns of CPU from 64 bytes up, but 2-6 times that below
#: (bench/compression_threshold.py; the figures are in docs/compression.md).
_DEFAULT_THRESHOLD: Final = 64

_SERVER_NO_CONTEXT_TAKEOVER: Final = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER: Final = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS: Final = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS: Final = "client_max_window_bits"


def _validate_window_bits(name: str, value: object) -> None:
    if type(value) is not int or not _MIN_WINDOW_BITS <= value <= _MAX_WINDOW_BITS:
        raise ValueError(f"{name} must be an int from 8 to 15, got {value!r}")


def _check_window_bits(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    _validate_window_bits(attribute.name, value)


def _check_optional_window_bits(
    _instance: object, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is not None:
        _validate_window_bits(attribute.name, value)


def _check_client_max_window_bits(
    _instance: object,
    attribute: attrs.Attribute[int | Literal[True] | None],
    value: int | Literal[True] | None,
) -> None:
    if value is not None and value is not True:
        _validate_window_bits(attribute.name, value)


def _check_level(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not -1 <= value <= 9:
        raise ValueError(f"{attribute.name} must be an int from -1 to 9, got {value!r}")


def _check_mem_level(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 1 <= value <= 9:
        raise ValueError(f"{attribute.name} must be an int from 1 to 9, got {value!r}")


def _check_threshold(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int:
        raise TypeError(f"{attribute.name} must be an int (bytes), got {value!r}")
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0 (bytes), got {value}")


def _check_bool(_instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if type(value) is not bool:
        raise TypeError(f"{attribute.name} must be a bool, got {value!r}")


@final
# Validators run in __init__ only: with attrs' default on_setattr hooks, the
# per-frame assignments to _inflating/_deflating went through them and cost
# about 8% of the receive path of a message in 256-byte frames.
@attrs.define(eq=False, kw_only=True, on_setattr=attrs.setters.NO_OP)
class PerMessageDeflate(Extension):
    """permessage-deflate for one connection (RFC 7692 section 7).

    Made by a factory after negotiation; ``local`` is our side, ``remote``
    the peer's. See the theory of operation at the top of the module for
    the state it keeps.

    Args:
        remote_no_context_takeover: The peer starts every message with an
            empty window, so we may drop our inflater between messages.
        local_no_context_takeover: We must start every message with an
            empty window (RFC 7692 sections 7.1.1.1 and 7.1.1.2).
        remote_max_window_bits: The window the peer compresses with at most;
            our inflater uses it (RFC 7692 section 7.1.2).
        local_max_window_bits: The window we may compress with; 8 is
            served by a 9-bit zlib compressor whose references stay within
            256 bytes.
        compression_level: zlib's level, from 0 (store) to 9 (best); -1 is
            zlib's default (6).
        mem_level: zlib's memLevel, from 1 to 9: how much memory the
            compressor uses for its hash table and pending output.
        threshold: Whole messages (sent in one frame) of fewer bytes than
            this go uncompressed unless the sender asks otherwise (see
            :meth:`encode_message`). The default, 0, compresses every
            message; the factories pass their own setting (64 by
            default).

    Raises:
        ValueError: A setting is out of range.
        TypeError: ``threshold`` is not an int.
    """

    name = _NAME
    rsv_mask = RSV1
    # A message without RSV1 is not compressed and passes decode() as it is.
    passes_plain_messages = True

    remote_no_context_takeover: bool = attrs.field(default=False, validator=_check_bool)
    local_no_context_takeover: bool = attrs.field(default=False, validator=_check_bool)
    remote_max_window_bits: int = attrs.field(default=15, validator=_check_window_bits)
    local_max_window_bits: int = attrs.field(default=15, validator=_check_window_bits)
    compression_level: int = attrs.field(
        default=zlib.Z_DEFAULT_COMPRESSION, validator=_check_level
    )
    mem_level: int = attrs.field(default=8, validator=_check_mem_level)
    threshold: int = attrs.field(default=0, validator=_check_threshold)

    _decompressor: zlib._Decompress | None = attrs.field(init=False, default=None, repr=False)
    _inflating: zlib._Decompress | None = attrs.field(init=False, default=None, repr=False)
    _compressor: zlib._Compress | None = attrs.field(init=False, default=None, repr=False)
    _deflating: zlib._Compress | None = attrs.field(init=False, default=None, repr=False)
    _plain: bool = attrs.field(init=False, default=False, repr=False)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Inflate a received frame if it belongs to a compressed message.

        RFC 7692 section 7.2.2: the payloads of a compressed message, with
        0x00 0x00 0xff 0xff appended after the last one, form a DEFLATE
        stream. Each frame is inflated as it arrives.

        Args:
            frame: A frame from the peer.
            max_size: How many bytes the frame may inflate to, or ``None``
                for no limit. At most ``max_size + 1`` bytes are ever
                produced.

        Returns:
            The frame with its payload inflated and RSV1 cleared, or
            ``frame`` itself for control frames and uncompressed messages.

        Raises:
            RemoteProtocolError: RSV1 is set on a continuation or control
                frame (RFC 7692 section 6), or a new message starts
                inside a compressed one.
            InvalidPayload: The payload is not valid DEFLATE data.
            MessageTooBig: The payload inflates to more than ``max_size``.
        """
        decompressor: zlib._Decompress | None
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            if self._inflating is not None:
                raise RemoteProtocolError("a new message started before the previous one ended")
            if not frame.rsv1:
                return frame
            decompressor = self._decompressor
            if decompressor is None:
                decompressor = self._decompressor = zlib.decompressobj(
                    wbits=-self.remote_max_window_bits
                )
        elif opcode is _CONTINUATION:
            # "An endpoint MUST NOT set the "Per-Message Compressed" bit of
            # control frames and non-first fragments of a data message. An
            # endpoint receiving such a frame MUST _Fail the WebSocket
            # Connection_." (RFC 7692 section 6)
            if frame.rsv1:
                raise RemoteProtocolError("RSV1 is set on a continuation frame")
            decompressor = self._inflating
            if decompressor is None:
                return frame
        else:
            if frame.rsv1:
                raise RemoteProtocolError("RSV1 is set on a control frame")
            return frame

        if frame.fin:
            # "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the
            # payload of the message." (RFC 7692 section 7.2.2)
            data = frame.payload + _TAIL
            self._inflating = None
        else:
            data = frame.payload
            self._inflating = decompressor
        # zlib reads 0 as "no limit".
        limit = 0 if max_size is None else max(max_size, 0) + 1
        try:
            payload = decompressor.decompress(data, limit)
            if decompressor.eof:
                payload = self._restart_after_final_block(decompressor, payload, limit)
        except zlib.error as exc:
            raise InvalidPayload(f"invalid compressed data: {exc}") from exc
        if max_size is not None and len(payload) > max_size:
            raise MessageTooBig(f"message inflates to more than {max_size} more bytes")
        if frame.fin and self.remote_no_context_takeover:
            self._decompressor = None
        return Frame(frame.opcode, payload, frame.fin, False, frame.rsv2, frame.rsv3)

    def _restart_after_final_block(
        self, decompressor: zlib._Decompress, payload: bytes, limit: int
    ) -> bytes:
        """Continue after a BFINAL block with a fresh stream (RFC 7692 section 7.2.3.4)."""
        while decompressor.eof:
            rest = decompressor.unused_data
            decompressor = self._decompressor = zlib.decompressobj(
                wbits=-self.remote_max_window_bits
            )
            if self._inflating is not None:
                self._inflating = decompressor
            if not rest:
                break
            room = 0
            if limit:
                room = limit - len(payload)
                if room <= 0:
                    break
            payload += decompressor.decompress(rest, room)
        return payload

    def encode(self, frame: Frame) -> Frame:
        """Compress an outgoing data frame, following the size threshold (RFC 7692 section 7.2.1).

        Every data message is compressed, whether it is sent whole or
        fragment by fragment, except a whole message (a first frame with
        FIN) of fewer than ``threshold`` bytes, which goes as it is.
        The first frame decides for the message: its continuations follow
        it. Each compressed fragment is flushed so the peer can inflate it
        as soon as it arrives.

        Args:
            frame: A frame we are about to send.

        Returns:
            The compressed frame, RSV1 set on the first frame of a message;
            or ``frame`` itself for control frames and uncompressed
            messages.

        Raises:
            LocalProtocolError: The frame already has RSV1 set, or the
                fragments of a message are out of order.
        """
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            return self._start(frame, not frame.fin or len(frame.payload) >= self.threshold)
        if frame.rsv1:
            raise LocalProtocolError("RSV1 belongs to permessage-deflate on this connection")
        if opcode is _CONTINUATION:
            compressor = self._deflating
            if compressor is not None:
                return self._deflate(frame, compressor, False)
            if not self._plain:
                raise LocalProtocolError("a continuation frame outside a message")
            if frame.fin:
                self._plain = False
        return frame

    def encode_message(self, frame: Frame, compress: bool) -> Frame:
        """Start a message compressed or not, as its sender chose, whatever its size.

        ``compress=True`` compresses a message even below
        ``threshold``; ``compress=False`` sends it uncompressed (RSV1
        clear), which leaves the compression context as it was. The
        message's continuations, sent through :meth:`encode`, follow.

        Args:
            frame: The first frame of a message.
            compress: Whether to compress the message.

        Returns:
            The frame to send.

        Raises:
            LocalProtocolError: As for :meth:`encode`.
        """
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            return self._start(frame, compress)
        return self.encode(frame)

    def _start(self, frame: Frame, compress: bool) -> Frame:
        """Encode the first frame of a message: compressed, or as it is."""
        if frame.rsv1:
            raise LocalProtocolError("RSV1 belongs to permessage-deflate on this connection")
        if self._deflating is not None or self._plain:
            raise LocalProtocolError("a new message started before the previous one ended")
        if not compress:
            self._plain = not frame.fin
            return frame
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = zlib.compressobj(
                self.compression_level,
                zlib.DEFLATED,
                # See "Window bits" in the theory of operation.
                -max(self.local_max_window_bits, 9),
                self.mem_level,
            )
        return self._deflate(frame, compressor, True)

    def _deflate(self, frame: Frame, compressor: zlib._Compress, first: bool) -> Frame:
        """Compress one frame of a compressed message; RSV1 on the first."""
        data = compressor.compress(frame.payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if frame.fin:
            # "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail
            # end." (RFC 7692 section 7.2.1)
            data = data[:-4]
            self._deflating = None
            if self.local_no_context_takeover:
                self._compressor = None
        else:
            self._deflating = compressor
        return Frame(frame.opcode, data, frame.fin, first, frame.rsv2, frame.rsv3)


@attrs.frozen
class _Params:
    """The permessage-deflate parameters of one offer or response."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    #: Whether client_max_window_bits is present, with or without a value.
    has_client_max_window_bits: bool = False
    #: Its value; ``None`` for the bare parameter, allowed in an offer only.
    client_max_window_bits: int | None = None


def _parse_params(params: Sequence[ExtensionParameter], *, is_response: bool) -> _Params:
    """Validate parameters per RFC 7692 section 7.1; raise NegotiationError."""
    seen: set[str] = set()
    server_no_context_takeover = client_no_context_takeover = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    for name, value in params:
        # RFC 7692 section 7: a server MUST decline an offer, and a client
        # MUST fail the connection on a response, that has a parameter not
        # defined for it, a parameter with an invalid value, or the same
        # parameter more than once.
        if name in seen:
            raise NegotiationError(f"duplicate parameter {name}")
        seen.add(name)
        if name == _SERVER_NO_CONTEXT_TAKEOVER or name == _CLIENT_NO_CONTEXT_TAKEOVER:
            if value is not None:
                raise NegotiationError(f"parameter {name} takes no value, got {value!r}")
            if name == _SERVER_NO_CONTEXT_TAKEOVER:
                server_no_context_takeover = True
            else:
                client_no_context_takeover = True
        elif name == _SERVER_MAX_WINDOW_BITS:
            server_max_window_bits = _parse_window_bits(name, value)
        elif name == _CLIENT_MAX_WINDOW_BITS:
            # In an offer it may come without a value; in a response it
            # must have one (RFC 7692 section 7.1.2.2).
            if value is not None or is_response:
                client_max_window_bits = _parse_window_bits(name, value)
        else:
            raise NegotiationError(f"unknown parameter {name}")
    return _Params(
        server_no_context_takeover=server_no_context_takeover,
        client_no_context_takeover=client_no_context_takeover,
        server_max_window_bits=server_max_window_bits,
        has_client_max_window_bits=_CLIENT_MAX_WINDOW_BITS in seen,
        client_max_window_bits=client_max_window_bits,
    )


def _parse_window_bits(name: str, value: str | None) -> int:
    bits = None if value is None else _WINDOW_BITS_VALUES.get(value)
    if bits is None:
        raise NegotiationError(f"parameter {name} needs a value from 8 to 15, got {value!r}")
    return bits


def _check_no_conflict(accepted_extensions: Sequence[Extension]) -> None:
    # RFC 7692 section 5: a server must not accept a compression extension
    # together with another extension that also uses RSV1, and a client
    # must fail the connection if it does. A second permessage-deflate is
    # such an extension.
    for extension in accepted_extensions:
        if extension.name == _NAME or extension.rsv_mask & RSV1:
            raise NegotiationError(
                f"{extension.name} already uses RSV1; cannot use {_NAME} too"
            )


@final
@attrs.frozen
class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """Offers permessage-deflate from a client (RFC 7692 section 7.1).

    One factory serves any number of connections.

    Args:
        server_no_context_takeover: Ask the server to start every message
            with an empty window; a server that accepts must agree.
        client_no_context_takeover: Start every message we send with an
            empty window, and say so in the offer.
        server_max_window_bits: Ask the server to compress with at most
            this many window bits (8-15), so our inflater is smaller;
            ``None`` asks nothing.
        client_max_window_bits: ``True`` (the default) offers the bare
            parameter: the server may pick our window size. An int (8-15)
            also caps our window ourselves. ``None`` leaves it out of the
            offer, and the server may not pick.
        compression_level: zlib's compression level (-1 to 9).
        mem_level: zlib's memLevel for our compressor (1 to 9). The default
            is zlib's 8 (262 KiB with a 15-bit window). A client compresses
            with the 15-bit window unless the server limits it, and there a
            smaller memLevel makes zlib's hash chains long: 128 KiB of the
            Autobahn suite's bitmap compressed in 8.9 ms at memLevel 5
            against 4.6 ms at 8 (150 KiB against 262 KiB of memory; zlib
            1.2.13). With a 12-bit window, as the server uses, memLevel 5
            is as fast (4.5 ms) and small (38 KiB).
        threshold: Send whole messages (one frame) of fewer bytes than this
            uncompressed; ``send_message(..., compress=True)`` still
            compresses one. 0 compresses every message. The default, 64
            bytes, is explained in ``docs/compression.md``.

    Raises:
        ValueError: A setting is out of range.
        TypeError: ``threshold`` is not an int.
    """

    name = _NAME

    server_no_context_takeover: bool = attrs.field(default=False, validator=_check_bool)
    client_no_context_takeover: bool = attrs.field(default=False, validator=_check_bool)
    server_max_window_bits: int | None = attrs.field(
        default=None, validator=_check_optional_window_bits
    )
    client_max_window_bits: int | Literal[True] | None = attrs.field(
        default=True, validator=_check_client_max_window_bits
    )
    compression_level: int = attrs.field(
        default=zlib.Z_DEFAULT_COMPRESSION, validator=_check_level
    )
    mem_level: int = attrs.field(default=8, validator=_check_mem_level)
    threshold: int = attrs.field(default=_DEFAULT_THRESHOLD, validator=_check_threshold)

    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the parameters of our offer (RFC 7692 section 7.1).

        Returns:
            The configured parameters, in the order of RFC 7692 section 7.1.
        """
        params: list[ExtensionParameter] = []
        if self.server_no_context_takeover:
            params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
        if self.client_no_context_takeover:
            params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
        if self.server_max_window_bits is not None:
            params.append((_SERVER_MAX_WINDOW_BITS, str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append((_CLIENT_MAX_WINDOW_BITS, None))
        elif self.client_max_window_bits is not None:
            params.append((_CLIENT_MAX_WINDOW_BITS, str(self.client_max_window_bits)))
        return params

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> PerMessageDeflate:
        """Check the server's answer and build the connection's extension.

        RFC 7692 section 7: a client fails the connection when the response
        is invalid or describes a configuration it does not support; the
        handshake does that when this method raises.

        Args:
            params: The parameters of permessage-deflate in the response.
            accepted_extensions: The extensions negotiated before this one.

        Returns:
            The negotiated extension.

        Raises:
            NegotiationError: The response is invalid or does not honour
                the offer: a duplicate, unknown or invalid parameter,
                server_no_context_takeover or server_max_window_bits missing
                or larger than asked, client_max_window_bits not offered or
                larger than offered, or another extension already uses RSV1.
        """
        _check_no_conflict(accepted_extensions)
        response = _parse_params(params, is_response=True)
        # A server accepts server_no_context_takeover by including it in
        # its response (RFC 7692 section 7.1.1.1).
        if self.server_no_context_takeover and not response.server_no_context_takeover:
            raise NegotiationError(f"the server did not accept {_SERVER_NO_CONTEXT_TAKEOVER}")
        server_bits = response.server_max_window_bits
        if self.server_max_window_bits is not None:
            # A server accepts server_max_window_bits by including it in its
            # response, with the same value or a smaller one (RFC 7692
            # section 7.1.2.1).
            if server_bits is None:
                raise NegotiationError(f"the server did not accept {_SERVER_MAX_WINDOW_BITS}")
            if server_bits > self.server_max_window_bits:
                raise NegotiationError(
                    f"{_SERVER_MAX_WINDOW_BITS}={server_bits} exceeds the "
                    f"{self.server_max_window_bits} we offered"
                )
        client_bits = response.client_max_window_bits
        offered = self.client_max_window_bits
        if client_bits is not None:
            # A response must not have client_max_window_bits unless the
            # offer had it (RFC 7692 section 7.1.2.2).
            if offered is None:
                raise NegotiationError(f"{_CLIENT_MAX_WINDOW_BITS} was not offered")
            if offered is not True and client_bits > offered:
                raise NegotiationError(
                    f"{_CLIENT_MAX_WINDOW_BITS}={client_bits} exceeds the {offered} we offered"
                )
        elif offered is not None and offered is not True:
            client_bits = offered
        return PerMessageDeflate(
            remote_no_context_takeover=response.server_no_context_takeover,
            local_no_context_takeover=(
                response.client_no_context_takeover or self.client_no_context_takeover
            ),
            remote_max_window_bits=_MAX_WINDOW_BITS if server_bits is None else server_bits,
            local_max_window_bits=_MAX_WINDOW_BITS if client_bits is None else client_bits,
            compression_level=self.compression_level,
            mem_level=self.mem_level,
            threshold=self.threshold,
        )


@final
@attrs.frozen
class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """Accepts permessage-deflate offers on a server (RFC 7692 section 7.1).

    The server always honours what the client asks for; these settings only
    add requirements on top. One factory serves any number of connections.

    Args:
        server_no_context_takeover: Start every message we send with an
            empty window, and say so.
        client_no_context_takeover: Require the client to start every
            message with an empty window (lets us drop our inflater between
            messages).
        server_max_window_bits: Compress with at most this many window bits
            (8-15) and tell the client, whose inflater can then be smaller.
            The default, 12, keeps our compressor at about 38 KiB.
            ``None`` uses 15 unless the client asks for less.
        client_max_window_bits: When the client offers
            client_max_window_bits, cap its window to this (8-15), so our
            inflater is smaller. ``None`` accepts the client's choice.
        compression_level: zlib's compression level (-1 to 9).
        mem_level: zlib's memLevel for our compressor (1 to 9).
        threshold: Send whole messages (one frame) of fewer bytes than this
            uncompressed; ``send_message(..., compress=True)`` still
            compresses one. 0 compresses every message. The default, 64
            bytes, is explained in ``docs/compression.md``.

    Raises:
        ValueError: A setting is out of range.
        TypeError: ``threshold`` is not an int.
    """

    name = _NAME

    server_no_context_takeover: bool = attrs.field(default=False, validator=_check_bool)
    client_no_context_takeover: bool = attrs.field(default=False, validator=_check_bool)
    server_max_window_bits: int | None = attrs.field(
        default=_DEFAULT_SERVER_MAX_WINDOW_BITS, validator=_check_optional_window_bits
    )
    client_max_window_bits: int | None = attrs.field(
        default=None, validator=_check_optional_window_bits
    )
    compression_level: int = attrs.field(
        default=zlib.Z_DEFAULT_COMPRESSION, validator=_check_level
    )
    mem_level: int = attrs.field(default=5, validator=_check_mem_level)
    threshold: int = attrs.field(default=_DEFAULT_THRESHOLD, validator=_check_threshold)

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Accept one permessage-deflate offer (RFC 7692 sections 5 and 7).

        Args:
            params: The parameters of one offer.
            accepted_extensions: The extensions accepted before this one.

        Returns:
            The response parameters and the connection's extension.

        Raises:
            NegotiationError: The offer has a duplicate, unknown or invalid
                parameter, or permessage-deflate (or another user of RSV1)
                is already accepted. The server declines this offer.
        """
        _check_no_conflict(accepted_extensions)
        offer = _parse_params(params, is_response=False)
        response: list[ExtensionParameter] = []

        server_no_context_takeover = (
            offer.server_no_context_takeover or self.server_no_context_takeover
        )
        if server_no_context_takeover:
            response.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
        # The client's own client_no_context_takeover is a promise; echoing
        # it changes nothing for the client and lets us drop our inflater.
        client_no_context_takeover = (
            offer.client_no_context_takeover or self.client_no_context_takeover
        )
        if client_no_context_takeover:
            response.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))

        server_bits = _smallest(offer.server_max_window_bits, self.server_max_window_bits)
        if server_bits is not None:
            # Sent even when the client did not ask: a server may limit its
            # own window on its own initiative (RFC 7692 section 7.1.2.1).
            response.append((_SERVER_MAX_WINDOW_BITS, str(server_bits)))

        client_bits: int | None = None
        if offer.has_client_max_window_bits:
            client_bits = _smallest(offer.client_max_window_bits, self.client_max_window_bits)
            if self.client_max_window_bits is not None:
                response.append((_CLIENT_MAX_WINDOW_BITS, str(client_bits)))
        # Otherwise the client did not offer it and we must not send it (7.1.2.2).

        extension = PerMessageDeflate(
            remote_no_context_takeover=client_no_context_takeover,
            local_no_context_takeover=server_no_context_takeover,
            remote_max_window_bits=_MAX_WINDOW_BITS if client_bits is None else client_bits,
            local_max_window_bits=_MAX_WINDOW_BITS if server_bits is None else server_bits,
            compression_level=self.compression_level,
            mem_level=self.mem_level,
            threshold=self.threshold,
        )
        return response, extension


def _smallest(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def enable_client_permessage_deflate(
    factories: Sequence[ClientExtensionFactory] | None = None,
) -> list[ClientExtensionFactory]:
    """Add a default permessage-deflate offer to a client's extension factories.

    Args:
        factories: The factories configured so far, or ``None`` for none.

    Returns:
        A new list, ``factories`` followed by
        ``ClientPerMessageDeflateFactory()``, unless ``factories`` already
        offers permessage-deflate, in which case it is returned unchanged.
    """
    result = list(factories or ())
    if not any(factory.name == _NAME for factory in result):
        result.append(ClientPerMessageDeflateFactory())
    return result


def enable_server_permessage_deflate(
    factories: Sequence[ServerExtensionFactory] | None = None,
) -> list[ServerExtensionFactory]:
    """Add default permessage-deflate support to a server's extension factories.

    Args:
        factories: The factories configured so far, or ``None`` for none.

    Returns:
        A new list, ``factories`` followed by
        ``ServerPerMessageDeflateFactory()``, unless ``factories`` already
        accepts permessage-deflate, in which case it is returned unchanged.
    """
    result = list(factories or ())
    if not any(factory.name == _NAME for factory in result):
        result.append(ServerPerMessageDeflateFactory())
    return result
