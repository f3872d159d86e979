"""examples/nginx: app.py behind a real nginx running examples/nginx/nginx.conf."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
import trio

import ws
from examples.nginx.app import PING_INTERVAL
from tests.examples.programs import EXAMPLES, STEP, Program, running
from tests.nginx import nginx_binary, running_nginx

APP = EXAMPLES / "nginx" / "app.py"
CONF = EXAMPLES / "nginx" / "nginx.conf"

#: Where nginx.conf expects the app; the test puts the app's real port there.
CONF_UPSTREAM = "server 127.0.0.1:8000;"


def nginx_config(app_port: int) -> tuple[str, str]:
    """nginx.conf for ``running_nginx``: ``(http-level part, server block body)``.

    The templating step README.md describes: the upstream points at the
    app's port; ``listen`` and ``server_name`` go (the harness sets them).
    """
    text = CONF.read_text()
    assert text.count(CONF_UPSTREAM) == 1, f"nginx.conf names the upstream {CONF_UPSTREAM} once"
    text = text.replace(CONF_UPSTREAM, f"server 127.0.0.1:{app_port};")
    http_part, found, server = text.partition("\nserver {\n")
    assert found, "nginx.conf has a server block at the top level"
    body = server.rstrip()
    assert body.endswith("}"), "the server block closes at the end of nginx.conf"
    lines = [
        line
        for line in body[:-1].splitlines()
        if not line.strip().startswith(("listen ", "server_name "))
    ]
    return http_part, "\n".join(lines)


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    """A plain HTTP/1.1 GET: the status and the body (read until the server closes)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(request)
            data = bytearray()
            while chunk := await stream.receive_some():
                data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def app_port(app: Program) -> int:
    """The port the app printed on its first line."""
    line = await app.read_line()
    match = re.fullmatch(r"app: listening on http://127\.0\.0\.1:(\d+)", line)
    assert match is not None, line
    return int(match.group(1))


def test_nginx_waits_longer_than_the_ping_interval() -> None:
    """proxy_read_timeout (and proxy_send_timeout) exceed the app's ping interval."""
    text = CONF.read_text()
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        match = re.search(rf"^\s*{directive} (\d+)s;$", text, re.MULTILINE)
        assert match is not None, directive
        assert int(match.group(1)) > PING_INTERVAL, directive


async def test_websocket_and_health_check_through_nginx_then_a_graceful_stop(tmp_path: Path) -> None:
    """Through nginx: /healthz is 200, a client is welcomed with its address and echoed; SIGTERM closes it with 1001."""
    nginx_binary()  # skips the test, saying how to get nginx, if it is missing
    async with running(APP, "--port", "0", tmp_path=tmp_path) as app:
        http_config, server_body = nginx_config(await app_port(app))
        async with running_nginx(server_body, http_config=http_config) as port:
            assert await http_get(port, "/healthz") == (200, b"ok\n")

            async with trio.open_nursery() as nursery:
                with trio.fail_after(STEP):
                    # The client claims an address: nginx appends the real one,
                    # and the app believes only that.
                    client = await ws.connect_websocket_url(
                        nursery,
                        f"ws://127.0.0.1:{port}/echo",
                        extra_headers=[("X-Forwarded-For", "203.0.113.7")],
                    )
                    welcome = await client.get_message()
                    assert isinstance(welcome, str)
                    assert json.loads(welcome) == {
                        "client": "127.0.0.1",
                        "forwarded_for": "203.0.113.7, 127.0.0.1",
                        "proto": "http",
                    }
                    assert await app.read_line() == "app: 127.0.0.1 connected via 127.0.0.1"
                    for message in ("hello", b"\x00" * 300_000, "✓" * 10_000):
                        await client.send_message(message)
                        assert await client.get_message() == message

                app.signal(signal.SIGTERM)
                with pytest.raises(ws.ConnectionClosed) as closed, trio.fail_after(STEP):
                    await client.get_message()
                reason = closed.value.reason
                assert (reason.code, reason.reason) == (1001, "server shutting down")

            assert await app.wait() == 0, app.stderr()
            assert app.lines[-2:] == ["app: SIGTERM, shutting down", "app: stopped"]
            assert "Traceback" not in app.stderr()
            # The app is gone: nginx answers for it.
            assert (await http_get(port, "/healthz"))[0] == 502
