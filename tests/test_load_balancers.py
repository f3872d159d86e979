"""Real load balancers in front of several ws workers (issue 17): nginx and HAProxy.

Every test runs once behind each balancer, with the configuration the
deployment guide shows (``examples/deploy/nginx.conf``,
``examples/deploy/haproxy.cfg``): the test only points its server lines at
the workers it started (keeping their options) and makes it listen on a
free loopback port. Both balance by least connections, so clients that
connect one after the other and stay connected are spread exactly.

The workers are real processes: ``examples/deploy/app.py``, one per port
(the shape those configurations list), or ``python -m ws serve --workers
2`` (several processes on one port, SO_REUSEPORT). Every WebSocket's first
message is a greeting that names the worker's pid, so a test sees which
worker served which client. A redis-server started by the test carries
the rooms' messages between workers.

Each step is bounded (trio.fail_after); every process is killed with its
process group on the way out. The balancers, workers and clients run on
real sockets and Trio's real clock; nothing is timed.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import re
import signal
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import attrs
import pytest
import trio

import ws
from examples.deploy.app import PING_INTERVAL, REDIS_URL_VARIABLE
from tests.examples.programs import EXAMPLES, Program, running
from tests.haproxy import haproxy_binary, running_haproxy
from tests.nginx import nginx_binary, running_nginx
from tests.test_redis_broadcast import needs_redis, redis_server
from tests.test_workers import serving

DEPLOY = EXAMPLES / "deploy"
APP = DEPLOY / "app.py"
NGINX_CONF = DEPLOY / "nginx.conf"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"

#: Seconds any one step may take (process start-ups included).
STEP = 15
#: Quick reconnections, without jitter: the test waits for them.
QUICK = ws.Backoff(initial=0.05, maximum=0.5, jitter="none")
#: The loggers of the reconnecting clients: tests.load_balancers.client<N>.
CLIENT_LOGGER = "tests.load_balancers"

BALANCERS = ("nginx", "haproxy")

# A server line of the example configurations: its address, and what follows it.
NGINX_SERVER = re.compile(r"^(\s*)server 127\.0\.0\.1:\d+((?: [^;]+)?);$", re.MULTILINE)
HAPROXY_SERVER = re.compile(r"^(\s*)server (\w+) 127\.0\.0\.1:\d+(.*)$", re.MULTILINE)
HAPROXY_BIND = re.compile(r"^(\s*)bind :80$", re.MULTILINE)
LISTENING = re.compile(r"app: worker (\d+) listening on http://127\.0\.0\.1:(\d+)")


# -- the configurations ------------------------------------------------------------------


def _point_at(
    ports: Sequence[int],
    pattern: re.Pattern[str],
    text: str,
    line: Callable[[re.Match[str], int, int], str],
) -> str:
    """``text`` with its server lines (several) replaced by ``line(first line, number, port)``."""
    found = list(pattern.finditer(text))
    assert len(found) >= 2, f"the example lists several workers: {pattern.pattern}"
    lines = [line(found[0], number, port) for number, port in enumerate(ports, 1)]
    return text[: found[0].start()] + "\n".join(lines) + text[found[-1].end() :]


def nginx_config(ports: Sequence[int]) -> tuple[str, str]:
    """examples/deploy/nginx.conf for ``running_nginx``: ``(http-level part, server body)``.

    Its upstream's server lines point at ``ports`` (keeping the options
    that follow the address); ``listen`` and ``server_name`` go (the
    harness sets them).
    """
    text = _point_at(
        ports,
        NGINX_SERVER,
        NGINX_CONF.read_text(),
        lambda first, _, port: f"{first[1]}server 127.0.0.1:{port}{first[2]};",
    )
    http_part, found, server = text.partition("\nserver {\n")
    assert found, "nginx.conf has a server block at the top level"
    body = server.rstrip()
    assert body.endswith("}"), "the server block closes at the end of nginx.conf"
    lines = [
        line
        for line in body[:-1].splitlines()
        if not line.strip().startswith(("listen ", "server_name "))
    ]
    return http_part, "\n".join(lines)


def haproxy_config(ports: Sequence[int]) -> str:
    """examples/deploy/haproxy.cfg for ``running_haproxy``, its servers at ``ports``."""
    text = HAPROXY_CFG.read_text()
    assert len(HAPROXY_BIND.findall(text)) == 1, "haproxy.cfg binds :80 once"
    text = HAPROXY_BIND.sub(r"\1bind {listen}", text)
    return _point_at(
        ports,
        HAPROXY_SERVER,
        text,
        lambda first, number, port: f"{first[1]}server app{number} 127.0.0.1:{port}{first[3]}",
    )


@contextlib.asynccontextmanager
async def balancer(kind: str, ports: Sequence[int]) -> AsyncIterator[int]:
    """nginx or HAProxy with the example configuration in front of ``ports``; yields its port."""
    if kind == "nginx":
        http_part, server_body = nginx_config(ports)
        async with running_nginx(server_body, http_config=http_part) as port:
            yield port
    else:
        async with running_haproxy(haproxy_config(ports)) as haproxy:
            try:
                yield haproxy.port
            except BaseException:
                print(f"haproxy's output:\n{haproxy.log()}")  # pytest shows it with the failure
                raise


@pytest.fixture(params=BALANCERS)
def kind(request: pytest.FixtureRequest) -> str:
    """The balancer of the test; skips it, saying how to install it, when it is missing."""
    name: str = request.param
    if name == "nginx":
        nginx_binary()
    else:
        haproxy_binary()
    return name


@pytest.mark.parametrize(
    ("config", "directive"),
    [(NGINX_CONF, "proxy_read_timeout"), (HAPROXY_CFG, "timeout tunnel")],
    ids=BALANCERS,
)
def test_the_idle_timeout_exceeds_the_ping_interval(config: Path, directive: str) -> None:
    """The balancer's idle timeout for an upgraded connection is longer than app.py's ping interval."""
    found = re.findall(rf"^\s*{directive} (\d+)s;?$", config.read_text(), re.MULTILINE)
    assert len(found) == 1, directive
    assert int(found[0]) > PING_INTERVAL, directive


# -- the workers and their clients -------------------------------------------------------


@attrs.frozen
class Worker:
    """A running examples/deploy/app.py."""

    program: Program
    pid: int
    port: int


@contextlib.asynccontextmanager
async def workers(count: int, tmp_path: Path) -> AsyncIterator[list[Worker]]:
    """``count`` app.py processes, each on a port of its own, started together."""
    async with contextlib.AsyncExitStack() as stack:
        programs = [
            await stack.enter_async_context(running(APP, "--port", "0", tmp_path=tmp_path))
            for _ in range(count)
        ]
        started = []
        for program in programs:
            match = LISTENING.fullmatch(await program.read_line())
            assert match is not None, program.lines
            assert int(match[1]) == program.process.pid
            started.append(Worker(program, int(match[1]), int(match[2])))
        yield started


def greeting(message: str | bytes, forwarded_for: str = "127.0.0.1") -> dict[str, object]:
    """The first message of a WebSocket to app.py, checked."""
    assert isinstance(message, str), message
    parsed: dict[str, object] = json.loads(message)
    # The balancer said who the client is (this process, on loopback) and how it came.
    assert parsed["forwarded_for"] == forwarded_for, parsed
    assert parsed["proto"] == "http", parsed
    assert isinstance(parsed["worker"], int), parsed
    return parsed


async def worker_of(connection: ws.WebSocketConnection) -> int:
    """The pid in the greeting of a new connection."""
    pid = greeting(await connection.get_message())["worker"]
    assert isinstance(pid, int)
    return pid


async def echoes(connection: ws.WebSocketConnection, message: str) -> None:
    """``message`` comes back on ``connection``."""
    await connection.send_message(message)
    assert await connection.get_message() == message


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    """A plain HTTP/1.1 GET through the balancer: the status and the body."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = bytearray()
        while chunk := await stream.receive_some():
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@attrs.define(eq=False)
class Client:
    """A client that stays connected through the balancer with ``ws.connect_forever``.

    It is the handler ``connect_forever`` calls with each connection: it
    notes the worker that greets it, then hands every message that
    arrives to :meth:`echo`.
    """

    number: int
    #: The worker of each connection, in order: one entry per handler run.
    workers: list[int] = attrs.Factory(list)
    connection: ws.WebSocketConnection | None = None
    first_connection: ws.WebSocketConnection | None = None
    _changed: trio.Event = attrs.Factory(trio.Event)
    _replies: tuple[trio.MemorySendChannel[str | bytes], trio.MemoryReceiveChannel[str | bytes]] = (
        attrs.Factory(lambda: trio.open_memory_channel[str | bytes](10))
    )

    @property
    def logger(self) -> logging.Logger:
        """Where its ``connect_forever`` logs each reconnection."""
        return logging.getLogger(f"{CLIENT_LOGGER}.client{self.number}")

    async def __call__(self, connection: ws.WebSocketConnection) -> None:
        self.workers.append(await worker_of(connection))
        self.connection = connection
        if self.first_connection is None:
            self.first_connection = connection
        self._changed.set()
        self._changed = trio.Event()
        async for message in connection:  # raises ConnectionClosed on 1006: reconnect
            await self._replies[0].send(message)

    async def connected(self, times: int) -> None:
        """Wait until the handler ran ``times`` times."""
        while len(self.workers) < times:
            await self._changed.wait()

    async def echo(self, message: str) -> None:
        """``message`` comes back on the current connection."""
        assert self.connection is not None
        await self.connection.send_message(message)
        assert await self._replies[1].receive() == message


# -- the tests ---------------------------------------------------------------------------


async def test_clients_are_spread_evenly_over_separate_workers(kind: str, tmp_path: Path) -> None:
    """9 clients through the balancer, 3 workers: 3 each (least connections); /healthz is 200."""
    async with workers(3, tmp_path) as started, balancer(kind, [w.port for w in started]) as port:
        url = f"ws://127.0.0.1:{port}/echo"
        # The bound encloses the stack: each connection has a nursery of its own.
        with trio.fail_after(STEP):
            async with contextlib.AsyncExitStack() as stack:
                connections: list[ws.WebSocketConnection] = []
                served: list[int] = []
                for number in range(9):
                    # One after the other, each held open: the balancer
                    # counts it before the next one comes.
                    connection = await stack.enter_async_context(ws.open_websocket_url(url))
                    served.append(await worker_of(connection))
                    await echoes(connection, f"client {number}")
                    connections.append(connection)
                assert collections.Counter(served) == {w.pid: 3 for w in started}
                for number, connection in enumerate(connections):
                    await echoes(connection, f"still open {number}")
        with trio.fail_after(STEP):
            assert await http_get(port, "/healthz") == (200, b"ok\n")
            # What the client claims stays, and the balancer's word comes last.
            claims = [("X-Forwarded-For", "203.0.113.7")]
            async with ws.open_websocket_url(url, extra_headers=claims) as connection:
                greeting(await connection.get_message(), forwarded_for="203.0.113.7, 127.0.0.1")


async def test_workers_on_one_port_share_the_clients(kind: str, tmp_path: Path) -> None:
    """In front of `python -m ws serve --workers 2` (one port): clients reach both workers.

    HAProxy checks the port's health with app.py's hook (``--process-request``).
    """
    args = (
        "--workers", "2", "--port", "0", "--app-dir", str(DEPLOY),
        "--process-request", "app:health", "app:echo",
    )
    async with serving(*args, cwd=tmp_path) as served:
        workers_port = urllib.parse.urlsplit(served.url).port
        assert workers_port is not None
        async with balancer(kind, [workers_port]) as port:
            url = f"ws://127.0.0.1:{port}/echo"
            seen: set[int] = set()
            with trio.fail_after(STEP):
                async with contextlib.AsyncExitStack() as stack:
                    # The kernel spreads connections over the workers' sockets by
                    # a hash of their addresses: 40 connections all to one worker
                    # have odds of 2 ** -39. Usually 2 or 3 are enough.
                    for number in range(40):
                        connection = await stack.enter_async_context(ws.open_websocket_url(url))
                        pid = await worker_of(connection)
                        served.workers.add(pid)  # killed on the way out, whatever happens
                        await echoes(connection, f"client {number}")
                        seen.add(pid)
                        if len(seen) == 2:
                            break
        assert len(seen) == 2, seen
        assert served.process.pid not in seen


@pytest.mark.parametrize(
    ("stop", "status", "closed"),
    [
        (signal.SIGKILL, -signal.SIGKILL, "1006"),  # a crash: the balancer drops the clients
        (signal.SIGTERM, 0, "1001 (server shutting down)"),  # a restart: the worker says goodbye
    ],
    ids=["kill", "term"],
)
async def test_a_stopped_workers_clients_move_to_the_others_and_nobody_else_notices(
    kind: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    stop: signal.Signals,
    status: int,
    closed: str,
) -> None:
    """One of 3 workers stops: its clients reconnect to the others; the rest keep their connections."""
    caplog.set_level(logging.INFO, logger=CLIENT_LOGGER)
    async with workers(3, tmp_path) as started, balancer(kind, [w.port for w in started]) as port:
        url = f"ws://127.0.0.1:{port}/echo"
        clients = [Client(number) for number in range(6)]
        async with trio.open_nursery() as nursery:
            with trio.fail_after(STEP):
                for client in clients:
                    await nursery.start(
                        functools.partial(
                            ws.connect_forever, client, url, backoff=QUICK, logger=client.logger
                        )
                    )
                    await client.connected(1)  # counted by the balancer before the next one
            assert collections.Counter(c.workers[0] for c in clients) == {w.pid: 2 for w in started}

            victim = next(w for w in started if w.pid == clients[0].workers[0])
            moved = [c for c in clients if c.workers[0] == victim.pid]
            stayed = [c for c in clients if c.workers[0] != victim.pid]
            survivors = {w.pid for w in started} - {victim.pid}
            with trio.fail_after(STEP):
                for client in clients:
                    await client.echo(f"before, client {client.number}")
                victim.program.signal(stop)
                assert await victim.program.process.wait() == status
                for client in moved:
                    await client.connected(2)
                for client in clients:
                    await client.echo(f"after, client {client.number}")

            for client in moved:
                assert len(client.workers) == 2, client.workers
                assert client.workers[1] in survivors, (client.workers, victim.pid)
                assert client.connection is not client.first_connection
            for client in stayed:
                # Its handler ran once, on the connection it always had.
                assert len(client.workers) == 1, client.workers
                assert client.connection is client.first_connection
                assert client.connection is not None and client.connection.closed is None
            logged = {
                client.number: [r.getMessage() for r in caplog.records if r.name == client.logger.name]
                for client in clients
            }
            for client in moved:
                assert any(
                    f"attempt 1: the connection closed with {closed}" in line
                    for line in logged[client.number]
                ), logged[client.number]
            for client in stayed:
                # Its connection opened, and nothing happened to it since.
                [line] = logged[client.number]
                assert f"connected to 127.0.0.1:{port}/echo" in line, line

            # New clients too: the balancer no longer sends anyone to the dead worker.
            with trio.fail_after(STEP):
                for number in range(4):
                    async with ws.open_websocket_url(url) as connection:
                        assert await worker_of(connection) in survivors
                        await echoes(connection, f"new client {number}")
            nursery.cancel_scope.cancel()


@needs_redis
async def test_a_room_spans_the_workers_through_redis(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the balancer, a message sent to a room on one worker reaches its members on the other."""
    async with redis_server(tmp_path) as redis:
        monkeypatch.setenv(REDIS_URL_VARIABLE, redis.url)
        async with workers(2, tmp_path) as started, balancer(kind, [w.port for w in started]) as port:
            with trio.fail_after(STEP):
                async with contextlib.AsyncExitStack() as stack:
                    await room_spans_the_workers(port, started, stack)
        for worker in started:
            assert "subscribed to Redis" in worker.program.stderr()
            assert "WARNING" not in worker.program.stderr()


async def room_spans_the_workers(
    port: int, started: Sequence[Worker], stack: contextlib.AsyncExitStack
) -> None:
    """Clients of both workers in one room: what one sends, all get; another room hears nothing."""
    members: dict[int, list[ws.WebSocketConnection]] = {w.pid: [] for w in started}
    for _ in range(4):
        connection = await stack.enter_async_context(
            ws.open_websocket_url(f"ws://127.0.0.1:{port}/rooms/lobby")
        )
        members[await worker_of(connection)].append(connection)
    assert [len(connections) for connections in members.values()] == [2, 2]
    # Another room, on either worker: it hears nothing of the lobby.
    elsewhere = await stack.enter_async_context(
        ws.open_websocket_url(f"ws://127.0.0.1:{port}/rooms/elsewhere")
    )
    await worker_of(elsewhere)

    everyone = [c for connections in members.values() for c in connections]
    for worker in started:
        # A client of this worker speaks: the members on both workers hear
        # it, those of the other worker through Redis.
        text = f"from a client of worker {worker.pid}"
        await members[worker.pid][0].send_message(text)
        for connection in everyone:
            assert await connection.get_message() == text
    await elsewhere.send_message("elsewhere")
    assert await elsewhere.get_message() == "elsewhere"


async def test_haproxy_harness_reports_a_refused_configuration() -> None:
    """running_haproxy: no {listen} is a ValueError; a config HAProxy refuses fails with its words."""
    haproxy_binary()
    with pytest.raises(ValueError, match="no address to listen on"):
        async with running_haproxy("frontend in\n    bind 127.0.0.1:1\n"):
            pass  # pragma: no cover
    with trio.fail_after(STEP), pytest.raises(AssertionError, match="no-such-keyword"):
        async with running_haproxy("frontend in\n    bind {listen}\n    no-such-keyword\n"):
            pass  # pragma: no cover
