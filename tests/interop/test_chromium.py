"""Interop with headless Chromium: a page served by the test talks to a ws server.

Browsers are clients only, and their JavaScript cannot send pings, so these
runs cover "ws pings the browser" but not the other direction. Chromium
always offers permessage-deflate; in ``plain`` mode the ws server declines.

For ``wss``, Chromium is told to accept exactly our test certificate with
``--ignore-certificate-errors-spki-list`` (a pin of the certificate's public
key, honoured because a ``--user-data-dir`` is given). Trusting the trustme
CA properly would mean building an NSS database with ``certutil``, which is
not installed here; the pin is narrower than ``--ignore-certificate-errors``:
any other certificate still fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import attrs
import h11
import pytest
import trio

from tests.interop.constants import OUR_CLOSE_CODE, OUR_CLOSE_REASON, PEER_CLOSE_CODE, peer_config
from tests.interop.harness import (
    COMPRESSION_MODES,
    INTEROP_DIR,
    SCHEMES,
    Certificates,
    CompressionMode,
    Scheme,
    find_program,
    require,
    run_peer,
    serve_ours,
)
from tests.interop.scenario import STEP_TIMEOUT, converse_and_close, let_peer_close

PAGE = INTEROP_DIR / "browser" / "peer.html"
CHROMIUM_HINT = "apt-get install chromium (scripts/install-peers does it as root)"
#: Seconds for a whole run, including Chromium's start-up.
RUN_TIMEOUT = 45
_MAX_REPORT = 65536


@attrs.define(eq=False)
class PageServer:
    """A tiny HTTP server on 127.0.0.1: ``GET /peer.html`` and ``POST /report``."""

    port: int = 0
    reports: trio.MemorySendChannel[bytes] | None = None

    async def handle(self, stream: trio.SocketStream) -> None:
        """Answer one request on a fresh connection, then close it."""
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = bytearray()
        with trio.move_on_after(STEP_TIMEOUT):
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > _MAX_REPORT:
                        return
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    return
            assert request is not None
            status, content_type, content = await self._respond(request, bytes(body))
            headers = [
                ("content-type", content_type),
                ("content-length", str(len(content))),
                ("cache-control", "no-store"),
                ("connection", "close"),
            ]
            await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
            await stream.send_all(conn.send(h11.Data(data=content)) + conn.send(h11.EndOfMessage()))
        await stream.aclose()

    async def _respond(self, request: h11.Request, body: bytes) -> tuple[int, str, bytes]:
        target = request.target.split(b"?", 1)[0]
        if request.method == b"GET" and target == b"/peer.html":
            return 200, "text/html; charset=utf-8", PAGE.read_bytes()
        if request.method == b"POST" and target == b"/report" and self.reports is not None:
            await self.reports.send(body)
            return 204, "text/plain", b""
        return 404, "text/plain", b"not found\n"


@contextlib.asynccontextmanager
async def serve_page() -> AsyncIterator[tuple[PageServer, trio.MemoryReceiveChannel[bytes]]]:
    """Serve the page until the block ends; yield the server and its reports."""
    send, receive = trio.open_memory_channel[bytes](1)
    page = PageServer(reports=send)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, page.handle, 0, host="127.0.0.1"))
        page.port = listeners[0].socket.getsockname()[1]
        try:
            yield page, receive
        finally:
            nursery.cancel_scope.cancel()


def chromium_argv(program: str, profile: Path, page_url: str, spki_pin: str | None) -> list[str]:
    """The command line starting headless Chromium on ``page_url``."""
    argv = [
        program,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    if spki_pin is not None:
        argv.append(f"--ignore-certificate-errors-spki-list={spki_pin}")
    return [*argv, page_url]


@pytest.fixture
def chromium() -> str:
    """The Chromium program; skips when it is not installed."""
    program = find_program("chromium", "/usr/bin/chromium")
    require(program, "chromium", CHROMIUM_HINT)
    assert program is not None
    return program


@pytest.mark.parametrize("mode", COMPRESSION_MODES)
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_peer_is_client(
    scheme: Scheme, mode: CompressionMode, certs: Certificates, chromium: str, tmp_path: Path
) -> None:
    """Chromium and a ws server talk; ws pings the browser; both close with code and reason."""
    profile = tmp_path / "profile"
    profile.mkdir()
    env = {**os.environ, "HOME": str(tmp_path)}  # keep Chromium out of the real home
    with trio.fail_after(RUN_TIMEOUT):
        async with serve_ours(scheme, mode, certs) as ours, serve_page() as (page, reports):
            query = urllib.parse.urlencode({"url": ours.url, "config": peer_config()})
            page_url = f"http://127.0.0.1:{page.port}/peer.html?{query}"
            pin = certs.leaf_spki_sha256() if scheme == "wss" else None
            argv = chromium_argv(chromium, profile, page_url, pin)
            async with run_peer(argv, tmp_path / "chromium.stderr", env=env, capture_stdout=False):
                # Chromium's first start in a fresh profile takes a few seconds.
                first = await ours.next_connection(timeout=RUN_TIMEOUT - STEP_TIMEOUT)
                await converse_and_close(first, compressed=mode == "deflate", peer_can_ping=False)
                await let_peer_close(await ours.next_connection())
                with trio.fail_after(STEP_TIMEOUT):
                    report = json.loads(await reports.receive())
    assert "error" not in report, report["error"]
    closes = report["closes"]
    assert closes[0] == {"code": OUR_CLOSE_CODE, "reason": OUR_CLOSE_REASON, "wasClean": True}
    assert closes[1]["code"] == PEER_CLOSE_CODE
    assert closes[1]["wasClean"] is True
