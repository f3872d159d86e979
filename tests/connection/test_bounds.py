"""What a server holds for an application that does not read: exactly the queue's bounds."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

import ws
import ws.testing
from tests.connection.test_clean_semantics import _ClientProbeFactory, _ServerProbeFactory
from tests.helpers import raw_frame


def _frames(count: int, size: int) -> bytes:
    return b"".join(raw_frame(0x2, bytes([i]) * size, mask=b"abcd") for i in range(count))


@pytest.mark.parametrize(
    ("queue_size", "queue_bytes", "most"),
    [
        (1, math.inf, 2),  # the queue's one, and the one being handed over
        (0, math.inf, 1),  # handed over directly
        (math.inf, 10_000, 11),  # 10 of 1,000 bytes fit, the 11th waits in hand
    ],
)
async def test_one_read_of_many_messages_is_parsed_only_as_far_as_the_queue_allows(
    queue_size: float, queue_bytes: float, most: int
) -> None:
    """60 messages in one write, nobody reading: the server parses at most the bound, then all arrive in order."""
    probe = _ServerProbeFactory()
    server_options = ws.ServerOptions(
        compression=None,
        message_queue_size=queue_size,
        message_queue_bytes=queue_bytes,
        extensions=[probe],
    )
    client_options = ws.ClientOptions(compression=None, extensions=[_ClientProbeFactory()])
    async with ws.testing.open_websocket_pair(
        client_options=client_options, server_options=server_options
    ) as (client, server):
        await client.stream.send_all(_frames(60, 1000))
        await trio.testing.wait_all_tasks_blocked()
        [decoded] = probe.probes
        assert len(decoded.received) == most
        for i in range(60):
            assert await server.get_message() == bytes([i]) * 1000
        assert len(decoded.received) == 60


async def test_readers_run_in_the_servers_own_nursery() -> None:
    """With a handler_nursery of the caller's, it holds the handlers only; readers run in the server's."""
    started = trio.Event()

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        started.set()
        await connection.get_message()

    async with trio.open_nursery() as handlers, trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        server = ws.WebSocketServer(handler, listeners, handler_nursery=handlers)
        await nursery.start(server.run)
        async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
            await started.wait()
            readers = [task for task in _all_tasks() if task.name.startswith("ws reader")]
            assert len(readers) == 2  # the client's and the server's
            assert all(task.parent_nursery is not handlers for task in readers)
            assert [task.name for task in handlers.child_tasks] != []
        nursery.cancel_scope.cancel()
        handlers.cancel_scope.cancel()


def _all_tasks() -> list[trio.lowlevel.Task]:
    tasks = []
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if task is None:
            continue
        tasks.append(task)
        stack.extend(child for nursery in task.child_nurseries for child in nursery.child_tasks)
    return tasks
