"""examples/unix: the server on a socket file and the ws+unix:// client, run as programs."""

from __future__ import annotations

import os
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.examples.programs import EXAMPLES, run, running

SERVER = EXAMPLES / "unix" / "server.py"
CLIENT = EXAMPLES / "unix" / "client.py"


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short directory for socket files (a Unix socket path has at most 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="ws-unix-") as directory:
        yield Path(directory)


async def test_the_client_is_greeted_by_its_pid_and_gets_its_echo(tmp_path: Path, socket_dir: Path) -> None:
    """The socket file is 0o600; the greeting names the client's pid and uid; SIGTERM removes the file."""
    path = socket_dir / "app sock"  # a space: the URL must encode it
    async with running(SERVER, str(path), tmp_path=tmp_path) as server:
        line = await server.read_line()
        encoded = str(path).replace("/", "%2F").replace(" ", "%20")
        assert line == f"unix: listening on ws+unix://{encoded}/"
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600

        async with running(CLIENT, str(path), "hello", "wörld", tmp_path=tmp_path) as client:
            assert await client.wait() == 0, client.stderr()
            assert client.lines == [
                f"server says: hello, process {client.process.pid} of user {os.getuid()}",
                "received: hello",
                "received: wörld",
            ]
        assert await server.read_line() == f"unix: process {client.process.pid} of user {os.getuid()} connected"

        server.signal(signal.SIGTERM)
        assert await server.wait() == 0, server.stderr()
        assert server.lines[-1] == "unix: stopped"
        assert not path.exists()


async def test_the_client_says_when_nobody_listens(socket_dir: Path) -> None:
    """No socket file: exit status 1 and a message naming the path."""
    path = socket_dir / "nobody.sock"
    result = await run(CLIENT, str(path), "hello")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"could not connect to {path}: ")
    assert "No such file or directory" in result.stderr
