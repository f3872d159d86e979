"""Attacks on a live server's memory, tasks, sockets and timers.

Each test checks that the server's memory (measured with tracemalloc, as
the server runs in the test process) stays far below what the attacker
announced or offered, that it lets go of peers that stall at the deadline
its options document, and that a well-behaved client is served meanwhile.
"""

from __future__ import annotations

import resource
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import pytest
import trio
import trio.testing

from tests.hostile._live import (
    CLOSE_AFTER_ONE,
    FAST,
    MiB,
    LiveServer,
    MemoryMeter,
    check_echo,
    live_server,
    options,
    unwrap_single_exception,
    wait_until,
)
from tests.hostile._raw import (
    BINARY,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    RawPeer,
    bomb_chunks,
    frame,
    reset,
    upgrade_request,
)
from tests.hostile.test_frame_attacks import expect_close, opened

_DEFLATE_OFFER: Final = [(b"Sec-WebSocket-Extensions", b"permessage-deflate")]


def _connection_budget(wanted: int) -> int:
    """``wanted``, after raising the soft fd limit if needed (each connection costs two fds here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * wanted + 200  # 200 fds for pytest, the listener and the good client
    if soft != resource.RLIM_INFINITY and soft < needed:
        # Raise the soft limit as far as the hard one allows (no privilege needed).
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    # On this project's CI machine the limit is 20,000: this never happens there.
    pytest.skip(
        f"needs {needed} file descriptors for {wanted} connections, but the hard "
        f"limit is {hard}: raise it (ulimit -Hn {needed}, as root) to run this test"
    )


async def _stalled(counter: list[int], *, quiet: float = 2.0) -> None:
    """Wait until ``counter[0]`` stops moving for ``quiet`` (virtual) seconds."""
    while True:
        before = counter[0]
        await trio.sleep(quiet)
        if counter[0] == before:
            return


async def test_slowloris(autojump: trio.testing.MockClock) -> None:
    """200 clients sending their request a byte a second are all dropped at connect_timeout."""
    server_options = options(compression=None, connect_timeout=10)
    request = upgrade_request()
    dropped_after: list[float] = []

    async def slowloris(peer: RawPeer) -> None:
        start = trio.current_time()
        async with trio.open_nursery() as nursery:

            async def drip() -> None:
                for index in range(len(request) - 1):  # never complete the head
                    await peer.send_quietly(request[index : index + 1])
                    await trio.sleep(1)

            nursery.start_soon(drip)
            await peer.receive_rest()
            dropped_after.append(trio.current_time() - start)
            nursery.cancel_scope.cancel()

    with trio.fail_after(120), unwrap_single_exception():
        async with live_server(server_options) as server:
            async with trio.open_nursery() as attack:
                for _ in range(200):
                    attack.start_soon(slowloris, await server.attack())
                await trio.sleep(3)
                await check_echo(server)  # served in the middle of the attack
            assert len(dropped_after) == 200
            assert max(dropped_after) <= server_options.connect_timeout + 1, max(dropped_after)
            assert server.started == 1  # only the well-behaved client
            await check_echo(server)


async def test_idle_connections(autojump: trio.testing.MockClock) -> None:
    """2,000 idle connections: others are still served; the unfinished handshakes time out."""
    count = _connection_budget(2000)
    server_options = options(compression=None, connect_timeout=10)
    with trio.fail_after(120):
        async with live_server(server_options) as server:
            silent = [await server.attack() for _ in range(count // 2)]
            upgraded = [await opened(server) for _ in range(count - count // 2)]
            assert server.running == len(upgraded)
            start = trio.current_time()
            await check_echo(server)
            # Connections that never sent a request are dropped at connect_timeout.
            for peer in silent:
                assert await peer.receive_rest() == b""
            assert trio.current_time() - start <= server_options.connect_timeout + 1
            # Open WebSocket connections stay open, and are still served.
            assert server.running == len(upgraded)
            await upgraded[0].send(frame(TEXT, b"still here"))
            assert (await upgraded[0].receive_frame()).payload == b"still here"
            for peer in upgraded:
                await peer.aclose()
            await wait_until(lambda: server.running == 0)
            await check_echo(server)


async def _deflate_peer(server: LiveServer) -> RawPeer:
    peer = await server.attack()
    fields = await peer.handshake(upgrade_request(extra=_DEFLATE_OFFER))
    assert fields[b"sec-websocket-extensions"][0].startswith(b"permessage-deflate")
    return peer


@pytest.mark.parametrize(
    "mebibytes",
    [
        pytest.param(1024, id="1-MB-frame-inflating-to-1-GiB"),
        pytest.param(512, id="530-KB-frame-under-the-limit-inflating-to-512-MiB"),
    ],
)
async def test_deflate_bomb_in_one_frame(mebibytes: int, autojump: trio.testing.MockClock) -> None:
    """One frame inflating to 512 MiB or 1 GiB gets 1009 while inflating; memory stays a few MiB."""
    attack = frame(BINARY, b"".join(bomb_chunks(mebibytes)), rsv=4)
    with trio.fail_after(60):
        async with live_server(options()) as server:
            peer = await _deflate_peer(server)
            with MemoryMeter() as memory:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(peer.send_quietly, attack)
                    await expect_close(peer, 1009)
            assert memory.peak < 8 * MiB, memory
            await check_echo(server)


async def test_deflate_bomb_in_fragments(autojump: trio.testing.MockClock) -> None:
    """1 GiB of zeros in 64 KB compressed fragments gets 1009 while inflating, in bounded memory."""
    pieces = list(bomb_chunks(1024))
    frames = [
        frame(BINARY if i == 0 else CONTINUATION, b"".join(pieces[i : i + 64]),
              rsv=4 if i == 0 else 0, fin=i + 64 >= len(pieces))
        for i in range(0, len(pieces), 64)
    ]
    with trio.fail_after(60):
        async with live_server(options()) as server:
            peer = await _deflate_peer(server)
            with MemoryMeter() as memory:
                async with trio.open_nursery() as nursery:

                    async def send_all_frames() -> None:
                        for piece in frames:
                            await peer.send_quietly(piece)

                    nursery.start_soon(send_all_frames)
                    await expect_close(peer, 1009)
            assert memory.peak < 8 * MiB, memory
            await check_echo(server)


async def test_hundred_thousand_tiny_fragments(autojump: trio.testing.MockClock) -> None:
    """A message in 100,000 one-byte fragments gets 1009 (max_fragments is 65,536)."""
    # No tracemalloc here: it slows the server's per-frame work tenfold, and
    # what this attack costs in memory is bounded by max_fragments, which
    # is what the 1009 shows is enforced.
    first = frame(TEXT, b"a", fin=False)
    middle = frame(CONTINUATION, b"a", fin=False)
    attack = first + middle * 99_998 + frame(CONTINUATION, b"a")
    with trio.fail_after(60):
        async with live_server(FAST) as server:
            assert FAST.max_fragments < 100_000
            peer = await opened(server)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(peer.send_quietly, attack)
                await expect_close(peer, 1009)
            await check_echo(server)


@asynccontextmanager
async def _stalled_flood(peer: RawPeer, data: bytes, times: int) -> AsyncIterator[list[int]]:
    """Send ``data`` up to ``times`` times in the background; enter once the sends stall.

    The attacker never reads, so the sends stall when the server stops
    reading too and TCP pushes back. Yields how many sends completed (it
    may still grow); the flood is cancelled on exit.
    """
    sent = [0]
    async with trio.open_nursery() as nursery:

        async def flood() -> None:
            for _ in range(times):
                await peer.send_quietly(data)
                sent[0] += 1

        nursery.start_soon(flood)
        await _stalled(sent)
        yield sent
        nursery.cancel_scope.cancel()


async def test_ping_flood_without_reading(autojump: trio.testing.MockClock) -> None:
    """100,000 pings from a peer that never reads: the pongs we owe do not pile up in memory."""
    batch = frame(PING, b"p" * 125) * 1000  # 131 KB; the pongs owed total 12.7 MB
    with trio.fail_after(120):
        async with live_server(FAST) as server:
            peer = await opened(server)
            with MemoryMeter() as memory:
                async with _stalled_flood(peer, batch, 100):
                    memory.sample()
                    await check_echo(server)  # others are served while the flood is stuck
            assert memory.peak < 4 * MiB, memory
            await reset(peer)
            await wait_until(lambda: server.running == 0)
            await check_echo(server)


async def test_large_echoes_never_read(autojump: trio.testing.MockClock) -> None:
    """A peer asking for 64 MiB of echoes and never reading them costs bounded memory."""
    message = frame(BINARY, b"e" * (512 * 1024))
    with trio.fail_after(120):
        async with live_server(FAST) as server:
            peer = await opened(server)
            with MemoryMeter() as memory:
                async with _stalled_flood(peer, message, 128) as sent:
                    memory.sample()
                    await check_echo(server)
            assert sent[0] < 128  # the server stopped reading: TCP pushed back
            assert memory.peak < 12 * MiB, memory
            await reset(peer)
            await wait_until(lambda: server.running == 0)
            await check_echo(server)


async def test_resets_mid_frame_and_mid_handshake(autojump: trio.testing.MockClock) -> None:
    """Peers that reset (RST) mid-frame or mid-handshake end quietly as 1006; others are served."""
    request = upgrade_request()
    with trio.fail_after(60):
        async with live_server(FAST) as server:
            for _ in range(20):
                peer = await opened(server)
                await peer.send(frame(BINARY, b"0123456789", length=1000))
                await reset(peer)
            for _ in range(20):
                peer = await server.attack()
                await peer.send(request[: len(request) // 2])
                await reset(peer)
            await wait_until(lambda: server.running == 0 and len(server.closes) == 20)
            assert server.closes == [1006] * 20
            assert server.started == 20
            await check_echo(server)


async def test_close_never_answered(autojump: trio.testing.MockClock) -> None:
    """A peer that never answers our close (and keeps TCP open) is dropped at disconnect_timeout."""
    server_options = options(compression=None, disconnect_timeout=5)
    with trio.fail_after(60):
        async with live_server(server_options) as server:
            peer = await server.attack()
            await peer.handshake(upgrade_request(target=CLOSE_AFTER_ONE.encode()))
            await peer.send(frame(TEXT, b"one"))
            echo, close = await peer.receive_until_close()
            assert [f.payload for f in echo] == [b"one"]
            assert close.close_code == 1000
            start = trio.current_time()
            assert await peer.receive_rest() == b""  # no answer from us: the server drops TCP
            assert trio.current_time() - start <= server_options.disconnect_timeout + 1
            await wait_until(lambda: server.running == 0)
            await check_echo(server)


async def test_silent_peer_is_dropped_by_keepalive(autojump: trio.testing.MockClock) -> None:
    """A peer that goes silent after the handshake gets pings, then 1011 and TCP close."""
    server_options = options(compression=None, ping_interval=5, ping_timeout=5)
    with trio.fail_after(60):
        async with live_server(server_options) as server:
            start = trio.current_time()
            peer = await opened(server)
            ping = await peer.receive_frame()  # read, never answered
            assert ping.opcode == PING
            assert trio.current_time() - start <= 5 + 1
            before, close = await peer.receive_until_close()
            assert all(f.opcode == PING for f in before), before
            assert close.close_code == 1011
            assert trio.current_time() - start <= 5 + 5 + 1
            assert await peer.receive_rest() == b""
            await wait_until(lambda: server.running == 0)
            assert server.closes == [1011]
            await check_echo(server)


async def test_answering_peer_is_kept_by_keepalive(autojump: trio.testing.MockClock) -> None:
    """A peer that answers the keepalive pings stays connected past many ping intervals."""
    server_options = options(compression=None, ping_interval=5, ping_timeout=5)
    with trio.fail_after(120):
        async with live_server(server_options) as server:
            peer = await opened(server)
            for _ in range(6):
                ping = await peer.receive_frame()
                assert ping.opcode == PING
                await peer.send(frame(PONG, ping.payload))
            await peer.send(frame(TEXT, b"alive"))
            while (reply := await peer.receive_frame()).opcode == PING:
                await peer.send(frame(PONG, reply.payload))
            assert reply.payload == b"alive"
            assert server.running == 1
