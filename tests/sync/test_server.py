"""ws.sync.serve and serve_unix: blocking handlers in a bounded pool of threads.

The clients are real: ws.sync clients in threads, websockets' sync client,
and urllib for plain HTTP; the Ctrl-C test runs the server in a subprocess.
Every wait is bounded by STEP; every thread started here is joined.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ws
import ws.sync
from ws.sync.client import unix_connect
from ws.sync.server import (
    RETRY_AFTER,
    Server,
    ServerConnection,
    SyncServerSettings,
    basic_auth,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Seconds any one step may take (connecting, a reply, a close, a join).
STEP = 10.0


def echo(connection: ServerConnection) -> None:
    """Send every message back until the client closes."""
    for message in connection:
        connection.send(message)


def url(server: Server, resource: str = "/") -> str:
    """The ws:// URL of ``resource`` on a TCP server."""
    return f"ws://127.0.0.1:{server.port}{resource}"


def connect(target: str, **kwargs: str) -> ws.sync.ClientConnection:
    """ws.sync.connect with a bounded handshake and no proxy."""
    return ws.sync.connect(target, connect_timeout=STEP, proxy=None, **kwargs)  # type: ignore[arg-type]


def ws_threads() -> list[str]:
    """The names of the threads of ws.sync still running: the runtime, handlers, a shutdown."""
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("ws.sync")]


@contextlib.contextmanager
def serving_forever(server: Server) -> Iterator[list[BaseException]]:
    """Run ``server.serve_forever()`` in a thread; yield where its exception goes; join it."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.serve_forever()
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run, name="test serve_forever")
    thread.start()
    try:
        yield errors
    finally:
        server.shutdown()
        thread.join(STEP)
        assert not thread.is_alive(), "serve_forever() did not return after shutdown()"


def run_in_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run ``target(i)`` in ``count`` threads at once; join them; return their errors."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 -- handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), name=f"test client {i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3 * STEP)
    assert not any(thread.is_alive() for thread in threads), "a client thread did not finish"
    return errors


# -- serving ---------------------------------------------------------------------


def test_twenty_concurrent_clients_echo() -> None:
    """20 sync clients in threads, each echoing 50 messages, all get their own messages back."""
    handler_threads: set[str] = set()

    def tracking_echo(connection: ServerConnection) -> None:
        handler_threads.add(threading.current_thread().name)
        echo(connection)

    with ws.sync.serve(tracking_echo, "127.0.0.1", 0) as server:

        def client(i: int) -> None:
            with connect(url(server, f"/client/{i}")) as connection:
                for n in range(50):
                    message: str | bytes = f"{i}:{n}" if n % 2 else f"{i}:{n}".encode()
                    connection.send(message)
                    assert connection.recv(timeout=STEP) == message

        assert run_in_threads(20, client) == []
    assert len(handler_threads) == 20  # one thread per connection, all at once
    assert all(name.startswith("ws.sync.server handler ws-") for name in handler_threads)
    assert ws_threads() == []


def test_websockets_sync_client() -> None:
    """websockets' sync client talks to the sync server, with the server's choice of subprotocol."""
    websockets_client = pytest.importorskip(
        "websockets.sync.client", reason="websockets is missing: run scripts/install-peers"
    )

    def handler(connection: ServerConnection) -> None:
        connection.send(f"{connection.subprotocol} {connection.path}")
        echo(connection)

    with ws.sync.serve(handler, "127.0.0.1", 0, subprotocols=["chat", "superchat"]) as server:
        with websockets_client.connect(
            url(server, "/room?x=1"), subprotocols=["superchat", "chat"], open_timeout=STEP
        ) as client:
            assert client.subprotocol == "chat"
            assert client.recv(timeout=STEP) == "chat /room?x=1"
            client.send("hello")
            assert client.recv(timeout=STEP) == "hello"
            client.send(b"\x00\xff" * 40_000)  # compressed both ways (permessage-deflate)
            assert client.recv(timeout=STEP) == b"\x00\xff" * 40_000
        # A client without a common subprotocol gets none.
        with connect(url(server), subprotocols=["other"]) as connection:  # type: ignore[arg-type]
            assert connection.subprotocol is None
            assert connection.recv(timeout=STEP) == "None /"


def test_handler_return_flushes_and_closes_1000() -> None:
    """Messages sent just before the handler returns arrive, then the close is 1000."""

    def handler(connection: ServerConnection) -> None:
        for n in range(3):
            connection.send(f"message {n}")

    with ws.sync.serve(handler, "127.0.0.1", 0) as server, connect(url(server)) as connection:
        assert [connection.recv(timeout=STEP) for _ in range(3)] == ["message 0", "message 1", "message 2"]
        with pytest.raises(ws.ConnectionClosedOK) as closed:
            connection.recv(timeout=STEP)
        assert closed.value.reason.code == 1000


def test_server_connection_attributes() -> None:
    """A handler sees the request, the peer's address, the path and the connections set."""
    seen: queue.Queue[tuple[object, ...]] = queue.Queue()
    box: list[Server] = []

    def handler(connection: ServerConnection) -> None:
        request = connection.request
        seen.put(
            (
                request.path,
                request.query,
                request.header("x-test"),
                connection.remote,
                connection in box[0].connections,
                connection.user,
            )
        )
        echo(connection)

    with ws.sync.serve(handler, "127.0.0.1", 0) as server:
        box.append(server)
        headers = [("X-Test", "yes")]
        with connect(url(server, "/a/b?c=d"), extra_headers=headers) as client:  # type: ignore[arg-type]
            path, query, header, remote, listed, user = seen.get(timeout=STEP)
            assert (path, query, header, listed, user) == ("/a/b", "c=d", "yes", True, None)
            assert remote == client.local
            assert repr(server).startswith("<ws.sync.Server serving on ")
        assert server.listeners == [ws.Endpoint("127.0.0.1", server.port, False)]


# -- errors in handlers ----------------------------------------------------------


class HandlerBroke(Exception):
    """What the test handlers raise."""


def test_handler_exception_closes_1011_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A handler's exception is logged on the ws logger and closes its connection with 1011."""
    caplog.set_level(logging.ERROR, logger="ws")

    def handler(connection: ServerConnection) -> None:
        connection.send("before")
        raise HandlerBroke("the handler broke")

    with ws.sync.serve(handler, "127.0.0.1", 0) as server:
        with connect(url(server, "/broken")) as connection:
            assert connection.recv(timeout=STEP) == "before"
            with pytest.raises(ws.ConnectionClosedError) as closed:
                connection.recv(timeout=STEP)
            assert closed.value.reason.code == 1011
        # The server goes on serving.
        with connect(url(server)) as connection:
            assert connection.recv(timeout=STEP) == "before"
            with pytest.raises(ws.ConnectionClosedError):
                connection.recv(timeout=STEP)
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "unhandled exception in the WebSocket handler for /broken" in errors[0].getMessage()
    assert errors[0].exc_info is not None and isinstance(errors[0].exc_info[1], HandlerBroke)


def test_handler_errors_raise_stops_the_server() -> None:
    """With handler_errors="raise", a handler's exception stops the server; serve_forever raises it."""

    def handler(connection: ServerConnection) -> None:
        raise HandlerBroke("stop everything")

    server = ws.sync.serve(handler, "127.0.0.1", 0, handler_errors="raise")
    with serving_forever(server) as errors:
        with connect(url(server)) as connection:
            with pytest.raises(ws.ConnectionClosedError) as closed:
                connection.recv(timeout=STEP)
            assert closed.value.reason.code == 1011
    assert len(errors) == 1 and isinstance(errors[0], HandlerBroke)
    server.shutdown()  # after the failure: returns at once, without raising
    with pytest.raises(HandlerBroke):
        server.serve_forever()  # every call raises it
    assert ws_threads() == []


# -- shutdown --------------------------------------------------------------------


def test_shutdown_closes_connections_with_1001() -> None:
    """shutdown(): every client sees 1001, serve_forever returns, no handler thread is left."""
    connected = threading.Barrier(6, timeout=STEP)

    def handler(connection: ServerConnection) -> None:
        connected.wait()
        echo(connection)

    server = ws.sync.serve(handler, "127.0.0.1", 0)
    with serving_forever(server) as errors:
        clients = [connect(url(server)) for _ in range(5)]
        connected.wait()
        assert len(server.connections) == 5
        server.shutdown()
        for client in clients:
            with pytest.raises(ws.ConnectionClosedOK) as closed:
                client.recv(timeout=STEP)
            assert (closed.value.reason.code, closed.value.reason.reason) == (1001, "server shutting down")
            client.close()
    assert errors == []
    assert ws_threads() == []
    with pytest.raises(ws.ConnectFailed):
        connect(url(server))
    server.shutdown()  # again: nothing to do
    server.serve_forever()  # after the shutdown: returns at once


def test_shutdown_from_several_threads_at_once() -> None:
    """shutdown() called by several threads at once: each returns once the server is down."""
    server = ws.sync.serve(echo, "127.0.0.1", 0)
    client = connect(url(server))
    try:
        assert run_in_threads(4, lambda _: server.shutdown(4000, "bye")) == []
        with pytest.raises(ws.ConnectionClosed) as closed:
            client.recv(timeout=STEP)
        assert closed.value.reason.code == 4000
    finally:
        client.close()
    assert ws_threads() == []


def test_shutdown_from_a_handler() -> None:
    """A handler may call shutdown(): it returns at once and the server stops after the handler."""
    box: list[Server] = []
    returned = threading.Event()

    def handler(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)
            if message == "stop":
                box[0].shutdown()
                returned.set()
                box[0].shutdown()  # a second call in a handler returns at once too
                with pytest.raises(RuntimeError, match="would wait for itself"):
                    box[0].serve_forever()

    server = ws.sync.serve(handler, "127.0.0.1", 0)
    box.append(server)
    with serving_forever(server) as errors, connect(url(server)) as client:
        client.send("stop")
        assert client.recv(timeout=STEP) == "stop"
        with pytest.raises(ws.ConnectionClosedOK) as closed:
            client.recv(timeout=STEP)
        assert closed.value.reason.code == 1001
    # The shutdown waited for the handler, which went on after shutdown() returned.
    assert returned.is_set()
    assert errors == []
    assert ws_threads() == []


def test_shutdown_gives_up_on_a_stuck_handler(caplog: pytest.LogCaptureFixture) -> None:
    """A handler that ignores the close has the grace period, then shutdown() returns anyway."""
    caplog.set_level(logging.WARNING, logger="ws")
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def handler(connection: ServerConnection) -> None:
        started.set()
        release.wait(3 * STEP)  # blocks past the grace; not interruptible by us
        finished.set()

    server = ws.sync.serve(handler, "127.0.0.1", 0)
    try:
        with connect(url(server)) as client:
            assert started.wait(STEP)
            server.shutdown(grace=0.1)
            with pytest.raises(ws.ConnectionClosedOK):
                client.recv(timeout=STEP)
    finally:
        release.set()
    assert finished.wait(STEP)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("did not return within the shutdown's grace" in message for message in warnings)


def test_shutdown_checks_its_arguments() -> None:
    """A bad close code or grace raises before anything stops."""
    with ws.sync.serve(echo, "127.0.0.1", 0) as server:
        with pytest.raises(ws.LocalProtocolError):
            server.shutdown(1005)
        with pytest.raises(ValueError, match="grace"):
            server.shutdown(grace=-1)
        with connect(url(server)) as client:  # still serving
            client.send("x")
            assert client.recv(timeout=STEP) == "x"


CTRL_C_SERVER = """
import sys, threading
import ws.sync

def echo(connection):
    for message in connection:
        connection.send(message)

server = ws.sync.serve(echo, "127.0.0.1", 0)
try:
    print(server.port, flush=True)
    server.serve_forever()
except KeyboardInterrupt:
    left = [t.name for t in threading.enumerate() if t.name.startswith("ws.sync")]
    print("interrupted, threads left:", left, flush=True)
    raise
"""


def interruptible() -> None:
    """In the child, before exec: SIGINT back to its default action.

    A shell without job control starts background commands with SIGINT
    ignored (``pytest &`` in a script), children inherit that, and Python
    then installs no KeyboardInterrupt handler: a terminal's Ctrl-C would
    have found the default.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_in_serve_forever(tmp_path: Path) -> None:
    """SIGINT in serve_forever(): clients see 1001, the process exits promptly with KeyboardInterrupt."""
    script = tmp_path / "server.py"
    script.write_text(CTRL_C_SERVER)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        preexec_fn=interruptible,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with connect(f"ws://127.0.0.1:{port}/") as client:
            client.send("are you there")
            assert client.recv(timeout=STEP) == "are you there"
            process.send_signal(signal.SIGINT)
            with pytest.raises(ws.ConnectionClosedOK) as closed:
                client.recv(timeout=STEP)
            assert closed.value.reason.code == 1001
        stdout, stderr = process.communicate(timeout=STEP)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "interrupted, threads left: []" in stdout
    assert "KeyboardInterrupt" in stderr
    assert process.returncode != 0


# -- process_request, origins, auth ----------------------------------------------


def test_plain_process_request_answers_http() -> None:
    """A plain process_request function runs in a thread and answers /healthz over plain HTTP."""
    hook_threads: list[str] = []

    def health(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        hook_threads.append(threading.current_thread().name)
        if request.path == "/healthz":
            return ws.HTTPResponse(200, body="OK\n")
        request.state["seen"] = True
        return None

    def handler(connection: ServerConnection) -> None:
        connection.send(str(connection.request.state))

    with ws.sync.serve(handler, "127.0.0.1", 0, process_request=health) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=STEP) as response:
            assert (response.status, response.read()) == (200, b"OK\n")
        with connect(url(server, "/ws")) as connection:
            assert connection.recv(timeout=STEP) == "{'seen': True}"
    assert hook_threads == ["ws.sync.server process_request"] * 2


def test_process_request_in_options_and_async_hooks() -> None:
    """Hooks given in options= are wrapped too; async hooks run as they are, in order."""

    async def teapot(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        return ws.HTTPResponse(418) if request.path == "/tea" else None

    def forbidden(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        return ws.HTTPResponse(403) if request.path == "/secret" else None

    options = ws.ServerOptions(process_request=[teapot, forbidden])  # type: ignore[list-item]
    with ws.sync.serve(echo, "127.0.0.1", 0, options=options) as server:
        for resource, status in [("/tea", 418), ("/secret", 403)]:
            with pytest.raises(ws.ConnectionRejected) as rejected:
                connect(url(server, resource))
            assert rejected.value.status_code == status
        with connect(url(server, "/open")) as connection:
            connection.send("x")
            assert connection.recv(timeout=STEP) == "x"


def test_origins_reject_other_origins() -> None:
    """origins= lets in the listed Origin and answers 403 to another, before any handler runs."""
    calls: list[str | None] = []

    def handler(connection: ServerConnection) -> None:
        calls.append(connection.request.header("origin"))

    with ws.sync.serve(handler, "127.0.0.1", 0, origins=["https://good.example"]) as server:
        with pytest.raises(ws.ConnectionRejected) as rejected:
            connect(url(server), origin="https://evil.example")
        assert rejected.value.status_code == 403
        with connect(url(server), origin="https://good.example") as connection:
            with pytest.raises(ws.ConnectionClosedOK):
                connection.recv(timeout=STEP)
    assert calls == ["https://good.example"]


@pytest.mark.parametrize("kind", ["ws.basic_auth", "plain check"])
def test_basic_auth(kind: str) -> None:
    """Basic auth answers 401 without valid credentials; the handler sees the user."""
    if kind == "ws.basic_auth":
        hook = ws.basic_auth(credentials={"alice": "s3cret"})
    else:
        hook = basic_auth(check_credentials=lambda user, password: (user, password) == ("alice", "s3cret"))

    def handler(connection: ServerConnection) -> None:
        connection.send(f"hello {connection.user}")

    with ws.sync.serve(handler, "127.0.0.1", 0, process_request=hook) as server:
        for credentials in ["", "alice:wrong@", "bob:s3cret@"]:
            with pytest.raises(ws.ConnectionRejected) as rejected:
                connect(f"ws://{credentials}127.0.0.1:{server.port}/")
            assert rejected.value.status_code == 401
        with connect(f"ws://alice:s3cret@127.0.0.1:{server.port}/") as connection:
            assert connection.recv(timeout=STEP) == "hello alice"


# -- the bounded pool ------------------------------------------------------------


@pytest.mark.parametrize("worker_timeout", [0, 0.05])
def test_full_pool_answers_503(worker_timeout: float) -> None:
    """With every worker busy past worker_timeout, a new connection gets 503 with Retry-After."""
    with ws.sync.serve(echo, "127.0.0.1", 0, max_workers=1, worker_timeout=worker_timeout) as server:
        with connect(url(server)) as first:
            first.send("hold the worker")
            assert first.recv(timeout=STEP) == "hold the worker"
            with pytest.raises(ws.ConnectionRejected) as rejected:
                connect(url(server))
            assert rejected.value.status_code == 503
            assert (b"retry-after", str(RETRY_AFTER).encode()) in [
                (name.lower(), value) for name, value in rejected.value.headers
            ]
        # The worker is free again once the first handler returned.
        with connect(url(server)) as second:
            second.send("now")
            assert second.recv(timeout=STEP) == "now"


def test_full_pool_waits_for_a_free_worker() -> None:
    """Within worker_timeout a new connection waits for a worker, and is served once one is free."""
    requests: queue.Queue[str] = queue.Queue()
    running = 0
    most = 0
    lock = threading.Lock()

    def seen(request: ws.HTTPRequest) -> None:
        requests.put(request.path)

    def counting_echo(connection: ServerConnection) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            echo(connection)
        finally:
            with lock:
                running -= 1

    with ws.sync.serve(
        counting_echo, "127.0.0.1", 0, max_workers=1, worker_timeout=3 * STEP, process_request=seen
    ) as server:
        first = connect(url(server, "/first"))
        assert requests.get(timeout=STEP) == "/first"
        second: list[ws.sync.ClientConnection] = []
        waiting = threading.Thread(target=lambda: second.append(connect(url(server, "/second"))))
        waiting.start()
        try:
            # The second request passed the hooks; it cannot get a worker while the first holds it.
            assert requests.get(timeout=STEP) == "/second"
            assert waiting.is_alive() and second == []
            first.close()
            waiting.join(STEP)
            assert not waiting.is_alive() and len(second) == 1
            second[0].send("served")
            assert second[0].recv(timeout=STEP) == "served"
        finally:
            first.close()
            waiting.join(STEP)
            for connection in second:
                connection.close()
    assert most == 1


def test_bad_pool_settings() -> None:
    """max_workers and worker_timeout are checked before anything starts."""
    with pytest.raises(ValueError, match="max_workers"):
        ws.sync.serve(echo, "127.0.0.1", 0, max_workers=0)
    with pytest.raises(ValueError, match="worker_timeout"):
        ws.sync.serve(echo, "127.0.0.1", 0, worker_timeout=-1)
    with pytest.raises(TypeError, match="ping_interval"):
        ws.sync.serve(echo, "127.0.0.1", 0, options=ws.ServerOptions(), ping_interval=None)


def test_settings_match_the_async_server() -> None:
    """serve() takes every setting serve_websocket() takes as **settings."""
    assert SyncServerSettings.__optional_keys__ == ws.ServerSettings.__optional_keys__
    assert SyncServerSettings.__required_keys__ == ws.ServerSettings.__required_keys__ == frozenset()


def test_listen_error_releases_the_runtime() -> None:
    """A port that is taken raises OSError, and leaves no thread behind."""
    with ws.sync.serve(echo, "127.0.0.1", 0) as server:
        with pytest.raises(OSError):
            ws.sync.serve(echo, "127.0.0.1", server.port)
    assert ws_threads() == []


# -- Unix sockets ----------------------------------------------------------------


def test_serve_unix(tmp_path: Path) -> None:
    """serve_unix listens on a socket file, serves unix_connect clients, and removes the file."""
    path = str(tmp_path / "ws.sock")
    with ws.sync.serve_unix(echo, path) as server:
        assert server.listeners == [path]
        with pytest.raises(RuntimeError, match="Unix socket"):
            _ = server.port
        with unix_connect(path, "ws://localhost/chat", connect_timeout=STEP) as connection:
            connection.send("over the socket")
            assert connection.recv(timeout=STEP) == "over the socket"
    assert not Path(path).exists()
