"""ws.sync.connect against real servers: ws's own, websockets' asyncio one and node's ws.

Each server runs outside the test's thread (a thread with its own event
loop, or a node process), answers the same text commands and echoes every
other message back; it reports each close it sees (the code and reason of
the client's close frame) on a queue. The Ctrl-C, interpreter-exit and fork
tests run the client in a subprocess. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import queue
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

import attrs
import pytest
import trio

import ws
import ws.sync
from tests.proxies import running_tinyproxy
from ws.sync._runtime import runtime

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_WS = REPO_ROOT / ".peers" / "node" / "node_modules" / "ws"
#: Seconds any one step may take (connecting, a reply, a close report).
STEP = 10.0
SUBPROTOCOL = "chat"

Report = dict[str, object]


# -- the peers ---------------------------------------------------------------------
#
# Commands (text messages; every other message is echoed back as it came):
#   "!close CODE REASON"   close with CODE and REASON
#   "!send-close N CODE"   send "0" .. "N-1", then close with CODE, reason "bye"
#   "!trickle N"           send "0" .. "N-1", a few milliseconds apart
#   "!info"                answer with JSON: headers, path, subprotocol, deflate
#   "!pieces"              answer with the number of frames of the last echoed message
#                          (ws and websockets only)


@attrs.define(eq=False)
class Peer:
    """A running echo server: its URL, and the closes it reports."""

    name: str
    url: str
    _reports: queue.Queue[Report]

    def next_close(self) -> tuple[int, str]:
        """The (code, reason) of the next close frame the server received (1006: none)."""
        try:
            report = self._reports.get(timeout=STEP)
        except queue.Empty:
            raise AssertionError(f"the {self.name} server reported no close within {STEP}s") from None
        code, reason = report["code"], report["reason"]
        assert isinstance(code, int) and isinstance(reason, str), report
        return code, reason

    def url_for(self, resource: str) -> str:
        """The URL of ``resource`` (e.g. ``"/chat?room=1"``) on this server."""
        return self.url.rstrip("/") + resource


def _closed(code: int | None, reason: str | None) -> Report:
    return {"event": "closed", "code": 1006 if code is None else code, "reason": reason or ""}


def _joined(pieces: list[str | bytes]) -> str | bytes:
    if pieces and isinstance(pieces[0], str):
        return "".join(piece for piece in pieces if isinstance(piece, str))
    return b"".join(piece for piece in pieces if isinstance(piece, bytes))


async def _ws_handler(reports: queue.Queue[Report], request: ws.WebSocketRequest) -> None:
    if request.path.startswith("/reject"):
        await request.reject(403, body=b"not here")
        return
    conn = await request.accept(
        subprotocol=SUBPROTOCOL if SUBPROTOCOL in request.proposed_subprotocols else None
    )
    info = {
        "headers": {name.decode(): value.decode() for name, value in request.headers},
        "path": request.path,
        "subprotocol": conn.subprotocol,
        "deflate": any(extension.name == "permessage-deflate" for extension in conn.extensions),
    }
    pieces_of_last = 0
    try:
        while True:
            pieces = [piece async for piece in conn.get_message_fragments()]
            message = _joined(pieces)
            if isinstance(message, str) and message.startswith("!"):
                command, *args = message.split(" ")
                if command == "!close":
                    await conn.aclose(int(args[0]), " ".join(args[1:]) or None)
                elif command == "!send-close":
                    for i in range(int(args[0])):
                        await conn.send_message(str(i))
                    await conn.aclose(int(args[1]), "bye")
                elif command == "!trickle":
                    for i in range(int(args[0])):
                        await trio.sleep(0.002)
                        await conn.send_message(str(i))
                elif command == "!info":
                    await conn.send_message(json.dumps(info))
                elif command == "!pieces":
                    await conn.send_message(str(pieces_of_last))
                else:
                    await conn.send_message(message)
                continue
            pieces_of_last = len(pieces)
            await conn.send_message(message)
    except ws.ConnectionClosed as exc:
        rcvd = exc.rcvd
        reports.put(_closed(None, None) if rcvd is None else _closed(rcvd.code, rcvd.reason))


@contextlib.contextmanager
def _trio_server_thread(serve: Callable[[trio.Nursery], Awaitable[str]]) -> Iterator[str]:
    """Run ``serve`` (which starts a server and returns its URL) in a thread of its own."""
    started: queue.Queue[tuple[str, trio.lowlevel.TrioToken, trio.CancelScope] | BaseException] = (
        queue.Queue()
    )

    async def main() -> None:
        try:
            async with trio.open_nursery() as nursery:
                url = await serve(nursery)
                started.put((url, trio.lowlevel.current_trio_token(), nursery.cancel_scope))
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            started.put(exc)

    thread = threading.Thread(target=trio.run, args=(main,), name="test server")
    thread.start()
    try:
        outcome = started.get(timeout=STEP)
        if isinstance(outcome, BaseException):
            raise outcome
        url, token, scope = outcome
        try:
            yield url
        finally:
            token.run_sync_soon(scope.cancel)
    finally:
        thread.join(STEP)
        assert not thread.is_alive(), "the test server did not stop"


@contextlib.contextmanager
def ws_peer(*, unix_path: str | None = None) -> Iterator[Peer]:
    """A ws server (``serve_websocket``, or ``serve_websocket_unix`` on ``unix_path``)."""
    reports: queue.Queue[Report] = queue.Queue()
    handler = partial(_ws_handler, reports)

    async def serve(nursery: trio.Nursery) -> str:
        if unix_path is not None:
            await nursery.start(partial(ws.serve_websocket_unix, handler, unix_path))
            return "ws://localhost/"
        server: ws.WebSocketServer = await nursery.start(
            partial(ws.serve_websocket, handler, "127.0.0.1", 0, None, disconnect_timeout=STEP)
        )
        return f"ws://127.0.0.1:{server.port}/"

    with _trio_server_thread(serve) as url:
        yield Peer("ws", url, reports)


@contextlib.contextmanager
def websockets_peer() -> Iterator[Peer]:
    """websockets' asyncio server, in a thread running its own event loop."""
    pytest.importorskip("websockets.asyncio.server", reason="websockets is missing: run scripts/install-peers")
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Subprotocol

    reports: queue.Queue[Report] = queue.Queue()
    started: queue.Queue[tuple[int, asyncio.AbstractEventLoop, asyncio.Event] | BaseException] = (
        queue.Queue()
    )

    async def handler(conn: ServerConnection) -> None:
        request = conn.request
        assert request is not None
        info = {
            "headers": {name.lower(): value for name, value in request.headers.raw_items()},
            "path": request.path,
            "subprotocol": conn.subprotocol,
            "deflate": "permessage-deflate" in (conn.response.headers.get("Sec-WebSocket-Extensions", "") if conn.response else ""),
        }
        pieces_of_last = 0
        try:
            while True:
                pieces = [piece async for piece in conn.recv_streaming()]
                message = _joined(pieces)
                if isinstance(message, str) and message.startswith("!"):
                    command, *args = message.split(" ")
                    if command == "!close":
                        await conn.close(int(args[0]), " ".join(args[1:]))
                    elif command == "!send-close":
                        for i in range(int(args[0])):
                            await conn.send(str(i))
                        await conn.close(int(args[1]), "bye")
                    elif command == "!trickle":
                        for i in range(int(args[0])):
                            await asyncio.sleep(0.002)
                            await conn.send(str(i))
                    elif command == "!info":
                        await conn.send(json.dumps(info))
                    elif command == "!pieces":
                        await conn.send(str(pieces_of_last))
                    else:
                        await conn.send(message)
                    continue
                pieces_of_last = len(pieces)
                await conn.send(message)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            reports.put(_closed(None, None) if rcvd is None else _closed(rcvd.code, rcvd.reason))

    def select_subprotocol(conn: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None

    async def main() -> None:
        try:
            stop = asyncio.Event()
            async with serve(
                handler,
                "127.0.0.1",
                0,
                select_subprotocol=select_subprotocol,
                max_size=2**22,
                ping_interval=None,
            ) as server:
                port = next(iter(server.sockets)).getsockname()[1]
                started.put((port, asyncio.get_running_loop(), stop))
                await stop.wait()
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            started.put(exc)

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="test websockets server")
    thread.start()
    try:
        outcome = started.get(timeout=STEP)
        if isinstance(outcome, BaseException):
            raise outcome
        port, loop, stop = outcome
        try:
            yield Peer("websockets", f"ws://127.0.0.1:{port}/", reports)
        finally:
            loop.call_soon_threadsafe(stop.set)
    finally:
        thread.join(STEP)
        assert not thread.is_alive(), "the websockets server did not stop"


NODE_SERVER = r"""
'use strict';
const WebSocket = require(process.argv[2]);
const report = (data) => process.stdout.write(JSON.stringify(data) + '\n');
const wss = new WebSocket.WebSocketServer({
  host: '127.0.0.1', port: 0, perMessageDeflate: true, maxPayload: 4 * 1024 * 1024,
  handleProtocols: (offered) => (offered.has('chat') ? 'chat' : false),
});
wss.on('listening', () => report({ event: 'listening', port: wss.address().port }));
wss.on('connection', (ws, req) => {
  ws.on('error', (err) => process.stderr.write(`connection error: ${err.stack || err}\n`));
  ws.on('message', (data, isBinary) => {
    if (isBinary) { ws.send(data, { binary: true }); return; }
    const text = data.toString('utf8');
    const [command, ...args] = text.split(' ');
    if (command === '!close') {
      ws.close(Number(args[0]), args.slice(1).join(' '));
    } else if (command === '!send-close') {
      for (let i = 0; i < Number(args[0]); i++) ws.send(String(i));
      ws.close(Number(args[1]), 'bye');
    } else if (command === '!info') {
      ws.send(JSON.stringify({
        headers: req.headers, path: req.url, subprotocol: ws.protocol || null,
        deflate: ws.extensions.includes('permessage-deflate'),
      }));
    } else {
      ws.send(text);
    }
  });
  ws.on('close', (code, reason) => report({ event: 'closed', code, reason: reason.toString('utf8') }));
});
"""


@contextlib.contextmanager
def node_peer(tmp_path: Path) -> Iterator[Peer]:
    """node's ws server, in a process of its own."""
    node = shutil.which("node")
    if node is None or not (NODE_WS / "package.json").exists():
        pytest.skip("node or node's ws package is missing: install Node.js, then run scripts/install-peers")
    script = tmp_path / "sync_peer.js"
    script.write_text(NODE_SERVER)
    reports: queue.Queue[Report] = queue.Queue()
    with subprocess.Popen(
        [node, str(script), str(NODE_WS)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        stdout = process.stdout

        def read() -> None:
            for line in stdout:
                reports.put(json.loads(line))

        reader = threading.Thread(target=read, name="node reader")
        reader.start()
        try:
            listening = reports.get(timeout=STEP)
            assert listening.get("event") == "listening", listening
            yield Peer("node", f"ws://127.0.0.1:{listening['port']}/", reports)
        finally:
            process.kill()
            process.wait(STEP)
            reader.join(STEP)


@pytest.fixture(params=["ws", "websockets", "node"])
def peer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Peer]:
    """Each kind of server in turn."""
    name = request.param
    with ws_peer() if name == "ws" else websockets_peer() if name == "websockets" else node_peer(
        tmp_path
    ) as running:
        yield running


@pytest.fixture
def ours() -> Iterator[Peer]:
    """A ws server, for the tests that need its extra commands."""
    with ws_peer() as running:
        yield running


def connect(url: str, **settings: object) -> ws.sync.ClientConnection:
    """``ws.sync.connect`` with the test's bounds on connecting and closing."""
    return ws.sync.connect(url, connect_timeout=STEP, disconnect_timeout=STEP, **settings)  # type: ignore[arg-type]


def closed(conn: ws.sync.Connection) -> ws.CloseReason | None:
    """``conn.closed``, read anew (a call: type checkers keep no narrowing of it)."""
    return conn.closed


def background_thread() -> threading.Thread | None:
    """``runtime.thread``, read anew."""
    return runtime.thread


@contextlib.contextmanager
def watchdog(conn: ws.sync.Connection) -> Iterator[None]:
    """Close ``conn`` with 4999 if the block runs longer than a step (so a blocked loop ends, and fails)."""
    timer = threading.Timer(STEP, conn.close, args=(4999, "watchdog"))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join(STEP)


# -- messages, closes, attributes: against every peer -------------------------------


def test_send_and_recv_text_and_binary(peer: Peer) -> None:
    """Text comes back as str, and bytes, bytearray and memoryview as bytes."""
    with connect(peer.url) as conn:
        conn.send("héllo ✓")
        assert conn.recv(timeout=STEP) == "héllo ✓"
        conn.send(b"\x00\xff" * 1000)
        assert conn.recv(timeout=STEP) == b"\x00\xff" * 1000
        conn.send(bytearray(b"array"))
        assert conn.recv(timeout=STEP) == b"array"
        conn.send(memoryview(b"view"))
        assert conn.recv(timeout=STEP) == b"view"
    assert peer.next_close() == (1000, "")


def test_iteration_ends_on_a_normal_close(peer: Peer) -> None:
    """``for message in conn`` yields every message, then ends when the peer closes with 1000."""
    with connect(peer.url) as conn, watchdog(conn):
        conn.send("!send-close 3 1000")
        assert list(conn) == ["0", "1", "2"]
        assert conn.closed is not None and conn.closed.code == 1000
        with pytest.raises(ws.ConnectionClosedOK):
            conn.recv(timeout=STEP)
    assert peer.next_close() == (1000, "bye")


def test_iteration_raises_on_1011(peer: Peer) -> None:
    """A close with 1011 ends the iteration with ConnectionClosedError, after the messages before it."""
    received: list[str | bytes] = []
    with connect(peer.url) as conn, watchdog(conn):
        conn.send("!send-close 2 1011")
        with pytest.raises(ws.ConnectionClosedError) as info:
            for message in conn:
                received.append(message)
        assert info.value.reason.code == 1011
        assert info.value.reason.reason == "bye"
    assert received == ["0", "1"]
    assert peer.next_close() == (1011, "bye")


def test_ping_returns_once_the_pong_came(peer: Peer) -> None:
    """ping() returns against a peer that answers (see the silent peer for one that does not)."""
    with connect(peer.url) as conn:
        conn.ping()
        conn.ping(b"payload", timeout=STEP)
        conn.send("after")
        assert conn.recv(timeout=STEP) == "after"


def test_close_code_and_reason_reach_the_peer(peer: Peer) -> None:
    """close(code, reason) sends that close frame, and closed tells it afterwards."""
    conn = connect(peer.url)
    assert closed(conn) is None
    conn.close(4005, "done ✓")
    assert conn.closed is not None
    assert (conn.closed.code, conn.closed.reason) == (4005, "done ✓")
    assert peer.next_close() == (4005, "done ✓")
    conn.close()  # again: nothing happens
    with pytest.raises(ws.ConnectionClosed):
        conn.send("too late")
    with pytest.raises(ws.ConnectionClosed):
        conn.recv(timeout=STEP)
    assert not runtime.running


def test_context_manager_closes_with_1000_or_1001(peer: Peer) -> None:
    """The with block closes with 1000, also on an error, and with 1001 on KeyboardInterrupt."""
    with connect(peer.url) as conn:
        assert closed(conn) is None
    assert conn.closed is not None
    assert peer.next_close() == (1000, "")
    with pytest.raises(ZeroDivisionError), connect(peer.url):
        1 / 0  # noqa: B018
    assert peer.next_close() == (1000, "")
    with pytest.raises(KeyboardInterrupt), connect(peer.url):
        raise KeyboardInterrupt
    assert peer.next_close() == (1001, "")


def test_attributes(peer: Peer) -> None:
    """subprotocol, local, remote, path and closed are those of the connection."""
    with connect(peer.url_for("/chat?room=1"), subprotocols=["superchat", SUBPROTOCOL]) as conn:
        assert conn.subprotocol == SUBPROTOCOL
        assert isinstance(conn.local, ws.Endpoint) and isinstance(conn.remote, ws.Endpoint)
        assert str(conn.remote.address) == str(conn.local.address) == "127.0.0.1"
        assert f":{conn.remote.port}/" in peer.url
        assert conn.path == "/chat?room=1"
        assert closed(conn) is None
        conn.send("!info")
        info = json.loads(conn.recv(timeout=STEP))
        assert info["path"] == "/chat?room=1"
        assert info["subprotocol"] == SUBPROTOCOL
        assert repr(conn) == f"<ClientConnection {conn.id} open>"
    assert repr(conn) == f"<ClientConnection {conn.id} closed>"
    with connect(peer.url) as conn:
        assert conn.subprotocol is None


@pytest.mark.parametrize("compression", ["deflate", None])
def test_compression_is_negotiated_or_not(peer: Peer, compression: str | None) -> None:
    """compression= is passed on: permessage-deflate is agreed on by default, and not with None."""
    with connect(peer.url, compression=compression) as conn:
        conn.send("!info")
        info = json.loads(conn.recv(timeout=STEP))
        names = [extension.name for extension in conn.connection.extensions]
        assert info["deflate"] is (compression is not None)
        assert names == (["permessage-deflate"] if compression else [])
        text = "compressible " * 1000
        conn.send(text)
        assert conn.recv(timeout=STEP) == text


def test_extra_headers_and_origin_reach_the_server(peer: Peer) -> None:
    """extra_headers= and origin= are sent with the opening handshake."""
    with connect(peer.url, extra_headers=[("X-Sync-Test", "yes")], origin="http://origin.example") as conn:
        conn.send("!info")
        headers = json.loads(conn.recv(timeout=STEP))["headers"]
    assert headers["x-sync-test"] == "yes"
    assert headers["origin"] == "http://origin.example"


# -- receiving with a timeout ---------------------------------------------------------


def test_recv_timeout_raises_and_loses_nothing(ours: Peer) -> None:
    """recv(timeout=...) raises TimeoutError; the connection stays open and the next message arrives."""
    with connect(ours.url) as conn:
        with pytest.raises(TimeoutError):
            conn.recv(timeout=0.1)
        with pytest.raises(TimeoutError):
            conn.recv(timeout=0)
        assert closed(conn) is None
        conn.send("later")
        assert conn.recv(timeout=STEP) == "later"


def test_messages_racing_recv_timeouts_all_arrive_in_order(ours: Peer) -> None:
    """Messages that arrive while recv() calls keep timing out are all received, in order."""
    received: list[str | bytes] = []
    timeouts = 0
    deadline = time.monotonic() + STEP
    with connect(ours.url) as conn:
        conn.send("!trickle 200")
        while len(received) < 200 and time.monotonic() < deadline:
            try:
                received.append(conn.recv(timeout=0.0005))
            except TimeoutError:
                timeouts += 1
    assert received == [str(i) for i in range(200)]
    assert timeouts > 0  # the race happened: some calls gave up while messages were on the way


# -- threads ------------------------------------------------------------------------


def _payload(sender: int, seq: int) -> bytes:
    size = 100_000 if seq % 50 == 0 else 64 + seq % 200
    return f"{sender}:{seq}:".encode() + random.Random(sender * 100_000 + seq).randbytes(size)


def _run_threads(targets: list[Callable[[], None]]) -> None:
    """Run each target in a thread; re-raise the first failure; bounded."""
    errors: list[BaseException] = []

    def run(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3 * STEP)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    if errors:
        raise errors[0]


def test_one_thread_receives_while_another_sends(ours: Peer) -> None:
    """1,000 messages sent by one thread come back, in order, to a thread that receives meanwhile."""
    received: list[str | bytes] = []
    with connect(ours.url) as conn:

        def receive() -> None:
            for _ in range(1000):
                received.append(conn.recv(timeout=STEP))

        def send() -> None:
            for seq in range(1000):
                conn.send(_payload(0, seq) if seq % 2 else f"text {seq}")

        _run_threads([receive, send])
    assert received == [_payload(0, seq) if seq % 2 else f"text {seq}" for seq in range(1000)]


def test_threads_sending_at_once_each_get_every_message_through_intact(ours: Peer) -> None:
    """Four threads send 250 messages each on one connection: every message arrives whole, in its thread's order."""
    received: list[str | bytes] = []
    with connect(ours.url) as conn:

        def receive() -> None:
            for _ in range(1000):
                received.append(conn.recv(timeout=STEP))

        def sender(number: int) -> Callable[[], None]:
            def send() -> None:
                for seq in range(250):
                    conn.send(_payload(number, seq))

            return send

        _run_threads([receive, *(sender(number) for number in range(4))])
    order: dict[int, list[int]] = {number: [] for number in range(4)}
    for message in received:
        assert isinstance(message, bytes)
        number, seq, _ = message.split(b":", 2)
        assert message == _payload(int(number), int(seq))
        order[int(number)].append(int(seq))
    assert order == {number: list(range(250)) for number in range(4)}


# -- fragments -------------------------------------------------------------------------


@pytest.mark.parametrize("peer_name", ["ws", "websockets"])
def test_send_iterable_sends_one_fragmented_message(peer_name: str) -> None:
    """send(iterable) sends one message, a frame per piece, after the messages sent before it."""
    with (ws_peer() if peer_name == "ws" else websockets_peer()) as peer, connect(peer.url) as conn:
        conn.send("first")
        assert conn.recv(timeout=STEP) == "first"
        conn.send(piece for piece in ["ab", "cd", "ef"])
        assert conn.recv(timeout=STEP) == "abcdef"
        conn.send("!pieces")
        assert conn.recv(timeout=STEP) == "4"
        conn.send("before")
        conn.send(piece for piece in ["ab", "cd", "ef"])
        conn.send("after")
        assert [conn.recv(timeout=STEP) for _ in range(3)] == ["before", "abcdef", "after"]
        conn.send([b"\x01", b"\x02\x03"])
        assert conn.recv(timeout=STEP) == b"\x01\x02\x03"
        # A frame per piece, and an empty last one (the end is known only after the last piece).
        conn.send("!pieces")
        assert conn.recv(timeout=STEP) == "3"


# -- peers that misbehave, and connecting errors --------------------------------------


@attrs.define(eq=False)
class SilentPeer:
    """A raw TCP server that completes one opening handshake and then never writes again."""

    sock: socket.socket
    thread: threading.Thread | None = None
    stop: threading.Event = attrs.Factory(threading.Event)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.sock.getsockname()[1]}/"

    def run(self) -> None:
        self.sock.settimeout(STEP)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(0.05)
            request = b""
            while b"\r\n\r\n" not in request and not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            while not self.stop.is_set():  # read and ignore everything, until the end
                try:
                    if not conn.recv(65536):
                        break
                except TimeoutError:
                    continue


@contextlib.contextmanager
def silent_peer() -> Iterator[SilentPeer]:
    """A :class:`SilentPeer` on 127.0.0.1, in a thread."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        peer = SilentPeer(sock)
        peer.thread = threading.Thread(target=peer.run, name="silent peer")
        peer.thread.start()
        try:
            yield peer
        finally:
            peer.stop.set()
            peer.thread.join(STEP)


def test_ping_timeout_against_a_peer_that_never_answers() -> None:
    """ping(timeout=...) raises TimeoutError when no pong comes; close() then times out as the async API does."""
    with silent_peer() as peer:
        conn = ws.sync.connect(peer.url, connect_timeout=STEP, disconnect_timeout=0.2)
        with pytest.raises(TimeoutError):
            conn.ping(timeout=0.2)
        assert closed(conn) is None  # still open
        conn.send("still writable")
        with pytest.raises(ws.DisconnectionTimeout):
            conn.close()
        assert conn.closed is not None
    assert not runtime.running


def test_connect_errors_are_those_of_the_async_api(ours: Peer) -> None:
    """Refused, rejected, timed out and invalid: the async API's exceptions, and no thread left."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ws.ConnectFailed, match="could not connect to 127.0.0.1"):
        connect(f"ws://127.0.0.1:{port}/")
    assert not runtime.running
    with pytest.raises(ws.ConnectionRejected) as rejected:
        connect(ours.url_for("/reject"))
    assert rejected.value.status_code == 403
    assert rejected.value.body == b"not here"
    assert not runtime.running
    with socket.create_server(("127.0.0.1", 0)) as mute, pytest.raises(ws.ConnectionTimeout):
        ws.sync.connect(f"ws://127.0.0.1:{mute.getsockname()[1]}/", connect_timeout=0.2)
    assert not runtime.running
    with pytest.raises(ValueError, match="ws://, wss:// or ws\\+unix://"):
        ws.sync.connect("http://127.0.0.1/")
    with pytest.raises(TypeError, match="connect\\(\\) got unexpected keyword argument"):
        ws.sync.connect(ours.url, bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="connect\\(\\) got options= and also ping_interval"):
        ws.sync.connect(ours.url, options=ws.ClientOptions(), ping_interval=None)
    assert not runtime.running


# -- proxy and Unix sockets ------------------------------------------------------------


async def in_a_thread(fn: Callable[[str], None], argument: str) -> None:
    """``fn(argument)`` in a thread of its own, joined (Trio's thread cache would outlive the test)."""
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()
    failed: list[BaseException] = []

    def target() -> None:
        try:
            fn(argument)
        except BaseException as exc:  # raised in the test below
            failed.append(exc)
        finally:
            token.run_sync_soon(done.set)

    thread = threading.Thread(target=target)
    thread.start()
    await done.wait()
    thread.join()
    if failed:
        raise failed[0]


async def test_through_tinyproxy(ours: Peer) -> None:
    """proxy= takes the connection through an HTTP CONNECT proxy (tinyproxy)."""

    def converse(proxy_url: str) -> None:
        with connect(ours.url, proxy=proxy_url) as conn:
            conn.send("via the proxy")
            assert conn.recv(timeout=STEP) == "via the proxy"

    with trio.fail_after(3 * STEP):
        async with running_tinyproxy() as proxy:
            await in_a_thread(converse, proxy.url)
            assert "CONNECT" in proxy.log()
    assert ours.next_close() == (1000, "")


def test_unix_connect(tmp_path: Path) -> None:
    """unix_connect(path, url) reaches a server on a Unix socket, asking for url's resource."""
    path = str(tmp_path / "sync.sock")
    with ws_peer(unix_path=path) as peer:
        with ws.sync.unix_connect(
            path, "ws://ignored.example/room?x=1", connect_timeout=STEP
        ) as conn:
            conn.send("!info")
            info = json.loads(conn.recv(timeout=STEP))
            assert info["path"] == "/room?x=1"
            assert info["headers"]["host"] == "localhost"
            assert conn.remote == path
        # While the server still runs: it reports the close once its handler saw it.
        assert peer.next_close() == (1000, "")
    with pytest.raises(ValueError, match="TLS over a Unix socket"):
        ws.sync.unix_connect(path, "wss://localhost/")
    with pytest.raises(ws.ConnectFailed):
        ws.sync.unix_connect(str(tmp_path / "nobody.sock"))
    assert not runtime.running


# -- the background thread -----------------------------------------------------------


def test_connections_share_one_thread_that_stops_after_the_last(ours: Peer) -> None:
    """Two connections use the same thread; it runs until the second closes; the next connect starts another."""
    assert background_thread() is None
    first = connect(ours.url)
    thread = runtime.thread
    assert thread is not None and thread.is_alive() and thread.name == "ws.sync"
    second = connect(ours.url)
    assert background_thread() is thread
    first.close()
    assert background_thread() is thread and thread.is_alive()
    second.send("still here")
    assert second.recv(timeout=STEP) == "still here"
    second.close()
    assert background_thread() is None and not thread.is_alive()
    with connect(ours.url) as third:
        assert runtime.thread is not None and runtime.thread is not thread
        third.send("fresh")
        assert third.recv(timeout=STEP) == "fresh"
    assert background_thread() is None


def test_a_host_name_is_resolved_without_leaving_a_thread(ours: Peer) -> None:
    """ws://localhost:PORT/: the lookup runs in a thread that ends with it (not Trio's cache).

    The autouse fixture fails the test if any thread the test started is
    still alive after it.
    """
    url = ours.url.replace("127.0.0.1", "localhost")
    assert "localhost" in url
    threads_before = set(threading.enumerate())
    with connect(url) as conn:
        conn.send("by name")
        assert conn.recv(timeout=STEP) == "by name"
        extra = {thread.name for thread in set(threading.enumerate()) - threads_before}
        assert not any(name.startswith("Trio thread") for name in extra), extra
    assert ours.next_close() == (1000, "")


# -- in a subprocess: Ctrl-C, interpreter exit, fork -------------------------------------

#: Prints "blocked" once the main thread waits inside recv(), then lets it wait.
BLOCKED_IN_RECV = """
import sys, threading, time
import ws.sync

def report_when_blocked(main_id):
    for _ in range(2000):
        frame = sys._current_frames().get(main_id)
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        if names and names[0] == "wait" and "recv" in names:
            print("blocked", flush=True)
            return
        time.sleep(0.005)
    print("never blocked", flush=True)

threading.Thread(target=report_when_blocked, args=(threading.get_ident(),), daemon=True).start()
"""

CTRL_C_IN_WITH = BLOCKED_IN_RECV + """
with ws.sync.connect(sys.argv[1], connect_timeout=10, disconnect_timeout=10) as conn:
    conn.recv()
"""

CTRL_C_BARE = BLOCKED_IN_RECV + """
conn = ws.sync.connect(sys.argv[1], connect_timeout=10, disconnect_timeout=10)
conn.recv()
"""

FORGOTTEN = """
import sys
import ws.sync
conn = ws.sync.connect(sys.argv[1], connect_timeout=10, disconnect_timeout=10)
conn.send("hello")
assert conn.recv(timeout=10) == "hello"
print("done", flush=True)
"""

FORK = """
import os, sys
import ws.sync
url = sys.argv[1]
with ws.sync.connect(url, connect_timeout=10, disconnect_timeout=10) as parent:
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            with ws.sync.connect(url, connect_timeout=10, disconnect_timeout=10) as child:
                child.send("from the child")
                assert child.recv(timeout=10) == "from the child"
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    parent.send("from the parent")
    assert parent.recv(timeout=10) == "from the parent"
print("child", os.waitstatus_to_exitcode(status), flush=True)
"""


def interruptible() -> None:
    """In the child, before exec: SIGINT back to its default action.

    A shell without job control starts background commands with SIGINT
    ignored (``pytest &`` in a script), children inherit that, and Python
    then installs no KeyboardInterrupt handler: a terminal's Ctrl-C would
    have found the default.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def python_client(script: str, url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``script`` with ``url`` as its argument; kill it if it outlives the block."""
    with subprocess.Popen(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script, url],
        cwd=REPO_ROOT,
        preexec_fn=interruptible,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(STEP)


def read_line(process: subprocess.Popen[bytes]) -> str:
    """The next line the process prints, waiting a step at most."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    line = b""
    deadline = time.monotonic() + STEP
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 1) if ready else b""
        if not chunk:
            stderr = process.stderr.read().decode() if process.stderr and process.poll() is not None else ""
            raise AssertionError(f"the client printed {line!r} and then nothing; stderr:\n{stderr}")
        line += chunk
    return line.decode().strip()


def finish(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Wait (bounded) for the process to exit: its status and stderr."""
    _, stderr = process.communicate(timeout=STEP)
    return process.returncode, stderr.decode()


@pytest.mark.parametrize("script", [CTRL_C_IN_WITH, CTRL_C_BARE], ids=["with", "bare"])
def test_ctrl_c_in_a_blocked_recv_exits_and_closes_with_1001(ours: Peer, script: str) -> None:
    """SIGINT in a blocked recv(): the process exits promptly as Ctrl-C does, after a 1001 close."""
    with python_client(script, ours.url) as process:
        assert read_line(process) == "blocked"
        process.send_signal(signal.SIGINT)
        status, stderr = finish(process)
    assert status == -signal.SIGINT, stderr
    assert "KeyboardInterrupt" in stderr
    assert ours.next_close() == (1001, "")


def test_a_forgotten_connection_is_closed_at_exit(ours: Peer) -> None:
    """A script that never closes its connection exits promptly, and the server sees a close."""
    with python_client(FORGOTTEN, ours.url) as process:
        assert read_line(process) == "done"
        status, stderr = finish(process)
    assert status == 0, stderr
    assert ours.next_close() == (1001, "")


def test_a_forked_child_connects_on_its_own(ours: Peer) -> None:
    """After os.fork, the child starts a runtime of its own and connects; the parent's connection works on."""
    with python_client(FORK, ours.url) as process:
        assert read_line(process) == "child 0"
        status, stderr = finish(process)
    assert status == 0, stderr
    assert sorted([ours.next_close(), ours.next_close()]) == [(1000, ""), (1000, "")]
