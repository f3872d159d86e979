"""Plumbing for the interop tests: certificates, a ws server, peer processes.

Everything here has a bound on how long it waits, and every process it
starts is killed on the way out, whatever happened.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Literal

import attrs
import pytest
import trio
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import ws
from tests.interop.constants import OFFERED_SUBPROTOCOLS, SUBPROTOCOL
from tests.interop.scenario import (
    STEP_TIMEOUT,
    PeerClose,
    check_peer_saw_close_echo,
    check_peer_saw_our_close,
    converse_and_close,
    let_peer_close,
)

#: The repository root (``tests/interop/harness.py`` is three levels down).
REPO_ROOT = Path(__file__).resolve().parents[2]
INTEROP_DIR = Path(__file__).resolve().parent
INSTALL_HINT = "run scripts/install-peers"

Scheme = Literal["ws", "wss"]
#: ``"deflate"``: both sides allow permessage-deflate and must agree on it.
#: ``"plain"``: ws turns compression off (as a client it does not offer it,
#: as a server it declines the peer's offer); the peer keeps its default.
CompressionMode = Literal["deflate", "plain"]

SCHEMES: tuple[Scheme, ...] = ("ws", "wss")
COMPRESSION_MODES: tuple[CompressionMode, ...] = ("plain", "deflate")


def ws_compression(mode: CompressionMode) -> Literal["deflate"] | None:
    """The ``compression=`` argument for ws in this mode."""
    return "deflate" if mode == "deflate" else None


@attrs.frozen
class Certificates:
    """A trustme CA and a certificate it issued for 127.0.0.1, also as PEM files.

    Attributes:
        ca: The certificate authority.
        leaf: The server certificate (for ``127.0.0.1`` and ``localhost``).
        ca_file: The CA certificate, PEM.
        cert_file: The server certificate chain, PEM.
        key_file: The server private key, PEM.
    """

    ca: trustme.CA
    leaf: trustme.LeafCert
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path) -> Certificates:
        """Make a CA and a server certificate, and write them to ``directory``."""
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        ca_file, cert_file, key_file = (directory / name for name in ("ca.pem", "cert.pem", "key.pem"))
        ca.cert_pem.write_to_path(str(ca_file))
        for blob in leaf.cert_chain_pems:
            blob.write_to_path(str(cert_file), append=True)
        leaf.private_key_pem.write_to_path(str(key_file))
        return cls(ca, leaf, ca_file, cert_file, key_file)

    def server_context(self) -> ssl.SSLContext:
        """A server context presenting the certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the CA (and checks host names)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        return context

    def leaf_spki_sha256(self) -> str:
        """Base64 SHA-256 of the server certificate's public key, as Chromium pins it."""
        cert = x509.load_pem_x509_certificate(self.leaf.cert_chain_pems[0].bytes())
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


# -- a ws server that hands each connection to the test ----------------------


@attrs.define(eq=False)
class OurServer:
    """A running ``ws.serve_websocket`` whose connections the test drives.

    The handler accepts each connection (choosing :data:`SUBPROTOCOL` when
    offered), hands it to the test through :meth:`next_connection` and keeps
    it open until the test is done with it.
    """

    url: str
    _connections: trio.MemoryReceiveChannel[tuple[ws.WebSocketConnection, trio.Event]]
    _done: list[trio.Event] = attrs.Factory(list)

    async def next_connection(self, timeout: float = STEP_TIMEOUT) -> ws.WebSocketConnection:
        """Wait for the next accepted connection; the previous one may end."""
        self.release()
        with trio.fail_after(timeout):
            conn, done = await self._connections.receive()
        self._done.append(done)
        return conn

    def release(self) -> None:
        """Let every handler handed out so far return."""
        for done in self._done:
            done.set()


@contextlib.asynccontextmanager
async def serve_ours(
    scheme: Scheme, mode: CompressionMode, certs: Certificates, path: str = "/"
) -> AsyncIterator[OurServer]:
    """Run a ws server on 127.0.0.1 (TLS for ``wss``) until the block ends."""
    send, receive = trio.open_memory_channel[tuple[ws.WebSocketConnection, trio.Event]](0)

    async def handler(request: ws.WebSocketRequest) -> None:
        offered = request.proposed_subprotocols
        conn = await request.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        done = trio.Event()
        await send.send((conn, done))
        await done.wait()

    context = certs.server_context() if scheme == "wss" else None
    async with trio.open_nursery() as nursery:
        server: ws.WebSocketServer = await nursery.start(
            partial(
                ws.serve_websocket,
                handler,
                "127.0.0.1",
                0,
                context,
                compression=ws_compression(mode),
                connect_timeout=STEP_TIMEOUT,
                disconnect_timeout=STEP_TIMEOUT,
            )
        )
        ours = OurServer(f"{scheme}://127.0.0.1:{server.port}{path}", receive)
        try:
            yield ours
        finally:
            ours.release()
            nursery.cancel_scope.cancel()


def open_ours(
    url: str, mode: CompressionMode, certs: Certificates
) -> contextlib.AbstractAsyncContextManager[ws.WebSocketConnection]:
    """Connect a ws client to a peer server, offering the test's subprotocols."""
    return ws.open_websocket_url(
        url,
        certs.client_context() if url.startswith("wss:") else None,
        subprotocols=OFFERED_SUBPROTOCOLS,
        compression=ws_compression(mode),
        connect_timeout=STEP_TIMEOUT,
        disconnect_timeout=STEP_TIMEOUT,
    )


# -- peer processes ------------------------------------------------------------


@attrs.define(eq=False)
class PeerProcess:
    """A peer program that reports to the test with JSON lines on its stdout."""

    process: trio.Process
    stderr_path: Path
    _buffer: bytearray = attrs.Factory(bytearray)

    async def read_json(self, timeout: float = STEP_TIMEOUT) -> object:
        """The next JSON line the peer printed; fails if it exits or is silent."""
        stdout = self.process.stdout
        assert stdout is not None
        with trio.fail_after(timeout):
            while b"\n" not in self._buffer:
                chunk = await stdout.receive_some(65536)
                if not chunk:
                    raise AssertionError(f"the peer exited early; its stderr:\n{self.stderr()}")
                self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer[:] = rest
        try:
            data: object = json.loads(line)
        except ValueError:
            raise AssertionError(f"the peer printed {line!r}; its stderr:\n{self.stderr()}") from None
        return data

    async def read_close(self) -> PeerClose:
        """The next per-connection close report."""
        return PeerClose.from_object(await self.read_json())

    async def wait_ok(self, timeout: float = STEP_TIMEOUT) -> None:
        """Wait for the peer to exit, and check it exited with status 0."""
        with trio.fail_after(timeout):
            await self.process.wait()
        assert self.process.returncode == 0, self.stderr()

    def stderr(self) -> str:
        """What the peer wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace")


@contextlib.asynccontextmanager
async def run_peer(
    argv: Sequence[str],
    stderr_path: Path,
    *,
    cwd: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
    capture_stdout: bool = True,
) -> AsyncIterator[PeerProcess]:
    """Start a peer program; kill it when the block ends, even on cancellation.

    The program runs in a session (and process group) of its own, and the
    whole group is killed, so helpers it started (Chromium's renderers) go
    too. With ``capture_stdout=False`` its stdout is discarded (and
    :meth:`PeerProcess.read_json` cannot be used).
    """
    with stderr_path.open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=stderr,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    peer = PeerProcess(process, stderr_path)
    try:
        yield peer
    except BaseException:
        print(f"{argv[0]} peer's stderr:\n{peer.stderr()}")  # pytest shows it on failure
        raise
    finally:
        await stop_process(process)


async def stop_process(process: trio.Process) -> None:
    """Kill a process if it still runs and reap it, within a few seconds."""
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + 5
        if process.returncode is None:  # not reaped: the group id is still ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


def find_program(name: str, *candidates: str) -> str | None:
    """The first existing path among ``candidates``, else ``name`` on PATH."""
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    return shutil.which(name)


def require(path: str | Path | None, what: str, hint: str = INSTALL_HINT) -> None:
    """Skip the test when an external program or package is missing."""
    if path is None or not Path(path).exists():
        pytest.skip(f"{what} is missing: {hint}")


# -- the two runs, for peers that are programs -----------------------------------

#: Seconds a whole run (two connections) may take.
RUN_TIMEOUT = 30


async def run_with_peer_client(
    client_argv: Callable[[str], Sequence[str]],
    scheme: Scheme,
    mode: CompressionMode,
    certs: Certificates,
    stderr_path: Path,
) -> None:
    """A ws server and a peer client program (``client_argv(url)``) run the scenario."""
    with trio.fail_after(RUN_TIMEOUT):
        async with serve_ours(scheme, mode, certs) as ours:
            async with run_peer(client_argv(ours.url), stderr_path) as peer:
                await converse_and_close(await ours.next_connection(), compressed=mode == "deflate")
                check_peer_saw_our_close(await peer.read_close())
                await let_peer_close(await ours.next_connection())
                check_peer_saw_close_echo(await peer.read_close())
                await peer.wait_ok()


async def run_with_peer_server(
    server_argv: Sequence[str],
    scheme: Scheme,
    mode: CompressionMode,
    certs: Certificates,
    stderr_path: Path,
) -> None:
    """A ws client and a peer server program (which prints its port) run the scenario."""
    with trio.fail_after(RUN_TIMEOUT):
        async with run_peer(server_argv, stderr_path) as peer:
            started = await peer.read_json()
            assert isinstance(started, dict) and isinstance(started.get("port"), int), started
            url = f"{scheme}://127.0.0.1:{started['port']}/"
            async with open_ours(url, mode, certs) as conn:
                await converse_and_close(conn, compressed=mode == "deflate")
            check_peer_saw_our_close(await peer.read_close())
            async with open_ours(url, mode, certs) as conn:
                await let_peer_close(conn)
            check_peer_saw_close_echo(await peer.read_close())
