"""trio-websocket, the library whose API ``ws`` mirrors (no compression support)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Final

import trio
import trio_websocket

from bench.peers.base import HOST, MAX_MESSAGE_SIZE, Message, Session, WireCounter


def _same(text: str) -> Message:
    return text


class TrioWebsocketPeer:
    """trio-websocket with its default settings, apart from the size limit."""

    name: Final = "trio-websocket"
    compression: Final = False

    @property
    def version(self) -> str:
        """trio-websocket's version."""
        return trio_websocket.__version__

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        connection = await request.accept()
        try:
            while True:
                await connection.send_message(await connection.get_message())
        except trio_websocket.ConnectionClosed:
            pass

    async def serve(
        self, *, compression: bool, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Echo every message back until cancelled."""
        async with trio.open_nursery() as nursery:
            server: trio_websocket.WebSocketServer = await nursery.start(
                partial(
                    trio_websocket.serve_websocket,
                    self._handle,
                    HOST,
                    0,
                    None,
                    max_message_size=MAX_MESSAGE_SIZE,
                )
            )
            task_status.started(server.port)

    def connect(
        self, port: int, *, compression: bool, counter: WireCounter | None = None
    ) -> AbstractAsyncContextManager[Session]:
        """Open a connection with ``open_websocket``."""
        return self._open(port)

    @asynccontextmanager
    async def _open(self, port: int) -> AsyncIterator[Session]:
        async with trio_websocket.open_websocket(
            HOST, port, "/", use_ssl=False, max_message_size=MAX_MESSAGE_SIZE
        ) as connection:
            yield Session(connection.send_message, connection.get_message, _same)
