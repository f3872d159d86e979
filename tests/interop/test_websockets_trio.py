"""Interop with websockets' Trio implementation (``websockets.trio``), in the same Trio run."""

from __future__ import annotations

from functools import partial

import pytest
import trio

from tests.interop.constants import OFFERED_SUBPROTOCOLS, PEER_MAX_SIZE, SUBPROTOCOL
from tests.interop.harness import (
    COMPRESSION_MODES,
    SCHEMES,
    Certificates,
    CompressionMode,
    Scheme,
    open_ours,
    serve_ours,
)
from tests.interop.scenario import (
    STEP_TIMEOUT,
    PeerClose,
    check_peer_saw_close_echo,
    check_peer_saw_our_close,
    converse_and_close,
    let_peer_close,
)

pytest.importorskip("websockets.trio", reason="websockets>=16 is missing: run scripts/install-peers")

from tests.interop.websockets_trio_peer import commanded_echo  # noqa: E402
from websockets.trio.client import connect  # noqa: E402
from websockets.trio.server import Server, ServerConnection, serve  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

TEST_TIMEOUT = 30


@pytest.mark.parametrize("mode", COMPRESSION_MODES)
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_peer_is_client(scheme: Scheme, mode: CompressionMode, certs: Certificates) -> None:
    """A websockets.trio client and a ws server talk, ping and close both ways."""
    reports: list[PeerClose] = []

    async def peer(url: str) -> None:
        for _ in range(2):
            async with connect(
                url,
                ssl=certs.client_context() if scheme == "wss" else None,
                subprotocols=[Subprotocol(name) for name in OFFERED_SUBPROTOCOLS],
                proxy=None,
                open_timeout=STEP_TIMEOUT,
                close_timeout=STEP_TIMEOUT,
                ping_interval=None,
                max_size=PEER_MAX_SIZE,
            ) as conn:
                reports.append(await commanded_echo(conn))

    with trio.fail_after(TEST_TIMEOUT):
        async with serve_ours(scheme, mode, certs) as ours, trio.open_nursery() as nursery:
            nursery.start_soon(peer, ours.url)
            await converse_and_close(await ours.next_connection(), compressed=mode == "deflate")
            await let_peer_close(await ours.next_connection())
    assert len(reports) == 2
    check_peer_saw_our_close(reports[0])
    check_peer_saw_close_echo(reports[1])


@pytest.mark.parametrize("mode", COMPRESSION_MODES)
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_peer_is_server(scheme: Scheme, mode: CompressionMode, certs: Certificates) -> None:
    """A ws client and a websockets.trio server talk, ping and close both ways."""
    send_report, receive_report = trio.open_memory_channel[PeerClose](2)

    async def handler(conn: ServerConnection) -> None:
        await send_report.send(await commanded_echo(conn))

    with trio.fail_after(TEST_TIMEOUT):
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                partial(
                    serve,
                    handler,
                    0,
                    host="127.0.0.1",
                    ssl=certs.server_context() if scheme == "wss" else None,
                    subprotocols=[Subprotocol(SUBPROTOCOL)],
                    open_timeout=STEP_TIMEOUT,
                    close_timeout=STEP_TIMEOUT,
                    ping_interval=None,
                    max_size=PEER_MAX_SIZE,
                )
            )
            port = server.listeners[0].socket.getsockname()[1]
            url = f"{scheme}://127.0.0.1:{port}/"
            async with open_ours(url, mode, certs) as conn:
                await converse_and_close(conn, compressed=mode == "deflate")
            check_peer_saw_our_close(await receive_report.receive())
            async with open_ours(url, mode, certs) as conn:
                await let_peer_close(conn)
            check_peer_saw_close_echo(await receive_report.receive())
            await server.aclose()
            nursery.cancel_scope.cancel()
