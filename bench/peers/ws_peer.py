"""``ws``, this project, through its public trio-websocket-style API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Final

import trio

import ws
from ws.frames import mask
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


def _compression(enabled: bool) -> ws.options.Compression:
    return "deflate" if enabled else None


class WsPeer:
    """``ws``: compression off except in the deflate scenario."""

    name: Final = "ws"
    compression: Final = True

    @property
    def version(self) -> str:
        """ws's version, and which masking code runs."""
        masking = "C speedups" if mask.SPEEDUPS else "pure-Python masking"
        return f"{ws.__version__} ({masking})"

    async def _handle(self, request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        try:
            while True:
                await connection.send_message(await connection.get_message())
        except ws.ConnectionClosed:
            pass

    async def serve(
        self, *, compression: bool, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Echo every message back until cancelled."""
        async with trio.open_nursery() as nursery:
            server: ws.WebSocketServer = await nursery.start(
                partial(
                    ws.serve_websocket,
                    self._handle,
                    HOST,
                    0,
                    None,
                    compression=_compression(compression),
                    max_message_size=MAX_MESSAGE_SIZE,
                )
            )
            task_status.started(server.port)

    def connect(
        self, port: int, *, compression: bool, counter: WireCounter | None = None
    ) -> AbstractAsyncContextManager[Session]:
        """Open a connection with ``open_websocket`` (or over a counting stream)."""
        if counter is None:
            return self._open(port, compression)
        return self._wrap(port, compression, counter)

    @asynccontextmanager
    async def _open(self, port: int, compression: bool) -> AsyncIterator[Session]:
        async with ws.open_websocket(
            HOST,
            port,
            "/",
            use_ssl=False,
            compression=_compression(compression),
            max_message_size=MAX_MESSAGE_SIZE,
        ) as connection:
            yield Session(connection.send_message, connection.get_message, _same)

    @asynccontextmanager
    async def _wrap(self, port: int, compression: bool, counter: WireCounter) -> AsyncIterator[Session]:
        stream = CountingStream(await trio.open_tcp_stream(HOST, port), counter)
        async with stream, trio.open_nursery() as nursery:
            connection = await ws.wrap_client_stream(
                nursery,
                stream,
                f"{HOST}:{port}",
                "/",
                compression=_compression(compression),
                max_message_size=MAX_MESSAGE_SIZE,
            )
            yield Session(connection.send_message, connection.get_message, _same)
            await connection.aclose()
