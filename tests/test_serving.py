"""Serving real applications: process_request, Router, origins, basic auth, connections, aclose()."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Unpack

import pytest
import trio
import trio.testing

import ws
import ws.testing
from ws.server import Handler




@asynccontextmanager
async def serving(
    handler: Handler, **settings: Unpack[ws.ServerSettings]
) -> AsyncIterator[ws.WebSocketServer]:
    """A server on 127.0.0.1 and a free port, for the block."""
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(ws.serve_websocket, handler, "127.0.0.1", 0, None, **settings)
            )
            assert isinstance(server, ws.WebSocketServer)
            yield server
            nursery.cancel_scope.cancel()


async def http(port: int, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send a raw request; read the whole response (the server closes after it)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    fields = {}
    for line in lines:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), fields, body


def get(path: str, *extra: bytes, method: bytes = b"GET") -> bytes:
    return b"".join(
        [method, b" ", path.encode(), b" HTTP/1.1\r\nHost: localhost\r\n", *extra, b"\r\n"]
    )


async def echo(request: ws.WebSocketRequest) -> None:
    connection = await request.accept()
    async for message in connection:
        await connection.send_message(message)


async def health(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
    if request.path == "/health":
        return ws.HTTPResponse(200, headers={"X-Check": "ok"}, body="OK\n")
    return None


# process_request


async def test_get_health_with_a_hook_gets_200_and_the_body() -> None:
    async with serving(echo, process_request=health) as server:
        status, fields, body = await http(server.port, get("/health"))
    assert (status, body) == (200, b"OK\n")
    assert fields[b"x-check"] == b"ok"
    assert fields[b"content-length"] == b"3"
    assert fields[b"content-type"] == b"text/plain; charset=utf-8"
    assert fields[b"connection"] == b"close"
    assert fields[b"server"].startswith(b"trio-ws/")


async def test_head_gets_the_head_only_and_other_paths_go_on_to_the_websocket() -> None:
    async with serving(echo, process_request=health) as server:
        status, fields, body = await http(server.port, get("/health", method=b"HEAD"))
        assert (status, fields[b"content-length"], body) == (200, b"3", b"")
        # Not answered by the hook: today's answer to a plain GET, 426.
        status, fields, _ = await http(server.port, get("/other"))
        assert status == 426 and fields[b"upgrade"] == b"websocket"
        async with ws.open_websocket_url(f"ws://127.0.0.1:{server.port}/chat") as connection:
            await connection.send_message("hi")
            assert await connection.get_message() == "hi"


async def test_without_a_hook_non_upgrade_requests_keep_their_answers() -> None:
    async with serving(echo) as server:
        assert (await http(server.port, get("/health")))[0] == 426
        assert (await http(server.port, get("/", method=b"DELETE")))[0] == 405
        body_request = get("/", b"Content-Length: 5\r\n", method=b"POST") + b"hello"
        assert (await http(server.port, body_request))[0] == 400


async def test_the_hook_sees_every_request_with_its_parts() -> None:
    seen: list[ws.HTTPRequest] = []

    async def record(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        seen.append(request)
        if request.method == "POST":
            return ws.HTTPResponse(202, body=b"queued")
        return None

    async with serving(echo, process_request=record) as server:
        post = get("/hook?x=1&x=2&y", b"Content-Length: 100000\r\nCookie: a=b\r\n", method=b"POST")
        status, _, body = await http(server.port, post + b"z" * 1000)
        assert (status, body) == (202, b"queued")
        async with ws.open_websocket_url(f"ws://127.0.0.1:{server.port}/ws?room=a") as connection:
            await connection.send_message("x")
            await connection.get_message()
    post_request, upgrade = seen
    assert (post_request.method, post_request.path, post_request.query) == ("POST", "/hook", "x=1&x=2&y")
    assert post_request.query_params == {"x": ["1", "2"], "y": [""]}
    assert post_request.has_body and not post_request.is_websocket
    assert post_request.header("cookie") == "a=b" and post_request.header("COOKIE") == "a=b"
    assert str(post_request.remote.address) == "127.0.0.1"  # type: ignore[union-attr]
    assert (upgrade.method, upgrade.path, upgrade.resource) == ("GET", "/ws", "/ws?room=a")
    assert upgrade.is_websocket and not upgrade.has_body


async def test_hooks_in_a_sequence_the_first_answer_wins_and_state_reaches_the_handler() -> None:
    async def tag(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        request.state["tag"] = "from the hook"
        return None

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message(str(request.state["tag"]))

    async with serving(handler, process_request=[tag, health]) as server:
        assert (await http(server.port, get("/health")))[0] == 200
        async with ws.open_websocket_url(f"ws://127.0.0.1:{server.port}/") as connection:
            assert await connection.get_message() == "from the hook"


async def test_a_failing_hook_is_a_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        raise RuntimeError("bug in the hook")

    async def wrong(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        return "200 OK"  # type: ignore[return-value]

    for hook in (broken, wrong):
        async with serving(echo, process_request=hook) as server:
            status, _, _ = await http(server.port, get("/"))
        assert status == 500
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert "bug in the hook" in (errors[0].exc_text or "")
    assert "not an HTTPResponse" in errors[1].getMessage()


async def test_a_failing_hook_propagates_with_handler_errors_raise() -> None:
    async def broken(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        raise RuntimeError("bug in the hook")

    statuses: list[int] = []
    with pytest.raises(ExceptionGroup) as group:
        async with serving(echo, process_request=broken, handler_errors="raise") as server:
            statuses.append((await http(server.port, get("/")))[0])
            await trio.sleep_forever()
    # The server's own exception is the hook's, not a group; the client got its 500 first.
    (error,) = group.value.exceptions
    assert isinstance(error, RuntimeError) and str(error) == "bug in the hook"
    assert statuses == [500]


def test_http_response_checks_what_it_is_given() -> None:
    with pytest.raises(ValueError, match="200-599"):
        ws.HTTPResponse(101)
    with pytest.raises(TypeError, match="status_code is an int"):
        ws.HTTPResponse("200")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="body is bytes or str"):
        ws.HTTPResponse(200, body=3)  # type: ignore[arg-type]
    response = ws.HTTPResponse(404, headers=[(b"Content-Type", b"text/html")], body="<p>é</p>")
    assert response.body == "<p>é</p>".encode() and response.reason == "Not Found"
    assert response.fields() == [(b"Content-Type", b"text/html")]  # no second Content-Type


# Router


def test_router_templates_and_matching() -> None:
    router = ws.Router()

    @router.route("/room/{name}")
    async def room(request: ws.WebSocketRequest, name: str) -> None: ...

    @router.route("/item/{id:int}/{rest:path}")
    async def item(request: ws.WebSocketRequest, id: int, rest: str) -> None: ...

    assert router.match("/room/caf%C3%A9?x=1") == (router.routes[0], {"name": "café"})
    assert router.match("/item/-42/a/b%20c") == (router.routes[1], {"id": -42, "rest": "a/b c"})
    assert router.match("/item/x/a") is None
    assert router.match("/room/a/b") is None
    assert router.match("/room/") is None
    for bad, message in (
        ("room", "starts with '/'"),
        ("/{id:hex}", "unknown parameter kind"),
        ("/{1a}", "not an identifier"),
        ("/{a}/{a}", "appears twice"),
        ("/{a", "stray brace"),
    ):
        with pytest.raises(ValueError, match=message):
            router.add(bad, room)


async def test_router_runs_the_route_with_typed_parameters_and_404s_the_rest() -> None:
    router = ws.Router()
    calls: list[object] = []

    @router.route("/item/{id:int}")
    async def item(request: ws.WebSocketRequest, id: int) -> None:
        calls.append(id)
        connection = await request.accept()
        await connection.send_message(f"item {id + 1}")

    async with serving(router, process_request=health) as server:
        url = f"ws://127.0.0.1:{server.port}"
        async with ws.open_websocket_url(f"{url}/item/41") as connection:
            assert await connection.get_message() == "item 42"
        with pytest.raises(ws.ConnectionRejected) as rejected:
            async with ws.open_websocket_url(f"{url}/item/abc"):
                raise AssertionError("not reached")
        assert rejected.value.status_code == 404
        # Plain HTTP: unknown paths get 404 too, /health still reaches the hook.
        assert (await http(server.port, get("/nowhere")))[0] == 404
        assert (await http(server.port, get("/health")))[0] == 200
    assert calls == [41]


# origins


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://example.com", 101),
        ("https://app.example.org", 101),
        (None, 101),
        ("https://evil.example.com", 403),
        ("https://example.com.evil.net", 403),
        ("null", 403),
    ],
)
async def test_origins(origin: str | None, status: int) -> None:
    allowed: list[str | re.Pattern[str] | None] = [
        "https://example.com", re.compile(r"https://[a-z]+\.example\.org"), None
    ]
    async with serving(echo, origins=allowed) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        if status == 101:
            async with ws.open_websocket_url(url, origin=origin) as connection:
                await connection.send_message("ok")
                assert await connection.get_message() == "ok"
        else:
            with pytest.raises(ws.ConnectionRejected) as rejected:
                async with ws.open_websocket_url(url, origin=origin):
                    raise AssertionError("not reached")
            assert rejected.value.status_code == 403


async def test_without_none_in_origins_a_request_without_origin_is_refused() -> None:
    async with serving(echo, origins=["https://example.com"]) as server:
        with pytest.raises(ws.ConnectionRejected) as rejected:
            async with ws.open_websocket_url(f"ws://127.0.0.1:{server.port}/"):
                raise AssertionError("not reached")
    assert rejected.value.status_code == 403


# Basic auth


async def who(request: ws.WebSocketRequest) -> None:
    connection = await request.accept()
    await connection.send_message(f"hello {request.user}")


async def test_basic_auth_lets_the_right_password_in_and_names_the_user() -> None:
    async with serving(who, process_request=ws.basic_auth({"alice": "s3cret:x"})) as server:
        async with ws.open_websocket_url(f"ws://alice:s3cret%3Ax@127.0.0.1:{server.port}/") as connection:
            assert await connection.get_message() == "hello alice"


@pytest.mark.parametrize(
    "userinfo", ["alice:wrong@", "bob:s3cret@", "", "alice@"]
)
async def test_basic_auth_refuses_with_401_and_a_challenge(userinfo: str) -> None:
    hook = ws.basic_auth({"alice": "s3cret"}, realm="chat")
    async with serving(who, process_request=hook) as server:
        with pytest.raises(ws.ConnectionRejected) as rejected:
            async with ws.open_websocket_url(f"ws://{userinfo}127.0.0.1:{server.port}/"):
                raise AssertionError("not reached")
    assert rejected.value.status_code == 401
    headers = {name.lower(): value for name, value in rejected.value.headers}
    assert headers[b"www-authenticate"] == b'Basic realm="chat", charset="UTF-8"'


async def test_basic_auth_with_a_check_function_and_explicit_header() -> None:
    checked: list[tuple[str, str]] = []

    async def check(user: str, password: str) -> bool:
        checked.append((user, password))
        await trio.lowlevel.checkpoint()
        return password == "pw-" + user

    async with serving(who, process_request=ws.basic_auth(check_credentials=check)) as server:
        token = base64.b64encode("zoë:pw-zoë".encode()).decode()
        async with ws.open_websocket_url(
            f"ws://ignored:ignored@127.0.0.1:{server.port}/",
            extra_headers=[("Authorization", f"Basic {token}")],
        ) as connection:
            assert await connection.get_message() == "hello zoë"
        status, _, _ = await http(server.port, get("/", b"Authorization: Basic !!!\r\n"))
        assert status == 401
    assert checked == [("zoë", "pw-zoë")]


def test_basic_auth_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="exactly one"):
        ws.basic_auth()
    with pytest.raises(TypeError, match="exactly one"):
        ws.basic_auth({"a": "b"}, check_credentials=lambda user, password: trio.sleep(0))  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="quoted string"):
        ws.basic_auth({"a": "b"}, realm='say "hi"')


# server.connections and aclose()


async def test_connections_is_the_set_of_open_connections() -> None:
    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.get_message()

    async with serving(handler) as server:
        url = f"ws://127.0.0.1:{server.port}/"
        async with ws.open_websocket_url(url) as one, ws.open_websocket_url(url) as two:
            await one.send_message("ping")  # one's handler returns and closes
            with trio.fail_after(5):
                while len(server.connections) != 1:
                    await trio.sleep(0.01)
            (left,) = server.connections
            assert left.remote.port == two.local.port  # type: ignore[union-attr]
        with trio.fail_after(5):
            while server.connections:
                await trio.sleep(0.01)


async def test_aclose_closes_every_connection_with_1001_and_handlers_see_connection_closed() -> None:
    outcomes: list[str] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        try:
            await connection.get_message()
        except ws.ConnectionClosed as exc:
            outcomes.append(f"closed {exc.reason.code}")
            raise
        except trio.Cancelled:
            outcomes.append("cancelled")
            raise

    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(ws.serve_websocket, handler, "127.0.0.1", 0, None))
        port = server.port
        url = f"ws://127.0.0.1:{port}/"
        clients = []
        async with trio.open_nursery() as clients_nursery:
            for _ in range(5):
                clients.append(await ws.connect_websocket_url(clients_nursery, url))
            with trio.fail_after(5):
                while len(server.connections) < 5:
                    await trio.sleep(0.01)
            await server.aclose(reason="maintenance")
            for client in clients:
                with pytest.raises(ws.ConnectionClosed) as closed:
                    await client.get_message()
                assert (closed.value.reason.code, closed.value.reason.reason) == (1001, "maintenance")
        # Stopped accepting: the port is closed.
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)
    assert outcomes == ["closed 1001"] * 5
    assert server.connections == frozenset()


async def test_aclose_cancels_what_is_left_after_the_grace(autojump_clock: trio.testing.MockClock) -> None:
    events: list[str] = []

    async def stubborn(request: ws.WebSocketRequest) -> None:
        await request.accept()
        try:
            await trio.sleep_forever()  # never calls into ws again
        except trio.Cancelled:
            events.append(f"cancelled at {trio.current_time():.0f}")
            raise

    async with ws.testing.open_memory_server(stubborn) as memory:
        async with memory.open_websocket("/") as client:
            start = trio.current_time()
            await memory.server.aclose(grace=7)
            assert trio.current_time() - start == pytest.approx(7, abs=0.5)
            with pytest.raises(ws.ConnectionClosed) as closed:
                await client.get_message()
            assert closed.value.reason.code == 1001
    assert events == [f"cancelled at {start + 7:.0f}"]


async def test_aclose_twice_and_bad_arguments() -> None:
    async with ws.testing.open_memory_server(echo) as memory:
        with pytest.raises(ValueError, match="grace"):
            await memory.server.aclose(grace=-1)
        with pytest.raises(ws.LocalProtocolError):
            await memory.server.aclose(1005)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(memory.server.aclose)
            nursery.start_soon(memory.server.aclose)
        with pytest.raises(RuntimeError, match="runs once"):
            await memory.server.run()


async def test_a_request_during_the_shutdown_grace_gets_503(autojump_clock: trio.testing.MockClock) -> None:
    release = trio.Event()

    async def slow(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        with pytest.raises(ws.ConnectionClosed):
            await connection.get_message()
        await release.wait()

    async with ws.testing.open_memory_server(slow) as memory:
        async with trio.open_nursery() as nursery:
            async with memory.open_websocket("/"):
                stream = await memory.listener.connect()  # accepted before the shutdown
                nursery.start_soon(memory.server.aclose)
                await trio.sleep(1)
                await stream.stream.send_all(get("/late"))
                response = await stream.stream.receive_some()
                assert response.startswith(b"HTTP/1.1 503 ")
                release.set()


async def test_cancelling_the_nursery_still_closes_with_1001() -> None:
    async with trio.open_nursery() as outer:
        server_scope = trio.CancelScope()

        async def run_server(task_status: trio.TaskStatus[ws.WebSocketServer]) -> None:
            with server_scope:
                await ws.serve_websocket(echo, "127.0.0.1", 0, None, task_status=task_status)

        server = await outer.start(run_server)
        async with ws.open_websocket_url(f"ws://127.0.0.1:{server.port}/") as client:
            server_scope.cancel()
            with pytest.raises(ws.ConnectionClosed) as closed:
                await client.get_message()
    assert closed.value.reason.code == 1001


# logging


async def test_accepted_and_rejected_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ws")
    async with serving(echo, process_request=health, origins=[None]) as server:
        await http(server.port, get("/health"))
        await http(server.port, get("/", b"Origin: https://evil.example\r\n"))
        async with ws.open_websocket_url(f"ws://127.0.0.1:{server.port}/chat"):
            pass
    messages = [record.getMessage() for record in caplog.records if record.name == "ws"]
    assert any("answered GET /health" in message and "HTTP 200" in message for message in messages)
    assert any("HTTP 403" in message for message in messages)
    assert any("accepted /chat" in message for message in messages)
    assert all(record.levelno <= logging.INFO for record in caplog.records)
    assert all(getattr(record, "ws_connection_id", "").startswith("ws-") for record in caplog.records if record.name == "ws")


async def test_wrap_server_stream_runs_the_hooks_too() -> None:
    """A setting is never ignored: wrap_server_stream answers with process_request and origins."""
    client_end, server_end = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        await client_end.send_all(get("/health"))
        with pytest.raises(ws.HandshakeError, match=r"GET /health was answered with HTTP 200"):
            await ws.wrap_server_stream(nursery, server_end, process_request=health)
        response = await client_end.receive_some()
        assert response.startswith(b"HTTP/1.1 200 ") and response.endswith(b"OK\n")


async def test_a_handshake_error_of_the_handler_own_making_is_still_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only accept() finding the client gone is the peer's doing; a handler's own failed client call is logged."""

    async def handler(request: ws.WebSocketRequest) -> None:
        raise ws.ConnectionRejected(503, [], b"upstream down")

    async with serving(handler) as server:
        with pytest.raises(ws.ConnectionRejected) as rejected:
            async with ws.open_websocket_url(f"ws://127.0.0.1:{server.port}/"):
                raise AssertionError("not reached")
    assert rejected.value.status_code == 500
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1 and "unhandled exception in the WebSocket handler" in errors[0].getMessage()
