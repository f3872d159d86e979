"""The attacker's toolkit: hand-built frames and HTTP over raw Trio sockets.

Nothing here imports ``ws``: the attacking side must not share code (and so
bugs) with the library under attack. Frames are built byte by byte with any
opcode, FIN and RSV bits, masked or not, and with a declared length that
need not match the payload; HTTP requests and responses are plain bytes.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import socket
import struct
import zlib
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Final

import attrs
import trio

__all__ = [
    "BINARY",
    "CLOSE",
    "CONTINUATION",
    "GUID",
    "KEY",
    "MASK",
    "PING",
    "PONG",
    "TEXT",
    "RawFrame",
    "RawPeer",
    "accept_for",
    "bomb_chunks",
    "close_payload",
    "connect",
    "frame",
    "parse_head",
    "reset",
    "upgrade_request",
    "upgrade_response",
]

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA

#: RFC 6455 section 1.3.
GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The sample key of RFC 6455 section 1.3.
KEY: Final = "dGhlIHNhbXBsZSBub25jZQ=="
#: The masking key the attacker uses unless told otherwise.
MASK: Final = b"\x12\x34\x56\x78"

_READ_SIZE: Final = 65536


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept value for ``key`` (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1(key.encode("ascii") + GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def _xor(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = MASK,
    length: int | None = None,
    wide: bool = False,
) -> bytes:
    """Build one frame, valid or not.

    Args:
        opcode: Any value 0-15, reserved ones included.
        payload: The payload bytes actually written (masked if ``mask``).
        fin: The FIN bit.
        rsv: The RSV bits as a 3-bit number (4 = RSV1, 2 = RSV2, 1 = RSV3).
        mask: The 4-byte masking key, or ``None`` for an unmasked frame.
        length: The length to declare; by default ``len(payload)``. It may
            exceed what is sent (a frame cut short) or even 2**63.
        wide: Use the 64-bit length form whatever the length.
    """
    declared = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0x0F)
    mask_bit = 0x80 if mask is not None else 0
    if wide or declared > 0xFFFF:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", declared)
    elif declared > 125:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", declared)
    else:
        header = bytes([first, mask_bit | declared])
    if mask is None:
        return header + payload
    return header + mask + _xor(payload, mask)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """A close frame payload: a 2-byte code and raw reason bytes (any bytes)."""
    return struct.pack("!H", code) + reason


def upgrade_request(
    *,
    key: str = KEY,
    method: bytes = b"GET",
    target: bytes = b"/",
    version: bytes = b"HTTP/1.1",
    extra: Sequence[tuple[bytes, bytes]] = (),
    drop: Sequence[bytes] = (),
    ws_version: bytes = b"13",
) -> bytes:
    """An opening request, valid by default; ``drop`` removes fields by lowercase name."""
    fields = [
        (b"Host", b"127.0.0.1"),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", key.encode("ascii")),
        (b"Sec-WebSocket-Version", ws_version),
        *extra,
    ]
    lines = [method + b" " + target + b" " + version]
    lines += [name + b": " + value for name, value in fields if name.lower() not in drop]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def upgrade_response(
    key: str,
    *,
    status: bytes = b"101 Switching Protocols",
    extra: Sequence[tuple[bytes, bytes]] = (),
    drop: Sequence[bytes] = (),
    accept: str | None = None,
) -> bytes:
    """A 101 answer to ``key``, valid by default; ``drop`` removes fields by lowercase name."""
    fields = [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", (accept_for(key) if accept is None else accept).encode()),
        *extra,
    ]
    lines = [b"HTTP/1.1 " + status]
    lines += [name + b": " + value for name, value in fields if name.lower() not in drop]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def parse_head(head: bytes) -> tuple[bytes, dict[bytes, list[bytes]]]:
    """Split an HTTP head into its start line and lowercase-named fields."""
    lines = head.split(b"\r\n")
    fields: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    return lines[0], fields


@attrs.frozen
class RawFrame:
    """A frame as the attacker read it."""

    opcode: int
    payload: bytes
    fin: bool
    rsv: int
    masked: bool

    @property
    def close_code(self) -> int | None:
        """The code of a close frame (``None`` for an empty close payload)."""
        assert self.opcode == CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None


@attrs.define(eq=False)
class RawPeer:
    """One raw TCP connection with a read buffer, for either role.

    ``limit`` bounds how much the attacker itself is willing to buffer, so a
    misbehaving peer fails the test instead of exhausting memory.
    """

    stream: trio.SocketStream
    limit: int = 4 * 1024 * 1024
    _buffer: bytearray = attrs.field(factory=bytearray)
    _eof: bool = False

    async def send(self, data: bytes) -> None:
        """Write bytes."""
        await self.stream.send_all(data)

    async def send_quietly(self, data: bytes) -> None:
        """Write bytes; a peer that hung up (reset or closed) is not an error here."""
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _fill(self) -> bool:
        if self._eof:
            return False
        data = await self.stream.receive_some(_READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buffer += data
        assert len(self._buffer) <= self.limit, "the peer sent more than the test allows"
        return True

    async def receive_head(self) -> bytes:
        """Read an HTTP head (through the empty line); the rest stays buffered."""
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if not await self._fill():
                raise EOFError(f"EOF before the end of the HTTP head: {bytes(self._buffer)!r}")
        head = bytes(self._buffer[: end + 4])
        del self._buffer[: end + 4]
        return head

    async def _need(self, count: int) -> None:
        while len(self._buffer) < count:
            if not await self._fill():
                raise EOFError(f"EOF with {len(self._buffer)} of {count} bytes")

    async def receive_frame(self) -> RawFrame:
        """Read one frame (masked or not), whole."""
        await self._need(2)
        first, second = self._buffer[0], self._buffer[1]
        length = second & 0x7F
        offset = 2
        if length == 126:
            await self._need(4)
            (length,) = struct.unpack_from("!H", self._buffer, 2)
            offset = 4
        elif length == 127:
            await self._need(10)
            (length,) = struct.unpack_from("!Q", self._buffer, 2)
            offset = 10
        masked = bool(second & 0x80)
        mask = b""
        if masked:
            await self._need(offset + 4)
            mask = bytes(self._buffer[offset : offset + 4])
            offset += 4
        assert length <= self.limit, f"the peer announced a {length}-byte frame"
        await self._need(offset + length)
        payload = bytes(self._buffer[offset : offset + length])
        del self._buffer[: offset + length]
        if masked:
            payload = _xor(payload, mask)
        return RawFrame(first & 0x0F, payload, bool(first & 0x80), (first >> 4) & 7, masked)

    async def receive_until_close(self) -> tuple[list[RawFrame], RawFrame]:
        """Read frames up to a close frame; return the frames before it and the close."""
        before: list[RawFrame] = []
        while True:
            received = await self.receive_frame()
            if received.opcode == CLOSE:
                return before, received
            before.append(received)

    async def receive_rest(self) -> bytes:
        """Read until EOF (or a reset) and return everything left."""
        try:
            while await self._fill():
                pass
        except trio.BrokenResourceError:
            self._eof = True
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    async def handshake(
        self, request: bytes | None = None, *, trailing: bytes = b""
    ) -> dict[bytes, list[bytes]]:
        """Send an opening request (and ``trailing`` bytes in the same write); expect a 101."""
        await self.send((upgrade_request() if request is None else request) + trailing)
        start, fields = parse_head(await self.receive_head())
        assert start.startswith(b"HTTP/1.1 101 "), start
        return fields

    async def receive_request(self) -> tuple[bytes, dict[bytes, list[bytes]]]:
        """Server role: read a request head; return its start line and fields."""
        return parse_head(await self.receive_head())

    async def aclose(self) -> None:
        """Close the socket (ordinary close: FIN)."""
        await self.stream.aclose()


async def connect(port: int) -> RawPeer:
    """Open a raw TCP connection to 127.0.0.1."""
    return RawPeer(await trio.open_tcp_stream("127.0.0.1", port))


async def reset(peer: RawPeer) -> None:
    """Close with SO_LINGER 0, so the kernel sends RST instead of FIN."""
    peer.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await peer.stream.aclose()


def random_key() -> str:
    """A fresh Sec-WebSocket-Key."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


@cache
def _bomb_pieces() -> tuple[bytes, bytes]:
    # Z_RLE on zeros with a sync flush after each MiB: every MiB after the
    # first compresses to the same 1,036 bytes, so 1 GiB of zeros is the
    # first piece and 1,023 copies of the second (1,060,865 bytes), built
    # in milliseconds instead of compressing a real GiB (8 s at level 9).
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    zeros = bytes(1 << 20)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert second == compressor.compress(zeros) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return first, second


def bomb_chunks(mebibytes: int = 1024) -> Iterator[bytes]:
    """Raw DEFLATE data that inflates to ``mebibytes`` MiB of zeros, piece by piece.

    Each piece inflates to 1 MiB and ends on a sync flush; the last one's
    trailing 0x00 0x00 0xff 0xff is kept (harmless for RFC 7692 receivers).
    """
    first, second = _bomb_pieces()
    return itertools.chain([first], itertools.repeat(second, mebibytes - 1))
