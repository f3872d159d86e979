"""Plain HTTP on a ws server's port, as real HTTP clients see it: curl and http.client.

The server runs in the test's own Trio run on 127.0.0.1; curl runs as a
program (``trio.run_process``), the standard library's ``http.client`` in
a worker thread. Both must get what the ``process_request`` hooks and the
router answer: a health check, 404 for unknown paths, a POST answered
without its body being read.
"""

from __future__ import annotations

import contextlib
import http.client
import shutil
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import attrs
import pytest
import trio

import ws

CURL_HINT = "install curl: apt-get install curl"
#: Seconds any one exchange may take.
STEP = 10


async def hook(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
    """``/health`` answers OK; a POST anywhere is queued (its body is never read)."""
    if request.path == "/health":
        return ws.HTTPResponse(200, headers={"X-Check": "ok"}, body="OK\n")
    if request.method == "POST":
        assert request.has_body
        return ws.HTTPResponse(202, body=f"queued {request.header('content-length')} bytes\n")
    return None


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[int]:
    """A ws server with the hook and a one-route Router; yields its port."""
    router = ws.Router()

    @router.route("/room/{name}")
    async def room(request: ws.WebSocketRequest, name: str) -> None:
        connection = await request.accept()
        await connection.send_message(f"welcome to {name}")

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(ws.serve_websocket, router, "127.0.0.1", 0, None, process_request=hook)
            )
            assert isinstance(server, ws.WebSocketServer)
            yield server.port
            nursery.cancel_scope.cancel()


@attrs.frozen
class Response:
    """A response as a client got it."""

    status: int
    headers: dict[str, str]
    body: bytes


def parse_curl_output(output: bytes) -> Response:
    """The final response in ``curl -i`` output (interim 1xx responses skipped)."""
    while True:
        head, _, rest = output.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        if status >= 200:
            break
        output = rest
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(status, headers, rest)


@pytest.fixture
def curl() -> str:
    """The curl program; skips when it is not installed."""
    program = shutil.which("curl")
    if program is None:
        pytest.skip(f"curl is missing: {CURL_HINT}")
    return program


async def run_curl(curl: str, *args: str) -> Response:
    """Run curl with ``args`` (it must succeed) and parse the response it printed."""
    argv = [curl, "--silent", "--show-error", "--include", "--noproxy", "*", "--max-time", str(STEP)]
    with trio.fail_after(STEP + 5):
        result = await trio.run_process([*argv, *args], capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return parse_curl_output(result.stdout)


async def test_curl_get_and_head_a_health_check(curl: str) -> None:
    """curl gets 200 and the body from a hook; ``curl -I`` (HEAD) gets the same head, no body."""
    async with serving() as port:
        got = await run_curl(curl, f"http://127.0.0.1:{port}/health")
        assert (got.status, got.body) == (200, b"OK\n")
        assert got.headers["x-check"] == "ok"
        assert got.headers["content-type"] == "text/plain; charset=utf-8"
        head = await run_curl(curl, "--head", f"http://127.0.0.1:{port}/health")
        assert (head.status, head.body) == (200, b"")
        assert head.headers["content-length"] == "3"
        assert head.headers["x-check"] == "ok"


async def test_curl_gets_404_for_a_path_no_route_matches(curl: str) -> None:
    """A Router answers paths it has no route for with 404, and plain GETs of a route with 426."""
    async with serving() as port:
        got = await run_curl(curl, f"http://127.0.0.1:{port}/nowhere")
        assert (got.status, got.body) == (404, b"404 Not Found\n")
        got = await run_curl(curl, f"http://127.0.0.1:{port}/room/a/b")
        assert got.status == 404
        # The route exists, but curl asks for a page, not a WebSocket.
        got = await run_curl(curl, f"http://127.0.0.1:{port}/room/lobby")
        assert got.status == 426
        assert got.headers["upgrade"].lower() == "websocket"


@pytest.mark.parametrize("size", [5, 300_000, 3_000_000])
@pytest.mark.parametrize("expect", ["default", "none"])
async def test_curl_post_with_a_body_is_answered_by_the_hook(
    curl: str, tmp_path: Path, size: int, expect: str
) -> None:
    """A POST of any size gets the hook's answer, whole, though the server never reads the body.

    ``expect="none"`` stops curl from sending ``Expect: 100-continue`` for
    big bodies, so it sends the body at once, while the server answers and
    closes: the response must still reach it.
    """
    body = tmp_path / "body"
    body.write_bytes(b"x" * size)
    extra = ["--header", "Expect:"] if expect == "none" else []
    async with serving() as port:
        got = await run_curl(
            curl, *extra, "--data-binary", f"@{body}", f"http://127.0.0.1:{port}/upload"
        )
    assert (got.status, got.body) == (202, f"queued {size} bytes\n".encode())
    assert got.headers["connection"] == "close"


def stdlib_request(port: int, method: str, path: str, body: bytes | None = None) -> Response:
    """One request with the standard library's ``http.client`` (blocking: run it in a thread)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=STEP)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        data = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Response(response.status, headers, data)
    finally:
        connection.close()


async def test_http_client_from_the_standard_library() -> None:
    """http.client gets the same answers: GET and HEAD of a hook, 404, a POST with a body."""
    async with serving() as port:
        run = trio.to_thread.run_sync
        got = await run(stdlib_request, port, "GET", "/health", None)
        assert (got.status, got.body, got.headers["x-check"]) == (200, b"OK\n", "ok")
        got = await run(stdlib_request, port, "HEAD", "/health", None)
        assert (got.status, got.body, got.headers["content-length"]) == (200, b"", "3")
        got = await run(stdlib_request, port, "GET", "/nowhere", None)
        assert (got.status, got.body) == (404, b"404 Not Found\n")
        got = await run(stdlib_request, port, "POST", "/upload", b"hello")
        assert (got.status, got.body) == (202, b"queued 5 bytes\n")


async def test_the_websocket_route_still_works_next_to_plain_http(curl: str) -> None:
    """After curl's plain requests, a WebSocket client still reaches the route."""
    async with serving() as port:
        assert (await run_curl(curl, f"http://127.0.0.1:{port}/health")).status == 200
        async with ws.open_websocket_url(f"ws://127.0.0.1:{port}/room/lobby") as connection:
            with trio.fail_after(STEP):
                assert await connection.get_message() == "welcome to lobby"
