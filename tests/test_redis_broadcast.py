"""ws.redis: rooms shared by worker processes through a real redis-server.

Each test starts its own ``redis-server`` on 127.0.0.1 (a free port, no
persistence) and kills it at the end. The end-to-end test runs two worker
processes (this file, run as a script: a ws server and a hub each) with
clients on both; the others run two hubs in the test's process, as two
workers would, with in-memory connections as the members.

The hubs' threads wait on real sockets, so these tests use Trio's real
clock, every wait bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

import ws
import ws.redis
from ws.redis import RedisBroadcaster, open_broadcast
from ws.testing import open_websocket_pair

HOST = "127.0.0.1"
REDIS_SERVER = shutil.which("redis-server") or shutil.which(
    "redis-server", path="/usr/bin:/usr/sbin"
)
HAVE_REDIS_PY = importlib.util.find_spec("redis") is not None
needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None or not HAVE_REDIS_PY,
    reason="needs redis-server and redis-py: apt-get install redis-server, or run "
    "scripts/install-peers; pip install -e '.[redis]'",
)
#: Fast reconnections for the tests, without jitter.
QUICK = ws.Backoff(initial=0.05, maximum=0.2, jitter="none")
#: A reconnection that never comes within a test.
NEVER = ws.Backoff(initial=3600.0, maximum=3600.0, jitter="none")
#: A publisher's id in a message, for messages of other programs.
ANY_ID = bytes(8)
#: The bound of every wait.
LIMIT = 10


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Output:
    """The lines a process writes to one of its pipes, and a way to wait for one."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = trio.Event()

    async def drain(self, stream: trio.abc.ReceiveStream) -> None:
        """Read ``stream`` to its end, line by line."""
        pending = b""
        async for chunk in stream:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            self.lines.extend(line.decode("utf-8", "replace") for line in complete)
            self._changed.set()
            self._changed = trio.Event()

    def count(self, text: str) -> int:
        """How many lines contain ``text``."""
        return sum(text in line for line in self.lines)

    async def wait_for(self, text: str, count: int = 1) -> None:
        """Wait until ``count`` lines contain ``text``."""
        while self.count(text) < count:
            await self._changed.wait()


class RedisServer:
    """A redis-server on 127.0.0.1 that a test can kill and start again on the same port."""

    def __init__(self, nursery: trio.Nursery, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self._nursery = nursery
        self._directory = directory
        self._process: trio.Process | None = None

    async def start(self) -> None:
        """Start it and wait until it accepts connections."""
        assert REDIS_SERVER is not None
        output = Output()
        self._process = await trio.lowlevel.open_process(
            [REDIS_SERVER, "--port", str(self.port), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--dir", str(self._directory)],
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        self._nursery.start_soon(output.drain, self._process.stdout)
        with trio.fail_after(LIMIT):
            await output.wait_for("Ready to accept connections")

    async def kill(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients) and wait until it is gone."""
        if self._process is not None:
            self._process.kill()
            with trio.CancelScope(shield=True):
                await self._process.wait()
            self._process = None


@asynccontextmanager
async def redis_server(directory: Path) -> AsyncIterator[RedisServer]:
    """A running redis-server, killed at the end."""
    async with trio.open_nursery() as nursery:
        server = RedisServer(nursery, directory)
        try:
            await server.start()
            yield server
        finally:
            await server.kill()


@contextmanager
def hub_records(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    """The records of the ws.redis logger and its children, at DEBUG and up, during the block."""
    with caplog.at_level(logging.DEBUG, logger="ws.redis"):
        records: list[logging.LogRecord] = []
        start = len(caplog.records)
        yield records
        records.extend(r for r in caplog.records[start:] if r.name.startswith("ws.redis"))


async def wait_down(hub: RedisBroadcaster) -> None:
    """Wait until the hub's subscriber has noticed that Redis is gone."""
    while hub.connected:
        await hub._changed.wait()


def hub_threads() -> list[str]:
    """The names of the threads running a hub's job now."""
    return [thread.name for thread in threading.enumerate() if "ws.redis" in thread.name]


# -- two worker processes ------------------------------------------------------------------


async def worker_main(url: str) -> None:
    """A worker: a ws server whose path is the room; each message is published to the room.

    Prints its port, logs to stderr, and stops when its stdin ends.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    async with open_broadcast(url, backoff=QUICK, log_interval=3600) as hub:

        async def handler(request: ws.WebSocketRequest) -> None:
            connection = await request.accept()
            room = connection.path.lstrip("/")
            async with hub.join(room, connection):
                await connection.send_message("joined")
                async for message in connection:
                    await hub.publish(room, message)

        async with trio.open_nursery() as nursery:
            server: ws.WebSocketServer = await nursery.start(
                ws.serve_websocket, handler, HOST, 0, None
            )
            print(server.port, flush=True)
            stdin = trio.lowlevel.FdStream(os.dup(0))
            while await stdin.receive_some():
                pass
            nursery.cancel_scope.cancel()


class Worker:
    """A worker process (this file run as a script) and what it writes."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.stdout = Output()
        self.stderr = Output()

    @property
    def port(self) -> int:
        """The port its ws server listens on."""
        return int(self.stdout.lines[0])


@asynccontextmanager
async def worker(url: str) -> AsyncIterator[Worker]:
    """A worker process connected to Redis at ``url``, stopped at the end."""
    process = await trio.lowlevel.open_process(
        [sys.executable, __file__, url],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    running = Worker(process)
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.stdout.drain, process.stdout)
            nursery.start_soon(running.stderr.drain, process.stderr)
            with trio.fail_after(LIMIT):
                await running.stdout.wait_for("")
                await running.stderr.wait_for("subscribed to Redis")
            yield running
            await process.stdin.aclose()  # the worker stops
            with trio.fail_after(LIMIT):
                assert await process.wait() == 0, running.stderr.lines
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


@asynccontextmanager
async def client(of: Worker, room: str) -> AsyncIterator[ws.WebSocketConnection]:
    """A client of a worker, in ``room`` once this has returned."""
    async with ws.open_websocket(HOST, of.port, f"/{room}", use_ssl=False) as connection:
        assert await connection.get_message() == "joined"
        yield connection


@needs_redis
async def test_two_workers_share_rooms_and_survive_a_redis_restart(tmp_path: Path) -> None:
    """A message reaches its room on both workers; only locally during an outage; both after."""
    async with redis_server(tmp_path) as redis_process:
        async with worker(redis_process.url) as a, worker(redis_process.url) as b:
            async with (
                client(a, "red") as a_red, client(b, "red") as b_red,
                client(a, "blue") as a_blue, client(b, "blue") as b_blue,
            ):
                with trio.fail_after(LIMIT):
                    await a_red.send_message("hello")
                    assert await a_red.get_message() == "hello"
                    assert await b_red.get_message() == "hello"
                    await b_red.send_message(b"\x00\xffbinary")
                    assert await b_red.get_message() == b"\x00\xffbinary"
                    assert await a_red.get_message() == b"\x00\xffbinary"
                    # Nothing of red went to blue: blue's first message is its own.
                    await a_blue.send_message("blue")
                    assert await a_blue.get_message() == "blue"
                    assert await b_blue.get_message() == "blue"

                    await redis_process.kill()
                    await a.stderr.wait_for("is unreachable")
                    await a_red.send_message("during the outage")
                    assert await a_red.get_message() == "during the outage"
                    await a.stderr.wait_for("message for the other workers was dropped")

                    await redis_process.start()
                    await a.stderr.wait_for("reconnected to Redis")
                    await b.stderr.wait_for("reconnected to Redis")
                    await a_red.send_message("after")
                    assert await a_red.get_message() == "after"
                    # The message of the outage is lost for b: "after" comes next.
                    assert await b_red.get_message() == "after"
            assert a.stderr.count("WARNING ws.redis") >= 2
            assert b.stderr.count("ERROR") == 0


# -- two hubs in one process ---------------------------------------------------------------


@needs_redis
async def test_outage_drops_with_warnings_and_local_members_still_get_messages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """publish returns False and logs (rate-limited) while Redis is down; True once it is back."""
    async with redis_server(tmp_path) as redis_process:
        async with (
            open_broadcast(
                redis_process.url, backoff=QUICK, log_interval=3600,
                logger=logging.getLogger("ws.redis.a"),
            ) as a,
            open_broadcast(redis_process.url, backoff=QUICK) as b,
            open_websocket_pair() as (a_client, a_member),
            open_websocket_pair() as (b_client, b_member),
            a.join("room", a_member),
            b.join("room", b_member),
        ):
            assert a.connected and b.connected
            with trio.fail_after(LIMIT):
                assert await a.publish("room", "one") is True
                assert await b.publish("room", "two") is True
                # a's own message once (directly, its echo skipped), then b's.
                assert [await a_client.get_message(), await a_client.get_message()] == [
                    "one", "two"
                ]
                # b delivers its own message directly, maybe before a's reaches it
                # through Redis: the order across publishers may differ per worker.
                assert {await b_client.get_message(), await b_client.get_message()} == {
                    "one", "two"
                }

                with hub_records(caplog) as records:
                    await redis_process.kill()
                    await wait_down(a)
                    assert await a.publish("room", "lost 1") is False
                    assert await a.publish("room", b"lost 2") is False
                    assert await a_client.get_message() == "lost 1"
                    assert await a_client.get_message() == b"lost 2"
                warnings = [
                    r.getMessage() for r in records
                    if r.levelno == logging.WARNING and r.name == "ws.redis.a"
                ]
                assert sum("is unreachable (" in text for text in warnings) == 1
                # Two drops, one line: the second waits for log_interval.
                assert sum("was dropped" in text for text in warnings) == 1

                await redis_process.start()
                await a.wait_connected()
                await b.wait_connected()
                assert await a.publish("room", "back") is True
                assert await a_client.get_message() == "back"
                assert await b_client.get_message() == "back"
    assert hub_threads() == []


@needs_redis
@pytest.mark.parametrize("redis_up", [True, False], ids=["redis-up", "redis-down"])
async def test_close_is_prompt_and_leaves_no_thread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, redis_up: bool
) -> None:
    """Closing stops the subscriber thread, also mid-backoff; opening with Redis down works."""
    async with redis_server(tmp_path) as redis_process:
        if not redis_up:
            await redis_process.kill()
        with hub_records(caplog) as records, trio.fail_after(LIMIT):
            async with open_broadcast(redis_process.url, backoff=NEVER) as hub:
                assert hub.connected is redis_up
                assert hub_threads() == ["ws.redis subscriber"]
                # A publish still serves the local members without Redis.
                assert await hub.publish("room", "x") is redis_up
        # The backoff (an hour) was cut short: the hub closed within LIMIT.
        assert hub_threads() == []
        with pytest.raises(trio.ClosedResourceError):
            await hub.publish("room", "late")
    if not redis_up:
        assert any("is unreachable" in r.getMessage() for r in records)


@needs_redis
async def test_subscribe_follows_a_source_and_leaving_stops_delivery(tmp_path: Path) -> None:
    """subscribe() reads its source per message; after its block ends the room is gone."""
    async with redis_server(tmp_path) as redis_process:
        async with (
            open_broadcast(redis_process.url) as a,
            open_broadcast(redis_process.url) as b,
            open_websocket_pair() as (client_1, member_1),
            open_websocket_pair() as (client_2, member_2),
        ):
            members = [member_1]
            with trio.fail_after(LIMIT):
                async with a.subscribe("all", lambda: members):
                    await b.publish("all", "first")
                    assert await client_1.get_message() == "first"
                    members.append(member_2)
                    await b.publish("all", "second")
                    assert await client_1.get_message() == "second"
                    assert await client_2.get_message() == "second"
                assert a._rooms == {}
                async with a.join("other", member_1):
                    # "all" has no member here now: member_1 next gets "other".
                    await b.publish("all", "unheard")
                    await b.publish("other", "other")
                    assert await client_1.get_message() == "other"
                assert a._rooms == {}


@needs_redis
async def test_foreign_publishers_and_malformed_messages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Other programs can publish in the documented format; other payloads are dropped, logged."""
    import redis

    async with redis_server(tmp_path) as redis_process:
        raw = redis.Redis.from_url(redis_process.url)
        try:
            async with (
                open_broadcast(redis_process.url, channel_prefix="app[1]*:") as hub,
                open_websocket_pair() as (client_side, member),
                hub.join("room", member),
            ):
                with hub_records(caplog) as records:
                    with trio.fail_after(LIMIT):
                        for channel, payload in [
                            ("app[1]*:room", b"x" + ANY_ID + b"bad type"),
                            ("app[1]*:room", b"t12"),
                            ("app[1]*:room", b"t" + ANY_ID + b"\xff"),
                            # The prefix is escaped in the pattern: not a channel of
                            # ours, though app[1]*:* unescaped matches it (room "room").
                            ("app1xyz:room", b"t" + ANY_ID + b"no"),
                            ("app[1]*:room", b"t" + ANY_ID + b"text"),
                            ("app[1]*:room", b"b" + ANY_ID + b"\x01"),
                        ]:
                            await trio.to_thread.run_sync(raw.publish, channel, payload)
                        assert await client_side.get_message() == "text"
                        assert await client_side.get_message() == b"\x01"
                warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
                # Three bad messages, one line (the rest wait for log_interval).
                assert len(warnings) == 1 and "unknown format" in warnings[0]
        finally:
            raw.close()


# -- without Redis -------------------------------------------------------------------------


@pytest.mark.skipif(not HAVE_REDIS_PY, reason="needs redis-py: pip install -e '.[redis]'")
async def test_arguments_are_checked(caplog: pytest.LogCaptureFixture) -> None:
    """Wrong arguments raise at once; a hub works (locally) with nothing listening on its port."""
    url = f"redis://{HOST}:{free_port()}/0"
    for kwargs, error in [
        ({"timeout": -1.0}, ValueError),
        ({"on_slow": "drop"}, ValueError),
        ({"queue_size": 0}, ValueError),
        ({"redis_timeout": 0.0}, ValueError),
        ({"log_interval": float("nan")}, ValueError),
        ({"channel_prefix": b"ws:"}, TypeError),
    ]:
        with pytest.raises(error):
            async with open_broadcast(url, **kwargs):  # type: ignore[arg-type]
                pass  # pragma: no cover
    with pytest.raises(ValueError):
        async with open_broadcast("http://example.invalid/"):
            pass  # pragma: no cover
    with hub_records(caplog), trio.fail_after(LIMIT):
        async with open_broadcast(url, backoff=NEVER) as hub, open_websocket_pair() as (c, s):
            assert not hub.connected
            assert hub.channel_prefix == "ws:"
            with pytest.raises(TypeError):
                await hub.publish(b"room", "x")  # type: ignore[arg-type]
            with pytest.raises(ws.MessageTypeError):
                await hub.publish("room", 42)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                async with hub.join(1, s):  # type: ignore[arg-type]
                    pass  # pragma: no cover
            async with hub.join("room", s):
                assert await hub.publish("room", bytearray(b"local")) is False
                assert await c.get_message() == b"local"


async def test_without_redis_py_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """open_broadcast raises ImportError naming the extra; importing ws.redis needs no redis-py."""
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"trio-ws\[redis\]"):
        async with open_broadcast():
            pass  # pragma: no cover
    code = "import sys; sys.modules['redis'] = None; import ws, ws.redis; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_logs_name_the_server_without_its_password() -> None:
    """The URL in the logs drops the credentials."""
    where = ws.redis._where("redis://user:secret@cache.internal:6380/2?ssl_cert_reqs=none")
    assert where == "redis://cache.internal:6380/2"
    assert ws.redis._where("redis://[::1]:6379/0") == "redis://[::1]:6379/0"
    assert ws.redis._escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"


async def test_dropped_message_warnings_are_rate_limited(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """One line per interval, with the count held back; after reset() the next logs at once."""
    throttle = ws.redis._Throttle(logging.getLogger("ws.redis"), 60.0)
    with hub_records(caplog) as records:
        throttle.warn("dropped %s", "a")
        throttle.warn("dropped %s", "b")
        throttle.warn("dropped %s", "c")
        autojump_clock.jump(60.0)
        throttle.warn("dropped %s", "d")
        throttle.reset()
        throttle.warn("dropped %s", "e")
    assert [r.getMessage() for r in records] == [
        "dropped a",
        "dropped d (and 2 more since the last report)",
        "dropped e",
    ]


if __name__ == "__main__":
    trio.run(worker_main, sys.argv[1])
