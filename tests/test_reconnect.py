"""ws.connect_forever and ws.Backoff: a client that comes back when the server does.

Real ws servers on 127.0.0.1, stopped and started again on the same port.
Time is virtual: a MockClock that jumps only after 20 ms of real idleness,
so loopback I/O always completes before a deadline is reached, and the
backoff delays cost nothing.
"""

from __future__ import annotations

import logging
import random
import re
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Unpack

import attrs
import pytest
import trio
import trio.testing
import trustme

import ws
from ws._reconnect import RECONNECT_CODES, _retry_after
from ws.http import ProcessRequest

HOST = "127.0.0.1"
#: Deterministic delays: 1, 2, 4, 8, ... seconds.
STEADY = ws.Backoff(jitter="none")
#: Client settings for every test: no keepalive, no proxy from the environment.
QUIET = ws.ClientOptions(ping_interval=None, proxy=None)

ServerHandler = Callable[[ws.WebSocketRequest], Awaitable[None]]


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps once nothing has happened for 20 ms of real time."""
    return trio.testing.MockClock(autojump_threshold=0.02)


@pytest.fixture
def retries(caplog: pytest.LogCaptureFixture) -> Callable[[], list[tuple[int, str, float]]]:
    """The retries connect_forever logged so far: (attempt, what happened, delay)."""
    caplog.set_level(logging.INFO, logger="ws")
    pattern = re.compile(r"attempt (\d+): (.*); next attempt in ([\d.]+) s$")

    def parse() -> list[tuple[int, str, float]]:
        found = []
        for record in caplog.records:
            match = pattern.search(record.getMessage())
            if match:
                found.append((int(match[1]), match[2], float(match[3])))
        return found

    return parse


def free_port() -> int:
    """A port nothing listens on (for now)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


@attrs.define
class Served:
    """What a test server saw: the connections it accepted, in order."""

    server: ws.WebSocketServer
    accepted: list[ws.WebSocketConnection] = attrs.Factory(list)


@asynccontextmanager
async def serving(
    handler: Callable[[ws.WebSocketConnection, int], Awaitable[None]],
    port: int = 0,
    *,
    message_queue_size: float = 1,
    **settings: Unpack[ws.ServerSettings],
) -> AsyncIterator[Served]:
    """A server on ``port`` running ``handler(connection, index)``, no keepalive; cancelled on exit."""
    accepted: list[ws.WebSocketConnection] = []

    async def accept(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        accepted.append(connection)
        await handler(connection, len(accepted) - 1)

    options = attrs.evolve(
        ws.ServerOptions(**settings), ping_interval=None, message_queue_size=message_queue_size
    )
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(ws.serve_websocket, accept, HOST, port, None, options=options)
        )
        assert isinstance(server, ws.WebSocketServer)
        yield Served(server, accepted)
        nursery.cancel_scope.cancel()


async def hold(connection: ws.WebSocketConnection, index: int) -> None:
    """A server handler that keeps the connection until the client leaves."""
    async for _ in connection:
        pass


# -- Backoff ------------------------------------------------------------------


def test_backoff_defaults_and_ceilings() -> None:
    """Defaults 1 s, x2, 60 s, full jitter, reset after 10 s; ceilings double up to the maximum."""
    backoff = ws.Backoff()
    assert (backoff.initial, backoff.factor, backoff.maximum) == (1.0, 2.0, 60.0)
    assert (backoff.jitter, backoff.reset_after) == ("full", 10.0)
    assert [backoff.ceiling(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.ceiling(100_000) == 60  # no OverflowError
    assert [STEADY.delay(n) for n in (1, 2, 3, 7)] == [1, 2, 4, 60]


def test_backoff_jitter_stays_under_the_ceiling_and_is_reproducible() -> None:
    """Full jitter draws in [0, ceiling), equal jitter in [ceiling/2, ceiling); a seed repeats them."""
    full = [ws.Backoff(random=random.Random(7).random).delay(n) for n in range(1, 12)]
    again = [ws.Backoff(random=random.Random(7).random).delay(n) for n in range(1, 12)]
    assert full == again
    for n, delay in enumerate(full, 1):
        assert 0 <= delay < STEADY.ceiling(n)
    equal = ws.Backoff(jitter="equal", random=random.Random(3).random)
    for n in range(1, 12):
        assert STEADY.ceiling(n) / 2 <= equal.delay(n) < STEADY.ceiling(n)
    assert ws.Backoff(random=lambda: 0.5).delay(3) == 2.0


@pytest.mark.parametrize(
    "settings",
    [
        {"initial": 0},
        {"initial": float("inf")},
        {"factor": 0.5},
        {"maximum": -1},
        {"initial": 10, "maximum": 5},
        {"reset_after": -1},
        {"jitter": "some"},
    ],
)
def test_backoff_rejects_bad_settings(settings: dict[str, object]) -> None:
    """Each bad value is a ValueError naming the field."""
    with pytest.raises(ValueError, match="initial|factor|maximum|reset_after|jitter"):
        ws.Backoff(**settings)  # type: ignore[arg-type]


def test_backoff_ceiling_counts_from_one() -> None:
    """ceiling(0) is a mistake, said so."""
    with pytest.raises(ValueError, match="counts from 1"):
        STEADY.ceiling(0)


# -- restarts -----------------------------------------------------------------


@pytest.mark.parametrize("stop", ["aclose", "cancel"])
async def test_server_restart_on_the_same_port(
    clock: trio.testing.MockClock, stop: str, retries: Callable[[], list[tuple[int, str, float]]]
) -> None:
    """The server stops (1001) and comes back: the handler runs again and later messages arrive."""
    received: list[str | bytes] = []
    calls = 0

    async def handler(connection: ws.WebSocketConnection) -> str:
        nonlocal calls
        calls += 1
        async for message in connection:  # ends quietly on 1001 and on 1000
            received.append(message)
            got_before.set()
        return "done"

    async def first(connection: ws.WebSocketConnection, index: int) -> None:
        await connection.send_message("before")
        await hold(connection, index)  # returns on aclose(): no grace to wait for

    async def second(connection: ws.WebSocketConnection, index: int) -> None:
        await connection.send_message("after")
        await connection.aclose(1000, "bye")

    result: list[str | None] = []
    got_before = trio.Event()
    finished = trio.Event()
    with trio.fail_after(300):
        async with trio.open_nursery() as nursery:
            async with serving(first) as served:
                port = served.server.port
                url = f"ws://{HOST}:{port}/feed"

                async def client(task_status: trio.TaskStatus[None]) -> None:
                    result.append(
                        await ws.connect_forever(
                            handler, url, backoff=STEADY, task_status=task_status, options=QUIET
                        )
                    )
                    finished.set()

                await nursery.start(client)
                await got_before.wait()
                if stop == "aclose":
                    await served.server.aclose()
                # Leaving the block cancels the server (if it still runs): 1001.
            down_at = trio.current_time()
            await trio.sleep(2.5)  # the client retries against a closed port meanwhile
            async with serving(second, port):
                await finished.wait()
                back_at = trio.current_time()
    assert received == ["before", "after"]
    assert (calls, result) == (2, ["done"])
    logged = retries()
    assert logged[0] == (1, "the connection closed with 1001 (server shutting down)", 1.0)
    # Refused 1 s later; 2 s after that the server (back after 2.5 s) answers.
    assert logged[1][0::2] == (2, 2.0)
    assert "ConnectFailed" in logged[1][1]
    assert len(logged) == 2
    assert back_at - down_at == pytest.approx(3, abs=0.5)


async def test_dead_port_then_a_server_appears(
    clock: trio.testing.MockClock,
    retries: Callable[[], list[tuple[int, str, float]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refused attempts wait 1, 2, 4, 8 s; nursery.start returns only once connected."""
    port = free_port()
    url = f"ws://user:secret@{HOST}:{port}/path?token=abc"
    started_at: list[float] = []
    connected = trio.Event()

    async def handler(connection: ws.WebSocketConnection) -> None:
        await connection.aclose()

    async with trio.open_nursery() as nursery:

        async def start_client() -> None:
            await nursery.start(partial(ws.connect_forever, handler, url, backoff=STEADY, options=QUIET))
            started_at.append(trio.current_time())
            connected.set()

        start = trio.current_time()
        nursery.start_soon(start_client)
        await trio.sleep(9)  # attempts at 0, 1, 3 and 7 s were refused
        assert started_at == []
        async with serving(hold, port) as served:
            with trio.fail_after(60):
                await connected.wait()
            assert len(served.accepted) == 1
    assert started_at[0] - start == pytest.approx(15, abs=0.5)  # the attempt after 8 more s
    logged = retries()
    assert [(attempt, delay) for attempt, _, delay in logged] == [(1, 1), (2, 2), (3, 4), (4, 8)]
    assert all(re.match(r"failed: ConnectFailed: .*refused", what) for _, what, _ in logged)
    mine = [record.getMessage() for record in caplog.records if record.module == "_reconnect"]
    assert f"connect_forever ws://{HOST}:{port}/path: attempt 5 connected" in mine
    assert not any("secret" in message or "token" in message for message in mine)


# -- rejections ---------------------------------------------------------------


def rejecting(statuses: list[int], headers: dict[str, str] | None = None) -> ProcessRequest:
    """A process_request hook that answers the next requests with ``statuses``, then lets them in."""
    left = list(statuses)

    async def hook(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        if left:
            return ws.HTTPResponse(left.pop(0), headers=headers or {})
        return None

    return hook


async def test_503_is_retried_then_success(
    clock: trio.testing.MockClock, retries: Callable[[], list[tuple[int, str, float]]]
) -> None:
    """Two 503s, then the connection; the handler's value comes back."""

    async def handler(connection: ws.WebSocketConnection) -> int:
        return 42

    async with serving(hold, process_request=rejecting([503, 503])) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            assert await ws.connect_forever(handler, url, backoff=STEADY, options=QUIET) == 42
    assert retries() == [(1, "rejected with HTTP 503", 1.0), (2, "rejected with HTTP 503", 2.0)]


async def test_retry_after_is_honoured_up_to_the_maximum(
    clock: trio.testing.MockClock, retries: Callable[[], list[tuple[int, str, float]]]
) -> None:
    """429 with Retry-After: 30 waits 30 s, then 20 s (the maximum), not 1 and 2."""

    async def handler(connection: ws.WebSocketConnection) -> None:
        return None

    hook = rejecting([429, 429], {"Retry-After": "30"})
    backoff = ws.Backoff(jitter="none", maximum=20)
    async with serving(hold, process_request=hook) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(120):
            await ws.connect_forever(handler, url, backoff=backoff, options=QUIET)
    assert [delay for _, _, delay in retries()] == [20.0, 20.0]


async def test_403_is_final(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A 403 raises ConnectionRejected at once (out of nursery.start too); no second request."""
    caplog.set_level(logging.INFO, logger="ws")
    requests: list[str] = []

    async def count(request: ws.HTTPRequest) -> ws.HTTPResponse:
        requests.append(request.path)
        return ws.HTTPResponse(403)

    async def handler(connection: ws.WebSocketConnection) -> None:
        raise AssertionError("never connected")

    async with serving(hold, process_request=count) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            with pytest.raises(ws.ConnectionRejected) as rejected:
                await ws.connect_forever(handler, url, options=QUIET)
            assert rejected.value.status_code == 403
            async with trio.open_nursery() as nursery:
                with pytest.raises(ws.ConnectionRejected):
                    await nursery.start(partial(ws.connect_forever, handler, url, options=QUIET))
    assert requests == ["/", "/"]
    assert any(
        "attempt 1: rejected with HTTP 403, which is not retried: giving up" in record.getMessage()
        for record in caplog.records
    )


async def test_403_is_retried_when_the_caller_says_so(
    clock: trio.testing.MockClock, retries: Callable[[], list[tuple[int, str, float]]]
) -> None:
    """retry_statuses={403, ...} retries it like a 503."""

    async def handler(connection: ws.WebSocketConnection) -> str:
        return connection.path

    async with serving(hold, process_request=rejecting([403, 403])) as served:
        url = f"ws://{HOST}:{served.server.port}/in"
        statuses = {403, *ws.DEFAULT_RETRY_STATUSES}
        with trio.fail_after(60):
            result = await ws.connect_forever(
                handler, url, backoff=STEADY, retry_statuses=statuses, options=QUIET
            )
    assert result == "/in"
    assert [what for _, what, _ in retries()] == ["rejected with HTTP 403"] * 2


# -- how the handler ends -----------------------------------------------------


async def test_handler_return_value_is_returned_and_the_connection_closed_normally(
    clock: trio.testing.MockClock,
) -> None:
    """The handler returns on an open connection: its value comes back; the server sees 1000."""
    closes: list[int] = []
    server_done = trio.Event()

    async def echo(connection: ws.WebSocketConnection, index: int) -> None:
        try:
            async for message in connection:
                await connection.send_message(message)
        finally:
            assert connection.closed is not None
            closes.append(connection.closed.code)
            server_done.set()

    async def handler(connection: ws.WebSocketConnection) -> str:
        await connection.send_message("hi")
        reply = await connection.get_message()
        assert isinstance(reply, str)
        return reply.upper()

    async with serving(echo) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            assert await ws.connect_forever(handler, url, options=QUIET) == "HI"
            await server_done.wait()
    assert closes == [1000]
    assert len(served.accepted) == 1


async def test_handler_exception_propagates_unwrapped(clock: trio.testing.MockClock) -> None:
    """A ValueError from the handler is raised as it is: no group, no reconnect, cause kept."""

    async def handler(connection: ws.WebSocketConnection) -> None:
        try:
            raise KeyError("inner")
        except KeyError as exc:
            raise ValueError("handler failed") from exc

    async with serving(hold) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            with pytest.raises(ValueError, match="handler failed") as raised:
                await ws.connect_forever(handler, url, options=QUIET)
    assert isinstance(raised.value.__cause__, KeyError)
    assert len(served.accepted) == 1


@pytest.mark.parametrize(
    "error",
    [OSError(5, "disk full"), ws.ConnectionTimeout("another connection"), ws.ConnectFailed("elsewhere")],
)
async def test_network_errors_from_the_handler_are_not_retried(
    clock: trio.testing.MockClock, error: Exception
) -> None:
    """An OSError or HandshakeError the handler raises is its own: it propagates, no reconnect."""

    async def handler(connection: ws.WebSocketConnection) -> None:
        raise error

    async with serving(hold) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            with pytest.raises(type(error)) as raised:
                await ws.connect_forever(handler, url, options=QUIET)
    assert raised.value is error
    assert len(served.accepted) == 1


class TunnelRefused(ws.ConnectFailed):
    """A connect error that carries an HTTP status, as a proxy's refusal does."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"the proxy answered CONNECT with {status_code}")
        self.status_code = status_code


@pytest.mark.parametrize(("status", "retried"), [(407, False), (502, True), (503, True)])
async def test_a_connect_error_with_a_status_follows_retry_statuses(
    clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    retried: bool,
    retries: Callable[[], list[tuple[int, str, float]]],
) -> None:
    """A proxy's 407 is final, its 502 is retried: the status decides, as for a rejection."""
    attempts = 0
    real_open = ws.open_websocket_url

    @asynccontextmanager
    async def refused_once(
        url: str, ssl_context: ssl.SSLContext | None, *, options: ws.ClientOptions
    ) -> AsyncIterator[ws.WebSocketConnection]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise TunnelRefused(status)
        async with real_open(url, ssl_context, options=options) as connection:
            yield connection

    monkeypatch.setattr(sys.modules["ws._reconnect"], "open_websocket_url", refused_once)

    async def handler(connection: ws.WebSocketConnection) -> str:
        return "in"

    async with serving(hold) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            if retried:
                assert await ws.connect_forever(handler, url, backoff=STEADY, options=QUIET) == "in"
                assert retries() == [(1, f"TunnelRefused: the proxy answered CONNECT with {status}", 1.0)]
            else:
                with pytest.raises(TunnelRefused):
                    await ws.connect_forever(handler, url, backoff=STEADY, options=QUIET)
                assert attempts == 1


def test_retry_after_takes_seconds_only() -> None:
    """Retry-After in seconds is read (any case of the name); the HTTP-date form is ignored."""
    assert _retry_after([(b"Retry-After", b" 120 ")]) == 120
    assert _retry_after([(b"retry-after", b"0")]) == 0
    assert _retry_after([(b"Retry-After", b"Wed, 21 Oct 2015 07:28:00 GMT")]) is None
    assert _retry_after([(b"Content-Length", b"0")]) is None


async def test_connection_closed_about_another_connection_propagates(
    clock: trio.testing.MockClock,
) -> None:
    """A ConnectionClosed while the handler's own connection is open is the handler's error."""
    other = ws.ConnectionClosed(ws.CloseReason(1006, None))

    async def handler(connection: ws.WebSocketConnection) -> None:
        raise other

    async with serving(hold) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            with pytest.raises(ws.ConnectionClosed) as raised:
                await ws.connect_forever(handler, url, options=QUIET)
    assert raised.value is other
    assert len(served.accepted) == 1


@pytest.mark.parametrize("code", [1011, 1012, 1013, 1014])
async def test_close_codes_that_reconnect(
    clock: trio.testing.MockClock, code: int, retries: Callable[[], list[tuple[int, str, float]]]
) -> None:
    """The server closes with 1011/1012/1013/1014: the client comes back; a 1000 then ends it."""
    seen: list[int] = []

    async def close_then_normal(connection: ws.WebSocketConnection, index: int) -> None:
        await connection.aclose(code if index == 0 else 1000)

    async def handler(connection: ws.WebSocketConnection) -> str:
        try:
            await connection.get_message()
        except ws.ConnectionClosed as exc:
            seen.append(exc.reason.code)
            raise
        return "a message came"

    async with serving(close_then_normal) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            assert await ws.connect_forever(handler, url, backoff=STEADY, options=QUIET) is None
    assert seen == [code, 1000]
    assert len(served.accepted) == 2
    assert retries() == [(1, f"the connection closed with {code}", 1.0)]
    assert code in RECONNECT_CODES


@pytest.mark.parametrize("code", [1000, 1008, 4000])
async def test_close_codes_that_end_it(
    clock: trio.testing.MockClock, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    """1000, 1008 or 4000 from the server: connect_forever returns None and logs the code at INFO."""
    caplog.set_level(logging.INFO, logger="ws")

    async def close(connection: ws.WebSocketConnection, index: int) -> None:
        await connection.aclose(code, "go")

    async def handler(connection: ws.WebSocketConnection) -> str:
        await connection.get_message()
        return "a message came"

    async with serving(close) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            assert await ws.connect_forever(handler, url, backoff=STEADY, options=QUIET) is None
    assert len(served.accepted) == 1
    assert any(
        f"the connection closed with {code} (go): not reconnecting" in record.getMessage()
        and record.levelno == logging.INFO
        for record in caplog.records
    )


async def test_a_quiet_handler_after_a_drop_reconnects(clock: trio.testing.MockClock) -> None:
    """A handler that swallows ConnectionClosed (1006, the TCP connection dropped) is run again."""
    calls = 0

    async def drop_first(connection: ws.WebSocketConnection, index: int) -> None:
        if index == 0:
            await connection.stream.aclose()  # no close frame: 1006 for the client
        else:
            await connection.aclose()

    async def handler(connection: ws.WebSocketConnection) -> int:
        nonlocal calls
        calls += 1
        try:
            await connection.get_message()
        except ws.ConnectionClosed:
            pass
        return calls

    async with serving(drop_first) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            assert await ws.connect_forever(handler, url, backoff=STEADY, options=QUIET) == 2
    assert len(served.accepted) == 2


async def test_keepalive_timeout_reconnects(
    clock: trio.testing.MockClock, retries: Callable[[], list[tuple[int, str, float]]]
) -> None:
    """A server that stops reading (its queue is full) never answers pings: 1011, then a new connection."""

    async def stall_first(connection: ws.WebSocketConnection, index: int) -> None:
        if index == 0:
            await trio.sleep_forever()  # never takes the message: the reader stops reading
        await connection.aclose()

    async def handler(connection: ws.WebSocketConnection) -> None:
        await connection.send_message("fills the server's queue")
        async for _ in connection:
            pass

    keepalive = attrs.evolve(QUIET, ping_interval=5, ping_timeout=5)
    async with serving(stall_first, message_queue_size=0) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            await ws.connect_forever(handler, url, backoff=STEADY, options=keepalive)
    assert retries() == [(1, "the connection closed with 1011 (keepalive ping timeout)", 1.0)]
    assert len(served.accepted) == 2


async def test_handler_that_closes_its_connection_ends_it(clock: trio.testing.MockClock) -> None:
    """A handler that closes its connection itself (even with 1001) is not run again."""

    async def handler(connection: ws.WebSocketConnection) -> str:
        await connection.aclose(1001, "leaving")
        return "left"

    async with serving(hold) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            assert await ws.connect_forever(handler, url, options=QUIET) == "left"
    assert len(served.accepted) == 1


# -- backoff reset ------------------------------------------------------------


async def test_short_connections_keep_growing_the_delay_and_a_healthy_one_resets_it(
    clock: trio.testing.MockClock, retries: Callable[[], list[tuple[int, str, float]]]
) -> None:
    """Connections closed at once with 1013 wait 1, 2, 4 s; one that lasted 30 s starts again at 1 s."""

    async def server(connection: ws.WebSocketConnection, index: int) -> None:
        if index == 3:
            await trio.sleep(30)  # healthy: longer than reset_after (10 s)
        await connection.aclose(1013 if index < 4 else 1000)

    async def handler(connection: ws.WebSocketConnection) -> None:
        async for _ in connection:
            pass

    async with serving(server) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(300):
            await ws.connect_forever(handler, url, backoff=STEADY, options=QUIET)
    closed = "the connection closed with 1013"
    assert retries() == [(1, closed, 1.0), (2, closed, 2.0), (3, closed, 4.0), (4, closed, 1.0)]
    assert len(served.accepted) == 5


# -- cancellation -------------------------------------------------------------


async def test_cancelled_during_backoff_ends_at_once(
    clock: trio.testing.MockClock, retries: Callable[[], list[tuple[int, str, float]]]
) -> None:
    """A cancel scope that expires during a 100 s backoff sleep ends connect_forever then."""

    async def handler(connection: ws.WebSocketConnection) -> None:
        raise AssertionError("never connected")

    url = f"ws://{HOST}:{free_port()}/"
    start = trio.current_time()
    with trio.move_on_after(5) as scope:
        slow = ws.Backoff(initial=100, maximum=100, jitter="none")
        await ws.connect_forever(handler, url, backoff=slow, options=QUIET)
    assert scope.cancelled_caught
    assert trio.current_time() - start == pytest.approx(5)
    assert [(attempt, delay) for attempt, _, delay in retries()] == [(1, 100.0)]


async def test_cancelled_during_a_connection_closes_it_and_does_not_reconnect(
    clock: trio.testing.MockClock,
) -> None:
    """Cancelling the caller's scope while the handler runs: the server sees 1001, once."""
    closes: list[int] = []
    running = trio.Event()
    server_done = trio.Event()

    async def record(connection: ws.WebSocketConnection, index: int) -> None:
        try:
            await connection.get_message()
        except ws.ConnectionClosed as exc:
            closes.append(exc.reason.code)
            server_done.set()

    async def handler(connection: ws.WebSocketConnection) -> None:
        running.set()
        await trio.sleep_forever()

    async with serving(record) as served:
        url = f"ws://{HOST}:{served.server.port}/"
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(ws.connect_forever, handler, url, options=QUIET))
                await running.wait()
                nursery.cancel_scope.cancel()
            await server_done.wait()
            await trio.sleep(5)  # time enough for a reconnect, if one came
    assert closes == [1001]
    assert len(served.accepted) == 1


# -- final errors and arguments -----------------------------------------------


async def test_certificate_that_does_not_verify_is_final(clock: trio.testing.MockClock) -> None:
    """A TLS server whose certificate the client does not trust: ConnectFailed at once, no retry."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server_context)
    client_context = ssl.create_default_context()  # does not trust the test CA

    async def handler(connection: ws.WebSocketConnection) -> None:
        raise AssertionError("never connected")

    async def accept(request: ws.WebSocketRequest) -> None:
        await request.accept()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(ws.serve_websocket, accept, HOST, 0, server_context))
        url = f"wss://{HOST}:{server.port}/"
        with trio.fail_after(60):
            with pytest.raises(ws.ConnectFailed) as failed:
                await ws.connect_forever(handler, url, client_context, options=QUIET)
        nursery.cancel_scope.cancel()
    assert isinstance(failed.value.__cause__, ssl.SSLCertVerificationError)


async def test_bad_arguments_fail_before_any_attempt() -> None:
    """A bad URL, backoff, retry_statuses or setting raises at once."""

    async def handler(connection: ws.WebSocketConnection) -> None:
        raise AssertionError("never connected")

    with pytest.raises(ValueError, match="ws://, wss://"):
        await ws.connect_forever(handler, "http://example.com/")
    with pytest.raises(ValueError, match="SSL context must be None"):
        await ws.connect_forever(handler, "ws://example.com/", ssl.create_default_context())
    with pytest.raises(TypeError, match="backoff is a ws.Backoff"):
        await ws.connect_forever(handler, "ws://example.com/", backoff=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="retry_statuses"):
        await ws.connect_forever(handler, "ws://example.com/", retry_statuses=503)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword"):
        await ws.connect_forever(handler, "ws://example.com/", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="options= and also"):
        await ws.connect_forever(
            handler, "ws://example.com/", options=ws.ClientOptions(), ping_interval=None
        )


def test_exported() -> None:
    """connect_forever, Backoff and DEFAULT_RETRY_STATUSES are public names."""
    for name in ("connect_forever", "Backoff", "DEFAULT_RETRY_STATUSES"):
        assert name in ws.__all__
    assert 429 in ws.DEFAULT_RETRY_STATUSES and 503 in ws.DEFAULT_RETRY_STATUSES
    assert 403 not in ws.DEFAULT_RETRY_STATUSES
