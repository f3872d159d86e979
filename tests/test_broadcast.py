"""ws.broadcast: one message to many connections, without one slow peer holding up the rest.

Real loopback sockets where the fast path matters (shared frames written
without a task), in-memory pairs for the per-connection path.
"""

from __future__ import annotations

import base64
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
import trio.testing

import ws
from ws._broadcast import _shared_frame
from ws.connection._connection import sending_parts
from ws.extensions.permessage_deflate import PerMessageDeflate
from ws.frames.serializer import serialize
from ws.protocol import Protocol
from ws.testing import open_websocket_pair
from ws.transports.fastio import YIELD_EVERY, SocketIO

HOST = "127.0.0.1"
# The module behind ws.broadcast.
broadcast_module = sys.modules["ws._broadcast"]


@attrs.define(eq=False)
class Served:
    """A local server's connections, by path, and the ws clients connected to it."""

    port: int
    by_path: dict[str, ws.WebSocketConnection]
    clients: list[ws.WebSocketConnection]
    nursery: trio.Nursery

    def server_side(self, path: str) -> ws.WebSocketConnection:
        """The server connection of the client that asked for ``path``."""
        return self.by_path[path]

    def servers(self) -> list[ws.WebSocketConnection]:
        """The server sides of the ws clients, in their order."""
        return [self.by_path[f"/{index}"] for index in range(len(self.clients))]


@asynccontextmanager
async def serving(
    count: int,
    *,
    server_compression: ws.options.Compression = None,
    client_compression: ws.options.Compression = None,
) -> AsyncIterator[Served]:
    """A server on 127.0.0.1 with ``count`` ws clients (paths /0, /1, ...); handlers hold them open."""
    by_path: dict[str, ws.WebSocketConnection] = {}
    arrived = trio.Condition()

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        by_path[connection.path] = connection
        async with arrived:
            arrived.notify_all()
        await trio.sleep_forever()

    options = ws.ServerOptions(compression=server_compression, ping_interval=None)
    async with trio.open_nursery() as nursery:
        server: ws.WebSocketServer = await nursery.start(
            lambda task_status: ws.serve_websocket(
                handler, HOST, 0, None, options=options, task_status=task_status
            )
        )
        clients = [
            await ws.connect_websocket(
                nursery, HOST, server.port, f"/{index}", use_ssl=False,
                options=ws.ClientOptions(compression=client_compression, ping_interval=None),
            )
            for index in range(count)
        ]
        served = Served(server.port, by_path, clients, nursery)
        async with arrived:
            while len(by_path) < count:
                await arrived.wait()
        yield served
        nursery.cancel_scope.cancel()


async def raw_client(served: Served, path: str, *, receive_buffer: int | None = None) -> socket.socket:
    """A client that does the opening handshake by hand, then never reads; waits for its server side."""
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    trio_sock = trio.socket.from_stdlib_socket(sock)
    await trio_sock.connect((HOST, served.port))
    key = base64.b64encode(os.urandom(16)).decode()
    await trio_sock.send(
        f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += await trio_sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101")
    while path not in served.by_path:
        await trio.sleep(0.001)
    return sock


def stall(monkeypatch: pytest.MonkeyPatch, connection: ws.WebSocketConnection) -> None:
    """Make the connection's socket look full for good: writes take nothing, room never comes.

    The kernel may find room for a few more bytes of a socket that looked
    full (ACKs in flight, a receiver compacting its buffer), so the tests
    that need "not one byte went out" stall the fast path itself.
    """
    target = sending_parts(connection)[1].socket_io
    assert target is not None
    real_send_nowait = SocketIO.send_nowait
    real_wait = SocketIO.wait_send_all_might_not_block

    def send_nowait(self: SocketIO, parts: list[bytes] | list[memoryview]) -> int:
        if self is target:
            self.congested = True
            return 0
        return real_send_nowait(self, parts)

    async def wait_send_all_might_not_block(self: SocketIO) -> None:
        if self is target:
            await trio.sleep_forever()
        await real_wait(self)

    monkeypatch.setattr(SocketIO, "send_nowait", send_nowait)
    monkeypatch.setattr(SocketIO, "wait_send_all_might_not_block", wait_send_all_might_not_block)


async def gets_nothing(sender: ws.WebSocketConnection, receiver: ws.WebSocketConnection) -> None:
    """Assert that nothing is waiting for ``receiver``: a marker sent now comes first."""
    await sender.send_message("marker")
    assert await receiver.get_message() == "marker"


@attrs.define(eq=False)
class SendInBackground:
    """A send_message in a task of its own, which records how it ended."""

    connection: ws.WebSocketConnection
    message: str
    error: BaseException | None = None

    async def run(self) -> None:
        try:
            await self.connection.send_message(self.message)
        except ws.ConnectionClosed as exc:
            self.error = exc


# -- the scenario: 1,000 connections, one stalled --------------------------


async def test_stalled_client_among_1000_does_not_hold_up_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """999 clients get the message; the stalled one is dropped when the bounded wait ends."""
    async with serving(999) as served:
        stalled_sock = await raw_client(served, "/stalled", receive_buffer=4096)
        stalled = served.server_side("/stalled")
        # A send of 8 MB to a client that never reads: its socket buffer
        # fills up and the send holds the connection's writer for good.
        stuck_send = SendInBackground(stalled, "x" * 8_000_000)
        served.nursery.start_soon(stuck_send.run)
        await trio.testing.wait_all_tasks_blocked()
        connections = served.servers()
        connections.insert(500, stalled)
        start = trio.current_time()
        await ws.broadcast(connections, "to everyone", timeout=5.0)
        assert trio.current_time() - start == pytest.approx(5.0)
        for client in served.clients:
            assert await client.get_message() == "to everyone"
        closed = stalled.closed
        assert closed is not None and closed.code == 1008  # none of its frame went out
        assert closed.reason == "too slow for a broadcast"
        await trio.testing.wait_all_tasks_blocked()
        assert isinstance(stuck_send.error, ws.ConnectionClosed)
        assert all(connection.closed is None for connection in served.servers())
        stalled_sock.close()


async def test_without_slow_connections_it_returns_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """When every socket takes the frame at once, no time passes (no wait for a deadline)."""
    async with serving(50) as served:
        start = trio.current_time()
        await ws.broadcast(served.servers(), b"fast")
        assert trio.current_time() == start
        for client in served.clients:
            assert await client.get_message() == b"fast"


async def test_skip_keeps_the_slow_connection_open_without_the_message(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """on_slow="skip": a connection that took none of the frame stays open and usable."""
    async with serving(3) as served:
        stalled_sock = await raw_client(served, "/stalled", receive_buffer=4096)
        stalled = served.server_side("/stalled")
        stall(monkeypatch, stalled)
        await ws.broadcast([stalled, *served.servers()], "hi", timeout=1.0, on_slow="skip")
        assert stalled.closed is None
        for client in served.clients:
            assert await client.get_message() == "hi"
        # The write lock was given back: another writer can take it.
        _, writer, _, _ = sending_parts(stalled)
        assert not writer.locked
        stalled_sock.close()


async def test_a_full_socket_is_closed_with_1008_when_the_time_is_up(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket that takes no byte of the frame: 1008 at the deadline, the lock given back."""
    async with serving(2) as served:
        stalled_sock = await raw_client(served, "/stalled")
        stalled = served.server_side("/stalled")
        stall(monkeypatch, stalled)
        start = trio.current_time()
        await ws.broadcast([stalled, *served.servers()], "hi", timeout=2.0)
        assert trio.current_time() - start == pytest.approx(2.0)
        closed = stalled.closed
        assert closed is not None and closed.code == 1008
        assert closed.reason == "too slow for a broadcast"
        assert not sending_parts(stalled)[1].locked
        for client in served.clients:
            assert await client.get_message() == "hi"
        stalled_sock.close()


async def test_a_busy_writer_makes_the_connection_wait_and_be_closed_with_1008(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A connection whose writer is stuck in another send gets no byte, then a 1008 close."""
    async with serving(2) as served:
        stalled_sock = await raw_client(served, "/stalled", receive_buffer=4096)
        stalled = served.server_side("/stalled")
        stuck_send = SendInBackground(stalled, "x" * 8_000_000)
        served.nursery.start_soon(stuck_send.run)  # waits for room until the connection ends
        await trio.testing.wait_all_tasks_blocked()
        await ws.broadcast([stalled, *served.servers()], "hi", timeout=2.0)
        closed = stalled.closed
        assert closed is not None and closed.code == 1008
        assert closed.reason == "too slow for a broadcast"
        await trio.testing.wait_all_tasks_blocked()
        assert isinstance(stuck_send.error, ws.ConnectionClosed)
        for client in served.clients:
            assert await client.get_message() == "hi"
        stalled_sock.close()


# -- states -----------------------------------------------------------------------


async def test_closed_and_closing_connections_are_skipped() -> None:
    """Closed, closing and aclose()d connections are left alone; the open ones get the message."""
    async with serving(4) as served:
        closed, closing, open_one, open_two = served.servers()
        await closed.aclose()
        protocol, _, _, _ = sending_parts(closing)
        protocol.send_close(1000, "bye")  # sent our close, waits for the peer's
        await ws.broadcast([closed, closing, open_one, open_two], "still here")
        assert closed.closed is not None and closed.closed.code == 1000
        assert closing.closed is not None and closing.closed.code == 1000
        assert await served.clients[2].get_message() == "still here"
        assert await served.clients[3].get_message() == "still here"


async def test_a_connection_sending_a_fragmented_message_is_skipped() -> None:
    """A connection in the middle of a fragmented message gets nothing; it stays open."""
    async with open_websocket_pair(compression=None) as (client, server):
        protocol, writer, _, _ = sending_parts(server)
        await writer.send(protocol.send_text, "first half ", False)
        await ws.broadcast([server], "interloper")
        assert server.closed is None
        assert protocol.has_data_to_send() is False
        await writer.send(protocol.send_continuation, "second half", True)
        assert await client.get_message() == "first half second half"


async def test_several_broken_connections_raise_no_exception_group() -> None:
    """Peers that reset their connections break those connections only; nothing is raised."""
    async with serving(2) as served:
        socks = [await raw_client(served, f"/gone{index}") for index in range(5)]
        gone = [served.server_side(f"/gone{index}") for index in range(5)]
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            sock.close()  # a reset, which the server has not read yet
        await ws.broadcast([*gone, *served.servers()], "survivors")
        for connection in gone:
            assert connection.closed is not None and connection.closed.code == 1006
        for client in served.clients:
            assert await client.get_message() == "survivors"


# -- arguments ---------------------------------------------------------------------


@pytest.mark.parametrize("message", [123, None, ["list"], 1.5])
async def test_a_message_of_another_type_is_a_type_error_before_anything_is_sent(
    message: object,
) -> None:
    """MessageTypeError (a TypeError) for a non-str, non-bytes-like message; nothing sent."""
    async with open_websocket_pair(compression=None) as (client, server):
        with pytest.raises(TypeError) as info:
            await ws.broadcast([server], message)  # type: ignore[arg-type]
        assert isinstance(info.value, ws.MessageTypeError)
        await gets_nothing(server, client)


@pytest.mark.parametrize(("timeout", "on_slow"), [(-1.0, "close"), (float("nan"), "close"), (1.0, "drop")])
async def test_bad_timeout_or_policy_is_a_value_error(timeout: float, on_slow: str) -> None:
    """A negative or NaN timeout, or an unknown on_slow, raises ValueError before sending."""
    async with open_websocket_pair(compression=None) as (client, server):
        with pytest.raises(ValueError):
            await ws.broadcast([server], "x", timeout=timeout, on_slow=on_slow)  # type: ignore[arg-type]
        await gets_nothing(server, client)


@pytest.mark.parametrize(
    ("message", "received"),
    [
        ("text é", "text é"),
        (b"\x00\x01 binary", b"\x00\x01 binary"),
        (bytearray(b"a bytearray"), b"a bytearray"),
        (memoryview(b"a memoryview"), b"a memoryview"),
        (memoryview(bytes(range(8))).cast("H"), bytes(range(8))),
        ("", ""),
        (b"x" * 70_000, b"x" * 70_000),
    ],
    ids=["text", "bytes", "bytearray", "memoryview", "memoryview-of-shorts", "empty-text", "70-kB"],
)
async def test_text_and_binary_reach_server_and_client_peers(message: str | bytes, received: object) -> None:
    """str goes as text, bytes-like as binary, from servers (shared) and from clients (own frames)."""
    async with serving(3) as served:
        await ws.broadcast(served.servers(), message)
        for client in served.clients:
            assert await client.get_message() == received
        await ws.broadcast(served.clients, message)
        for server in served.servers():
            assert await server.get_message() == received


# -- frames made once ------------------------------------------------------------


async def test_plain_frames_are_serialized_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Server connections without extensions share one frame: serialized once, the same object."""
    calls: list[bytes] = []

    def counting_serialize(opcode: int, payload: bytes) -> bytes:
        frame = serialize(opcode, payload)
        calls.append(frame)
        return frame

    queued: list[bytes] = []
    real_send_serialized = Protocol.send_serialized

    def recording(self: Protocol, frame: bytes) -> None:
        queued.append(frame)
        real_send_serialized(self, frame)

    monkeypatch.setattr(broadcast_module, "serialize", counting_serialize)
    monkeypatch.setattr(Protocol, "send_serialized", recording)
    async with serving(40) as served:
        await ws.broadcast(served.servers(), "once")
        assert len(calls) == 1
        assert len(queued) == 40
        assert all(frame is calls[0] for frame in queued)
        for client in served.clients:
            assert await client.get_message() == "once"


def _count_encodes(monkeypatch: pytest.MonkeyPatch) -> list[PerMessageDeflate]:
    """Record every PerMessageDeflate.encode of a data frame (the compressions)."""
    encoders: list[PerMessageDeflate] = []
    real_encode = PerMessageDeflate.encode

    def counting(self: PerMessageDeflate, frame: ws.frames.Frame) -> ws.frames.Frame:
        if frame.opcode < 8:
            encoders.append(self)
        return real_encode(self, frame)

    monkeypatch.setattr(PerMessageDeflate, "encode", counting)
    return encoders


async def test_deflate_without_context_takeover_compresses_once_per_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two servers with different levels: two compressions for all their connections; all decode."""
    message = "compress me " * 200
    encoders = _count_encodes(monkeypatch)
    async with (
        serving(
            10,
            server_compression=ws.ServerPerMessageDeflateFactory(
                server_no_context_takeover=True, compression_level=1
            ),
            client_compression="deflate",
        ) as fast_level,
        serving(
            10,
            server_compression=ws.ServerPerMessageDeflateFactory(
                server_no_context_takeover=True, compression_level=9
            ),
            client_compression="deflate",
        ) as best_level,
    ):
        for _ in range(2):
            await ws.broadcast([*fast_level.servers(), *best_level.servers()], message)
            for client in [*fast_level.clients, *best_level.clients]:
                assert await client.get_message() == message
        assert len(encoders) == 4  # two settings, two broadcasts
        assert {encoder.compression_level for encoder in encoders} == {1, 9}


async def test_shared_compressed_frame_has_rsv1_and_is_shorter() -> None:
    """The shared frame of a compressed message has RSV1 set and is smaller than the text."""
    key = (12, -1, 5)
    frame = _shared_frame(key, ws.frames.Opcode.TEXT, b"abc" * 1000)
    assert frame[0] == 0x80 | 0x40 | 0x1  # FIN, RSV1, TEXT
    assert len(frame) < 100


async def test_deflate_with_context_takeover_uses_each_connection_s_own_compressor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With context takeover every connection compresses for itself, and each client decodes."""
    encoders = _count_encodes(monkeypatch)  # before the connections copy the method
    async with serving(5, server_compression="deflate", client_compression="deflate") as served:
        for round_ in range(3):
            message = f"round {round_}: " + "the same words again " * 50
            await ws.broadcast(served.servers(), message)
            for client in served.clients:
                assert await client.get_message() == message
        assert len(encoders) == 15
        assert len(set(map(id, encoders))) == 5


# -- in memory (the per-connection path) -------------------------------------------


async def test_in_memory_connections_take_their_own_path() -> None:
    """Over memory streams (no socket fast path) every connection still gets the message."""
    async with open_websocket_pair() as (client_a, server_a), open_websocket_pair() as (
        client_b,
        server_b,
    ):
        await ws.broadcast([server_a, server_b], "in memory")
        assert await client_a.get_message() == "in memory"
        assert await client_b.get_message() == "in memory"


async def test_in_memory_stuck_writer_means_1008_within_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A lockstep peer that does not read: its connection is closed with 1008, the other served."""
    async with open_websocket_pair(compression=None) as (client, server), open_websocket_pair(
        compression=None, lockstep=True
    ) as (stuck_client, stuck_server), trio.open_nursery() as nursery:
        # The stuck client takes one message into its queue and one more
        # into its buffer, then stops reading: the third send waits.
        await stuck_server.send_message("fills the queue")
        await stuck_server.send_message("fills the buffer")
        stuck_send = SendInBackground(stuck_server, "waits for a reader")
        nursery.start_soon(stuck_send.run)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        await ws.broadcast([stuck_server, server], "go", timeout=3.0)
        assert trio.current_time() - start == pytest.approx(3.0)
        assert await client.get_message() == "go"
        closed = stuck_server.closed
        assert closed is not None and closed.code == 1008
        nursery.cancel_scope.cancel()


# -- cancellation ---------------------------------------------------------------------


async def test_cancelled_before_it_starts_sends_nothing() -> None:
    """A broadcast in a cancelled scope raises Cancelled at once and sends nothing."""
    async with open_websocket_pair(compression=None) as (client, server):
        with trio.CancelScope() as scope:
            scope.cancel()
            await ws.broadcast([server], "never")
        assert scope.cancelled_caught
        await gets_nothing(server, client)


async def test_cancelled_while_waiting_leaves_the_slow_connection_untouched(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled before the slow socket took any byte: it stays open, unlocked, without the message."""
    async with serving(3) as served:
        stalled_sock = await raw_client(served, "/stalled", receive_buffer=4096)
        stalled = served.server_side("/stalled")
        stall(monkeypatch, stalled)
        with trio.move_on_after(1.0) as scope:
            await ws.broadcast([stalled, *served.servers()], "partly", timeout=10.0)
        assert scope.cancelled_caught
        assert stalled.closed is None
        _, writer, _, _ = sending_parts(stalled)
        assert not writer.locked
        for client in served.clients:
            assert await client.get_message() == "partly"
        stalled_sock.close()


async def test_cancelled_after_part_of_the_frame_went_out_breaks_that_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A frame cut short by cancellation breaks its connection (1006), as a cut send does."""
    async with serving(1) as served:
        stalled_sock = await raw_client(served, "/stalled", receive_buffer=4096)
        stalled = served.server_side("/stalled")
        stream = stalled.stream
        assert isinstance(stream, trio.SocketStream)
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        with trio.move_on_after(1.0):
            await ws.broadcast([stalled], b"x" * 4_000_000, timeout=10.0)
        closed = stalled.closed
        assert closed is not None and closed.code == 1006
        stalled_sock.close()


# -- Trio's rules -----------------------------------------------------------------


class TurnCounter:
    """A task that counts how often the scheduler let it run."""

    def __init__(self) -> None:
        self.turns = 0

    async def run(self) -> None:
        while True:
            await trio.sleep(0)
            self.turns += 1


async def test_a_broadcast_to_200_connections_lets_other_tasks_run() -> None:
    """The walk over 200 connections reaches a schedule point every YIELD_EVERY connections."""
    async with serving(200) as served, trio.open_nursery() as nursery:
        counter = TurnCounter()
        nursery.start_soon(counter.run)
        while counter.turns < 2:  # the counter is in its loop
            await trio.sleep(0)
        before = counter.turns
        await ws.broadcast(served.servers(), "x")
        assert counter.turns - before >= 200 // YIELD_EVERY
        nursery.cancel_scope.cancel()


async def test_a_broadcast_notices_a_deadline_within_the_budget(
    mock_clock: trio.testing.MockClock,
) -> None:
    """Under a passed deadline the walk stops within YIELD_EVERY connections."""
    async with serving(200) as served:
        late = 0
        deadline = 0.0

        def walk() -> Iterator[ws.WebSocketConnection]:
            nonlocal late
            for connection in served.servers():
                mock_clock.jump(0.0001)  # the work before each connection
                if trio.current_time() > deadline:
                    late += 1
                yield connection

        with trio.move_on_after(0.002) as scope:
            deadline = trio.current_time() + 0.002
            await ws.broadcast(walk(), "x")
        assert scope.cancelled_caught
        assert 0 < late <= YIELD_EVERY
