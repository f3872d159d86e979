"""The floor: raw Trio TCP streams carrying messages with a 4-byte length prefix.

No WebSocket library on Trio can beat this: it pays for Trio's stream
calls and task switches and for nothing else. It is written as a
sensible minimal message library would be: one buffered reader, no
background task, one ``send_all`` per message.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Final

import trio

from bench.peers.base import HOST, CountingStream, Message, Session, WireCounter

_LENGTH: Final = struct.Struct(">I")

_READ_SIZE: Final = 65536


class FramedStream:
    """Length-prefixed messages over a Trio stream."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def send(self, data: Message) -> None:
        """Send one message (``bytes``; text is sent UTF-8 encoded)."""
        if isinstance(data, str):
            data = data.encode()
        # One send_all even for 1 MiB: copying the payload behind its header
        # costs less than a second send_all (same-core, 3 runs each: 64 KiB
        # echo 187 against 145 MB/s, 1 MiB 598 against 498 MB/s).
        await self.stream.send_all(_LENGTH.pack(len(data)) + data)

    async def receive(self) -> bytes:
        """Receive one message.

        Raises:
            EOFError: The peer closed the stream.
        """
        buffer = self._buffer
        while True:
            if len(buffer) >= 4:
                end = 4 + _LENGTH.unpack_from(buffer)[0]
                if len(buffer) >= end:
                    with memoryview(buffer) as view:
                        message = bytes(view[4:end])  # one copy
                    del buffer[:end]  # cheap: bytearray drops a prefix in place
                    return message
                if end - len(buffer) > _READ_SIZE:
                    return await self._receive_large(end - 4)
            data = await self.stream.receive_some(_READ_SIZE)
            if not data:
                raise EOFError("the peer closed the stream")
            buffer += data

    async def _receive_large(self, size: int) -> bytes:
        # Gather the reads and join them once: one copy after the kernel's,
        # where appending to the buffer and slicing it out would make two.
        buffer = self._buffer
        parts: list[bytes | bytearray] = [bytes(buffer[4:])]
        missing = size - len(parts[0])
        buffer.clear()
        while missing > 0:
            data = await self.stream.receive_some(_READ_SIZE)
            if not data:
                raise EOFError("the peer closed the stream")
            if len(data) > missing:  # the next message starts in this read
                buffer += data[missing:]
                data = data[:missing]
            parts.append(data)
            missing -= len(data)
        return b"".join(parts)


def _encode(text: str) -> Message:
    return text.encode()


class RawTrioPeer:
    """Raw Trio streams: the floor every ratio is taken against."""

    name: Final = "raw trio"
    compression: Final = False

    @property
    def version(self) -> str:
        """Trio's version."""
        return trio.__version__

    async def _handle(self, stream: trio.SocketStream) -> None:
        framed = FramedStream(stream)
        async with stream:
            try:
                while True:
                    await framed.send(await framed.receive())
            except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    async def serve(
        self, *, compression: bool, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Echo every message back until cancelled."""
        listeners = await trio.open_tcp_listeners(0, host=HOST)
        port: int = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(trio.serve_listeners, self._handle, listeners))
            task_status.started(port)

    def connect(
        self, port: int, *, compression: bool, counter: WireCounter | None = None
    ) -> AbstractAsyncContextManager[Session]:
        """Connect; on exit, half-close and wait for the server's end (the "closing handshake")."""
        return self._connect(port, counter)

    @asynccontextmanager
    async def _connect(self, port: int, counter: WireCounter | None) -> AsyncIterator[Session]:
        socket_stream = await trio.open_tcp_stream(HOST, port)
        stream: trio.abc.HalfCloseableStream = socket_stream
        if counter is not None:
            stream = CountingStream(socket_stream, counter)
        async with stream:
            framed = FramedStream(stream)
            yield Session(framed.send, framed.receive, _encode)
            # Like a WebSocket closing handshake: say we are done, and wait
            # until the server has seen it and closed its end.
            await stream.send_eof()
            while await stream.receive_some(_READ_SIZE):
                pass
