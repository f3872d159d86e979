"""Client connections through proxies (ws/_proxy.py).

Pure tests of how the environment picks a proxy, then echoes through real
proxies on 127.0.0.1 (tinyproxy, microsocks, Dante; tests/proxies.py) and
the errors they cause. A connection went through the proxy when the
client's socket is connected to the proxy's port (``conn.remote``) and the
server still answered; tinyproxy's log shows the ``CONNECT`` too.
"""

from __future__ import annotations

import errno
import socket
import ssl
import sys
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Unpack

import attrs
import pytest
import trio
import trio.testing
import trustme

import ws
from ws._proxy import (
    Proxy,
    _http_connect,
    bypasses_proxy,
    choose_proxy,
    environment_proxy,
)
from tests.proxies import (
    RunningProxy,
    free_port,
    running_dante,
    running_microsocks,
    running_tinyproxy,
    running_tls_front,
)

#: Bound on each test that meets a real proxy.
STEP = 10

# -- choosing a proxy: pure functions of a mapping ---------------------------------


@pytest.mark.parametrize(
    ("environ", "secure", "expected"),
    [
        ({}, False, None),
        ({"HTTP_PROXY": "http://p:1"}, False, ("http://p:1", "HTTP_PROXY")),
        ({"HTTP_PROXY": "http://p:1"}, True, None),
        ({"HTTPS_PROXY": "http://p:2"}, True, ("http://p:2", "HTTPS_PROXY")),
        ({"HTTPS_PROXY": "http://p:2"}, False, None),
        ({"ALL_PROXY": "socks5://p:3"}, False, ("socks5://p:3", "ALL_PROXY")),
        ({"all_proxy": "socks5://p:3"}, True, ("socks5://p:3", "all_proxy")),
        # The scheme's own variable comes before ALL_PROXY.
        (
            {"ALL_PROXY": "http://a:1", "https_proxy": "http://s:1"},
            True,
            ("http://s:1", "https_proxy"),
        ),
        # Lower case wins over upper case, as in curl and urllib.
        (
            {"HTTP_PROXY": "http://up:1", "http_proxy": "http://low:1"},
            False,
            ("http://low:1", "http_proxy"),
        ),
        # A set but empty variable means no proxy, even with ALL_PROXY set.
        ({"http_proxy": "", "HTTP_PROXY": "http://up:1", "ALL_PROXY": "http://a:1"}, False, None),
        ({"HTTP_PROXY": "  http://p:1 "}, False, ("http://p:1", "HTTP_PROXY")),
        # httpoxy: under CGI, HTTP_PROXY is a client's header; http_proxy is not.
        ({"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "GET"}, False, None),
        (
            {"http_proxy": "http://ok:1", "REQUEST_METHOD": "GET"},
            False,
            ("http://ok:1", "http_proxy"),
        ),
    ],
)
def test_environment_names_the_proxy_as_curl_does(
    environ: Mapping[str, str], secure: bool, expected: tuple[str, str] | None
) -> None:
    """ws:// reads HTTP_PROXY, wss:// HTTPS_PROXY, then ALL_PROXY; lower case wins."""
    assert environment_proxy(environ, "example.com", 443 if secure else 80, secure) == expected


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypassed"),
    [
        ("*", "example.com", 80, True),
        ("example.com", "example.com", 80, True),
        ("example.com", "www.example.com", 80, True),
        ("example.com", "notexample.com", 80, False),
        (".example.com", "example.com", 80, True),
        (".example.com", "a.b.example.com", 443, True),
        ("*.example.com", "a.example.com", 443, True),
        ("EXAMPLE.com", "Example.COM", 80, True),
        ("example.com.", "example.com", 80, True),
        ("example.com:8080", "example.com", 8080, True),
        ("example.com:8080", "example.com", 80, False),
        ("127.0.0.1", "127.0.0.1", 9000, True),
        ("127.0.0.1", "127.0.0.2", 9000, False),
        ("127.0.0.1:9000", "127.0.0.1", 9000, True),
        ("127.0.0.1:9000", "127.0.0.1", 9001, False),
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("::1", "::1", 80, True),
        ("::1", "[::1]", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 80, False),
        ("0:0::1", "::1", 80, True),
        ("localhost", "127.0.0.1", 80, False),  # names are not resolved
        ("other.org, example.com", "example.com", 80, True),
        ("other.org example.com", "example.com", 80, True),
        ("other.org,,  ,example.com", "example.com", 80, True),
        ("other.org,another.net", "example.com", 80, False),
        ("", "example.com", 80, False),
        ("example.com:http", "example.com", 80, False),
    ],
)
def test_no_proxy_forms(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    """NO_PROXY: *, names with their subdomains, addresses, networks, ports, any separator."""
    assert bypasses_proxy(no_proxy, host, port) is bypassed


def test_no_proxy_applies_to_the_environment_and_lower_case_wins() -> None:
    """A matching NO_PROXY means no proxy; no_proxy is read before NO_PROXY."""
    environ = {"HTTP_PROXY": "http://p:1", "NO_PROXY": "example.com"}
    assert environment_proxy(environ, "www.example.com", 80, False) is None
    assert environment_proxy(environ, "example.org", 80, False) == ("http://p:1", "HTTP_PROXY")
    environ["no_proxy"] = "example.org"
    assert environment_proxy(environ, "www.example.com", 80, False) == ("http://p:1", "HTTP_PROXY")
    assert environment_proxy(environ, "example.org", 80, False) is None


def test_choose_proxy_from_option_or_environment() -> None:
    """None: direct; a URL: always used (NO_PROXY aside); True: the environment."""
    environ = {"HTTPS_PROXY": "socks5h://u:p%40ss@proxy.local", "NO_PROXY": "skip.me"}
    assert choose_proxy(None, "example.com", 443, True, environ) is None
    assert choose_proxy(True, "example.com", 443, False, environ) is None
    assert choose_proxy(True, "skip.me", 443, True, environ) is None
    assert choose_proxy(True, "example.com", 443, True, environ) == Proxy(
        "socks5h", "proxy.local", 1080, "u", "p@ss"
    )
    assert choose_proxy("http://proxy.local:3128", "skip.me", 80, False, environ) == Proxy(
        "http", "proxy.local", 3128
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://proxy", Proxy("http", "proxy", 80)),
        ("https://proxy", Proxy("https", "proxy", 443)),
        ("socks4a://proxy", Proxy("socks4a", "proxy", 1080)),
        ("proxy.corp:3128", Proxy("http", "proxy.corp", 3128)),
        ("HTTP://[::1]:8080/", Proxy("http", "::1", 8080)),
        ("http://us%3Aer:p%3Ass%40@proxy:1", Proxy("http", "proxy", 1, "us:er", "p:ss@")),
        ("http://user@proxy:1", Proxy("http", "proxy", 1, "user")),
    ],
)
def test_proxy_urls(url: str, expected: Proxy) -> None:
    """Default ports per scheme; a bare host:port is HTTP; credentials percent-decoded."""
    assert Proxy.from_url(url) == expected


def test_proxy_url_hides_the_password() -> None:
    """The URL in messages keeps the user and replaces the password; repr shows no password."""
    proxy = Proxy.from_url("http://alice:s3cret@proxy:3128")
    assert proxy.url == "http://alice:***@proxy:3128"
    assert "s3cret" not in repr(proxy)
    assert Proxy.from_url("http://[::1]:1").url == "http://[::1]:1"
    assert proxy.authorization == "Basic YWxpY2U6czNjcmV0"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://u:secret@proxy:21", "unsupported proxy scheme in 'ftp://u:***@proxy:21'"),
        ("http://:8080", "has no host"),
        ("http://proxy:99999", "is not a number"),
    ],
)
def test_bad_proxy_urls_say_where_they_came_from(url: str, message: str) -> None:
    """A bad URL from the environment is a ValueError naming the variable, password hidden."""
    with pytest.raises(ValueError, match="HTTPS_PROXY") as info:
        choose_proxy(True, "example.com", 443, True, {"HTTPS_PROXY": url})
    assert message in str(info.value)
    assert "secret" not in str(info.value)


# -- the echo server and the checks -------------------------------------------------


@attrs.define
class EchoServer:
    """A WebSocket echo server on 127.0.0.1 and the remote end of each request it got."""

    port: int
    remotes: list[ws.Endpoint | str] = attrs.Factory(list)


@asynccontextmanager
async def echo_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[EchoServer]:
    """Serve echo on 127.0.0.1 (TLS with ``ssl_context``) until the block ends."""
    remotes: list[ws.Endpoint | str] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        remotes.append(request.remote)
        connection = await request.accept()
        async for message in connection:
            await connection.send_message(message)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(ws.serve_websocket, handler, "127.0.0.1", 0, ssl_context)
        )
        assert isinstance(server, ws.WebSocketServer)
        yield EchoServer(server.port, remotes)
        nursery.cancel_scope.cancel()


@attrs.frozen
class Certificates:
    """A throwaway CA, a server context (localhost, 127.0.0.1) and a client context trusting it."""

    ca: trustme.CA
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def certs() -> Certificates:
    """Certificates for the wss:// servers and the https:// proxy."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Certificates(ca, server, client)


async def echo_through(
    url: str,
    ssl_context: ssl.SSLContext | None,
    proxy_port: int,
    **settings: Unpack[ws.ClientSettings],
) -> int:
    """Echo one message; check the socket went to ``proxy_port``; return the client's local port."""
    async with ws.open_websocket_url(url, ssl_context, **settings) as conn:
        await conn.send_message("through the proxy")
        assert await conn.get_message() == "through the proxy"
        assert isinstance(conn.remote, ws.Endpoint) and isinstance(conn.local, ws.Endpoint)
        assert str(conn.remote.address) == "127.0.0.1"
        assert conn.remote.port == proxy_port
        assert conn.remote.is_ssl == url.startswith("wss:")
        return conn.local.port


def connects_logged(proxy: RunningProxy, port: int) -> int:
    """How many CONNECTs to 127.0.0.1:``port`` tinyproxy logged."""
    return proxy.log().count(f"CONNECT 127.0.0.1:{port} HTTP/1.1")


def url_for(server: EchoServer, secure: bool, host: str = "127.0.0.1") -> str:
    """The server's URL."""
    return f"{'wss' if secure else 'ws'}://{host}:{server.port}/echo"


# -- HTTP CONNECT: tinyproxy --------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("auth", [False, True], ids=["open", "basic-auth"])
async def test_echo_through_tinyproxy(certs: Certificates, secure: bool, auth: bool) -> None:
    """ws:// and wss:// echo through an HTTP proxy, with and without credentials."""
    started = running_tinyproxy(user="alice", password="pw") if auth else running_tinyproxy()
    with trio.fail_after(STEP):
        async with started as proxy:
            assert ("alice:pw@" in proxy.url) is auth
            async with echo_server(certs.server if secure else None) as server:
                context = certs.client if secure else None
                await echo_through(url_for(server, secure), context, proxy.port, proxy=proxy.url)
                assert connects_logged(proxy, server.port) == 1
                assert len(server.remotes) == 1


async def test_credentials_are_percent_decoded(certs: Certificates) -> None:
    """user:password in the proxy URL are percent-decoded before Basic encoding."""
    with trio.fail_after(STEP):
        # tinyproxy's BasicAuth takes letters, digits and -._ only: encode some of those.
        async with running_tinyproxy(user="alice", password="p-ss.x_y") as proxy:
            url = f"http://%61lice:%70-ss%2Ex_y@127.0.0.1:{proxy.port}"
            async with echo_server() as server:
                await echo_through(url_for(server, False), None, proxy.port, proxy=url)
                assert connects_logged(proxy, server.port) == 1


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_proxy_from_the_environment(
    certs: Certificates, secure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default the proxy comes from HTTP_PROXY (ws://) or https_proxy (wss://)."""
    with trio.fail_after(STEP):
        async with (
            running_tinyproxy() as proxy,
            echo_server(certs.server if secure else None) as server,
        ):
            monkeypatch.setenv("https_proxy" if secure else "HTTP_PROXY", proxy.url)
            context = certs.client if secure else None
            await echo_through(url_for(server, secure), context, proxy.port)
            assert connects_logged(proxy, server.port) == 1


async def test_no_proxy_bypasses_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """With NO_PROXY matching, a dead proxy in HTTP_PROXY is never contacted."""
    dead = free_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")
    with trio.fail_after(STEP):
        async with echo_server() as server:
            with pytest.raises(ws.ProxyError, match=f"127.0.0.1:{dead}"):
                async with ws.open_websocket_url(url_for(server, False)):
                    pass  # pragma: no cover
            monkeypatch.setenv("NO_PROXY", f"example.com, 127.0.0.1:{server.port}")
            async with ws.open_websocket_url(url_for(server, False)) as conn:
                await conn.send_message("direct")
                assert await conn.get_message() == "direct"
                assert isinstance(conn.remote, ws.Endpoint)
                assert conn.remote.port == server.port


async def test_proxy_none_connects_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    """proxy=None ignores the environment."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    with trio.fail_after(STEP):
        async with echo_server() as server:
            async with ws.open_websocket_url(url_for(server, False), proxy=None) as conn:
                await conn.send_message("direct")
                assert await conn.get_message() == "direct"


async def test_missing_credentials_raise_407() -> None:
    """A proxy that wants credentials: ProxyError with status 407, saying so."""
    with trio.fail_after(STEP):
        async with running_tinyproxy(user="alice", password="pw") as proxy, echo_server() as server:
            bare = f"http://127.0.0.1:{proxy.port}"
            with pytest.raises(ws.ProxyError) as info:
                async with ws.open_websocket_url(url_for(server, False), proxy=bare):
                    pass  # pragma: no cover
    error = info.value
    assert error.status_code == 407
    assert error.proxy == bare
    assert "wants credentials" in str(error) and "user:password@" in str(error)
    assert isinstance(error, ws.ConnectFailed) and isinstance(error, ws.HandshakeError)


async def test_wrong_password_is_a_proxy_error() -> None:
    """Rejected credentials: ProxyError with the proxy's status, the password redacted."""
    with trio.fail_after(STEP):
        async with running_tinyproxy(user="alice", password="pw") as proxy, echo_server() as server:
            wrong = f"http://alice:wrong-secret@127.0.0.1:{proxy.port}"
            with pytest.raises(ws.ProxyError) as info:
                async with ws.open_websocket_url(url_for(server, False), proxy=wrong):
                    pass  # pragma: no cover
    error = info.value
    # tinyproxy 1.11 answers bad credentials on CONNECT with 401; the RFC's is 407.
    assert error.status_code in (401, 407)
    assert "rejected the credentials" in str(error)
    assert error.proxy == f"http://alice:***@127.0.0.1:{proxy.port}"
    assert "wrong-secret" not in str(error)


async def test_connect_refused_by_the_proxy() -> None:
    """A proxy that refuses CONNECT: ProxyError with its status (403), naming the target."""
    with trio.fail_after(STEP):
        async with running_tinyproxy(allow_connect=False) as proxy, echo_server() as server:
            with pytest.raises(ws.ProxyError) as info:
                async with ws.open_websocket_url(url_for(server, False), proxy=proxy.url):
                    pass  # pragma: no cover
    assert info.value.status_code == 403
    assert f"refused to open a tunnel to 127.0.0.1:{server.port}: HTTP 403" in str(info.value)
    assert server.remotes == []


async def test_connect_to_a_closed_port_through_the_proxy() -> None:
    """The proxy cannot reach the server: ProxyError with the proxy's 5xx."""
    closed = free_port()
    with trio.fail_after(STEP):
        async with running_tinyproxy() as proxy:
            with pytest.raises(ws.ProxyError) as info:
                async with ws.open_websocket_url(f"ws://127.0.0.1:{closed}/", proxy=proxy.url):
                    pass  # pragma: no cover
    assert info.value.status_code is not None and 500 <= info.value.status_code < 600
    assert f"127.0.0.1:{closed}" in str(info.value)


async def test_proxy_not_listening() -> None:
    """No proxy on that port: ProxyError (a ConnectFailed, an OSError) naming it once."""
    dead = free_port()
    with trio.fail_after(STEP):
        with pytest.raises(ws.ConnectFailed) as info:
            async with ws.open_websocket_url("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{dead}"):
                pass  # pragma: no cover
    error = info.value
    assert isinstance(error, ws.ProxyError) and isinstance(error, OSError)
    assert error.status_code is None
    assert error.errno == errno.ECONNREFUSED
    assert str(error).count(f"127.0.0.1:{dead}") == 1
    assert "could not connect to the proxy" in str(error)


async def test_open_and_connect_websocket_use_the_proxy(certs: Certificates) -> None:
    """open_websocket(host, port) and connect_websocket go through the proxy too."""
    with trio.fail_after(STEP):
        async with running_tinyproxy() as proxy, echo_server(certs.server) as server:
            async with ws.open_websocket(
                "127.0.0.1", server.port, "/", use_ssl=certs.client, proxy=proxy.url
            ) as conn:
                await conn.send_message("open")
                assert await conn.get_message() == "open"
                assert isinstance(conn.remote, ws.Endpoint) and conn.remote.port == proxy.port
            async with trio.open_nursery() as nursery:
                conn = await ws.connect_websocket(
                    nursery, "127.0.0.1", server.port, "/", use_ssl=certs.client, proxy=proxy.url
                )
                await conn.send_message("connect")
                assert await conn.get_message() == "connect"
                assert isinstance(conn.remote, ws.Endpoint) and conn.remote.port == proxy.port
                await conn.aclose()
            assert connects_logged(proxy, server.port) == 2


async def test_unix_socket_urls_never_use_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """ws+unix:// connects to the socket even with a (dead) proxy given and in the environment."""
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HTTP_PROXY", dead)

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message("unix")

    with tempfile.TemporaryDirectory() as directory, trio.fail_after(STEP):
        path = f"{directory}/ws.sock"
        async with trio.open_nursery() as nursery:
            await nursery.start(ws.serve_websocket_unix, handler, path)
            url = "ws+unix://" + urllib.parse.quote(path, safe="") + "/"
            for proxy in (True, dead):
                async with ws.open_websocket_url(url, proxy=proxy) as conn:
                    assert await conn.get_message() == "unix"
            nursery.cancel_scope.cancel()


# -- HTTPS proxy: TLS to the proxy, CONNECT inside, TLS with the server inside that ----


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss-tls-in-tls"])
async def test_echo_through_an_https_proxy(certs: Certificates, secure: bool) -> None:
    """https://: TLS to the proxy (proxy_ssl_context), CONNECT inside; wss:// is TLS in TLS."""
    accepted: list[int] = []
    with trio.fail_after(STEP):
        async with running_tinyproxy() as tinyproxy:
            async with running_tls_front(certs.server, tinyproxy, accepted=accepted) as port:
                async with echo_server(certs.server if secure else None) as server:
                    local_port = await echo_through(
                        url_for(server, secure),
                        certs.client if secure else None,
                        port,
                        proxy=f"https://127.0.0.1:{port}",
                        proxy_ssl_context=certs.client,
                    )
                    assert accepted == [local_port]
                    assert connects_logged(tinyproxy, server.port) == 1


async def test_https_proxy_certificate_is_checked(certs: Certificates) -> None:
    """An https:// proxy whose certificate is not trusted: ProxyError, caused by the TLS error."""
    with trio.fail_after(STEP):
        async with (
            running_tinyproxy() as tinyproxy,
            running_tls_front(certs.server, tinyproxy) as port,
        ):
            proxy = f"https://127.0.0.1:{port}"
            with pytest.raises(ws.ProxyError, match="TLS with the proxy https://127.0.0.1") as info:
                async with ws.open_websocket_url("ws://127.0.0.1:1/", proxy=proxy):
                    pass  # pragma: no cover
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert connects_logged(tinyproxy, 1) == 0


async def test_wss_through_a_proxy_checks_the_server_certificate(certs: Certificates) -> None:
    """TLS with the server runs end to end: an untrusted server certificate still fails."""
    untrusting = ssl.create_default_context()
    trustme.CA().configure_trust(untrusting)
    with trio.fail_after(STEP):
        async with running_tinyproxy() as proxy, echo_server(certs.server) as server:
            with pytest.raises(ws.HandshakeError) as info:
                url = url_for(server, True)
                async with ws.open_websocket_url(url, untrusting, proxy=proxy.url):
                    pass  # pragma: no cover
    assert not isinstance(info.value, ws.ProxyError)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


# -- SOCKS: microsocks, Dante ---------------------------------------------------------


@pytest.fixture
def python_socks() -> None:
    """Skip unless python-socks is installed."""
    pytest.importorskip("python_socks", reason="pip install 'trio-ws[socks]' (python-socks)")


@pytest.mark.usefixtures("python_socks")
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_echo_through_socks5(certs: Certificates, scheme: str, secure: bool) -> None:
    """socks5:// and socks5h:// carry ws:// and wss:// (to a host name) through microsocks."""
    with trio.fail_after(STEP):
        async with running_microsocks(scheme=scheme) as proxy:
            async with echo_server(certs.server if secure else None) as server:
                context = certs.client if secure else None
                url = url_for(server, secure, host="localhost")
                await echo_through(url, context, proxy.port, proxy=proxy.url)
                assert len(server.remotes) == 1


@pytest.mark.usefixtures("python_socks")
async def test_socks5_with_credentials() -> None:
    """A SOCKS5 proxy with a user and password: the right ones work, a wrong one is a ProxyError."""
    with trio.fail_after(STEP):
        async with (
            running_microsocks(user="bob", password="s3cret") as proxy,
            echo_server() as server,
        ):
            await echo_through(url_for(server, False), None, proxy.port, proxy=proxy.url)
            wrong = f"socks5://bob:nope@127.0.0.1:{proxy.port}"
            with pytest.raises(ws.ProxyError) as info:
                async with ws.open_websocket_url(url_for(server, False), proxy=wrong):
                    pass  # pragma: no cover
    assert info.value.status_code is None
    assert info.value.proxy == f"socks5://bob:***@127.0.0.1:{proxy.port}"
    assert "refused" in str(info.value) and "nope" not in str(info.value)
    assert len(server.remotes) == 1


@pytest.mark.usefixtures("python_socks")
async def test_socks_proxy_not_listening() -> None:
    """No SOCKS proxy on that port: ProxyError naming it once, with the errno."""
    dead = free_port()
    with trio.fail_after(STEP):
        with pytest.raises(ws.ProxyError) as info:
            proxy = f"socks5://127.0.0.1:{dead}"
            async with ws.open_websocket_url("ws://127.0.0.1:1/", proxy=proxy):
                pass  # pragma: no cover
    assert info.value.errno == errno.ECONNREFUSED
    assert str(info.value).count(f"127.0.0.1:{dead}") == 1


@pytest.mark.usefixtures("python_socks")
async def test_echo_through_socks4_dante() -> None:
    """socks4:// through Dante (which has no SOCKS4a: names resolved here)."""
    with trio.fail_after(STEP):
        async with running_dante() as proxy, echo_server() as server:
            url = url_for(server, False, host="localhost")
            await echo_through(url, None, proxy.port, proxy=proxy.url)
            assert len(server.remotes) == 1


@attrs.define
class SocksRequest:
    """What a SOCKS client asked a recording peer for."""

    version: int = 0
    address: bytes = b""


async def _socks_refuser(seen: SocksRequest, stream: trio.SocketStream) -> None:
    """Play a SOCKS4/5 proxy that records the address form it is sent, then refuses."""
    async with stream:
        buffer = bytearray()

        async def read(count: int) -> bytes:
            while len(buffer) < count:
                buffer.extend(await stream.receive_some())
            data = bytes(buffer[:count])
            del buffer[:count]
            return data

        async def read_until_nul() -> bytes:
            while b"\0" not in buffer:
                buffer.extend(await stream.receive_some())
            data, _, rest = bytes(buffer).partition(b"\0")
            buffer[:] = rest
            return data

        version = (await read(1))[0]
        seen.version = version
        if version == 4:
            head = await read(7)  # command, port, IPv4 address
            await read_until_nul()  # user id
            ip = head[3:7]
            # SOCKS4a: 0.0.0.x, then the name.
            seen.address = await read_until_nul() if ip[:3] == b"\0\0\0" and ip[3] else ip
            await stream.send_all(b"\x00\x5b" + b"\0" * 6)  # rejected
            return
        methods = (await read(1))[0]
        await read(methods)
        await stream.send_all(b"\x05\x00")  # no authentication
        _, _, _, kind = await read(4)
        if kind == 3:
            seen.address = await read((await read(1))[0])
        else:
            seen.address = await read(4 if kind == 1 else 16)
        await read(2)
        await stream.send_all(b"\x05\x01\x00\x01" + b"\0" * 6)  # general failure


@pytest.mark.usefixtures("python_socks")
@pytest.mark.parametrize(
    ("scheme", "version", "by_proxy"),
    [("socks5", 5, False), ("socks5h", 5, True), ("socks4", 4, False), ("socks4a", 4, True)],
)
async def test_who_resolves_the_server_name(scheme: str, version: int, by_proxy: bool) -> None:
    """socks5/socks4 send the address resolved here, socks5h/socks4a the name; refusal: ProxyError."""
    seen = SocksRequest()
    with trio.fail_after(STEP):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                partial(trio.serve_tcp, partial(_socks_refuser, seen), 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            with pytest.raises(ws.ProxyError, match="refused to open a tunnel to localhost:8765"):
                async with ws.open_websocket_url(
                    "ws://localhost:8765/", proxy=f"{scheme}://127.0.0.1:{port}"
                ):
                    pass  # pragma: no cover
            nursery.cancel_scope.cancel()
    assert seen.version == version
    if by_proxy:
        assert seen.address == b"localhost"
    else:  # resolved here: a loopback address
        loopback = (socket.inet_aton("127.0.0.1"), socket.inet_pton(socket.AF_INET6, "::1"))
        assert seen.address in loopback


async def test_socks_without_python_socks_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without python-socks, a SOCKS proxy raises ImportError with the pip command."""
    monkeypatch.setitem(sys.modules, "python_socks", None)
    monkeypatch.setitem(sys.modules, "python_socks.async_.trio", None)
    with pytest.raises(ImportError, match=r"pip install 'trio-ws\[socks\]'"):
        async with ws.open_websocket_url("ws://127.0.0.1:1/", proxy="socks5://127.0.0.1:1"):
            pass  # pragma: no cover


# -- the CONNECT exchange itself, over memory streams ---------------------------------


async def _answer(answer: bytes) -> tuple[bytes, trio.abc.Stream | BaseException]:
    """Run CONNECT against a peer that answers ``answer``; return the request and the outcome."""
    client, peer = trio.testing.memory_stream_pair()
    options = ws.ClientOptions(handshake_limits=ws.HandshakeLimits(max_head_size=1024))
    proxy = Proxy.from_url("http://u:p@proxy:3128")
    outcome: trio.abc.Stream | BaseException
    with trio.fail_after(STEP):
        await peer.send_all(answer)
        await peer.send_eof()
        try:
            outcome = await _http_connect(client, proxy, "::1", 443, options)
        except ws.ProxyError as exc:
            outcome = exc
        request = await peer.receive_some()
    return bytes(request), outcome


async def test_connect_request_and_bytes_after_the_answer() -> None:
    """CONNECT host:port (IPv6 in brackets), credentials; bytes after the 200 stay in the tunnel."""
    request, tunnel = await _answer(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nearly bytes"
    )
    assert request.startswith(b"CONNECT [::1]:443 HTTP/1.1\r\n")
    assert b"\r\nhost: [::1]:443\r\n" in request.lower()
    assert b"\r\nProxy-Authorization: Basic dTpw\r\n" in request
    assert isinstance(tunnel, trio.abc.Stream)
    assert await tunnel.receive_some(5) == b"early"
    assert await tunnel.receive_some() == b" bytes"
    assert await tunnel.receive_some() == b""


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "closed the connection without answering CONNECT"),
        (b"HTTP/1.1 200 OK\r\n", "closed the connection without answering CONNECT"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "did not answer CONNECT with valid HTTP"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"x" * 2000 + b"\r\n\r\n", "head over handshake_limits"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 60, "head over handshake_limits.max_head_size=1024"),
        (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", "tunnel to [::1]:443: HTTP 502 Bad Gateway"),
    ],
)
async def test_bad_answers_to_connect(answer: bytes, message: str) -> None:
    """No answer, no HTTP, a head over the limit, a refusal: a ProxyError that says which."""
    _, outcome = await _answer(answer)
    assert isinstance(outcome, ws.ProxyError)
    assert message in str(outcome)
    assert outcome.proxy == "http://u:***@proxy:3128"
