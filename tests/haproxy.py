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
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

from tests.daemons import free_port, listening, stop_daemon

__all__ = ["HAPROXY_MISSING", "RunningHAProxy", "haproxy_binary", "running_haproxy"]

#: The skip message when HAProxy is not installed.
HAPROXY_MISSING = "haproxy not found: apt-get install haproxy, or run scripts/install-peers"

#: Where the configuration names the address to listen on.
LISTEN = "{listen}"

#: Seconds HAProxy gets to start listening.
_START_TIMEOUT = 10.0


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




def _log(directory: Path) -> str:
    path = directory / "output.log"
    return path.read_text(errors="replace") if path.exists() else "(no output)"


async def _start(binary: str, directory: Path, config: str) -> tuple[trio.Process, int] | None:
    """HAProxy listening on a free port, or ``None`` if another process took that port first."""
    port = free_port()
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
            while process.returncode is None and not await listening(port):
                await trio.sleep(0.01)
        if process.returncode is None and await listening(port):
            return process, port
    except BaseException:
        await stop_daemon(process)
        raise
    await stop_daemon(process)
    log = _log(directory)
    if "Address already in use" in log or "cannot bind socket" in log:
        return None
    raise AssertionError(f"haproxy did not start on port {port}:\n{log}\nwith:\n{path.read_text()}")



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
            await stop_daemon(process)
