"""Quiet server connections hand their reader's socket to the idle poller (ws._idle).

Each test runs a real server on 127.0.0.1 (only plain sockets park) under
Trio's autojump clock, lets a connection fall silent for a few seconds, and
checks that everything a reader does still happens: messages, pings both
ways, keepalive, closing from either side, the peer vanishing, and a
server shutting down.
"""

from __future__ import annotations

import math
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import cast

import pytest
import trio
import trio.testing
import trustme

import ws
from ws import _idle
from ws.builder import build_connection
from ws.connection import IDLE_AFTER, WebSocketConnection
from ws.frames.mask import apply_mask
from ws.protocol import Side
from ws.transports.endpoint import endpoints_of

pytestmark = pytest.mark.skipif(not _idle.AVAILABLE, reason="idle readers need select.epoll (Linux)")

#: Long enough for a silent connection to park: one to two quiet periods.
QUIET = 2 * IDLE_AFTER + 0.5

Handler = Callable[[ws.WebSocketRequest], Awaitable[None]]


def _parked(connection: WebSocketConnection) -> bool:
    """Whether the connection's reader handed its socket to the idle poller."""
    return connection._idle


def _reader_tasks() -> list[str]:
    """The names of every connection reader task in this run."""
    names: list[str] = []

    def walk(task: trio.lowlevel.Task) -> None:
        if task.name.startswith("ws reader"):
            names.append(task.name)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    walk(root)
    return names


@asynccontextmanager
async def _server(
    handler: Handler, ssl_context: ssl.SSLContext | None = None, **options: object
) -> AsyncIterator[tuple[int, trio.Nursery]]:
    async with trio.open_nursery() as nursery:
        server: ws.WebSocketServer = await nursery.start(
            lambda task_status: ws.serve_websocket(
                handler,
                "127.0.0.1",
                0,
                ssl_context,
                options=ws.ServerOptions(**options),  # type: ignore[arg-type]
                task_status=task_status,
            )
        )
        yield server.port, nursery
        nursery.cancel_scope.cancel()


def _holder() -> tuple[list[WebSocketConnection], Handler]:
    """A handler that accepts, echoes every message and keeps its connection."""
    accepted: list[WebSocketConnection] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        accepted.append(connection)
        async for message in connection:
            await connection.send_message(message)

    return accepted, handler


@asynccontextmanager
async def _echo_client() -> AsyncIterator[tuple[WebSocketConnection, list[WebSocketConnection]]]:
    """An echo server (keepalive off) and a client of it; also the server's connections."""
    accepted, handler = _holder()
    async with _server(handler, ping_interval=None) as (port, _):
        async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=False) as client:
            yield client, accepted


def _closed_codes() -> tuple[list[WebSocketConnection], list[int], Handler]:
    """A handler that accepts, waits for a message and records the close code instead."""
    accepted: list[WebSocketConnection] = []
    codes: list[int] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        accepted.append(connection)
        try:
            await connection.get_message()
        except ws.ConnectionClosed as exc:
            codes.append(exc.reason.code)

    return accepted, codes, handler


async def _echo_then_quiet(
    client: WebSocketConnection, accepted: list[WebSocketConnection]
) -> WebSocketConnection:
    """One echo, then silence until the server's connection has parked; returns that connection."""
    await client.send_message("hello")
    assert await client.get_message() == "hello"
    (connection,) = accepted
    await trio.sleep(QUIET)
    assert _parked(connection)
    return connection


async def _until(condition: Callable[[], object], timeout: float) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)


async def test_a_quiet_connection_parks_and_wakes_on_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After a quiet period the server's reader task is gone; the next message brings it back."""
    async with _echo_client() as (client, accepted):
        connection = await _echo_then_quiet(client, accepted)
        assert _idle.idle_poller().parked == 1
        assert len(_reader_tasks()) == 1  # only the client's reader is left
        for number in range(3):
            await client.send_message(f"again {number}")
            assert await client.get_message() == f"again {number}"
            assert not _parked(connection)
            assert len(_reader_tasks()) == 2
            await trio.sleep(QUIET)
            assert _parked(connection)
    assert client.closed is not None and client.closed.code == 1000
    assert _idle.idle_poller().parked == 0


async def test_a_busy_connection_never_parks(autojump_clock: trio.testing.MockClock) -> None:
    """A message every half period keeps the reader running."""
    async with _echo_client() as (client, accepted):
        for number in range(40):
            await client.send_message(str(number))
            assert await client.get_message() == str(number)
            assert not _parked(accepted[0])
            await trio.sleep(IDLE_AFTER / 2)


async def test_pings_reach_a_parked_connection_both_ways(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The client's ping wakes the parked server; the server's own ping() wakes its reader for the pong."""
    async with _echo_client() as (client, accepted):
        connection = await _echo_then_quiet(client, accepted)
        with trio.fail_after(1):
            await client.ping(b"client")
        await trio.sleep(QUIET)
        assert _parked(connection)
        with trio.fail_after(1):
            await connection.ping(b"server")
        assert connection.closed is None


async def test_keepalive_wakes_a_parked_connection_and_drops_a_silent_client(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The poller wakes the reader when its ping is due; with no pong it closes with 1011."""
    handler_saw: list[tuple[int, str | None]] = []
    parked_before_ping: list[bool] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message("the client never reads this, so its reader stalls")
        await trio.sleep(QUIET)
        parked_before_ping.append(_parked(connection))
        try:
            await connection.get_message()
        except ws.ConnectionClosed as exc:
            handler_saw.append((exc.reason.code, exc.reason.reason))

    client_options = ws.ClientOptions(message_queue_size=0, ping_interval=None, disconnect_timeout=1)
    async with _server(handler, ping_interval=10, ping_timeout=5) as (port, _):
        async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=False, options=client_options):
            start = trio.current_time()
            await _until(lambda: handler_saw, timeout=60)
            assert 15 <= trio.current_time() - start <= 17
    assert parked_before_ping == [True]
    assert handler_saw == [(1011, "keepalive ping timeout")]


async def test_keepalive_pings_keep_a_parked_connection_open(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A quiet connection whose client answers pings stays open, parked between pings."""
    accepted, handler = _holder()
    async with _server(handler, ping_interval=5, ping_timeout=5) as (port, _):
        async with ws.open_websocket(
            "127.0.0.1", port, "/", use_ssl=False, options=ws.ClientOptions(ping_interval=None)
        ) as client:
            await client.send_message("hello")
            await client.get_message()
            (connection,) = accepted
            parked = 0
            for _ in range(60):
                await trio.sleep(1)
                parked += _parked(connection)
            assert connection.closed is None and client.closed is None
            assert parked > 30  # parked most of the time, woken for each ping
            await client.send_message("still here")
            assert await client.get_message() == "still here"


async def test_the_handler_closes_a_parked_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """aclose() on a parked connection wakes the reader, which sees the closing handshake through."""
    closed_by_handler: list[tuple[bool, float]] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await trio.sleep(QUIET)
        assert _parked(connection)
        start = trio.current_time()
        await connection.aclose(4000, "bye")
        closed_by_handler.append((connection.close_timed_out, trio.current_time() - start))

    async with _server(handler, ping_interval=None) as (port, _):
        async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=False) as client:
            with pytest.raises(ws.ConnectionClosed) as info:
                await client.get_message()
            assert (info.value.reason.code, info.value.reason.reason) == (4000, "bye")
    assert closed_by_handler == [(False, 0.0)]


async def test_a_client_that_vanishes_while_parked(autojump_clock: trio.testing.MockClock) -> None:
    """The peer's FIN wakes the parked reader: the handler sees 1006 at once."""
    _, codes, handler = _closed_codes()
    async with _server(handler, ping_interval=None) as (port, _):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with trio.open_nursery() as nursery:
            await ws.wrap_client_stream(nursery, stream, f"127.0.0.1:{port}", "/")
            await trio.sleep(QUIET)
            assert _idle.idle_poller().parked == 1
            await trio.aclose_forcefully(stream)
            await _until(lambda: codes, timeout=1)
            nursery.cancel_scope.cancel()
    assert codes == [1006]
    assert _idle.idle_poller().parked == 0


async def test_a_server_shutting_down_says_goodbye_to_parked_connections(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Cancelling the server wakes every parked reader, which closes with 1001."""
    _, handler = _holder()
    server_scope = trio.CancelScope()

    async def run_server(task_status: trio.TaskStatus[int]) -> None:
        # In a task of its own, so that cancelling it leaves the clients be.
        with server_scope:
            async with _server(handler, ping_interval=None) as (port, _):
                task_status.started(port)
                await trio.sleep_forever()

    codes: list[int] = []
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(run_server)
        clients = [
            await ws.connect_websocket(nursery, "127.0.0.1", port, "/", use_ssl=False)
            for _ in range(3)
        ]
        await trio.sleep(QUIET)
        assert _idle.idle_poller().parked == 3
        server_scope.cancel()
        for client in clients:
            with pytest.raises(ws.ConnectionClosed) as info:
                await client.get_message()
            codes.append(info.value.reason.code)
    assert codes == [1001, 1001, 1001]
    assert _idle.idle_poller().parked == 0


async def test_tls_connections_do_not_park(autojump_clock: trio.testing.MockClock) -> None:
    """A TLS stream may hold decrypted bytes the socket does not show: its reader keeps running."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    accepted, handler = _holder()
    async with _server(handler, server_context, ping_interval=None) as (port, _):
        async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=client_context) as client:
            await client.send_message("hello")
            assert await client.get_message() == "hello"
            await trio.sleep(QUIET)
            assert not _parked(accepted[0])
            assert len(_reader_tasks()) == 2


async def test_a_parked_reader_whose_nursery_closed_ends_at_the_next_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Woken when its nursery is gone, the connection ends as at EOF instead of crashing the poller."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    peer = await trio.open_tcp_stream("127.0.0.1", port)
    stream = await listener.accept()
    await listener.aclose()
    local, remote = endpoints_of(stream)
    connection = build_connection(
        stream,
        Side.SERVER,
        options=ws.ServerOptions(ping_interval=None),
        extensions=[],
        trailing_data=b"",
        path="/",
        local=local,
        remote=remote,
        subprotocol=None,
        handshake_headers=(),
        close_timeout=1,
    )
    async with trio.open_nursery() as nursery:
        connection.start_reader(nursery, park_when_idle=True)
    # The nursery closed once the reader parked.
    assert _parked(connection)
    mask = b"\x01\x02\x03\x04"
    await peer.send_all(b"\x81\x85" + mask + apply_mask(b"hello", mask))
    await _until(lambda: connection._reader_done, timeout=1)
    assert connection.closed is not None and connection.closed.code == 1006
    assert isinstance(stream, trio.SocketStream)
    assert stream.socket.fileno() == -1  # closed
    with pytest.raises(ws.ConnectionClosed):
        await connection.get_message()
    await peer.aclose()


def test_streams_without_a_socket_never_park() -> None:
    """Memory streams (and TLS, see above) keep their reader: there is no descriptor to watch."""
    left, _right = trio.testing.memory_stream_pair()
    connection = build_connection(
        left,
        Side.SERVER,
        options=ws.ServerOptions(),
        extensions=[],
        trailing_data=b"",
        path="/",
        local="memory:local",
        remote="memory:remote",
        subprotocol=None,
        handshake_headers=(),
        close_timeout=1,
    )
    assert connection._socket_io is None
    assert not connection._hand_off_idle()


async def test_a_socket_closed_under_a_parked_connection_is_noticed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The poller's sweep finds a socket closed behind its back; the handler sees 1006."""
    accepted, codes, handler = _closed_codes()
    async with _server(handler, ping_interval=None) as (port, _):
        async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=False):
            await trio.sleep(QUIET)
            (connection,) = accepted
            assert _parked(connection)
            stream = connection.stream
            assert isinstance(stream, trio.SocketStream)
            stream.socket.close()  # behind the connection's back
            await _until(lambda: codes, timeout=_idle.SWEEP_EVERY + 0.5)
    assert codes == [1006]


class _FakeConnection:
    """What the poller calls on a parked connection."""

    def __init__(self) -> None:
        self.woken = 0
        self._idle = True
        self._idle_count = 1

    def _wake_reader(self) -> None:
        self.woken += 1

    def _idle_socket_closed(self) -> bool:
        return False


async def test_a_reused_descriptor_wakes_the_connection_it_belonged_to() -> None:
    """Parking on a number still held by a stale entry wakes the stale connection first."""
    poller = _idle.IdlePoller()
    first, first_peer = socket.socketpair()
    stale = _FakeConnection()
    fd = first.fileno()
    poller.park(cast(WebSocketConnection, stale), fd, math.inf, 1)
    first.close()  # the kernel drops it from the epoll set; the number is free
    second, second_peer = socket.socketpair()
    try:
        assert fd in (second.fileno(), second_peer.fileno())
        reused = second if second.fileno() == fd else second_peer
        fresh = _FakeConnection()
        poller.park(cast(WebSocketConnection, fresh), reused.fileno(), math.inf, 1)
        assert (stale.woken, fresh.woken) == (1, 0)
        assert poller.parked == 1
        poller.forget(cast(WebSocketConnection, fresh), reused.fileno())
        assert poller.parked == 0
    finally:
        for sock in (first_peer, second, second_peer):
            sock.close()
        poller._epoll.close()
