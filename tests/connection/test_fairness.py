"""Trio's promises under the fast paths: one yield budget per run, over many connections.

Real loopback sockets (the fast path is for plain sockets), 200 connections,
one process: the server's handlers read and discard what the clients send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing

import ws
from ws.transports.fastio import YIELD_EVERY

CONNECTIONS = 200


@asynccontextmanager
async def many_connections(
    count: int = CONNECTIONS, *, greet: bool = False
) -> AsyncIterator[list[ws.WebSocketConnection]]:
    """``count`` client connections to a local server; its handlers drain what they get.

    With ``greet``, each handler first sends one message, and this waits
    until every client has it queued.
    """
    options = ws.ServerOptions(compression=None, ping_interval=None)

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        if greet:
            await connection.send_message("hello")
        async for _ in connection:
            pass

    async with trio.open_nursery() as nursery:
        server: ws.WebSocketServer = await nursery.start(
            lambda task_status: ws.serve_websocket(
                handler, "127.0.0.1", 0, None, options=options, task_status=task_status
            )
        )
        clients: list[ws.WebSocketConnection] = []
        for _ in range(count):
            clients.append(
                await ws.connect_websocket(
                    nursery, "127.0.0.1", server.port, "/", use_ssl=False,
                    options=ws.ClientOptions(compression=None, ping_interval=None),
                )
            )
        if greet:
            await trio.testing.wait_all_tasks_blocked()
        yield clients
        nursery.cancel_scope.cancel()


class TurnCounter:
    """A task that counts its turns: how often the scheduler let it run."""

    def __init__(self) -> None:
        self.turns = 0

    async def run(self) -> None:
        while True:
            await trio.sleep(0)
            self.turns += 1


async def test_fan_out_sends_let_other_tasks_run() -> None:
    """A task sending to 200 connections in a loop lets a competing task run in every round."""
    async with many_connections() as clients, trio.open_nursery() as nursery:
        counter = TurnCounter()
        nursery.start_soon(counter.run)
        for _ in range(3):
            before = counter.turns
            for client in clients:
                await client.send_message("x")
            # Without a budget per run, one send per socket never reaches
            # a schedule point: 0 turns. With it, a schedule point every
            # YIELD_EVERY sends (the other task may run late in a batch).
            assert counter.turns - before >= CONNECTIONS // YIELD_EVERY // 2
        nursery.cancel_scope.cancel()


async def test_fan_out_sends_notice_a_deadline_within_the_budget(
    mock_clock: trio.testing.MockClock,
) -> None:
    """Under a 2 ms deadline with 0.1 ms of work per send, at most YIELD_EVERY sends complete late."""
    async with many_connections() as clients:
        late = 0
        with trio.move_on_after(0.002) as scope:
            deadline = trio.current_time() + 0.002
            for client in clients:
                mock_clock.jump(0.0001)  # the work before each send
                await client.send_message("x")
                if trio.current_time() > deadline:
                    late += 1
        assert scope.cancelled_caught
        assert late <= YIELD_EVERY


async def test_fan_out_gets_let_other_tasks_run() -> None:
    """Taking one queued message from each of 200 connections lets a competing task run."""
    async with many_connections(greet=True) as clients, trio.open_nursery() as nursery:
        counter = TurnCounter()
        nursery.start_soon(counter.run)
        before = counter.turns
        for client in clients:
            assert await client.get_message() == "hello"
        assert counter.turns - before >= CONNECTIONS // YIELD_EVERY // 2
        nursery.cancel_scope.cancel()


async def test_get_message_notices_a_deadline_within_the_budget(
    mock_clock: trio.testing.MockClock,
) -> None:
    """Queued messages on 200 connections: a passed deadline stops the loop within YIELD_EVERY gets."""
    async with many_connections(greet=True) as clients:
        late = 0
        with trio.move_on_after(0.002) as scope:
            deadline = trio.current_time() + 0.002
            for client in clients:
                mock_clock.jump(0.0001)
                await client.get_message()
                if trio.current_time() > deadline:
                    late += 1
        assert scope.cancelled_caught
        assert late <= YIELD_EVERY
