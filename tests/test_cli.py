"""The command line (ws/cli.py): ``python -m ws client|serve|demo`` run as real processes.

The client runs in a pipe (standard input from the test) and in a
pseudo-terminal driven with pexpect, as a person types; the servers are an
in-test ``ws`` server that records what it sees, or ``python -m ws serve``.
Every process has a deadline and is killed on the way out.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

import attrs
import pexpect
import pytest
import trio
import trustme

import ws
from ws import cli
from tests.interop.harness import stop_process

ROOT = Path(__file__).resolve().parents[1]
#: Seconds any one step may take (a process's start-up included).
STEP = 15
CLI = (sys.executable, "-m", "ws")


@attrs.frozen
class Ran:
    """A finished process: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


async def run(
    command: tuple[str, ...] | list[str], stdin: bytes | None = b"", *, cwd: Path = ROOT
) -> Ran:
    """Run a program to its end; ``stdin=None`` keeps its input open until it exits."""
    process = await trio.lowlevel.open_process(
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        start_new_session=True,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    out, err = bytearray(), bytearray()

    async def collect(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
        while chunk := await stream.receive_some():
            into += chunk

    try:
        with trio.fail_after(STEP):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(collect, process.stdout, out)
                nursery.start_soon(collect, process.stderr, err)
                if stdin is not None:
                    await process.stdin.send_all(stdin)
                    await process.stdin.aclose()
                await process.wait()
    finally:
        await process.stdin.aclose()
        await process.stderr.aclose()
        await stop_process(process)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def client(*args: str, stdin: bytes | None = b"") -> Awaitable[Ran]:
    """Run ``python -m ws client ARGS``."""
    return run((*CLI, "client", *args), stdin)


async def together(*runs: Awaitable[Ran]) -> list[Ran]:
    """Run processes at the same time (each start-up costs about a second)."""
    results: list[Ran | None] = [None] * len(runs)

    async def one(index: int, running: Awaitable[Ran]) -> None:
        results[index] = await running

    async with trio.open_nursery() as nursery:
        for index, running in enumerate(runs):
            nursery.start_soon(one, index, running)
    return [result for result in results if result is not None]


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- an in-test server that records what it sees ----------------------------------


@attrs.define(eq=False)
class Seen:
    """One connection, as the in-test server saw it."""

    headers: dict[bytes, bytes] = attrs.Factory(dict)
    offered: tuple[str, ...] = ()
    extensions: list[str] = attrs.Factory(list)
    messages: list[str | bytes] = attrs.Factory(list)
    closed: ws.CloseReason | None = None
    ended: trio.Event = attrs.Factory(trio.Event)


Behaviour = Callable[[ws.WebSocketConnection], Awaitable[None]]


async def echo(connection: ws.WebSocketConnection, seen: Seen) -> None:
    """Echo each message, recording it."""
    with contextlib.suppress(ws.ConnectionClosed):
        async for message in connection:
            seen.messages.append(message)
            await connection.send_message(message)


@attrs.define(eq=False)
class Recorder:
    """What the in-test server saw, one :class:`Seen` per connection, in order."""

    url: str = ""
    connections: list[Seen] = attrs.Factory(list)

    async def last(self) -> Seen:
        """The last connection, once its handler ended."""
        with trio.fail_after(STEP):
            await self.connections[-1].ended.wait()
        return self.connections[-1]


@contextlib.asynccontextmanager
async def recording_server(
    close: tuple[int, str] | None = None, reject: int | None = None
) -> AsyncIterator[Recorder]:
    """An echo server on 127.0.0.1 that accepts subprotocol "chat" (or closes, or rejects)."""
    recorder = Recorder()

    async def handler(request: ws.WebSocketRequest) -> None:
        seen = Seen(headers=dict(request.headers), offered=request.proposed_subprotocols)
        recorder.connections.append(seen)
        try:
            if reject is not None:
                await request.reject(reject)
                return
            chosen = "chat" if "chat" in request.proposed_subprotocols else None
            connection = await request.accept(subprotocol=chosen)
            seen.extensions = [extension.name for extension in connection.extensions]
            if close is not None:
                await connection.aclose(*close)
            else:
                await echo(connection, seen)
            seen.closed = connection.closed
        finally:
            seen.ended.set()

    async with trio.open_nursery() as nursery:
        # message_queue_size=0, as `python -m ws serve` has it.
        server = await nursery.start(
            partial(ws.serve_websocket, handler, "127.0.0.1", 0, None, message_queue_size=0)
        )
        recorder.url = f"ws://127.0.0.1:{server.port}/path"
        yield recorder
        nursery.cancel_scope.cancel()


# -- python -m ws serve, in a process ---------------------------------------------


@attrs.define(eq=False)
class Served:
    """A running ``python -m ws serve`` and the URL it printed."""

    process: trio.Process
    url: str


@contextlib.asynccontextmanager
async def serving(
    *args: str, cwd: Path = ROOT, program: tuple[str, ...] = (*CLI, "serve")
) -> AsyncIterator[Served]:
    """Start the server; yield once it printed "listening on URL"; kill it at the end."""
    process = await trio.lowlevel.open_process(
        [*program, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        data = b""
        with trio.fail_after(STEP):
            while b"\n" not in data:
                chunk = await process.stdout.receive_some()
                assert chunk, f"the server exited with {await process.wait()} before listening"
                data += chunk
        line = data.partition(b"\n")[0].decode()
        assert line.startswith("listening on "), line
        yield Served(process, line.removeprefix("listening on "))
    finally:
        await stop_process(process)


async def stops_with_1001(served: Served) -> None:
    """SIGTERM makes the server close a client's connection with 1001 and exit 0."""
    async with ws.open_websocket_url(served.url) as connection:
        await connection.send_message("before")
        with trio.fail_after(STEP):
            assert await connection.get_message() == "before"
        served.process.send_signal(signal.SIGTERM)
        with trio.fail_after(STEP), pytest.raises(ws.ConnectionClosed) as caught:
            await connection.get_message()
        assert caught.value.reason.code == 1001
    with trio.fail_after(STEP):
        assert await served.process.wait() == 0


# -- the client in a pipe ------------------------------------------------------------


async def test_pipe_echo_then_serve_stops_on_sigterm() -> None:
    """The acceptance line prints the echo and exits 0; then SIGTERM stops serve with 1001."""
    async with serving("--port", "0") as served:
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/", served.url), served.url
        python = shlex.quote(sys.executable)
        ran = await run(["sh", "-c", f"printf 'hello\\n' | {python} -m ws client {served.url}"])
        assert (ran.returncode, ran.stdout, ran.stderr) == (0, "< hello\n", "")
        await stops_with_1001(served)


async def test_eof_closes_with_1000_after_the_echoes_and_options_reach_the_server() -> None:
    """--header, --subprotocol and --no-compression reach the server; EOF closes with 1000."""
    async with recording_server() as server:
        ran = await client(
            "--header", "X-Token: abc:1", "--subprotocol", "other", "--subprotocol", "chat",
            "--no-compression", "--ping", "0", server.url,
            stdin=b"one\n//slash\n/binary 00ff 7f\n/bogus\n\xff\nlast",
        )
        seen = await server.last()
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "< one\n< /slash\n< [binary, 3 bytes] 00 ff 7f\n< \ufffd\n< last\n"
    assert ran.stderr == "unknown command /bogus: /help lists them; //text sends /text\n"
    assert seen.messages == ["one", "/slash", b"\x00\xff\x7f", "\ufffd", "last"]
    assert seen.closed == ws.CloseReason(1000, None)
    assert seen.headers[b"x-token"] == b"abc:1"
    assert seen.offered == ("other", "chat")
    assert seen.extensions == []


async def test_close_command_sends_its_code_and_reason() -> None:
    """``/close 4000 done`` closes with 4000 "done", sends nothing after it, and exits 0."""
    async with recording_server() as server:
        ran = await client(server.url, stdin=b"hi\n/close 4000 done\nnot sent\n")
        seen = await server.last()
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "< hi\n", "")
    assert seen.messages == ["hi"]
    assert seen.closed == ws.CloseReason(4000, "done")
    assert seen.extensions == ["permessage-deflate"]  # compression is offered by default


async def test_bad_close_code_is_refused_and_the_connection_stays_open() -> None:
    """``/close 1005`` cannot be sent: a note, and the session goes on."""
    async with recording_server() as server:
        ran = await client(server.url, stdin=b"/close 1005\n/close x\nstill open\n")
        seen = await server.last()
    assert (ran.returncode, ran.stdout) == (0, "< still open\n")
    assert "cannot close so: close code 1005 may not be sent" in ran.stderr
    assert "usage: /close [CODE [REASON]]" in ran.stderr
    assert seen.closed == ws.CloseReason(1000, None)


@pytest.mark.parametrize(
    ("close", "status", "error"),
    [
        ((1011, "boom"), 3,
         "error: the server closed the connection: 1011 (INTERNAL_ERROR) boom\n"),
        ((1000, "bye"), 0, ""),
    ],
)
async def test_server_close_sets_the_exit_status(
    close: tuple[int, str], status: int, error: str
) -> None:
    """The server closing with 1011 exits 3 with one line on stderr; with 1000, 0 and quiet."""
    async with recording_server(close=close) as server:
        ran = await client(server.url, stdin=None)  # input stays open: the server closes first
    assert (ran.returncode, ran.stdout, ran.stderr) == (status, "", error)


async def test_connection_failures_exit_1_with_one_line() -> None:
    """Refused and rejected (403): exit 1 and one line on stderr, nothing on stdout."""
    port = free_port()
    async with recording_server(reject=403) as server:
        refused, rejected = await together(client(f"ws://127.0.0.1:{port}/"), client(server.url))
    assert refused.returncode == rejected.returncode == 1
    assert refused.stderr == f"error: could not connect to 127.0.0.1:{port}: Connection refused\n"
    assert rejected.stderr == "error: the server rejected the WebSocket connection: HTTP 403\n"
    assert refused.stdout == rejected.stdout == ""


def test_usage_errors_exit_2_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    """Bad arguments exit 2, a port in use 1; --version names the distribution (in-process)."""
    with pytest.raises(SystemExit) as exited:
        cli.main(["client", "--header", "no colon", "ws://127.0.0.1:9/"])
    assert exited.value.code == 2
    assert "a header is NAME:VALUE" in capsys.readouterr().err
    assert cli.main(["client", "http://127.0.0.1:9/"]) == 2
    assert capsys.readouterr().err.startswith("error: a WebSocket URL starts with ws://")
    assert cli.main(["client", "--cafile", "ca.pem", "ws://127.0.0.1:9/"]) == 2
    assert capsys.readouterr().err == "error: --cafile is for wss:// URLs\n"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == cli.ExitStatus.CONNECT_FAILED
    assert capsys.readouterr().err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"trio-ws {ws.__version__} (Trio ")
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--unix", "x.sock", "--port", "1"])
    assert exited.value.code == 2
    assert "--unix listens on a socket file" in capsys.readouterr().err


# -- TLS, Unix sockets, the demo, the script --------------------------------------------


async def test_cafile_trusts_a_tls_serve(tmp_path: Path) -> None:
    """serve --certfile/--keyfile speaks wss://; the client trusts it with --cafile only."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    async with serving(
        "--port", "0",
        "--certfile", str(tmp_path / "cert.pem"),
        "--keyfile", str(tmp_path / "key.pem"),
    ) as served:
        assert served.url.startswith("wss://127.0.0.1:")
        trusted, untrusted = await together(
            client("--cafile", str(tmp_path / "ca.pem"), served.url, stdin=b"secret\n"),
            client(served.url, stdin=b"secret\n"),
        )
    assert (trusted.returncode, trusted.stdout, trusted.stderr) == (0, "< secret\n", "")
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert untrusted.stderr.count("\n") == 1


async def test_serve_on_a_unix_socket(tmp_path: Path) -> None:
    """serve --unix prints the ws+unix:// URL clients use, echoes, and removes the socket."""
    path = tmp_path / "echo.sock"
    async with serving("--unix", str(path), "--subprotocol", "chat") as served:
        assert served.url.startswith("ws+unix://%2F")
        async with ws.open_websocket_url(served.url, subprotocols=["chat"]) as connection:
            assert connection.subprotocol == "chat"
            await connection.send_message(b"\x00bytes")
            with trio.fail_after(STEP):
                assert await connection.get_message() == b"\x00bytes"
        await stops_with_1001(served)
    assert not path.exists()


async def test_demo_prints_what_it_did(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo still ends with "demo: done" (the README's first command relies on it)."""
    with trio.fail_after(STEP):
        await cli.demo()
    assert capsys.readouterr().out.endswith(
        "client: ping answered by pong\n"
        "client: closed with CloseReason<code=1000, name=NORMAL_CLOSURE, reason=None>\n"
        "demo: done\n"
    )


async def test_installed_trio_ws_script() -> None:
    """The trio-ws console script runs the same command line."""
    script = Path(sys.executable).with_name("trio-ws")
    if not script.exists():
        pytest.skip("no trio-ws script next to the interpreter: run `.venv/bin/pip install -e .`")
    ran = await run((str(script), "client", "--help"))
    assert ran.returncode == 0
    assert ran.stdout.startswith("usage: trio-ws client ")
    assert "--subprotocol NAME" in ran.stdout


# -- the examples ----------------------------------------------------------------------


async def test_example_client_closes_with_its_documented_command() -> None:
    """examples/client.py: ``/close 4000 done`` exits 0; a refused connection exits 1."""
    example = (sys.executable, str(ROOT / "examples" / "client.py"))
    async with recording_server() as server:
        ran, refused = await together(
            run((*example, server.url), b"hello\n/close 4000 done\n"),
            run((*example, f"ws://127.0.0.1:{free_port()}/")),
        )
        seen = await server.last()
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "< hello\n", "")
    assert seen.closed == ws.CloseReason(4000, "done")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: could not connect")


async def test_example_server_echoes_and_stops_on_sigterm() -> None:
    """examples/server.py prints its URL, echoes, and closes with 1001 on SIGTERM."""
    program = (sys.executable, str(ROOT / "examples" / "server.py"))
    async with serving("127.0.0.1", "0", program=program) as served:
        await stops_with_1001(served)


# -- the client in a terminal -------------------------------------------------------------


async def test_interactive_client_in_a_terminal() -> None:
    """Typed lines go out, echoes come back after "< ", the prompt is redrawn; /close exits 0."""
    async with recording_server() as server:

        def type_session() -> int | None:
            child = pexpect.spawn(
                sys.executable,
                ["-m", "ws", "client", "--subprotocol", "chat", server.url],
                cwd=str(ROOT),
                timeout=STEP,
                encoding="utf-8",
                dimensions=(24, 200),
            )
            try:
                child.expect_exact("subprotocol: chat")
                child.expect_exact("> ")
                child.sendline("hello")
                child.expect(r"< hello\r\n> ")  # the echo, then the prompt drawn again
                child.sendline("/ping")
                child.expect(r"\* pong after [\d.]+ ms")
                child.sendline("/close 4000 done")
                child.expect_exact("* closed: 4000 (PRIVATE_RESERVED) done")
                child.expect(pexpect.EOF)
                child.close()
                return child.exitstatus
            finally:
                child.close(force=True)

        status = await trio.to_thread.run_sync(type_session)
        seen = await server.last()
    assert status == 0
    assert seen.messages == ["hello"]
    assert seen.closed == ws.CloseReason(4000, "done")


async def test_interactive_end_of_input_closes_with_1000() -> None:
    """Ctrl-D at the prompt closes with 1000 and leaves the terminal line clean."""
    async with recording_server() as server:

        def type_session() -> int | None:
            child = pexpect.spawn(
                sys.executable, ["-m", "ws", "client", server.url], cwd=str(ROOT),
                timeout=STEP, encoding="utf-8",
            )
            try:
                child.expect_exact("> ")
                child.sendline("bye")
                child.expect_exact("< bye")
                child.sendeof()
                child.expect_exact("* closed: 1000 (NORMAL_CLOSURE)")
                child.expect(pexpect.EOF)
                child.close()
                return child.exitstatus
            finally:
                child.close(force=True)

        status = await trio.to_thread.run_sync(type_session)
        seen = await server.last()
    assert status == 0
    assert seen.closed == ws.CloseReason(1000, None)
    assert seen.messages == ["bye"]

