"""ConnectionClosedOK and ConnectionClosedError: which one every API raises, and why.

The rule (ws/errors.py): OK when both close frames were exchanged with
1000, 1001 or no code (1005), or while a closing handshake we started with
such a code is still under way; Error otherwise. The peers are real: ws on
both ends, a raw server end played with the sans-IO protocol as the
oracle, and servers on loopback.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import ws
import ws.testing
from tests.test_connection import raw_server_handshake
from ws.errors import CloseInfo, closed_error_type
from ws.events import Close
from ws.protocol import Protocol, Side

OK = ws.ConnectionClosedOK
Error = ws.ConnectionClosedError
Kind = type[ws.ConnectionClosed]


def _code(close: CloseInfo | None) -> int | None:
    return None if close is None else close.code


async def _raised(call: Callable[[], Awaitable[object]]) -> ws.ConnectionClosed:
    """What ``call()`` raises; it must raise a ConnectionClosed."""
    with trio.fail_after(30), pytest.raises(ws.ConnectionClosed) as info:
        await call()
    return info.value


def _check(
    exc: ws.ConnectionClosed, kind: Kind, reason: int, sent: int | None, rcvd: int | None
) -> None:
    assert type(exc) is kind
    assert isinstance(exc, ws.ConnectionClosed)
    assert (exc.reason.code, _code(exc.sent), _code(exc.rcvd)) == (reason, sent, rcvd)


async def _every_call(connection: ws.WebSocketConnection) -> list[ws.ConnectionClosed]:
    """What get_message, send_message, ping and pong raise on a closed connection."""
    return [
        await _raised(connection.get_message),
        await _raised(lambda: connection.send_message("late")),
        await _raised(connection.ping),
        await _raised(connection.pong),
    ]


# -- the rule itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "rcvd", "closing", "kind"),
    [
        (1000, 1000, False, OK),
        (1001, 1000, False, OK),
        (1000, 1001, False, OK),
        (1005, 1005, False, OK),
        (1000, 1005, False, OK),
        (1000, 1005, True, OK),
        (1000, None, True, OK),
        (1001, None, True, OK),
        (1000, None, False, Error),
        (None, None, False, Error),
        (None, None, True, Error),
        (1002, None, True, Error),
        (1000, 1002, False, Error),
        (1002, 1002, False, Error),
        (1011, 1000, False, Error),
        (1000, 1011, False, Error),
        (4000, 4000, False, Error),
        (1000, 4000, False, Error),
        (1000, 3000, False, Error),
        (1006, 1006, False, Error),
    ],
)
def test_the_rule(sent: int | None, rcvd: int | None, closing: bool, kind: Kind) -> None:
    """closed_error_type: OK only for normal codes on both frames, or on ours while closing."""
    sent_reason = None if sent is None else ws.CloseReason(sent)
    rcvd_reason = None if rcvd is None else ws.CloseReason(rcvd)
    assert closed_error_type(sent_reason, rcvd_reason, closing=closing) is kind


def test_close_codes_as_enum_members_count_too() -> None:
    """CloseCode members (an IntEnum) are matched by value."""
    normal = ws.CloseReason(ws.CloseCode.NORMAL_CLOSURE)
    assert closed_error_type(normal, ws.CloseReason(ws.CloseCode.GOING_AWAY)) is OK
    assert closed_error_type(normal, ws.CloseReason(ws.CloseCode.INTERNAL_ERROR)) is Error


# -- the classes ----------------------------------------------------------------------


def test_the_base_constructor_is_unchanged() -> None:
    """ConnectionClosed(reason, sent=, rcvd=) still builds the base class, as before."""
    reason = ws.CloseReason(1000, "bye")
    exc = ws.ConnectionClosed(reason, sent=reason, rcvd=ws.CloseReason(1000))
    assert type(exc) is ws.ConnectionClosed
    assert not isinstance(exc, (OK, Error))
    assert (exc.reason, exc.sent, exc.rcvd) == (reason, reason, ws.CloseReason(1000))
    assert repr(exc) == "ConnectionClosed<CloseReason<code=1000, name=NORMAL_CLOSURE, reason=bye>>"
    assert ws.ConnectionClosed(reason).sent is None


@pytest.mark.parametrize("kind", [OK, Error])
def test_subclasses_take_the_same_arguments_and_copy_and_pickle(kind: Kind) -> None:
    """Each subclass takes the base's arguments; str is the base's, repr names the class,
    and copy, deepcopy and pickle keep the class, reason, sent and rcvd."""
    reason = ws.CloseReason(1001, "going")
    exc = kind(reason, sent=reason, rcvd=ws.CloseReason(1005))
    assert isinstance(exc, ws.ConnectionClosed)
    assert isinstance(exc, ws.WebSocketError)
    assert str(exc) == str(ws.ConnectionClosed(reason)) == str(reason)
    assert repr(exc) == f"{kind.__name__}<CloseReason<code=1001, name=GOING_AWAY, reason=going>>"
    for twin in (copy.copy(exc), copy.deepcopy(exc), pickle.loads(pickle.dumps(exc))):
        assert type(twin) is kind
        assert (twin.reason, twin.sent, twin.rcvd) == (exc.reason, exc.sent, exc.rcvd)
        assert repr(twin) == repr(exc)


def test_the_kinds_are_distinct_and_both_caught_as_connection_closed() -> None:
    """OK and Error are siblings: neither catches the other; ConnectionClosed catches both."""
    assert not issubclass(OK, Error)
    assert not issubclass(Error, OK)
    for kind in (OK, Error):
        try:
            raise kind(ws.CloseReason(1000))
        except ws.ConnectionClosed as exc:
            assert type(exc) is kind


# -- in-memory pairs: ws on both ends -------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001])
async def test_peer_closes_normally(autojump_clock: trio.testing.MockClock, code: int) -> None:
    """The peer closes with 1000 or 1001: every later call raises OK, on both sides."""
    async with ws.testing.open_websocket_pair() as (client, server):
        await server.aclose(code, "done")
        for exc in await _every_call(client):
            _check(exc, OK, code, code, code)
            assert exc.reason.reason == "done"
        for exc in await _every_call(server):
            _check(exc, OK, code, code, code)


@pytest.mark.parametrize("code", [1002, 1011, 4000])
async def test_peer_closes_with_an_error_code(
    autojump_clock: trio.testing.MockClock, code: int
) -> None:
    """The peer closes with 1002, 1011 or 4000: every later call raises Error, on both sides."""
    async with ws.testing.open_websocket_pair() as (client, server):
        await server.aclose(code)
        for exc in await _every_call(client):
            _check(exc, Error, code, code, code)
        for exc in await _every_call(server):
            _check(exc, Error, code, code, code)


async def test_our_close_answered_normally(autojump_clock: trio.testing.MockClock) -> None:
    """We close with 1000, the peer answers 1000: calls after aclose() raise OK."""
    async with ws.testing.open_websocket_pair() as (client, server):
        await client.aclose()
        assert not client.close_timed_out
        for exc in await _every_call(client):
            _check(exc, OK, 1000, 1000, 1000)
        exc = await _raised(server.get_message)
        _check(exc, OK, 1000, 1000, 1000)


async def test_a_call_racing_our_close_raises_ok(autojump_clock: trio.testing.MockClock) -> None:
    """A get_message woken by our own aclose(1000), before the answer came, raises OK."""
    async with ws.testing.open_websocket_pair() as (client, _server):
        seen: list[ws.ConnectionClosed] = []

        async def consume() -> None:
            seen.append(await _raised(client.get_message))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            await trio.testing.wait_all_tasks_blocked()
            await client.aclose()
        # Woken at once by aclose(): our close counts, the answer had not come.
        assert type(seen[0]) is OK
        assert seen[0].reason.code == 1000
        assert seen[0].rcvd is None


@pytest.mark.parametrize(("code", "ends"), [(1000, True), (1001, True), (1011, False), (4000, False)])
async def test_async_for_is_unchanged(
    autojump_clock: trio.testing.MockClock, code: int, ends: bool
) -> None:
    """`async for` ends quietly on 1000 and 1001 and raises ConnectionClosedError otherwise."""
    async with ws.testing.open_websocket_pair() as (client, server):
        await server.send_message("one")
        await server.aclose(code)
        received: list[str | bytes] = []
        if ends:
            async for message in client:
                received.append(message)
        else:
            with pytest.raises(Error) as info:
                async for message in client:
                    received.append(message)
            assert info.value.reason.code == code
        assert received == ["one"]


# -- a raw peer: the server end played with the sans-IO protocol ----------------------


@asynccontextmanager
async def raw_peer(
    disconnect_timeout: float = 60,
) -> AsyncIterator[tuple[ws.WebSocketConnection, trio.abc.Stream, Protocol]]:
    """A client over memory streams, the raw server end, and a server protocol to read it with."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(raw_server_handshake, server_stream)
            client = await ws.wrap_client_stream(
                nursery, client_stream, "localhost", "/",
                options=ws.ClientOptions(disconnect_timeout=disconnect_timeout, ping_interval=None),
            )
            yield client, server_stream, Protocol(Side.SERVER)
            nursery.cancel_scope.cancel()


async def read_close(stream: trio.abc.Stream, oracle: Protocol) -> ws.CloseReason:
    """Read until the client's close frame; return it."""
    while True:
        data = await stream.receive_some()
        assert data, "the client ended the stream before its close frame"
        oracle.receive_data(data)
        for event in oracle.events_received():
            if isinstance(event, Close):
                return event.reason


async def test_close_without_code_is_ok(autojump_clock: trio.testing.MockClock) -> None:
    """The peer closes with no code (1005): we echo it; the handshake is clean, so OK."""
    async with raw_peer() as (client, peer, oracle):
        await peer.send_all(b"\x88\x00")  # a close frame without a payload
        assert (await read_close(peer, oracle)).code == 1005
        await peer.aclose()
        for exc in await _every_call(client):
            _check(exc, OK, 1005, 1005, 1005)


async def test_our_close_answered_without_code_is_ok(autojump_clock: trio.testing.MockClock) -> None:
    """We close with 1000 and the peer answers with no code (1005): OK."""
    async with raw_peer() as (client, peer, oracle):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.aclose)
            assert (await read_close(peer, oracle)).code == 1000
            await peer.send_all(b"\x88\x00")
            await peer.aclose()
        for exc in await _every_call(client):
            _check(exc, OK, 1000, 1000, 1005)


async def test_async_for_ends_quietly_on_a_close_without_code(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """`async for` ends quietly when the peer closes with no code."""
    async with raw_peer() as (client, peer, oracle):
        await peer.send_all(b"\x81\x02hi\x88\x00")
        received = [message async for message in client]
        assert received == ["hi"]
        assert (await read_close(peer, oracle)).code == 1005


async def test_protocol_error_from_the_peer_is_error(autojump_clock: trio.testing.MockClock) -> None:
    """The peer sends a frame with a reserved opcode: we fail with 1002, so Error."""
    async with raw_peer() as (client, peer, oracle):
        await peer.send_all(b"\x83\x00")  # opcode 3 is reserved
        assert (await read_close(peer, oracle)).code == 1002
        await peer.aclose()
        for exc in await _every_call(client):
            _check(exc, Error, 1002, 1002, None)
            assert isinstance(exc.__cause__, ws.RemoteProtocolError)


async def test_close_timeout_is_error(autojump_clock: trio.testing.MockClock) -> None:
    """The peer never answers our 1000: OK while the handshake is under way, Error once
    the close timeout dropped the stream."""
    async with raw_peer(disconnect_timeout=5) as (client, peer, oracle):
        during: list[ws.ConnectionClosed] = []

        async def call_while_closing() -> None:
            await trio.sleep(1)
            during.append(await _raised(lambda: client.send_message("x")))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call_while_closing)
            await client.aclose()
        assert client.close_timed_out
        assert (await read_close(peer, oracle)).code == 1000
        _check(during[0], OK, 1000, 1000, None)
        for exc in await _every_call(client):
            _check(exc, Error, 1000, 1000, None)


async def test_peer_ends_the_stream_without_answering_is_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The peer reads our close and ends the stream without its own: Error."""
    async with raw_peer() as (client, peer, oracle):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.aclose)
            assert (await read_close(peer, oracle)).code == 1000
            await peer.aclose()
        assert not client.close_timed_out
        for exc in await _every_call(client):
            _check(exc, Error, 1000, 1000, None)


# -- real servers on loopback -----------------------------------------------------------


async def test_server_aclose_is_ok_on_both_ends() -> None:
    """server.aclose() closes with 1001: the client's calls raise OK, and so does the handler's."""
    handler_saw: list[ws.ConnectionClosed] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message("ready")
        handler_saw.append(await _raised(connection.get_message))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server: ws.WebSocketServer = await nursery.start(
                ws.serve_websocket, handler, "127.0.0.1", 0, None
            )
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as client:
                assert await client.get_message() == "ready"
                nursery.start_soon(server.aclose)
                exc = await _raised(client.get_message)
                _check(exc, OK, 1001, 1001, 1001)
                _check(await _raised(lambda: client.send_message("late")), OK, 1001, 1001, 1001)
                assert [message async for message in client] == []
            nursery.cancel_scope.cancel()
    assert len(handler_saw) == 1
    assert type(handler_saw[0]) is OK
    assert handler_saw[0].reason.code == 1001


async def test_dropped_tcp_connection_is_error() -> None:
    """The server ends the TCP connection without a close frame: 1006, Error."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def drop_after_handshake() -> None:
        stream = await listeners[0].accept()
        await raw_server_handshake(stream)
        await stream.send_all(b"\x81\x02hi")
        await stream.aclose()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drop_after_handshake)
            async with ws.open_websocket("127.0.0.1", port, "/", use_ssl=False) as client:
                assert await client.get_message() == "hi"
                for exc in await _every_call(client):
                    _check(exc, Error, 1006, None, None)
                with pytest.raises(Error):
                    async for _ in client:
                        pass  # pragma: no cover
    await listeners[0].aclose()


async def test_loopback_close_1000_is_ok() -> None:
    """Over TCP: the handler closes with 1000, the client's calls raise OK."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.aclose(1000, "bye")

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server: ws.WebSocketServer = await nursery.start(
                ws.serve_websocket, handler, "127.0.0.1", 0, None
            )
            async with ws.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as client:
                for exc in await _every_call(client):
                    _check(exc, OK, 1000, 1000, 1000)
            nursery.cancel_scope.cancel()
