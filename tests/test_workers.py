"""``python -m ws serve --workers N APP`` (ws/_workers.py, ws/cli.py), run as real processes.

The handler module is written into the test's directory and answers each
connection with its process id, so that the test sees which worker served
it. Every wait is bounded, and every process group the test may have caused
is killed on the way out (the workers lead their own sessions).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest
import trio

import ws
from tests.interop.harness import stop_process
from ws._workers import AppError, load_app

ROOT = Path(__file__).resolve().parents[1]
#: Seconds any one step may take (process start-ups included).
STEP = 15
CLI = (sys.executable, "-m", "ws")
#: The "python" that runs the CLI must find ws wherever the test runs it from.
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}

PID_APP = """
import os

import ws

async def health(request):
    if request.path == "/healthz":
        return ws.HTTPResponse(200, body=f"ok {os.getpid()}".encode())
    return None

async def handler(request):
    connection = await request.accept()
    await connection.send_message(str(os.getpid()))
    async for message in connection:
        await connection.send_message(message)
"""

# Imports fine in the supervisor (which checks APP), fails in every worker.
CRASHING_APP = """
import sys

if "--supervisor-link" in sys.argv:
    raise RuntimeError("this worker fails at start")

async def handler(request):
    await request.reject(500)
"""

LISTENING = re.compile(r"listening on (ws://127\.0\.0\.1:\d+/)(?: with (\d+) workers)?")


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A directory with the handler modules, as a user's project would have them."""
    (tmp_path / "pidapp.py").write_text(PID_APP)
    (tmp_path / "crashing.py").write_text(CRASHING_APP)
    (tmp_path / "notahandler.py").write_text("handler = 42\n")
    return tmp_path


@attrs.define(eq=False)
class Served:
    """A running ``python -m ws serve``: its first line, and what it writes on stderr."""

    process: trio.Process
    first_line: str
    _errors: trio.MemoryReceiveChannel[str]
    stderr: list[str] = attrs.Factory(list)
    #: Worker pids seen: killed with their groups at the end.
    workers: set[int] = attrs.Factory(set)

    @property
    def url(self) -> str:
        """The URL in the "listening on" line."""
        match = LISTENING.fullmatch(self.first_line)
        assert match, self.first_line
        return match[1]

    async def stderr_line(self, pattern: str) -> re.Match[str]:
        """Wait for a line on stderr that matches ``pattern``."""
        with trio.fail_after(STEP):
            async for line in self._errors:
                self.stderr.append(line)
                if match := re.search(pattern, line):
                    return match
        raise AssertionError(f"stderr ended without {pattern!r}: {self.stderr}")

    async def pid_of_a_connection(self) -> int:
        """Connect once; the pid of the worker that answered."""
        async with ws.open_websocket_url(self.url) as connection:
            pid = int(await connection.get_message())
        self.workers.add(pid)
        return pid

    async def pids_until(self, *, count: int) -> set[int]:
        """Connect until ``count`` distinct pids answered (bounded by STEP)."""
        seen: set[int] = set()
        with trio.fail_after(STEP):
            while len(seen) < count:
                seen.add(await self.pid_of_a_connection())
        return seen


@contextlib.asynccontextmanager
async def serving(*args: str, cwd: Path) -> AsyncIterator[Served]:
    """Start ``python -m ws serve ARGS``; yield once it printed its first line."""
    process = await trio.lowlevel.open_process(
        [*CLI, "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=ENV,
        start_new_session=True,
    )
    send_errors, receive_errors = trio.open_memory_channel[str](1000)
    served: Served | None = None
    try:
        async with trio.open_nursery() as nursery:
            assert process.stderr is not None and process.stdout is not None
            nursery.start_soon(_lines, process.stderr, send_errors)
            data = b""
            with trio.fail_after(STEP):
                while b"\n" not in data:
                    chunk = await process.stdout.receive_some()
                    assert chunk, f"serve exited with {await process.wait()} before listening"
                    data += chunk
            served = Served(process, data.partition(b"\n")[0].decode(), receive_errors)
            yield served
            nursery.cancel_scope.cancel()
    finally:
        await stop_process(process)
        for pid in served.workers if served is not None else ():
            _kill_group(pid)


async def _lines(stream: trio.abc.ReceiveStream, into: trio.MemorySendChannel[str]) -> None:
    async with into:
        buffer = b""
        while chunk := await stream.receive_some():
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                await into.send(line.decode())


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def killing_groups(pids: set[int]) -> Iterator[None]:
    """Kill these process groups on the way out (workers the test made orphans of)."""
    try:
        yield
    finally:
        for pid in pids:
            _kill_group(pid)


async def closes_with_1001(served: Served, send: int) -> None:
    """Signal ``send`` to the supervisor: a connected client sees 1001; it exits 0."""
    async with ws.open_websocket_url(served.url) as connection:
        await connection.send_message("before")
        with trio.fail_after(STEP):
            while await connection.get_message() != "before":
                pass  # pidapp's greeting
        served.process.send_signal(send)
        with trio.fail_after(STEP), pytest.raises(ws.ConnectionClosed) as caught:
            await connection.get_message()
        assert caught.value.reason.code == 1001
    with trio.fail_after(STEP):
        assert await served.process.wait() == 0


async def test_two_workers_answer_and_a_killed_one_is_replaced(app_dir: Path) -> None:
    """Both workers get connections; kill -9 one: it is restarted, and the port keeps serving."""
    async with serving("--workers", "2", "--port", "0", "pidapp:handler", cwd=app_dir) as served:
        match = LISTENING.fullmatch(served.first_line)
        assert match and match[2] == "2", served.first_line
        pids = await served.pids_until(count=2)
        assert served.process.pid not in pids
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        restart = await served.stderr_line(
            r"worker [12] \(pid (\d+)\) was killed by SIGKILL; starting it again in 0\.5 s"
        )
        assert int(restart[1]) == victim
        # Every connection succeeds while the worker is replaced; a new pid appears.
        with trio.fail_after(STEP):
            while (pid := await served.pid_of_a_connection()) in pids:
                await trio.sleep(0.02)  # pacing only: the new worker starts in its own time
        assert pid not in (victim, served.process.pid)
        assert await served.pids_until(count=2) == (pids - {victim}) | {pid}


async def http_get(url: str, path: str) -> tuple[int, bytes]:
    """A plain HTTP/1.1 GET on the server of ``url`` (ws://HOST:PORT/): status and body."""
    host, _, port = url.removeprefix("ws://").rstrip("/").rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_process_request_answers_health_checks_in_every_worker(
    app_dir: Path, workers: str
) -> None:
    """--process-request MODULE:ATTR: every worker answers /healthz itself; WebSocket goes on."""
    args = ("--workers", workers, "--port", "0", "--process-request", "pidapp:health")
    async with serving(*args, "pidapp:handler", cwd=app_dir) as served:
        answered: set[int] = set()
        with trio.fail_after(STEP):
            while len(answered) < int(workers):
                status, body = await http_get(served.url, "/healthz")
                assert status == 200 and body.startswith(b"ok "), (status, body)
                answered.add(int(body.split()[1]))
        served.workers |= answered
        if workers == "1":
            assert answered == {served.process.pid}
        else:
            assert served.process.pid not in answered
        assert (await http_get(served.url, "/other"))[0] == 426  # not a hook's: the handshake's
        assert await served.pid_of_a_connection() in answered


async def test_a_bad_process_request_hook_is_a_usage_error(app_dir: Path) -> None:
    """--process-request names something that is not there: one line, exit 2."""
    with trio.fail_after(STEP):
        status, stderr = await run(
            "--port", "0", "--process-request", "pidapp:nosuch", cwd=app_dir
        )
    assert status == 2
    assert stderr == "error: module 'pidapp' has no attribute 'nosuch'\n", stderr
    with trio.fail_after(STEP):
        status, stderr = await run("--port", "0", "--process-request", "pidapp", cwd=app_dir)
    assert status == 2 and stderr.startswith("error: --process-request must be MODULE:ATTRIBUTE")


@pytest.mark.parametrize("send", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_to_the_supervisor_closes_with_1001_and_exits_0(
    app_dir: Path, send: signal.Signals
) -> None:
    """SIGTERM or SIGINT goes on to the workers (echo here): 1001 to clients, then exit 0."""
    async with serving("--workers", "2", "--port", "0", cwd=app_dir) as served:
        await closes_with_1001(served, send)
        await served.stderr_line(rf"{send.name}: stopping 2 workers")


async def test_workers_stop_when_the_supervisor_is_killed(app_dir: Path) -> None:
    """kill -9 on the supervisor: its workers notice, close with 1001 and exit."""
    async with serving("--workers", "2", "--port", "0", "pidapp:handler", cwd=app_dir) as served:
        async with ws.open_websocket_url(served.url) as connection:
            worker = int(await connection.get_message())
            with killing_groups({worker}):
                served.process.kill()
                with trio.fail_after(STEP), pytest.raises(ws.ConnectionClosed) as caught:
                    await connection.get_message()
                assert caught.value.reason.code == 1001
                await served.stderr_line(rf"worker {worker}: the supervisor is gone")


async def test_a_worker_that_fails_at_start_is_restarted_with_a_growing_delay(
    app_dir: Path,
) -> None:
    """No spinning: the delays before the restarts of a failing worker double (0.5 s, 1 s)."""
    process = await trio.lowlevel.open_process(
        [*CLI, "serve", "--workers", "2", "--port", "0", "crashing:handler"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=app_dir,
        env=ENV,
        start_new_session=True,
    )
    send_errors, receive_errors = trio.open_memory_channel[str](1000)
    try:
        async with trio.open_nursery() as nursery:
            assert process.stderr is not None and process.stdout is not None
            nursery.start_soon(_lines, process.stderr, send_errors)
            served = Served(process, "", receive_errors)
            failed = r"worker 1 \(pid \d+\) exited with status 1; starting it again in ([\d.]+) s"
            delays = [(await served.stderr_line(failed))[1] for _ in range(2)]
            assert delays == ["0.5", "1"]
            assert any("this worker fails at start" in line for line in served.stderr)
            process.send_signal(signal.SIGTERM)  # in the middle of a delay
            with trio.fail_after(STEP):
                assert await process.wait() == 0
            assert await process.stdout.receive_some() == b""  # never listening: never said so
            nursery.cancel_scope.cancel()
    finally:
        await stop_process(process)


async def run(*args: str, cwd: Path) -> tuple[int, str]:
    """Run ``python -m ws serve ARGS`` to its end; its exit status and stderr."""
    result = await trio.run_process(
        [*CLI, "serve", *args],
        cwd=cwd,
        env=ENV,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.stdout == b""
    return result.returncode, result.stderr.decode()


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("pidapp", "error: APP must be MODULE:ATTRIBUTE, e.g. 'chat:handler', not 'pidapp'"),
        ("nosuchmodule:handler", "error: cannot import 'nosuchmodule' for APP"
         " 'nosuchmodule:handler': no module named 'nosuchmodule' in "),
        ("pidapp:nosuch", "error: module 'pidapp' has no attribute 'nosuch'"),
        ("notahandler:handler", "error: notahandler:handler is a int, not a handler"),
    ],
)
async def test_a_bad_app_is_a_one_line_usage_error(app_dir: Path, app: str, message: str) -> None:
    """A bad MODULE:ATTRIBUTE: one line on stderr and exit 2, before any worker starts."""
    with trio.fail_after(STEP):
        status, stderr = await run("--workers", "2", "--port", "0", app, cwd=app_dir)
    assert status == 2
    assert stderr.count("\n") == 1 and stderr.startswith(message), stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workers", "0"), "expected a number of processes (1 or more), not '0'"),
        (("--workers", "2", "--unix", "/tmp/x.sock"), "--workers shares a TCP port"),
        (("--subprotocol", "chat", "pidapp:handler"), "--subprotocol is for the echo server"),
    ],
)
async def test_options_that_do_not_go_together(
    app_dir: Path, args: tuple[str, ...], message: str
) -> None:
    """--workers 0, --workers with --unix, --subprotocol with APP: usage errors (exit 2)."""
    with trio.fail_after(STEP):
        status, stderr = await run(*args, cwd=app_dir)
    assert status == 2 and message in stderr, stderr


@pytest.mark.parametrize("workers", [(), ("--workers", "1")])
async def test_one_worker_is_the_single_process_of_before(
    app_dir: Path, workers: tuple[str, ...]
) -> None:
    """Without --workers (or with 1) APP runs in the process itself, which stops with 1001."""
    async with serving(*workers, "--port", "0", "pidapp:handler", cwd=app_dir) as served:
        match = LISTENING.fullmatch(served.first_line)
        assert match and match[2] is None, served.first_line
        assert await served.pid_of_a_connection() == served.process.pid
        await closes_with_1001(served, signal.SIGTERM)


async def test_app_dir_puts_the_module_on_the_path(
    app_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """--app-dir DIR finds APP's module in DIR when run from elsewhere."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    args = ("--app-dir", str(app_dir), "--port", "0", "pidapp:handler")
    async with serving(*args, cwd=elsewhere) as served:
        assert await served.pid_of_a_connection() == served.process.pid


# -- load_app, in this process ---------------------------------------------------------


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """load_app changes sys.path and sys.modules: put both back after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.mark.usefixtures("clean_imports")
def test_load_app_follows_a_dotted_attribute(tmp_path: Path) -> None:
    """MODULE:A.B finds B on A, and a package's submodule is found under --app-dir."""
    package = tmp_path / "wsapp_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "server.py").write_text(
        "class Routes:\n    @staticmethod\n    async def dispatch(request):\n        pass\n"
    )
    handler = load_app("wsapp_pkg.server:Routes.dispatch", str(tmp_path))
    assert handler is sys.modules["wsapp_pkg.server"].Routes.dispatch
    assert sys.path[0] == str(tmp_path)


@pytest.mark.usefixtures("clean_imports")
def test_load_app_names_the_missing_module_or_lets_the_apps_own_error_through(
    tmp_path: Path,
) -> None:
    """A missing APP module is an AppError; a module the app itself imports is not."""
    with pytest.raises(AppError, match=r"no module named 'wsapp_nothere'"):
        load_app("wsapp_nothere.sub:handler", str(tmp_path))
    (tmp_path / "wsapp_needs.py").write_text("import wsapp_dependency_missing\n")
    with pytest.raises(ModuleNotFoundError) as caught:
        load_app("wsapp_needs:handler", str(tmp_path))
    assert not isinstance(caught.value, AppError)
    assert caught.value.name == "wsapp_dependency_missing"
    for spec in (":handler", "module:", "module"):
        with pytest.raises(AppError, match="MODULE:ATTRIBUTE"):
            load_app(spec, str(tmp_path))
