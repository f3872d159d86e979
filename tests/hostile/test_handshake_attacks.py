"""Malformed opening handshakes against a live server: an HTTP error status, then close.

Each attack is followed by the checks every hostile test makes: the server
still answers a well-behaved client promptly, the handler never ran for the
attacker, and (for the size attacks) the memory the server used stayed far
below what the attacker sent.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.hostile._live import FAST, MiB, MemoryMeter, check_echo, live_server
from tests.hostile._raw import (
    KEY,
    TEXT,
    RawPeer,
    accept_for,
    frame,
    parse_head,
    upgrade_request,
)

_TEN_THOUSAND_HEADERS = [(b"X-Header-%d" % i, b"v") for i in range(10_000)]
_TLS_CLIENT_HELLO = bytes.fromhex("16030100a5010000a10303") + bytes(range(32)) * 4


async def _expect_status(peer: RawPeer, data: bytes, status: int) -> dict[bytes, list[bytes]]:
    """Send ``data`` in the background (it may never be read); expect ``status``, then EOF."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.send_quietly, data)
        start, fields = parse_head(await peer.receive_head())
        version, code, *_ = start.split(b" ")
        assert (version, code) == (b"HTTP/1.1", b"%d" % status), start
        await peer.receive_rest()  # the server closes the connection
        nursery.cancel_scope.cancel()
    return fields


_BAD_REQUESTS = {
    "request-line-over-limit": (upgrade_request(target=b"/" + b"a" * 100_000), 414),
    "ten-thousand-headers": (upgrade_request(extra=_TEN_THOUSAND_HEADERS), 431),
    "one-mebibyte-header": (upgrade_request(extra=[(b"X-Big", b"a" * MiB)]), 431),
    "invalid-key": (upgrade_request(key="not-a-valid-key"), 400),
    "short-key": (upgrade_request(key="c2hvcnQ="), 400),
    "missing-key": (upgrade_request(drop=[b"sec-websocket-key"]), 400),
    "method-put": (upgrade_request(method=b"PUT"), 405),
    "method-post-empty-body": (
        upgrade_request(method=b"POST", extra=[(b"Content-Length", b"0")]),
        405,
    ),
    "http-1.0": (upgrade_request(version=b"HTTP/1.0"), 505),
    "garbage-head": (b"\x00\x01\x02 garbage \xff\xfe\r\n\xc3\x28: \x80\r\n\r\n", 400),
    "garbage-request-line": (b"HELLO\r\n\r\n", 400),
    "body-with-content-length": (
        upgrade_request(extra=[(b"Content-Length", b"5")]) + b"hello",
        400,
    ),
    "body-with-content-length-and-transfer-encoding": (
        upgrade_request(extra=[(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")])
        + b"5\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    "missing-upgrade": (upgrade_request(drop=[b"upgrade"]), 426),
}


@pytest.mark.parametrize(("data", "status"), _BAD_REQUESTS.values(), ids=_BAD_REQUESTS.keys())
async def test_malformed_request_gets_its_status(
    data: bytes,
    status: int,
    autojump: trio.testing.MockClock,
) -> None:
    """A malformed request gets its HTTP error status and is closed; the server keeps serving."""
    with trio.fail_after(20):
        async with live_server(FAST) as server:
            peer = await server.attack()
            with MemoryMeter() as memory:
                await _expect_status(peer, data, status)
            # The server buffers at most its head limit (16 KiB) and one read,
            # whatever the attacker sent (up to 1 MiB here).
            assert memory.peak < 512 * 1024, memory
            assert server.started == 0
            await check_echo(server)


@pytest.mark.parametrize("version", [b"8", b"14", b"13, 8", b""])
async def test_unsupported_version_gets_426_naming_13(
    version: bytes,
    autojump: trio.testing.MockClock,
) -> None:
    """Another Sec-WebSocket-Version gets 426 with ``Sec-WebSocket-Version: 13`` (RFC 6455 4.4)."""
    with trio.fail_after(20):
        async with live_server(FAST) as server:
            peer = await server.attack()
            fields = await _expect_status(peer, upgrade_request(ws_version=version), 426)
            assert fields.get(b"sec-websocket-version") == [b"13"], fields
            assert server.started == 0
            await check_echo(server)


async def test_missing_version_gets_426_naming_13(autojump: trio.testing.MockClock) -> None:
    """A request without Sec-WebSocket-Version gets 426 with ``Sec-WebSocket-Version: 13``."""
    with trio.fail_after(20):
        async with live_server(FAST) as server:
            peer = await server.attack()
            request = upgrade_request(drop=[b"sec-websocket-version"])
            fields = await _expect_status(peer, request, 426)
            assert fields.get(b"sec-websocket-version") == [b"13"], fields
            await check_echo(server)


async def test_binary_garbage_without_line_end(autojump: trio.testing.MockClock) -> None:
    """Bytes that never form an HTTP head (a TLS hello) get a 400 or a close by connect_timeout."""
    with trio.fail_after(30):
        async with live_server(FAST) as server:
            peer = await server.attack()
            await peer.send(_TLS_CLIENT_HELLO)
            start = trio.current_time()
            rest = await peer.receive_rest()
            assert trio.current_time() - start <= FAST.connect_timeout + 1
            assert rest == b"" or rest.startswith(b"HTTP/1.1 400 "), rest[:100]
            assert server.started == 0
            await check_echo(server)


async def test_handshake_and_frames_in_one_packet(autojump: trio.testing.MockClock) -> None:
    """Frames that arrive in the same write as the request are processed: their echoes come back."""
    with trio.fail_after(20):
        async with live_server(FAST) as server:
            peer = await server.attack()
            frames = frame(TEXT, b"first") + frame(TEXT, "sécond".encode())
            fields = await peer.handshake(trailing=frames + frame(TEXT, b"thi")[:4])
            assert fields[b"sec-websocket-accept"] == [accept_for(KEY).encode()]
            await peer.send(frame(TEXT, b"thi")[4:] + frame(TEXT, b"rd"))
            echoes = [await peer.receive_frame() for _ in range(4)]
            assert [(f.opcode, f.payload, f.masked) for f in echoes] == [
                (TEXT, b"first", False),
                (TEXT, "sécond".encode(), False),
                (TEXT, b"thi", False),
                (TEXT, b"rd", False),
            ]
            await check_echo(server)


async def test_half_close_mid_handshake_closes_at_once(autojump: trio.testing.MockClock) -> None:
    """EOF in the middle of the request head closes at once, not at connect_timeout."""
    with trio.fail_after(30):
        async with live_server(FAST) as server:
            peer = await server.attack()
            request = upgrade_request()
            await peer.send(request[: len(request) // 2])
            await peer.stream.send_eof()
            start = trio.current_time()
            rest = await peer.receive_rest()
            # "At once": well before the 10 s connect_timeout of virtual time.
            assert trio.current_time() - start < 1, trio.current_time() - start
            assert rest == b"" or rest.startswith(b"HTTP/1.1 400 "), rest[:100]
            assert server.started == 0
            await check_echo(server)
