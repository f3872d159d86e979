"""What every benchmarked library provides: an echo server and a client session.

The client side is a :class:`Session` holding the library's own bound send
and receive methods, so the scenarios in :mod:`bench.worker` call the
library directly, without an adapter layer in the timed loops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

import attrs
import trio

#: Every server listens here; client and server are separate processes.
HOST: Final = "127.0.0.1"

#: The largest message any scenario sends (1 MiB) with room to spare: every
#: library gets the same limit, above its default where the default is 1 MiB.
MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024

Message = str | bytes


@attrs.define(eq=False)
class Session:
    """One open client connection, as the scenarios use it.

    Attributes:
        send: The library's send coroutine (``send_message``, ``send``, ...).
        receive: The library's receive coroutine (``get_message``, ``recv``).
        prepare_text: Turns a text message into what ``send`` takes and
            ``receive`` returns for it (``str`` for WebSocket, UTF-8 for the
            raw floor); called once per scenario, outside the timed loops.
    """

    send: Callable[[Message], Awaitable[None]]
    receive: Callable[[], Awaitable[Message]]
    prepare_text: Callable[[str], Message]


@attrs.define(eq=False)
class WireCounter:
    """Bytes that crossed a client's stream, for the compression ratio."""

    received: int = 0
    sent: int = 0


class CountingStream(trio.abc.HalfCloseableStream):
    """A stream wrapper that counts the bytes going through it."""

    def __init__(self, stream: trio.abc.HalfCloseableStream, counter: WireCounter) -> None:
        self._stream = stream
        self._counter = counter

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send and count."""
        self._counter.sent += len(data)
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """As the wrapped stream."""
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        """As the wrapped stream."""
        await self._stream.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """Receive and count."""
        data = await self._stream.receive_some(max_bytes)
        self._counter.received += len(data)
        return data

    async def aclose(self) -> None:
        """As the wrapped stream."""
        await self._stream.aclose()


class Peer(Protocol):
    """A library under test: its name, an echo server and a client."""

    @property
    def name(self) -> str:
        """The row label in the results table."""

    @property
    def version(self) -> str:
        """The library's version, for the report."""

    @property
    def compression(self) -> bool:
        """Whether it does permessage-deflate (the deflate scenario)."""

    async def serve(
        self, *, compression: bool, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run an echo server on ``HOST`` until cancelled; ``started()`` with its port."""

    def connect(
        self, port: int, *, compression: bool, counter: WireCounter | None = None
    ) -> AbstractAsyncContextManager[Session]:
        """Open a client connection (closed with a closing handshake on exit).

        With ``counter``, the bytes of the connection are counted in it.
        """
