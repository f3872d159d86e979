"""Real proxies for the client's proxy tests, each on 127.0.0.1 and a free port.

- :func:`running_tinyproxy`: an HTTP ``CONNECT`` proxy (tinyproxy), with or
  without Basic credentials, or with ``CONNECT`` switched off; its log
  shows each ``CONNECT`` request.
- :func:`running_microsocks`: a SOCKS5 proxy (microsocks), optionally with
  a user and password.
- :func:`running_dante`: a SOCKS4/SOCKS5 proxy (Dante's ``danted``).
- :func:`running_tls_front`: TLS in front of another proxy (a Trio server
  with a trustme certificate that pipes each connection to the proxy), which
  makes an ``https://`` proxy out of tinyproxy: tinyproxy has no TLS of its
  own, and squid's TLS port needs a build Debian does not ship by default.

Each one is a context manager that starts the program in a session of its
own, waits (bounded) until its port accepts connections, and kills the
whole process group when the block ends. A missing program skips the test
with a message saying how to get it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import attrs
import pytest
import trio

#: Seconds a proxy has to start listening, or to exit when told to.
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0

INSTALL_HINT = (
    "apt-get install tinyproxy microsocks dante-server, or run scripts/install-peers"
)


@attrs.frozen
class RunningProxy:
    """A proxy program that runs until its context manager's block ends.

    Attributes:
        port: Where it listens, on 127.0.0.1.
        url: Its URL, with credentials if it wants some (e.g.
            ``http://user:pass@127.0.0.1:PORT``).
        log_path: The file its log goes to.
    """

    port: int
    url: str
    log_path: Path

    def log(self) -> str:
        """Its log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def find_binary(name: str, *candidates: str) -> str:
    """The path of a proxy program; skip the test if it is not installed."""
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: {INSTALL_HINT}")
    return found


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _accepts(port: int) -> bool:
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError:
        return False
    await trio.aclose_forcefully(stream)
    return True


async def _stop(process: trio.Process) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers, and reap the leader."""
    with trio.CancelScope(shield=True):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if process.returncode is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            with trio.move_on_after(STOP_TIMEOUT):
                await process.wait()
        # Children (danted's) that outlived the leader go with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


@asynccontextmanager
async def _running(
    name: str, argv_for: partial[list[str]], log_path: Path, url_for: partial[str]
) -> AsyncIterator[RunningProxy]:
    """Start ``argv_for(port=...)`` on a free port (three tries), yield it, stop it."""
    for _attempt in range(3):
        port = free_port()
        with log_path.open("ab") as log:
            process = await trio.lowlevel.open_process(
                argv_for(port=port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        try:
            with trio.move_on_after(START_TIMEOUT):
                while process.returncode is None and not await _accepts(port):
                    await trio.sleep(0.005)
            if process.returncode is None and await _accepts(port):
                yield RunningProxy(port, url_for(port=port), log_path)
                return
        finally:
            await _stop(process)
        # Another process took the port first, or the program failed: retry.
    raise AssertionError(f"{name} did not start:\n{log_path.read_text(errors='replace')}")


def _tinyproxy_argv(binary: str, directory: Path, settings: str, *, port: int) -> list[str]:
    config = directory / "tinyproxy.conf"
    config.write_text(
        f"Port {port}\n"
        "Listen 127.0.0.1\n"
        "Timeout 10\n"
        "MaxClients 50\n"
        "LogLevel Connect\n"
        f'LogFile "{directory / "tinyproxy.log"}"\n'
        "Allow 127.0.0.1\n"
        f"{settings}"
    )
    return [binary, "-d", "-c", str(config)]


def _url(scheme: str, credentials: str, *, port: int) -> str:
    return f"{scheme}://{credentials}127.0.0.1:{port}"


@asynccontextmanager
async def running_tinyproxy(
    *, user: str | None = None, password: str | None = None, allow_connect: bool = True
) -> AsyncIterator[RunningProxy]:
    """tinyproxy: an HTTP proxy that allows ``CONNECT`` to any port.

    Args:
        user, password: Require these Basic credentials (``BasicAuth``);
            the yielded URL carries them.
        allow_connect: ``False`` switches ``CONNECT`` off (``ConnectPort 0``):
            every tunnel request is refused with 403.
    """
    binary = find_binary("tinyproxy", "/usr/bin/tinyproxy", "/usr/sbin/tinyproxy")
    settings = ""
    credentials = ""
    if user is not None:
        settings += f"BasicAuth {user} {password}\n"
        credentials = f"{user}:{password}@"
    if not allow_connect:
        settings += "ConnectPort 0\n"
    with tempfile.TemporaryDirectory(prefix="ws-tinyproxy-") as tmp:
        directory = Path(tmp)
        async with _running(
            "tinyproxy",
            partial(_tinyproxy_argv, binary, directory, settings),
            directory / "tinyproxy.log",
            partial(_url, "http", credentials),
        ) as proxy:
            yield proxy


def _microsocks_argv(
    binary: str, user: str | None, password: str | None, *, port: int
) -> list[str]:
    argv = [binary, "-i", "127.0.0.1", "-p", str(port)]
    if user is not None:
        argv += ["-u", user, "-P", password or ""]
    return argv


@asynccontextmanager
async def running_microsocks(
    *, user: str | None = None, password: str | None = None, scheme: str = "socks5"
) -> AsyncIterator[RunningProxy]:
    """microsocks: a SOCKS5 proxy; with ``user``, it requires that user and password.

    The yielded URL has ``scheme`` (``socks5`` or ``socks5h``) and the credentials.
    """
    binary = find_binary("microsocks", "/usr/bin/microsocks")
    credentials = f"{user}:{password}@" if user is not None else ""
    with tempfile.TemporaryDirectory(prefix="ws-microsocks-") as tmp:
        async with _running(
            "microsocks",
            partial(_microsocks_argv, binary, user, password),
            Path(tmp) / "microsocks.log",
            partial(_url, scheme, credentials),
        ) as proxy:
            yield proxy


def _dante_argv(binary: str, directory: Path, *, port: int) -> list[str]:
    config = directory / "danted.conf"
    config.write_text(
        "logoutput: stderr\n"
        f"internal: 127.0.0.1 port = {port}\n"
        "external: 127.0.0.1\n"
        "socksmethod: none\n"
        "clientmethod: none\n"
        "user.privileged: root\n"
        "user.unprivileged: nobody\n"
        "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
        "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }\n"
    )
    return [binary, "-f", str(config), "-N", "1"]


@asynccontextmanager
async def running_dante(*, scheme: str = "socks4") -> AsyncIterator[RunningProxy]:
    """Dante's ``danted``: a SOCKS4 and SOCKS5 proxy without authentication.

    Dante 1.4 does not do the SOCKS4a extension (names resolved by the
    proxy): use it for ``socks4://``.
    """
    binary = find_binary("danted", "/usr/sbin/danted")
    with tempfile.TemporaryDirectory(prefix="ws-dante-") as tmp:
        directory = Path(tmp)
        async with _running(
            "danted",
            partial(_dante_argv, binary, directory),
            directory / "danted.log",
            partial(_url, scheme, ""),
        ) as proxy:
            yield proxy


async def _pipe(source: trio.abc.ReceiveStream, sink: trio.abc.SendStream) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    if isinstance(sink, trio.abc.HalfCloseableStream):
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await sink.send_eof()


async def _front(context: ssl.SSLContext, upstream_port: int, stream: trio.SocketStream) -> None:
    tls = trio.SSLStream(stream, context, server_side=True)
    try:
        await tls.do_handshake()
        upstream = await trio.open_tcp_stream("127.0.0.1", upstream_port)
    except (OSError, trio.BrokenResourceError):
        await trio.aclose_forcefully(tls)
        return
    async with tls, upstream:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pipe, tls, upstream)
            await _pipe(upstream, tls)
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def running_tls_front(
    context: ssl.SSLContext, upstream: RunningProxy, *, accepted: list[int] | None = None
) -> AsyncIterator[int]:
    """Serve TLS with ``context`` on a free port, piping each connection to ``upstream``.

    Args:
        context: The server context, with a certificate for 127.0.0.1.
        upstream: The plain proxy behind it.
        accepted: If given, each accepted connection's client port is added to it.

    Yields:
        The TLS port on 127.0.0.1.
    """

    async def handler(stream: trio.SocketStream) -> None:
        if accepted is not None:
            accepted.append(stream.socket.getpeername()[1])
        await _front(context, upstream.port, stream)

    async with trio.open_nursery() as nursery:
        listeners: Sequence[trio.SocketListener] = await nursery.start(
            partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
        )
        yield int(listeners[0].socket.getsockname()[1])
        nursery.cancel_scope.cancel()
