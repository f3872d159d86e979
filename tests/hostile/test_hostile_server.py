"""The mirror images: a ``ws`` client against a hostile raw server.

The server here is a plain ``trio.serve_listeners`` loop that speaks HTTP
and frames by hand (:mod:`tests.hostile._raw`). Whatever it does, the client
must end with a documented exception from :mod:`ws.errors` (never an
``ExceptionGroup``, never a hang) and keep its memory bounded.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import attrs
import pytest
import trio
import trio.testing

import ws
from ws.options import DEFAULT_MAX_MESSAGE_SIZE, Compression
from tests.hostile._live import MiB, MemoryMeter, unwrap_single_exception
from tests.hostile._raw import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    TEXT,
    RawFrame,
    RawPeer,
    accept_for,
    bomb_chunks,
    frame,
    random_key,
    upgrade_response,
)

Script = Callable[["HostileServer", RawPeer, str], Awaitable[None]]


@attrs.define(eq=False)
class HostileServer:
    """A raw server that reads one opening request per connection and runs a script.

    Attributes:
        port: The TCP port on 127.0.0.1.
        received: Frames the client sent, as the scripts recorded them.
        offers: The Sec-WebSocket-Extensions values the client sent.
        eof: Set when a script saw the client close TCP.
        progress: A counter scripts bump as they push data (to detect stalls).
    """

    script: Script
    port: int = 0
    received: list[RawFrame] = attrs.Factory(list)
    offers: list[bytes] = attrs.Factory(list)
    eof: trio.Event = attrs.Factory(trio.Event)
    progress: list[int] = attrs.Factory(lambda: [0])

    @property
    def url(self) -> str:
        """The server's ws:// URL."""
        return f"ws://127.0.0.1:{self.port}/"

    async def serve(self, stream: trio.SocketStream) -> None:
        """Read the request head and hand over to the script."""
        peer = RawPeer(stream)
        try:
            _start, fields = await peer.receive_request()
            self.offers += fields.get(b"sec-websocket-extensions", [])
            key = fields[b"sec-websocket-key"][0].decode("ascii")
            await self.script(self, peer, key)
        except (trio.BrokenResourceError, trio.ClosedResourceError, EOFError):
            self.eof.set()
        finally:
            await trio.aclose_forcefully(stream)

    async def collect_close(self, peer: RawPeer) -> None:
        """Read the client's frames up to its close frame, then close TCP (as a server should)."""
        _before, close = await peer.receive_until_close()
        self.received.append(close)
        await peer.aclose()


@asynccontextmanager
async def hostile_server(script: Script) -> AsyncIterator[HostileServer]:
    """Serve ``script`` on 127.0.0.1 for the duration of the block."""
    server = HostileServer(script)
    with unwrap_single_exception():
        async with trio.open_nursery() as nursery:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            server.port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(trio.serve_listeners, server.serve, listeners)
            try:
                yield server
            finally:
                nursery.cancel_scope.cancel()


def client_options(
    *,
    subprotocols: tuple[str, ...] = (),
    compression: Compression = "deflate",
    max_message_size: float = DEFAULT_MAX_MESSAGE_SIZE,
    disconnect_timeout: float = 5,
) -> ws.ClientOptions:
    """Client options for these tests: short timeouts and no keepalive."""
    return ws.ClientOptions(
        subprotocols=subprotocols,
        compression=compression,
        max_message_size=max_message_size,
        connect_timeout=5,
        disconnect_timeout=disconnect_timeout,
        ping_interval=None,
        ping_timeout=None,
    )


def respond(make: Callable[[str], bytes], *, then_close: bool = True) -> Script:
    """A script that sends ``make(key)`` and closes (or waits)."""

    async def script(server: HostileServer, peer: RawPeer, key: str) -> None:
        await peer.send(make(key))
        if not then_close:
            await trio.sleep_forever()

    return script


def accept(extra: list[tuple[bytes, bytes]] | None = None) -> Callable[[str], bytes]:
    """A valid 101 for the key, with ``extra`` fields."""
    return lambda key: upgrade_response(key, extra=extra or [])


def _with_fields(fields: bytes) -> Script:
    """A 101 with many or huge ``fields`` (prebuilt, so that the hostile server
    allocates nothing big while the client's memory is measured)."""

    async def script(server: HostileServer, peer: RawPeer, key: str) -> None:
        await peer.send(upgrade_response(key)[:-2])
        await peer.send(fields)
        await peer.send(b"\r\n")

    return script


_INVALID_RESPONSES: Final[dict[str, Callable[[str], bytes]]] = {
    "missing-upgrade": lambda key: upgrade_response(key, drop=[b"upgrade"]),
    "missing-connection": lambda key: upgrade_response(key, drop=[b"connection"]),
    "upgrade-h2c": lambda key: upgrade_response(
        key, drop=[b"upgrade"], extra=[(b"Upgrade", b"h2c")]
    ),
    "missing-accept": lambda key: upgrade_response(key, drop=[b"sec-websocket-accept"]),
    "wrong-accept": lambda key: upgrade_response(key, accept=accept_for(random_key())),
    "accept-is-the-key": lambda key: upgrade_response(key, accept=key),
    "two-accepts": lambda key: upgrade_response(
        key, extra=[(b"Sec-WebSocket-Accept", accept_for(key).encode())]
    ),
    "http-1.0": lambda key: upgrade_response(key).replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    "malformed-status-line": lambda key: b"HTTP/1.1 1O1 Switching\r\n\r\n",
    "garbage": lambda key: b"\x00\xff\x13garbage\r\n\xc3\x28\r\n\r\n",
    "not-http": lambda key: b"SSH-2.0-OpenSSH_9.6\r\n",
    "eof-before-anything": lambda key: b"",
    "eof-mid-head": lambda key: upgrade_response(key)[:40],
    "unoffered-subprotocol": accept([(b"Sec-WebSocket-Protocol", b"chat")]),
    "unoffered-extension": accept([(b"Sec-WebSocket-Extensions", b"x-webkit-deflate-frame")]),
    "extension-twice": accept(
        [(b"Sec-WebSocket-Extensions", b"permessage-deflate, permessage-deflate")]
    ),
    "status-line-over-limit": lambda key: b"HTTP/1.1 101 " + b"S" * 100_000 + b"\r\n\r\n",
}


_INVALID_SCRIPTS: Final[dict[str, Script]] = {
    **{name: respond(make) for name, make in _INVALID_RESPONSES.items()},
    "ten-thousand-headers": _with_fields(b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))),
    "one-mebibyte-header": _with_fields(b"X-Big: " + b"a" * MiB + b"\r\n"),
}


@pytest.mark.parametrize("script", _INVALID_SCRIPTS.values(), ids=_INVALID_SCRIPTS.keys())
async def test_invalid_response_raises_invalid_response(
    script: Script, autojump: trio.testing.MockClock
) -> None:
    """A malformed or unacceptable 101 raises InvalidResponse, in bounded memory."""
    with trio.fail_after(30):
        async with hostile_server(script) as server:
            with MemoryMeter() as memory:
                with pytest.raises(ws.InvalidResponse):
                    async with ws.open_websocket_url(server.url, options=client_options()):
                        pytest.fail("the handshake must fail")
            # The client buffers at most its head limit (16 KiB) and one read.
            assert memory.peak < 512 * 1024, memory


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_unoffered_subprotocol_or_deflate(
    compression: Compression, autojump: trio.testing.MockClock
) -> None:
    """A subprotocol the client did not offer, or deflate it did not offer, is refused."""
    make = accept(
        [(b"Sec-WebSocket-Protocol", b"c")]
        if compression == "deflate"
        else [(b"Sec-WebSocket-Extensions", b"permessage-deflate")]
    )
    options = client_options(subprotocols=("a", "b"), compression=compression)
    with trio.fail_after(30):
        async with hostile_server(respond(make)) as server:
            with pytest.raises(ws.InvalidResponse):
                async with ws.open_websocket_url(server.url, options=options):
                    pytest.fail("the handshake must fail")


_REJECTIONS: Final = {
    "200-with-body": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200),
    "302-redirect": (b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", 302),
    "403-until-eof": (b"HTTP/1.1 403 Forbidden\r\n\r\nno", 403),
    "500-chunked": (
        b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        500,
    ),
    "503-huge-body": (
        b"HTTP/1.1 503 Busy\r\nContent-Length: %d\r\n\r\n" % (8 * MiB) + b"b" * (8 * MiB),
        503,
    ),
}


@pytest.mark.parametrize(("response", "status"), _REJECTIONS.values(), ids=_REJECTIONS.keys())
async def test_non_101_raises_connection_rejected(
    response: bytes, status: int, autojump: trio.testing.MockClock
) -> None:
    """A final status other than 101 raises ConnectionRejected with that status."""
    with trio.fail_after(30):
        async with hostile_server(respond(lambda key: response)) as server:
            with MemoryMeter() as memory:
                with pytest.raises(ws.ConnectionRejected) as info:
                    async with ws.open_websocket_url(server.url, options=client_options()):
                        pytest.fail("the handshake must fail")
            assert info.value.status_code == status
            assert memory.peak < 2 * MiB, memory


async def test_server_that_never_finishes_the_handshake(autojump: trio.testing.MockClock) -> None:
    """A server that sends half a response and stalls: ConnectionTimeout at connect_timeout."""
    make = respond(lambda key: upgrade_response(key)[:30], then_close=False)
    with trio.fail_after(30):
        async with hostile_server(make) as server:
            start = trio.current_time()
            with pytest.raises(ws.ConnectionTimeout):
                async with ws.open_websocket_url(server.url, options=client_options()):
                    pytest.fail("the handshake must time out")
            assert trio.current_time() - start <= 5 + 1


async def _masked_text(server: HostileServer, peer: RawPeer, key: str) -> None:
    await peer.send(upgrade_response(key) + frame(TEXT, b"masked!"))
    await server.collect_close(peer)


async def _huge_frame_header(server: HostileServer, peer: RawPeer, key: str) -> None:
    await peer.send(upgrade_response(key) + frame(BINARY, b"x" * 100, mask=None, length=1 << 40))
    await server.collect_close(peer)


async def _just_over(server: HostileServer, peer: RawPeer, key: str) -> None:
    await peer.send(
        upgrade_response(key)
        + frame(BINARY, b"x" * 1000, mask=None)
        + frame(BINARY, b"x" * 600, mask=None, fin=False)
        + frame(CONTINUATION, b"x" * 401, mask=None)
    )
    await server.collect_close(peer)


def _deflate_bomb(mebibytes: int, per_frame: int) -> Script:
    async def script(server: HostileServer, peer: RawPeer, key: str) -> None:
        extension = [(b"Sec-WebSocket-Extensions", b"permessage-deflate")]
        await peer.send(upgrade_response(key, extra=extension))
        pieces = list(bomb_chunks(mebibytes))

        async def send() -> None:
            for i in range(0, len(pieces), per_frame):
                payload = b"".join(pieces[i : i + per_frame])
                await peer.send_quietly(
                    frame(
                        BINARY if i == 0 else CONTINUATION,
                        payload,
                        rsv=4 if i == 0 else 0,
                        fin=i + per_frame >= len(pieces),
                        mask=None,
                    )
                )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send)
            await server.collect_close(peer)
            nursery.cancel_scope.cancel()

    return script


_FAILING_SERVERS: Final = {
    "masked-frame": (_masked_text, 1002, math.inf),
    "declares-2-40-bytes": (_huge_frame_header, 1009, math.inf),
    "one-byte-over-max-size": (_just_over, 1009, 1000),
    "deflate-bomb-one-frame-512-mib": (_deflate_bomb(512, 512), 1009, math.inf),
    "deflate-bomb-fragmented-1-gib": (_deflate_bomb(1024, 64), 1009, math.inf),
}


@pytest.mark.parametrize(
    ("script", "code", "max_size"), _FAILING_SERVERS.values(), ids=_FAILING_SERVERS.keys()
)
async def test_bad_frames_from_server(
    script: Script, code: int, max_size: float, autojump: trio.testing.MockClock
) -> None:
    """Bad frames fail the client with the RFC's code, sent to the server; memory stays bounded."""
    limit = DEFAULT_MAX_MESSAGE_SIZE if max_size == math.inf else max_size
    options = client_options(max_message_size=limit)
    with trio.fail_after(30), unwrap_single_exception():
        async with hostile_server(script) as server:
            with MemoryMeter() as memory:
                async with trio.open_nursery() as nursery:
                    connection = await ws.connect_websocket_url(
                        nursery, server.url, options=options
                    )
                    if max_size != math.inf:  # a message of exactly max_size is fine
                        assert len(await connection.get_message()) == max_size
                    with pytest.raises(ws.ConnectionClosed) as info:
                        await connection.get_message()
                    assert info.value.reason.code == code
                    await connection.aclose()
            assert memory.peak < 8 * MiB, memory
            assert [(f.close_code, f.masked) for f in server.received] == [(code, True)]


async def _ping_flood(server: HostileServer, peer: RawPeer, key: str) -> None:
    await peer.send(upgrade_response(key))
    batch = frame(PING, b"p" * 125, mask=None) * 1000
    for _ in range(100):  # 100,000 pings; the pongs are never read
        await peer.send(batch)
        server.progress[0] += 1
    await trio.sleep_forever()


async def test_ping_flood_from_server(autojump: trio.testing.MockClock) -> None:
    """A server that floods pings and never reads: client memory bounded, close ends in time."""
    options = client_options(disconnect_timeout=3)
    with trio.fail_after(60):
        async with hostile_server(_ping_flood) as server:
            with MemoryMeter() as memory:
                start = 0.0
                try:
                    async with ws.open_websocket_url(server.url, options=options):
                        while True:  # until the flood is stuck
                            before = server.progress[0]
                            await trio.sleep(2)
                            if server.progress[0] == before:
                                break
                        memory.sample()
                        start = trio.current_time()
                except ws.DisconnectionTimeout:
                    pass  # the server reads nothing, not even our close
                assert trio.current_time() - start <= options.disconnect_timeout + 1
            assert memory.peak < 4 * MiB, memory


async def _never_answers_close(server: HostileServer, peer: RawPeer, key: str) -> None:
    await peer.send(upgrade_response(key))
    while True:
        received = await peer.receive_frame()  # EOFError when the client drops TCP
        server.received.append(received)


async def test_server_that_never_answers_close(autojump: trio.testing.MockClock) -> None:
    """A server that never answers our close: the client drops TCP at disconnect_timeout."""
    options = client_options(disconnect_timeout=3)
    with trio.fail_after(30):
        async with hostile_server(_never_answers_close) as server:
            try:
                async with ws.open_websocket_url(server.url, options=options) as connection:
                    start = trio.current_time()
            except ws.DisconnectionTimeout:
                pass
            assert trio.current_time() - start <= options.disconnect_timeout + 1
            with trio.fail_after(1):
                await server.eof.wait()
            assert [f.opcode for f in server.received] == [CLOSE]
            assert connection.closed is not None


async def _closes_but_keeps_tcp(server: HostileServer, peer: RawPeer, key: str) -> None:
    await peer.send(upgrade_response(key) + frame(CLOSE, b"\x03\xe8", mask=None))
    while True:
        server.received.append(await peer.receive_frame())


async def test_server_that_closes_but_keeps_tcp_open(autojump: trio.testing.MockClock) -> None:
    """A server that sends its close but never closes TCP: the client lets go in bounded time."""
    options = client_options(disconnect_timeout=3)
    with trio.fail_after(30):
        async with hostile_server(_closes_but_keeps_tcp) as server:
            with trio.fail_after(options.disconnect_timeout + 1):  # no hang
                try:
                    async with ws.open_websocket_url(server.url, options=options) as connection:
                        with pytest.raises(ws.ConnectionClosed) as info:
                            await connection.get_message()
                        assert info.value.reason.code == 1000
                except ws.DisconnectionTimeout:
                    pass
            with trio.fail_after(1):
                await server.eof.wait()
            assert [(f.opcode, f.close_code) for f in server.received] == [(CLOSE, 1000)]
