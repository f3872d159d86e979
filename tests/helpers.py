"""Test helpers shared across the suite."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs

from ws.events import Event
from ws.extensions.base import Extension
from ws.protocol import Protocol, Side

Chunker = Callable[[bytes], Iterable[bytes]]


def whole(data: bytes) -> Iterable[bytes]:
    """Deliver bytes in one piece."""
    return [data]


def bytewise(data: bytes) -> Iterable[bytes]:
    """Deliver bytes one at a time."""
    return [data[i : i + 1] for i in range(len(data))]


def chunked(sizes: Sequence[int]) -> Chunker:
    """Deliver bytes in pieces of the given sizes, cycling through them."""

    def chunk(data: bytes) -> Iterator[bytes]:
        pos = 0
        for size in itertools.cycle(sizes or [len(data) or 1]):
            if pos >= len(data):
                return
            yield data[pos : pos + max(size, 1)]
            pos += max(size, 1)

    return chunk


def fixed_mask() -> bytes:
    """A constant masking key, for byte-exact tests."""
    return b"\x37\xfa\x21\x3d"


@attrs.define(eq=False)
class ProtocolPair:
    """A client and a server :class:`Protocol` wired back to back.

    :meth:`pump` moves what each side wants to send into the other side,
    split by ``chunker``, until neither has anything more to say, and
    returns the events each side received.
    """

    client: Protocol
    server: Protocol
    chunker: Chunker = whole

    @classmethod
    def create(
        cls,
        *,
        client_extensions: Sequence[Extension] = (),
        server_extensions: Sequence[Extension] = (),
        max_message_size: int | None = 1024 * 1024,
        assemble_messages: bool = True,
        chunker: Chunker = whole,
    ) -> ProtocolPair:
        """Build a pair; the client uses a fixed mask key."""
        return cls(
            Protocol(
                Side.CLIENT,
                client_extensions,
                max_message_size=max_message_size,
                assemble_messages=assemble_messages,
                mask_key=fixed_mask,
            ),
            Protocol(
                Side.SERVER,
                server_extensions,
                max_message_size=max_message_size,
                assemble_messages=assemble_messages,
            ),
            chunker,
        )

    def pump(self) -> tuple[list[Event], list[Event]]:
        """Exchange bytes until quiet; return (client events, server events)."""
        client_events: list[Event] = []
        server_events: list[Event] = []
        while True:
            moved = self._move(self.client, self.server)
            moved |= self._move(self.server, self.client)
            client_events += self.client.events_received()
            server_events += self.server.events_received()
            if not moved:
                return client_events, server_events

    def _move(self, sender: Protocol, receiver: Protocol) -> bool:
        out = sender.data_to_send()
        for data in out:
            if data == b"":
                receiver.receive_eof()
            else:
                for piece in self.chunker(data):
                    receiver.receive_data(piece)
        return bool(out)


def raw_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bytes | None = None
) -> bytes:
    """Build a frame byte by byte, with no validation (for hostile input)."""
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 65536:
        header = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return header + payload
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked
