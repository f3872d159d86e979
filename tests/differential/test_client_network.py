"""The client on real networks, run on trio-websocket and on ws: redirects and proxies.

trio-websocket follows no redirect and reads no proxy from the
environment; ws does both (issue 15). Each scenario shows the difference
and that the setting named in DIVERGENCES restores the old behaviour.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import partial

import trio

import ws
from tests.differential.harness import Lib, Observations, scenario


async def _redirecting_server(nursery: trio.Nursery) -> int:
    """A ws server on loopback that sends /old to /new and echoes there; returns its port."""

    async def redirect(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        if request.path == "/old":
            return ws.HTTPResponse(302, headers=[("Location", "/new")])
        return None

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message(connection.path)

    server = await nursery.start(
        partial(ws.serve_websocket, handler, "127.0.0.1", 0, None, process_request=redirect)
    )
    port: int = server.port
    return port


@scenario(uses=["open_websocket_url", "ConnectionRejected"], diverges={"GET /old": "redirects-followed"})
async def test_a_redirect_answer(lib: Lib, seen: Observations) -> None:
    """A 302 to the opening request: trio-websocket raises ConnectionRejected, ws follows it."""
    async with trio.open_nursery() as nursery:
        port = await _redirecting_server(nursery)
        url = f"ws://127.0.0.1:{port}/old"
        outcome: tuple[str, object]
        try:
            async with lib.mod.open_websocket_url(url) as connection:
                outcome = ("connected", await connection.get_message())
        except lib.mod.ConnectionRejected as rejected:
            outcome = ("rejected", rejected.status_code)
        seen["GET /old"] = outcome
        if lib.is_ws:  # what restores trio-websocket's behaviour
            try:
                async with lib.mod.open_websocket_url(url, max_redirects=0):
                    pass
            except lib.mod.ConnectionRejected as rejected:
                outcome = ("rejected", rejected.status_code)
        seen["GET /old with max_redirects=0"] = outcome
        nursery.cancel_scope.cancel()


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@scenario(uses=["open_websocket_url"], diverges={"with HTTP_PROXY set": "proxy-from-environment"})
async def test_a_proxy_in_the_environment(lib: Lib, seen: Observations) -> None:
    """HTTP_PROXY names a proxy: ws goes through it (here it is not there), trio-websocket ignores it."""
    async with trio.open_nursery() as nursery:
        port = await _redirecting_server(nursery)
        url = f"ws://127.0.0.1:{port}/new"
        # Port 1 on loopback: nothing listens there.
        with _environment(HTTP_PROXY="http://127.0.0.1:1", http_proxy="http://127.0.0.1:1"):
            outcome: tuple[str, object]
            try:
                async with lib.mod.open_websocket_url(url) as connection:
                    outcome = ("direct", await connection.get_message())
            except OSError as exc:
                outcome = ("through the proxy", type(exc).__name__)
            seen["with HTTP_PROXY set"] = outcome
            if lib.is_ws:  # what restores trio-websocket's behaviour
                async with lib.mod.open_websocket_url(url, proxy=None) as connection:
                    outcome = ("direct", await connection.get_message())
            seen["with HTTP_PROXY set and proxy=None"] = outcome
        nursery.cancel_scope.cancel()
