"""Soak: thousands of concurrent connections exchanging messages, then nothing left behind."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import trio
import trio.lowlevel
import trio.testing

import ws
from tests.hostile._live import LiveServer, live_server, options, wait_until
from tests.hostile.test_resource_attacks import _connection_budget

_ROUNDS: Final = 6
_CLIENT_OPTIONS: Final = ws.ClientOptions(
    compression=None, connect_timeout=30, disconnect_timeout=30,
    ping_interval=None, ping_timeout=None,
)


def _count_tasks() -> int:
    """The tasks below the current one (the server's included), found by walking the tree."""
    count = 0
    pending = [trio.lowlevel.current_task()]
    while pending:
        task = pending.pop()
        count += 1
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return count


@contextmanager
def _frozen_gc() -> Iterator[None]:
    # Thousands of connections make CPython's full collections scan every
    # object pytest holds too; freezing those first halves the soak's time.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _wave(server: LiveServer, count: int) -> None:
    """``count`` clients, all connected at once, each checking its numbered echoes in order."""
    all_connected = trio.Event()
    connected = [0]
    finished = [0]
    mismatches: list[tuple[int, list[str]]] = []

    async def client(number: int) -> None:
        async with ws.open_websocket_url(server.url, options=_CLIENT_OPTIONS) as connection:
            connected[0] += 1
            if connected[0] == count:
                all_connected.set()
            await all_connected.wait()  # every connection is open at the same time
            expected = [f"{number}:{seq}:" + "x" * (seq * 37) for seq in range(_ROUNDS)]
            for message in expected[: _ROUNDS // 2]:  # pipelined, then one by one
                await connection.send_message(message)
            received = [str(await connection.get_message()) for _ in range(_ROUNDS // 2)]
            for message in expected[_ROUNDS // 2 :]:
                await connection.send_message(message)
                received.append(str(await connection.get_message()))
            if received != expected:
                mismatches.append((number, received))
        finished[0] += 1

    started = server.started
    async with trio.open_nursery() as clients:
        for number in range(count):
            clients.start_soon(client, number)
    assert finished[0] == count
    assert mismatches == []  # nothing lost, nothing reordered
    assert server.started - started == count
    with trio.fail_after(1):  # the handlers end with their connections
        await wait_until(lambda: server.running == 0)
    assert server.closes == [1000] * count
    server.closes.clear()


async def test_soak(autojump: trio.testing.MockClock) -> None:
    """2,000 connections exchange numbered messages: none lost or reordered, nothing leaks after."""
    count = _connection_budget(2000)
    with trio.fail_after(120), _frozen_gc():
        async with live_server(options(compression=None, connect_timeout=30)) as server:
            await _wave(server, 1)  # warm up caches and lazy imports
            # Under the autojump clock, a virtual second passes only once every
            # task is idle: then only the idle server's own tasks are left.
            await trio.sleep(1)
            tasks_before = _count_tasks()
            blocks_before = sys.getallocatedblocks()

            await _wave(server, count)
            with trio.fail_after(5):  # no timeout is involved: they end at once
                await wait_until(lambda: _count_tasks() == tasks_before)
            gc.collect()
            # Coarse, untraced: memory blocks back near where they were (the
            # 2,000 connections allocated millions of blocks on the way).
            assert sys.getallocatedblocks() - blocks_before < 20 * count

            # Precise, traced (tracemalloc doubles the cost, so on a smaller
            # wave): what a wave of 200 connections leaves behind.
            gc.collect()
            tracemalloc.start()
            try:
                baseline = tracemalloc.get_traced_memory()[0]
                await _wave(server, 200)
                await wait_until(lambda: _count_tasks() == tasks_before)
                # Trio drops cancel scopes from its deadline heap lazily, when
                # their deadlines pass: let every connect/disconnect deadline pass.
                await trio.sleep(_CLIENT_OPTIONS.connect_timeout + 1)
                gc.collect()
                leftover = tracemalloc.get_traced_memory()[0] - baseline
            finally:
                tracemalloc.stop()
            # Measured: 12-50 KB (caches and allocator noise); one leaked
            # connection object graph per connection would be 200 times a few KiB.
            assert leftover < 128 * 1024, leftover
