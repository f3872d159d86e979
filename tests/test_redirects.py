"""Redirects in the client's opening handshake (ws/_redirect.py and the loop in ws.client._connect).

The servers are real: ``ws.serve_websocket`` on loopback, whose
``process_request`` hook answers with any status and ``Location`` and
records every request it gets, and nginx (tests/nginx.py) for redirects
written by a web server others deploy.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import socket
import ssl
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial

import attrs
import pytest
import trio
import trustme

import ws
import ws.transports.tls
from ws._redirect import Redirects, location_of, resolve, without_credentials
from ws.client import _parse_url, _Target

from .nginx import running_nginx

# Bounds every test that waits on sockets or nginx (real time: no sleeps in these tests).
_DEADLINE = 30


@attrs.define(eq=False)
class Recorder:
    """A ``process_request`` hook: answers the routes it was given, records every request."""

    routes: dict[str, ws.HTTPResponse] = attrs.Factory(dict)
    requests: list[ws.HTTPRequest] = attrs.Factory(list)

    async def __call__(self, request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        self.requests.append(request)
        return self.routes.get(request.resource)

    def redirect(self, resource: str, location: str, status: int = 301) -> None:
        """Answer ``resource`` with ``status`` and this ``Location``."""
        self.routes[resource] = ws.HTTPResponse(status, headers={"Location": location})

    @property
    def resources(self) -> list[str]:
        """The resources requested, in order."""
        return [request.resource for request in self.requests]


async def echo(request: ws.WebSocketRequest) -> None:
    """Accept and echo every message."""
    connection = await request.accept()
    async for message in connection:
        await connection.send_message(message)


@attrs.define(eq=False)
class Served:
    """A running server's port (kept after it stops) and its recorder."""

    port: int
    recorder: Recorder

    def url(self, resource: str, scheme: str = "ws", host: str = "127.0.0.1") -> str:
        """A URL on this server."""
        return f"{scheme}://{host}:{self.port}{resource}"


@asynccontextmanager
async def serving(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Served]:
    """Serve ``echo`` on 127.0.0.1 with a Recorder hook until the block ends."""
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(
                ws.serve_websocket, echo, "127.0.0.1", 0, ssl_context,
                process_request=recorder,
            )
        )
        assert isinstance(server, ws.WebSocketServer)
        yield Served(server.port, recorder)
        nursery.cancel_scope.cancel()


@pytest.fixture
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for localhost and 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts ``ca``."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def port_of(address: object) -> int:
    """The port of an Endpoint."""
    assert isinstance(address, ws.Endpoint)
    return address.port


async def echo_once(connection: ws.WebSocketConnection) -> None:
    """The connection carries a message both ways."""
    await connection.send_message("ping")
    assert await connection.get_message() == "ping"


# -- following --------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_each_redirect_status_is_followed(status: int) -> None:
    """301, 302, 303, 307 and 308 lead to the Location; the connection's path is the last one."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/old", served.url("/new?room=1"), status)
            async with ws.open_websocket_url(served.url("/old")) as connection:
                assert connection.path == "/new?room=1"
                await echo_once(connection)
            assert served.recorder.resources == ["/old", "/new?room=1"]


async def test_a_chain_to_another_server() -> None:
    """Redirects go from server to server, each hop a new connection."""
    with trio.fail_after(_DEADLINE):
        async with serving() as first, serving() as second:
            first.recorder.redirect("/a", second.url("/b"), 302)
            second.recorder.redirect("/b", first.url("/c"), 307)
            async with ws.open_websocket_url(first.url("/a")) as connection:
                assert connection.path == "/c"
                assert port_of(connection.remote) == first.port
                await echo_once(connection)
            assert first.recorder.resources == ["/a", "/c"]
            assert second.recorder.resources == ["/b"]
            # Each hop came on its own TCP connection.
            ports = {port_of(request.remote) for request in first.recorder.requests}
            assert len(ports) == 2


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ("/top?x=1", "/top?x=1"),
        ("../up", "/up"),
        ("sibling", "/dir/sibling"),
        ("?q=2", "/dir/page?q=2"),
    ],
)
async def test_relative_location(location: str, path: str) -> None:
    """A relative Location resolves against the URL just tried."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/dir/page", location)
            async with ws.open_websocket_url(served.url("/dir/page")) as connection:
                assert connection.path == path
                await echo_once(connection)


async def test_http_location_means_ws() -> None:
    """An http:// Location is followed as ws://."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/old", served.url("/new", scheme="http"))
            async with ws.open_websocket_url(served.url("/old")) as connection:
                assert connection.path == "/new"


async def test_open_websocket_and_connect_websocket_follow() -> None:
    """The host/port/resource functions follow redirects too."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/old", "/new")
            async with ws.open_websocket("127.0.0.1", served.port, "/old", use_ssl=False) as connection:
                assert connection.path == "/new"
            async with trio.open_nursery() as nursery:
                connection = await ws.connect_websocket(
                    nursery, "127.0.0.1", served.port, "/old", use_ssl=False
                )
                assert connection.path == "/new"
                await echo_once(connection)
                await connection.aclose()
            async with trio.open_nursery() as nursery:
                connection = await ws.connect_websocket_url(nursery, served.url("/old"))
                assert connection.path == "/new"
                await connection.aclose()


async def test_every_hop_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Each redirect followed is an INFO record on the ws logger naming status and URLs."""
    caplog.set_level(logging.INFO, logger="ws")
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/a", "/b", 302)
            served.recorder.redirect("/b", "/c", 308)
            async with ws.open_websocket_url(served.url("/a")):
                pass
    hops = [r.getMessage() for r in caplog.records if r.getMessage().startswith("redirected")]
    assert hops == [
        f"redirected (302) from {served.url('/a')} to {served.url('/b')}",
        f"redirected (308) from {served.url('/b')} to {served.url('/c')}",
    ]
    assert all(r.levelno == logging.INFO and r.name == "ws" for r in caplog.records
               if r.getMessage().startswith("redirected"))


async def test_logger_option_gets_the_records(caplog: pytest.LogCaptureFixture) -> None:
    """With logger=, the redirect records go to that logger."""
    mine = logging.getLogger("tests.redirects.mine")
    caplog.set_level(logging.INFO, logger=mine.name)
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/a", "/b")
            async with ws.open_websocket_url(served.url("/a"), logger=mine):
                pass
    logged = [r.getMessage() for r in caplog.records if r.name == mine.name]
    assert f"redirected (301) from {served.url('/a')} to {served.url('/b')}" in logged


# -- TLS ---------------------------------------------------------------------


async def test_ws_to_wss_uses_a_default_verifying_context(
    ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ws:// to wss:// is followed with the default context (certificates verified)."""
    made: list[ssl.SSLContext] = []

    def default_context() -> ssl.SSLContext:
        # The system's default context, trusting the test CA as well.
        made.append(client_context(ca))
        return made[-1]

    monkeypatch.setattr(ws.transports.tls, "_default_client_context", default_context)
    with trio.fail_after(_DEADLINE):
        async with serving() as plain, serving(server_context(ca)) as secure:
            plain.recorder.redirect("/", secure.url("/tls", scheme="wss", host="localhost"))
            async with ws.open_websocket_url(plain.url("/")) as connection:
                assert connection.path == "/tls"
                assert isinstance(connection.remote, ws.Endpoint) and connection.remote.is_ssl
                await echo_once(connection)
    assert len(made) == 1


async def test_ws_to_wss_verifies_the_certificate(ca: trustme.CA) -> None:
    """The default context after ws:// to wss:// refuses a certificate the system does not trust."""
    with trio.fail_after(_DEADLINE):
        async with serving() as plain, serving(server_context(ca)) as secure:
            plain.recorder.redirect("/", secure.url("/tls", scheme="wss", host="localhost"))
            with pytest.raises(ws.HandshakeError) as info:
                async with ws.open_websocket_url(plain.url("/")):
                    pass  # pragma: no cover
    causes: list[BaseException] = []
    exc: BaseException | None = info.value
    while exc is not None:
        causes.append(exc)
        exc = exc.__cause__ or exc.__context__
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes), causes


async def test_wss_to_wss_keeps_the_callers_context(ca: trustme.CA) -> None:
    """Every wss:// hop uses the caller's SSLContext (the default one would not trust the CA)."""
    with trio.fail_after(_DEADLINE):
        async with serving(server_context(ca)) as first, serving(server_context(ca)) as second:
            first.recorder.redirect("/", second.url("/b", scheme="wss", host="localhost"))
            async with ws.open_websocket_url(
                first.url("/", scheme="wss", host="localhost"), client_context(ca)
            ) as connection:
                assert connection.path == "/b"
                assert port_of(connection.remote) == second.port
                await echo_once(connection)
            async with ws.open_websocket(
                "localhost", first.port, "/", use_ssl=client_context(ca)
            ) as connection:
                assert connection.path == "/b"


@pytest.mark.parametrize("scheme", ["ws", "http"])
async def test_wss_to_ws_is_refused(ca: trustme.CA, scheme: str) -> None:
    """A redirect from wss:// to ws:// (or http://) is a RedirectError; the plain server is never reached."""
    with trio.fail_after(_DEADLINE):
        async with serving(server_context(ca)) as secure, serving() as plain:
            secure.recorder.redirect("/", plain.url("/clear", scheme=scheme))
            start = secure.url("/", scheme="wss", host="localhost")
            with pytest.raises(ws.RedirectError) as info:
                async with ws.open_websocket_url(start, client_context(ca)):
                    pass  # pragma: no cover
            assert plain.recorder.requests == []
    assert info.value.chain == (start, plain.url("/clear"))
    assert "wss:// to ws://" in str(info.value)
    assert f"{start} -> {plain.url('/clear')}" in str(info.value)
    assert isinstance(info.value.__cause__, ws.ConnectionRejected)
    assert info.value.__cause__.status_code == 301


# -- credentials ---------------------------------------------------------------


def header(request: ws.HTTPRequest, name: str) -> str | None:
    """A request header, or None."""
    return request.header(name)


async def test_credentials_are_dropped_for_another_origin() -> None:
    """Authorization (from the URL or extra_headers) and Cookie do not go to another origin."""
    with trio.fail_after(_DEADLINE):
        async with serving() as first, serving() as second:
            first.recorder.redirect("/", second.url("/b"))
            url = f"ws://user:secret@127.0.0.1:{first.port}/"
            async with ws.open_websocket_url(
                url, extra_headers={"Cookie": "session=1", "X-Kept": "yes"}
            ):
                pass
            async with ws.open_websocket(
                "127.0.0.1", first.port, "/", use_ssl=False,
                extra_headers=[("Authorization", "Bearer t"), ("cookie", "a=b")],
            ):
                pass
    from_url, from_headers = first.recorder.requests
    assert header(from_url, "Authorization") == "Basic dXNlcjpzZWNyZXQ="
    assert header(from_url, "Cookie") == "session=1"
    assert header(from_headers, "Authorization") == "Bearer t"
    for request in second.recorder.requests:
        assert header(request, "Authorization") is None
        assert header(request, "Cookie") is None
    assert header(second.recorder.requests[0], "X-Kept") == "yes"
    assert len(second.recorder.requests) == 2


async def test_credentials_are_kept_on_the_same_origin() -> None:
    """A redirect on the same scheme, host and port keeps Authorization and Cookie."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/a", "/b")
            served.recorder.redirect("/b", served.url("/c"))
            async with ws.open_websocket_url(
                f"ws://user:secret@127.0.0.1:{served.port}/a", extra_headers={"Cookie": "k=v"}
            ):
                pass
    assert served.recorder.resources == ["/a", "/b", "/c"]
    for request in served.recorder.requests:
        assert header(request, "Authorization") == "Basic dXNlcjpzZWNyZXQ="
        assert header(request, "Cookie") == "k=v"


async def test_credentials_stay_dropped_after_coming_back() -> None:
    """Once dropped, credentials are not sent again when the chain returns to the first origin."""
    with trio.fail_after(_DEADLINE):
        async with serving() as first, serving() as second:
            first.recorder.redirect("/a", second.url("/b"))
            second.recorder.redirect("/b", first.url("/c"))
            async with ws.open_websocket_url(
                first.url("/a"), extra_headers={"Authorization": "Bearer t", "Cookie": "k=v"}
            ) as connection:
                assert connection.path == "/c"
    assert first.recorder.resources == ["/a", "/c"]
    last = first.recorder.requests[1]
    assert header(last, "Authorization") is None
    assert header(last, "Cookie") is None


async def test_credentials_in_the_location_are_sent(caplog: pytest.LogCaptureFixture) -> None:
    """A Location's user:password is sent to its target, as a URL given by the caller is; never logged."""
    caplog.set_level(logging.INFO, logger="ws")
    with trio.fail_after(_DEADLINE):
        async with serving() as first, serving() as second:
            first.recorder.redirect("/", f"ws://other:pw@127.0.0.1:{second.port}/b")
            async with ws.open_websocket_url(first.url("/")) as connection:
                assert connection.path == "/b"
    assert header(first.recorder.requests[0], "Authorization") is None
    assert header(second.recorder.requests[0], "Authorization") == "Basic b3RoZXI6cHc="
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("redirected")]
    assert logged == [f"redirected (301) from {first.url('/')} to {second.url('/b')}"]


# -- errors ------------------------------------------------------------------------


async def test_a_loop_names_the_chain() -> None:
    """A redirect back to a URL already tried is a RedirectError listing every URL in order."""
    with trio.fail_after(_DEADLINE):
        async with serving() as first, serving() as second:
            first.recorder.redirect("/x", second.url("/y"))
            second.recorder.redirect("/y", first.url("/x"))
            with pytest.raises(ws.RedirectError) as info:
                async with ws.open_websocket_url(first.url("/x")):
                    pass  # pragma: no cover
    chain = (first.url("/x"), second.url("/y"), first.url("/x"))
    assert info.value.chain == chain
    assert str(info.value) == "redirect loop: " + " -> ".join(chain)
    assert first.recorder.resources == ["/x"]
    # It is the rejection of the last redirect answer, for code written before redirects.
    assert isinstance(info.value, ws.ConnectionRejected)
    assert info.value.status_code == 301
    assert (b"location", first.url("/x").encode()) in info.value.headers
    assert isinstance(info.value.__cause__, ws.ConnectionRejected)


async def test_a_redirect_to_itself_is_a_loop() -> None:
    """A Location naming the URL just tried is a loop of one."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/same", "/same")
            with pytest.raises(ws.RedirectError) as info:
                async with ws.open_websocket_url(served.url("/same")):
                    pass  # pragma: no cover
    assert info.value.chain == (served.url("/same"), served.url("/same"))


async def test_too_many_redirects_names_the_chain() -> None:
    """max_redirects=2 follows two redirects and refuses the third, naming all four URLs."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            for n in (1, 2, 3):
                served.recorder.redirect(f"/{n}", f"/{n + 1}")
            with pytest.raises(ws.RedirectError) as info:
                async with ws.open_websocket_url(served.url("/1"), max_redirects=2):
                    pass  # pragma: no cover
            assert served.recorder.resources == ["/1", "/2", "/3"]
            # One more allowed: it gets through to the WebSocket at /4.
            async with ws.open_websocket_url(served.url("/1"), max_redirects=3) as connection:
                assert connection.path == "/4"
    chain = tuple(served.url(f"/{n}") for n in (1, 2, 3, 4))
    assert info.value.chain == chain
    assert str(info.value) == (
        "more than max_redirects=2 redirects: " + " -> ".join(chain)
        + "; raise max_redirects to follow more"
    )


async def test_default_limit_is_ten() -> None:
    """Without max_redirects, ten redirects are followed and the eleventh refused."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            for n in range(12):
                served.recorder.redirect(f"/{n}", f"/{n + 1}")
            with pytest.raises(ws.RedirectError) as info:
                async with ws.open_websocket_url(served.url("/0")):
                    pass  # pragma: no cover
            assert len(info.value.chain) == 12
            served.recorder.routes.pop("/10")
            async with ws.open_websocket_url(served.url("/0")) as connection:
                assert connection.path == "/10"


async def test_max_redirects_zero_gives_the_rejection() -> None:
    """max_redirects=0 follows nothing: the 301 is a ConnectionRejected, as before."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/old", "/new")
            with pytest.raises(ws.ConnectionRejected) as info:
                async with ws.open_websocket_url(served.url("/old"), max_redirects=0):
                    pass  # pragma: no cover
    assert not isinstance(info.value, ws.RedirectError)
    assert info.value.status_code == 301
    assert (b"location", b"/new") in info.value.headers
    assert served.recorder.resources == ["/old"]


async def test_redirect_then_404() -> None:
    """A redirect followed by a 404 is ConnectionRejected(404)."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/old", "/gone")
            served.recorder.routes["/gone"] = ws.HTTPResponse.plain(404)
            with pytest.raises(ws.ConnectionRejected) as info:
                async with ws.open_websocket_url(served.url("/old")):
                    pass  # pragma: no cover
    assert info.value.status_code == 404
    assert served.recorder.resources == ["/old", "/gone"]


async def test_redirect_to_a_closed_port() -> None:
    """A hop that cannot be reached is a ConnectFailed naming that hop's address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/", f"ws://127.0.0.1:{closed}/")
            with pytest.raises(ws.ConnectFailed) as info:
                async with ws.open_websocket_url(served.url("/")):
                    pass  # pragma: no cover
    assert f"127.0.0.1:{closed}" in str(info.value)


@pytest.mark.parametrize("status", [302, 304, 305, 300])
async def test_3xx_without_location_or_not_followed_stands(status: int) -> None:
    """A redirect status without Location, or another 3xx, stays a ConnectionRejected."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            headers = {"Location": "/new"} if status != 302 else {}
            served.recorder.routes["/"] = ws.HTTPResponse(status, headers=headers)
            with pytest.raises(ws.ConnectionRejected) as info:
                async with ws.open_websocket_url(served.url("/")):
                    pass  # pragma: no cover
    assert not isinstance(info.value, ws.RedirectError)
    assert info.value.status_code == status
    assert served.recorder.resources == ["/"]


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("ftp://127.0.0.1/file", "not a ws://, wss://, http:// or https:// URL"),
        ("ws+unix://%2Ftmp%2Fapp.sock/", "not a ws://, wss://, http:// or https:// URL"),
        ("javascript:alert(1)", "not a ws://, wss://, http:// or https:// URL"),
        ("ws://127.0.0.1:99999/", "not a number from 0 to 65535"),
        ("ws:///no-host", "has no host"),
        ("/a b", "contains a space"),
    ],
)
async def test_a_location_that_is_not_a_websocket_url(location: str, why: str) -> None:
    """A Location with another scheme or an invalid URL is a RedirectError quoting it."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            served.recorder.redirect("/", location, 302)
            with pytest.raises(ws.RedirectError) as info:
                async with ws.open_websocket_url(served.url("/")):
                    pass  # pragma: no cover
    message = str(info.value)
    assert repr(location) in message
    assert "redirected (302)" in message
    assert why in message
    assert info.value.chain == (served.url("/"),)


# -- Unix sockets ------------------------------------------------------------------


@asynccontextmanager
async def serving_unix() -> AsyncIterator[tuple[str, Recorder]]:
    """Serve echo on a fresh Unix socket with a Recorder hook; yields the socket's path."""
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ws.sock")
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(ws.serve_websocket_unix, echo, path, process_request=recorder)
            )
            yield path, recorder
            nursery.cancel_scope.cancel()


async def test_unix_relative_location_keeps_the_socket() -> None:
    """On ws+unix://, a Location without authority is followed on the same socket."""
    with trio.fail_after(_DEADLINE):
        async with serving_unix() as (path, recorder):
            recorder.redirect("/old", "/new?x=1")
            url = f"ws+unix://{urllib.parse.quote(path, safe='')}/old"
            async with ws.open_websocket_url(url) as connection:
                assert connection.path == "/new?x=1"
                await echo_once(connection)
    assert recorder.resources == ["/old", "/new?x=1"]


async def test_unix_absolute_location_goes_tcp() -> None:
    """On ws+unix://, an absolute ws:// Location leaves the socket for TCP (another origin)."""
    with trio.fail_after(_DEADLINE):
        async with serving_unix() as (path, recorder), serving() as served:
            recorder.redirect("/old", served.url("/tcp"))
            url = f"ws+unix://{urllib.parse.quote(path, safe='')}/old"
            async with ws.open_websocket_url(url, extra_headers={"Cookie": "k=v"}) as connection:
                assert connection.path == "/tcp"
                assert port_of(connection.remote) == served.port
    assert header(recorder.requests[0], "Cookie") == "k=v"
    assert header(served.recorder.requests[0], "Cookie") is None


# -- nginx -------------------------------------------------------------------------


_UPGRADE = """
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $host;
"""


async def test_nginx_redirect_to_a_ws_url() -> None:
    """nginx's `return 301 ws://...` (it writes the ws:// Location as given) is followed."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            config = f"location /old {{ return 301 ws://127.0.0.1:{served.port}/new; }}"
            async with running_nginx(config) as port:
                async with ws.open_websocket_url(f"ws://127.0.0.1:{port}/old") as connection:
                    assert connection.path == "/new"
                    assert port_of(connection.remote) == served.port
                    await echo_once(connection)
    assert served.recorder.resources == ["/new"]


@pytest.mark.parametrize("absolute", ["on", "off"])
async def test_nginx_relative_redirect_then_proxy(absolute: str) -> None:
    """nginx's `return 302 /new` (sent as http://host:port/new, or as is with absolute_redirect off) is followed to the WebSocket nginx proxies."""
    with trio.fail_after(_DEADLINE):
        async with serving() as served:
            config = f"""
        absolute_redirect {absolute};
        location = /old {{ return 302 /new; }}
        location = /new {{ proxy_pass http://127.0.0.1:{served.port}; {_UPGRADE} }}
"""
            async with running_nginx(config) as port:
                async with ws.open_websocket_url(f"ws://127.0.0.1:{port}/old") as connection:
                    assert connection.path == "/new"
                    assert port_of(connection.remote) == port
                    await echo_once(connection)
    assert served.recorder.resources == ["/new"]


# -- the sans-IO part -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "location", "expected"),
    [
        ("ws://h/a/b", "ws://x:81/p", "ws://x:81/p"),
        ("ws://h/a/b", "WSS://x/p?q", "wss://x/p?q"),
        ("ws://h/a/b", "http://x/p", "ws://x/p"),
        ("wss://h/a/b", "https://x/p#frag", "wss://x/p"),
        ("ws://h:8/a/b", "/c", "ws://h:8/c"),
        ("wss://h/a/b", "c", "wss://h/a/c"),
        ("ws://h/a/b?q=1", "?q=2", "ws://h/a/b?q=2"),
        ("ws://h/a/b", "//other/x", "ws://other/x"),
        ("wss://h/a/b", "//other/x", "wss://other/x"),
        ("ws+unix://%2Ftmp%2Fs/a/b", "c", "ws+unix://%2Ftmp%2Fs/a/c"),
        ("ws+unix://%2Ftmp%2Fs/a/b", "/c?d", "ws+unix://%2Ftmp%2Fs/c?d"),
        ("ws+unix://%2Ftmp%2Fs/a/b", "//other/x", "ws://other/x"),
        ("ws+unix://%2Ftmp%2Fs/a", "ws://other/x", "ws://other/x"),
    ],
)
def test_resolve(current: str, location: str, expected: str) -> None:
    """Locations resolve against the current URL; http(s) become ws(s); fragments go."""
    assert resolve(current, location) == expected


@pytest.mark.parametrize("location", ["ftp://x/", "ws+unix://%2Ftmp%2Fs/", "mailto:a@b", "file:///etc"])
def test_resolve_refuses_other_schemes(location: str) -> None:
    """Schemes other than ws, wss, http and https are refused."""
    with pytest.raises(ValueError, match="not a ws://"):
        resolve("ws://h/", location)


def rejection(status: int, *headers: tuple[bytes, bytes]) -> ws.ConnectionRejected:
    """A ConnectionRejected as the handshake reports it."""
    return ws.ConnectionRejected(status, headers, b"")


def test_location_of() -> None:
    """The Location of 301/302/303/307/308 only; non-ASCII is percent-encoded."""
    assert location_of(rejection(301, (b"location", b" /a "))) == "/a"
    assert location_of(rejection(308, (b"Location", b"/b"))) == "/b"
    assert location_of(rejection(301, (b"content-type", b"text/plain"))) is None
    assert location_of(rejection(300, (b"location", b"/a"))) is None
    assert location_of(rejection(404, (b"location", b"/a"))) is None
    assert location_of(rejection(302, (b"location", "/caf\u00e9".encode()))) == "/caf%C3%A9"
    # Not UTF-8: read as Latin-1, then encoded as UTF-8.
    assert location_of(rejection(302, (b"location", b"/caf\xe9"))) == "/caf%C3%A9"


def test_without_credentials() -> None:
    """Authorization and Cookie go, in any case; the rest stays in order."""
    headers = ((b"X-A", b"1"), (b"authorization", b"x"), (b"COOKIE", b"y"), (b"X-B", b"2"))
    assert without_credentials(headers) == ((b"X-A", b"1"), (b"X-B", b"2"))


def test_target_url_has_no_credentials() -> None:
    """A target's URL is canonical: no user:password, no default port, lower-case host."""
    assert _parse_url("ws://u:p@EXAMPLE.com:80/x").url == "ws://example.com/x"
    assert _parse_url("wss://h:8443").url == "wss://h:8443/"
    assert _parse_url("ws://[::1]:9/x?y").url == "ws://[::1]:9/x?y"
    assert _parse_url("ws+unix://%2Ftmp%2Fs.sock/c").url == "ws+unix://%2Ftmp%2Fs.sock/c"
    assert _Target("h", 80, "chat", False).url == "ws://h/chat"


def follow_all(
    start: str, hops: list[tuple[int, str]], max_redirects: float = 10
) -> Iterator[tuple[_Target, bool | ssl.SSLContext, ws.ClientOptions]]:
    """Feed answers to a Redirects and yield each hop it makes."""
    target = _parse_url(start)
    options = target.options_for(ws.ClientOptions(extra_headers={"Cookie": "c"}))
    use_ssl: bool | ssl.SSLContext = target.secure
    redirects = Redirects(target, max_redirects, _parse_url)
    for status, location in hops:
        hop = redirects.follow(rejection(status, (b"location", location.encode())), use_ssl, options)
        assert hop is not None
        use_ssl, options = hop.use_ssl, hop.options
        yield hop.target, use_ssl, options


def test_follow_tracks_origin_and_tls() -> None:
    """Hop by hop: TLS follows the scheme; credentials go at the first change of origin."""
    hops = list(follow_all("ws://u:p@a/1", [(301, "/2"), (302, "wss://a/3"), (307, "/4")]))
    names = [
        [name.lower() for name, _ in options.extra_headers] for _, _, options in hops
    ]
    assert [target.url for target, _, _ in hops] == ["ws://a/2", "wss://a/3", "wss://a/4"]
    assert [use_ssl for _, use_ssl, _ in hops] == [False, True, True]
    assert names == [[b"cookie", b"authorization"], [], []]


def test_follow_keeps_the_callers_context() -> None:
    """A caller's SSLContext is kept for every wss:// hop."""
    context = ssl.create_default_context()
    target = _parse_url("wss://a/1")
    redirects = Redirects(target, 10, _parse_url)
    hop = redirects.follow(rejection(301, (b"location", b"https://b/2")), context, ws.ClientOptions())
    assert hop is not None
    assert hop.use_ssl is context
    assert hop.target.url == "wss://b/2"


def test_follow_without_location_is_none() -> None:
    """A redirect status without Location gives None: the rejection stands."""
    redirects = Redirects(_parse_url("ws://a/"), 10, _parse_url)
    assert redirects.follow(rejection(301), False, ws.ClientOptions()) is None
    assert redirects.chain == ["ws://a/"]


def test_follow_errors_name_the_chain() -> None:
    """Too many hops: the chain holds each URL tried and the refused one; max_redirects=inf has no limit."""
    with pytest.raises(ws.RedirectError) as info:
        list(follow_all("ws://a/0", [(301, f"/{n}") for n in range(1, 4)], max_redirects=2))
    assert info.value.chain == ("ws://a/0", "ws://a/1", "ws://a/2", "ws://a/3")
    assert isinstance(info.value.__cause__, ws.ConnectionRejected)
    hops = list(follow_all("ws://a/0", [(301, f"/{n}") for n in range(1, 50)], max_redirects=float("inf")))
    assert len(hops) == 49


def test_redirect_error_copies_and_pickles() -> None:
    """RedirectError keeps its message and chain through copy and pickle."""
    error = ws.RedirectError(
        "redirect loop: a -> b -> a", ["a", "b", "a"], 302, [(b"location", b"a")], b"moved"
    )
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert isinstance(clone, ws.RedirectError)
        assert str(clone) == "redirect loop: a -> b -> a"
        assert clone.chain == ("a", "b", "a")
        assert (clone.status_code, clone.headers, clone.body) == (302, ((b"location", b"a"),), b"moved")
    assert repr(error) == "RedirectError<status_code=302, chain=('a', 'b', 'a')>"
