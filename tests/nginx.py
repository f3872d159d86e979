"""A real nginx on loopback for tests: ``async with running_nginx(server_block) as port``.

The nginx binary of the distribution (``/usr/sbin/nginx``, or ``nginx`` on
``PATH``) runs in the foreground as one process (``daemon off``,
``master_process off``) with every file it writes (pid, error log, temporary
buffers) in a fresh temporary directory, listening on ``127.0.0.1`` and a
free port. The caller writes what goes inside ``server { ... }``; nginx's
own ``$server_port`` names the port there, e.g.::

    async with running_nginx("location / { return 301 http://127.0.0.1:$server_port/b; }") as port:
        ...

and ``http_config`` adds directives at the ``http`` level (an ``upstream``,
``map``...). Without nginx the test skips, saying how to get it. A config
nginx refuses fails the test with nginx's error log.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from tests.daemons import free_port, listening, stop_daemon

__all__ = ["NGINX_MISSING", "nginx_binary", "running_nginx"]

#: The skip message when nginx is not installed.
NGINX_MISSING = "nginx not found: apt-get install nginx, or run scripts/install-peers"

#: Seconds nginx gets to start listening.
_START_TIMEOUT = 10.0


def nginx_binary() -> str:
    """The path of the nginx binary; skips the test when there is none."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip(NGINX_MISSING)
    return found



def _config(directory: Path, port: int, server: str, http_config: str) -> str:
    """The whole nginx.conf around the caller's ``server`` block body."""
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    return f"""
daemon off;
master_process off;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} info;
events {{
    worker_connections 256;
}}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
{http_config}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
{server}
    }}
}}
"""



def _log(directory: Path) -> str:
    path = directory / "error.log"
    return path.read_text(errors="replace") if path.exists() else "(no error log)"


async def _start(binary: str, directory: Path, server: str, http_config: str) -> tuple[trio.Process, int] | None:
    """nginx listening on a free port, or ``None`` if another process took that port first."""
    port = free_port()
    (directory / "error.log").unlink(missing_ok=True)
    (directory / "nginx.conf").write_text(_config(directory, port, server, http_config))
    process = await trio.lowlevel.open_process(
        [binary, "-p", str(directory), "-c", str(directory / "nginx.conf"),
         "-e", str(directory / "error.log")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
    if "Address already in use" in log:
        return None
    raise AssertionError(f"nginx did not start on port {port}:\n{log}")



@asynccontextmanager
async def running_nginx(server: str, *, http_config: str = "") -> AsyncIterator[int]:
    """Run nginx on 127.0.0.1 until the block ends; yields its port.

    Args:
        server: The directives inside ``server { ... }`` (``listen`` is
            set already); ``$server_port`` is the port nginx listens on.
        http_config: Directives at the ``http`` level, before the server.

    Raises:
        pytest.skip.Exception: nginx is not installed.
        AssertionError: nginx refused the config or did not start listening
            (the message holds nginx's error log).
    """
    binary = nginx_binary()
    with tempfile.TemporaryDirectory(prefix="ws-nginx-") as tmp:
        directory = Path(tmp)
        for _attempt in range(3):
            for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                shutil.rmtree(directory / name, ignore_errors=True)
            started = await _start(binary, directory, server, http_config)
            if started is not None:
                break
        else:
            raise AssertionError(f"nginx found no free port in 3 attempts:\n{_log(directory)}")
        process, port = started
        try:
            yield port
        finally:
            await stop_daemon(process)
