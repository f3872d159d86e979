"""A real HAProxy on loopback for tests: ``async with running_haproxy(config) as haproxy``.

The HAProxy binary of the distribution (``/usr/sbin/haproxy``, or
``haproxy`` on ``PATH``) runs in the foreground as one process (``-db``)
with its configuration and its output in a fresh temporary directory. The
caller writes the whole configuration; ``{listen}`` in it stands for the
address HAProxy listens on, ``127.0.0.1`` and a free port, e.g.::

    config = '''
    defaults
        mode http
        timeout connect 2s
        timeout client 10s
        timeout server 10s
    frontend in
        bind {listen}
        default_backend app
    backend app
        server app1 127.0.0.1:8001
    '''
    async with running_haproxy(config) as haproxy:
        ...  # ws://127.0.0.1:{haproxy.port}/

Without HAProxy the test skips, saying how to get it. A configuration
HAProxy refuses fails the test with what HAProxy wrote.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

__all__ = ["HAPROXY_MISSING", "RunningHAProxy", "haproxy_binary", "running_haproxy"]

#: The skip message when HAProxy is not installed.
HAPROXY_MISSING = "haproxy not found: apt-get install haproxy, or run scripts/install-peers"

#: Where the configuration names the address to listen on.
LISTEN = "{listen}"

#: Seconds HAProxy gets to start listening, and to stop.
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


def haproxy_binary() -> str:
    """The path of the haproxy binary; skips the test when there is none."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip(HAPROXY_MISSING)
    return found


@attrs.frozen
class RunningHAProxy:
    """A running HAProxy: the port it listens on, and where its output goes."""

    port: int
    directory: Path

    def log(self) -> str:
        """What HAProxy wrote so far (its warnings, and its log if it logs to stdout)."""
        return _log(self.directory)


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return False
    await stream.aclose()
    return True


def _log(directory: Path) -> str:
    path = directory / "output.log"
    return path.read_text(errors="replace") if path.exists() else "(no output)"


async def _start(binary: str, directory: Path, config: str) -> tuple[trio.Process, int] | None:
    """HAProxy listening on a free port, or ``None`` if another process took that port first."""
    port = _free_port()
    path = directory / "haproxy.cfg"
    path.write_text(config.replace(LISTEN, f"127.0.0.1:{port}"))
    with (directory / "output.log").open("wb") as output:
        process = await trio.lowlevel.open_process(
            [binary, "-db", "-f", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    try:
        with trio.move_on_after(_START_TIMEOUT):
            while process.returncode is None and not await _listening(port):
                await trio.sleep(0.01)
        if process.returncode is None and await _listening(port):
            return process, port
    except BaseException:
        await _stop(process)
        raise
    await _stop(process)
    log = _log(directory)
    if "Address already in use" in log or "cannot bind socket" in log:
        return None
    raise AssertionError(f"haproxy did not start on port {port}:\n{log}\nwith:\n{path.read_text()}")


async def _stop(process: trio.Process) -> None:
    """Stop HAProxy (SIGTERM: it stops at once), and kill it if it lingers."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.terminate()
        with trio.move_on_after(_STOP_TIMEOUT):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


@asynccontextmanager
async def running_haproxy(config: str) -> AsyncIterator[RunningHAProxy]:
    """Run HAProxy on 127.0.0.1 until the block ends.

    Args:
        config: A whole haproxy.cfg; each ``{listen}`` in it is replaced
            with ``127.0.0.1:PORT``, a free port.

    Raises:
        pytest.skip.Exception: HAProxy is not installed.
        ValueError: ``config`` has no ``{listen}``.
        AssertionError: HAProxy refused the configuration or did not start
            listening (the message holds its output).
    """
    if LISTEN not in config:
        raise ValueError(f"the configuration names no address to listen on: no {LISTEN}")
    binary = haproxy_binary()
    with tempfile.TemporaryDirectory(prefix="ws-haproxy-") as tmp:
        directory = Path(tmp)
        for _attempt in range(3):
            started = await _start(binary, directory, config)
            if started is not None:
                break
        else:
            raise AssertionError(f"haproxy found no free port in 3 attempts:\n{_log(directory)}")
        process, port = started
        try:
            yield RunningHAProxy(port, directory)
        finally:
            await _stop(process)
