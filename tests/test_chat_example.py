"""examples/chat/app.py, run as a program: HTTP routes, rooms, the Origin check, shutdown."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio

import ws
from tests.interop.harness import stop_process

APP = Path(__file__).resolve().parents[1] / "examples" / "chat" / "app.py"
PAGE = APP.with_name("index.html")
#: Seconds any one step may take (the program's start-up included).
STEP = 10


@attrs.define(eq=False)
class App:
    """The chat program, running, and what it printed so far."""

    process: trio.Process
    stderr_path: Path
    port: int = 0
    _stdout: bytearray = attrs.Factory(bytearray)

    @property
    def url(self) -> str:
        """The base WebSocket URL."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        """The origin of the page the program serves."""
        return f"http://127.0.0.1:{self.port}"

    async def read_line(self) -> str:
        """The next line the program prints; fails if it exits first."""
        stdout = self.process.stdout
        assert stdout is not None
        with trio.fail_after(STEP):
            while b"\n" not in self._stdout:
                chunk = await stdout.receive_some()
                if not chunk:
                    raise AssertionError(f"the app exited; stderr:\n{self.stderr()}")
                self._stdout += chunk
        line, _, rest = bytes(self._stdout).partition(b"\n")
        self._stdout[:] = rest
        return line.decode()

    async def read_rest(self) -> str:
        """Everything else it prints, until it closes its output."""
        stdout = self.process.stdout
        assert stdout is not None
        with trio.fail_after(STEP):
            while chunk := await stdout.receive_some():
                self._stdout += chunk
        return self._stdout.decode()

    def stderr(self) -> str:
        """What it wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace")


@contextlib.asynccontextmanager
async def running_app(tmp_path: Path) -> AsyncIterator[App]:
    """Start the program on 127.0.0.1 and a free port; kill it at the end if it still runs."""
    stderr_path = tmp_path / "chat.stderr"
    with stderr_path.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, str(APP), "--host", "127.0.0.1", "--port", "0", "--verbose"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    app = App(process, stderr_path)
    try:
        line = await app.read_line()
        prefix = "chat: listening on http://127.0.0.1:"
        assert line.startswith(prefix), line
        app.port = int(line.removeprefix(prefix))
        yield app
    except BaseException:
        print(f"the app's stderr:\n{app.stderr()}")  # pytest shows it on failure
        raise
    finally:
        await stop_process(process)


async def http(port: int, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send a raw HTTP/1.1 request and read the response up to the server's close."""
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(request)
            data = bytearray()
            while chunk := await stream.receive_some():
                data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    fields = {}
    for line in lines:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), fields, body


def request(method: str, path: str) -> bytes:
    """A request without a body."""
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def receive_json(connection: ws.WebSocketConnection) -> dict[str, object]:
    """The next message, a JSON object."""
    with trio.fail_after(STEP):
        message = await connection.get_message()
    assert isinstance(message, str)
    data = json.loads(message)
    assert isinstance(data, dict)
    return data


async def test_health_page_and_unknown_paths(tmp_path: Path) -> None:
    """GET /health is 200 OK, GET / is the chat page, HEAD has no body, other paths 404."""
    async with running_app(tmp_path) as app:
        status, fields, body = await http(app.port, request("GET", "/health"))
        assert (status, body) == (200, b"OK\n")
        status, fields, body = await http(app.port, request("GET", "/"))
        assert (status, body) == (200, PAGE.read_bytes())
        assert fields[b"content-type"] == b"text/html; charset=utf-8"
        status, fields, body = await http(app.port, request("HEAD", "/"))
        assert (status, fields[b"content-length"], body) == (200, str(len(PAGE.read_bytes())).encode(), b"")
        assert (await http(app.port, request("GET", "/nowhere")))[0] == 404
        assert (await http(app.port, request("GET", "/room/a/b")))[0] == 404


async def test_a_message_reaches_the_other_members_of_its_room_only(tmp_path: Path) -> None:
    """Two clients in one room get each other's messages; a client in another room does not."""
    async with running_app(tmp_path) as app, trio.open_nursery() as nursery:
        alice = await ws.connect_websocket_url(nursery, f"{app.url}/room/kitchen")
        welcome = await receive_json(alice)
        assert welcome == {"type": "welcome", "room": "kitchen", "you": "guest-1", "members": 1}
        bob = await ws.connect_websocket_url(nursery, f"{app.url}/room/kitchen")
        assert (await receive_json(bob))["you"] == "guest-2"
        assert await receive_json(alice) == {"type": "join", "who": "guest-2", "members": 2}
        carol = await ws.connect_websocket_url(nursery, f"{app.url}/room/gar%C3%A7on")
        assert await receive_json(carol) == {
            "type": "welcome", "room": "garçon", "you": "guest-3", "members": 1
        }

        await alice.send_message("hello, kitchen ✓")
        assert await receive_json(bob) == {"type": "message", "from": "guest-1", "text": "hello, kitchen ✓"}
        await bob.send_message("hi alice")
        assert await receive_json(alice) == {"type": "message", "from": "guest-2", "text": "hi alice"}
        # Carol's next message is about her own room: nothing from the kitchen came before it.
        dave = await ws.connect_websocket_url(nursery, f"{app.url}/room/gar%C3%A7on")
        assert await receive_json(carol) == {"type": "join", "who": "guest-4", "members": 2}

        await bob.aclose()
        assert await receive_json(alice) == {"type": "leave", "who": "guest-2", "members": 1}
        for connection in (alice, carol, dave):
            await connection.aclose()


async def test_binary_and_oversized_messages_close_the_connection(tmp_path: Path) -> None:
    """A binary message closes with 1003, one over 16 KiB with 1009; the room hears they left."""
    async with running_app(tmp_path) as app, trio.open_nursery() as nursery:
        stays = await ws.connect_websocket_url(nursery, f"{app.url}/room/r")
        await receive_json(stays)
        for message, code in ((b"\x00binary", 1003), ("x" * (16 * 1024 + 1), 1009)):
            leaves = await ws.connect_websocket_url(nursery, f"{app.url}/room/r")
            name = (await receive_json(leaves))["you"]
            assert (await receive_json(stays))["type"] == "join"
            await leaves.send_message(message)
            with pytest.raises(ws.ConnectionClosed) as closed, trio.fail_after(STEP):
                await leaves.get_message()
            assert closed.value.reason.code == code
            assert await receive_json(stays) == {"type": "leave", "who": name, "members": 1}
        await stays.aclose()


#: Origin headers (``{port}``: the app's) and whether the app lets them in.
ORIGINS: list[tuple[str | None, bool]] = [
    (None, True),  # not a browser
    ("http://127.0.0.1:{port}", True),  # the page the app serves
    ("http://localhost:{port}", True),  # the same page, opened as localhost
    ("http://127.0.0.1:1", False),  # another port is another origin
    ("https://127.0.0.1:{port}", False),  # another scheme too
    ("https://evil.example", False),
    ("null", False),
]


async def test_only_the_pages_own_origin_may_connect(tmp_path: Path) -> None:
    """Browsers from the served page's origin get in; other origins get 403 before the upgrade."""
    async with running_app(tmp_path) as app:
        url = f"{app.url}/room/lobby"
        for origin, allowed in ORIGINS:
            sent = None if origin is None else origin.format(port=app.port)
            with trio.fail_after(STEP):
                if allowed:
                    async with ws.open_websocket_url(url, origin=sent) as connection:
                        assert (await receive_json(connection))["type"] == "welcome", sent
                else:
                    with pytest.raises(ws.ConnectionRejected) as rejected:
                        async with ws.open_websocket_url(url, origin=sent):
                            raise AssertionError(f"{sent} was let in")
                    assert rejected.value.status_code == 403, sent


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_closes_every_client_with_1001_and_exits_0(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGTERM or SIGINT: every client sees 1001, the program says so and exits with status 0."""
    async with running_app(tmp_path) as app, trio.open_nursery() as nursery:
        clients = []
        for room in ("a", "a", "b"):
            client = await ws.connect_websocket_url(nursery, f"{app.url}/room/{room}")
            assert (await receive_json(client))["type"] == "welcome"
            clients.append(client)
        assert (await receive_json(clients[0]))["type"] == "join"  # the second client in "a"

        app.process.send_signal(signum)
        for client in clients:
            with pytest.raises(ws.ConnectionClosed) as closed, trio.fail_after(STEP):
                await client.get_message()
            assert (closed.value.reason.code, closed.value.reason.reason) == (1001, "server shutting down")
        with trio.fail_after(STEP):
            await app.process.wait()
        assert app.process.returncode == 0, app.stderr()
        assert await app.read_rest() == f"chat: {signum.name}, shutting down\nchat: stopped\n"
        assert "Traceback" not in app.stderr()
