"""Clean cancellation of sends that wait for their turn to write, and the reader's context."""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial

import attrs
import pytest
import trio
import trio.testing

import ws
from tests.test_connection import ws_pair
from ws.errors import LocalProtocolError, NegotiationError
from ws.frames.frame import DATA_OPCODES, Frame, Opcode
from ws.typing import ExtensionName, ExtensionParameter

Pair = tuple[ws.WebSocketConnection, ws.WebSocketConnection]
Record = tuple[Opcode, bytes, str | None]

_PROBE = ExtensionName("x-context-probe")

#: Set by the server's handler, per connection, before it accepts.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")

# Long, overlapping texts: with permessage-deflate, "c" refers back to "b"'s
# text, so a "b" compressed but never sent would make "c" undecodable.
_A = "alpha " * 50
_B = "bravo " * 50
_C = "bravo charlie " * 50


@attrs.define(eq=False)
class _Probe(ws.Extension):
    """Passes frames through unchanged; records every frame received, with ``request_id``."""

    received: list[Record] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self.name = _PROBE

    def encode(self, frame: Frame) -> Frame:
        return frame

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        self.received.append((frame.opcode, bytes(frame.payload), request_id.get(None)))
        return frame


@attrs.define(eq=False)
class _ServerProbeFactory(ws.ServerExtensionFactory):
    """Accepts ``x-context-probe`` without parameters; keeps every probe it made."""

    probes: list[_Probe] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self.name = _PROBE

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[ws.Extension]
    ) -> tuple[list[ExtensionParameter], ws.Extension]:
        if params:
            raise NegotiationError("x-context-probe takes no parameters")
        probe = _Probe()
        self.probes.append(probe)
        return [], probe


class _ClientProbeFactory(ws.ClientExtensionFactory):
    """Offers ``x-context-probe`` without parameters."""

    name = _PROBE

    def get_request_params(self) -> list[ExtensionParameter]:
        return []

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[ws.Extension]
    ) -> ws.Extension:
        if params:
            raise NegotiationError("x-context-probe takes no parameters")
        return _Probe()


@asynccontextmanager
async def _stalled_pair(
    compression: ws.options.Compression = None, probe: _ServerProbeFactory | None = None
) -> AsyncIterator[Pair]:
    """Yield a lockstep pair whose server reads nothing more until its application reads.

    The server hands messages over directly (``message_queue_size=0``) and
    already holds one ("w"), so a client write blocks until the server's
    application calls ``get_message``.
    """
    client_options = ws.ClientOptions(
        compression=compression,
        extensions=[] if probe is None else [_ClientProbeFactory()],
        ping_interval=None,
    )
    server_options = ws.ServerOptions(
        compression=compression,
        extensions=[] if probe is None else [probe],
        message_queue_size=0,
        ping_interval=None,
    )
    async with ws_pair(
        lockstep=True, client_options=client_options, server_options=server_options
    ) as (client, server):
        await client.send_message("w")
        yield client, server


async def _start_blocked_write(nursery: trio.Nursery, client: ws.WebSocketConnection) -> None:
    """Start ``send_message(_A)`` and check that its write blocks, holding the write lock."""
    done = trio.Event()

    async def send_a() -> None:
        await client.send_message(_A)
        done.set()

    nursery.start_soon(send_a)
    await trio.testing.wait_all_tasks_blocked()
    assert not done.is_set()  # the server reads nothing: A's write is stuck


async def _cancel_while_waiting(
    nursery: trio.Nursery, send: Callable[[], Awaitable[None]]
) -> None:
    """Run ``send`` in its own cancel scope, let it wait for the write lock, then cancel it."""
    scope = trio.CancelScope()
    finished = trio.Event()

    async def run() -> None:
        with scope:
            await send()
        finished.set()

    nursery.start_soon(run)
    await trio.testing.wait_all_tasks_blocked()
    assert not finished.is_set()  # waiting for its turn to write
    scope.cancel()
    await finished.wait()
    assert scope.cancelled_caught


def _frames(probe: _ServerProbeFactory) -> list[tuple[Opcode, bytes]]:
    """The frames the server's only probe received, in wire order."""
    [only] = probe.probes
    return [(opcode, payload) for opcode, payload, _ in only.received]


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_send_cancelled_while_waiting_to_write_has_no_effect(
    compression: ws.options.Compression, autojump_clock: trio.testing.MockClock
) -> None:
    """A send_message cancelled while another write holds the lock never reaches the peer."""
    async with _stalled_pair(compression) as (client, server):
        async with trio.open_nursery() as nursery:
            await _start_blocked_write(nursery, client)
            await _cancel_while_waiting(nursery, partial(client.send_message, _B))
            assert await server.get_message() == "w"
            assert await server.get_message() == _A
        await client.send_message(_C)
        assert await server.get_message() == _C
        await server.send_message("ok")
        assert await client.get_message() == "ok"
        assert client.closed is None
        assert server.closed is None


async def test_ping_cancelled_while_waiting_to_write_has_no_effect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A ping cancelled while waiting to write is never sent; its payload can be pinged again."""
    probe = _ServerProbeFactory()
    async with _stalled_pair(None, probe) as (client, server):
        async with trio.open_nursery() as nursery:
            await _start_blocked_write(nursery, client)
            await _cancel_while_waiting(nursery, partial(client.ping, b"p"))
            assert await server.get_message() == "w"
            assert await server.get_message() == _A
        await client.ping(b"p")
        await client.send_message(_C)
        assert await server.get_message() == _C
        assert client.closed is None
    assert _frames(probe) == [
        (Opcode.TEXT, b"w"),
        (Opcode.TEXT, _A.encode()),
        (Opcode.PING, b"p"),
        (Opcode.TEXT, _C.encode()),
    ]


async def test_pong_cancelled_while_waiting_to_write_has_no_effect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A pong cancelled while waiting to write is never sent, not even with the next message."""
    probe = _ServerProbeFactory()
    async with _stalled_pair(None, probe) as (client, server):
        async with trio.open_nursery() as nursery:
            await _start_blocked_write(nursery, client)
            await _cancel_while_waiting(nursery, partial(client.pong, b"q"))
            assert await server.get_message() == "w"
            assert await server.get_message() == _A
        await client.send_message(_C)
        assert await server.get_message() == _C
        assert client.closed is None
    assert _frames(probe) == [
        (Opcode.TEXT, b"w"),
        (Opcode.TEXT, _A.encode()),
        (Opcode.TEXT, _C.encode()),
    ]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(999, None), (1005, None), (1006, None), (5000, None), (1000, "x" * 124)],
)
async def test_aclose_with_an_unsendable_close_leaves_the_connection_open(
    code: int, reason: str | None
) -> None:
    """aclose() with a code or reason that may not be sent raises and leaves the connection open."""
    async with ws_pair() as (client, server):
        with pytest.raises(LocalProtocolError):
            await client.aclose(code=code, reason=reason)
        assert client.closed is None
        await client.send_message("still open")
        assert await server.get_message() == "still open"
        await server.send_message("reply")
        assert await client.get_message() == "reply"
        assert client.closed is None
        assert server.closed is None


async def test_aclose_waiting_to_write_reports_its_close_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """While aclose()'s frame waits for another write, woken calls and closed report aclose's close."""
    probe = _ServerProbeFactory()
    async with _stalled_pair(None, probe) as (client, server):
        async with trio.open_nursery() as nursery:
            await _start_blocked_write(nursery, client)
            seen: list[object] = []

            async def closed_reason(call: Callable[[], Awaitable[object]]) -> None:
                with pytest.raises(ws.ConnectionClosed) as info:
                    await call()
                seen.append(info.value.reason)

            nursery.start_soon(closed_reason, client.get_message)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(client.aclose, 4000, "done")
            await trio.testing.wait_all_tasks_blocked()
            # The close frame is not made yet (A's write holds the lock) ...
            assert _frames(probe) == [(Opcode.TEXT, b"w")]
            # ... but the close is under way, with aclose's code and reason.
            assert seen == [ws.CloseReason(4000, "done")]
            assert client.closed == ws.CloseReason(4000, "done")
            # A send waits for its turn, then finds the connection closing.
            nursery.start_soon(closed_reason, partial(client.send_message, "late"))
            assert await server.get_message() == "w"
            assert await server.get_message() == _A
        assert seen == [ws.CloseReason(4000, "done")] * 2
        assert client.closed == ws.CloseReason(4000, "done")
        assert server.closed == ws.CloseReason(4000, "done")
    assert _frames(probe)[-1] == (Opcode.CLOSE, b"\x0f\xa0done")


@pytest.mark.parametrize("ping_interval", [None, 20.0])
async def test_reader_sees_the_accepting_task_context(
    ping_interval: float | None, autojump_clock: trio.testing.MockClock
) -> None:
    """An extension's decode sees the context the handler set before accept(), after idle spells too."""
    probe = _ServerProbeFactory()
    names = ("one", "two")
    count = 4

    async def handler(request: ws.WebSocketRequest) -> None:
        request_id.set(request.path)
        connection = await request.accept()
        async for message in connection:
            await connection.send_message(message)

    async def talk(port: int, name: str) -> None:
        options = ws.ClientOptions(
            compression=None, extensions=[_ClientProbeFactory()], ping_interval=ping_interval
        )
        async with ws.open_websocket_url(
            f"ws://127.0.0.1:{port}/{name}", options=options
        ) as connection:
            for i in range(count):
                if i:
                    await trio.sleep(10)  # idle: long enough for a reader to be parked
                await connection.send_message(f"{name}-{i}")
                assert await connection.get_message() == f"{name}-{i}"

    server_options = ws.ServerOptions(
        compression=None, extensions=[probe], ping_interval=ping_interval
    )
    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(ws.serve_websocket, handler, "127.0.0.1", 0, None, options=server_options)
            )
            async with trio.open_nursery() as clients:
                for name in names:
                    clients.start_soon(talk, server.port, name)
            nursery.cancel_scope.cancel()

    seen = {}
    for connection_probe in probe.probes:
        texts = [
            payload.decode()
            for opcode, payload, _ in connection_probe.received
            if opcode in DATA_OPCODES
        ]
        name = texts[0].split("-")[0]
        assert texts == [f"{name}-{i}" for i in range(count)]
        seen[name] = [value for _, _, value in connection_probe.received]
    assert sorted(seen) == sorted(names)
    for name, values in seen.items():
        assert values == [f"/{name}"] * len(values)
