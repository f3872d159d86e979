"""websockets' Trio implementation (``websockets.trio``, websockets >= 16)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Final

import trio
from websockets.version import version as websockets_version
from websockets.exceptions import ConnectionClosed
from websockets.trio.client import connect
from websockets.trio.server import Server, ServerConnection, serve

from bench.peers.base import (
    HOST,
    MAX_MESSAGE_SIZE,
    CountingStream,
    Message,
    Session,
    WireCounter,
)


def _same(text: str) -> Message:
    return text


def _compression(enabled: bool) -> str | None:
    return "deflate" if enabled else None


class WebsocketsPeer:
    """websockets.trio: keepalive pings off (as in the other libraries)."""

    name: Final = "websockets.trio"
    compression: Final = True

    @property
    def version(self) -> str:
        """websockets' version."""
        return websockets_version

    async def _handle(self, connection: ServerConnection) -> None:
        try:
            async for message in connection:
                await connection.send(message)
        except ConnectionClosed:
            pass

    async def serve(
        self, *, compression: bool, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Echo every message back until cancelled."""
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                partial(
                    serve,
                    self._handle,
                    0,
                    host=HOST,
                    compression=_compression(compression),
                    ping_interval=None,
                    max_size=MAX_MESSAGE_SIZE,
                )
            )
            port: int = server.listeners[0].socket.getsockname()[1]
            task_status.started(port)

    def connect(
        self, port: int, *, compression: bool, counter: WireCounter | None = None
    ) -> AbstractAsyncContextManager[Session]:
        """Open a connection with ``connect`` (over a counting stream with ``counter``)."""
        return self._open(port, compression, counter)

    @asynccontextmanager
    async def _open(
        self, port: int, compression: bool, counter: WireCounter | None
    ) -> AsyncIterator[Session]:
        stream: trio.abc.Stream | None = None
        if counter is not None:
            stream = CountingStream(await trio.open_tcp_stream(HOST, port), counter)
        async with connect(
            f"ws://{HOST}:{port}/",
            stream=stream,
            compression=_compression(compression),
            ping_interval=None,
            max_size=MAX_MESSAGE_SIZE,
            proxy=None,
        ) as connection:
            yield Session(connection.send, connection.recv, _same)
