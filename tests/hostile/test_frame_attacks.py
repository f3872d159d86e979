"""Framing violations against a live server: a close frame with the RFC's code, then TCP close.

After a valid opening handshake the attacker sends frames RFC 6455 forbids.
The server must answer with a close frame carrying the code the RFC names
(1002 protocol error, 1007 invalid data, 1009 too big), close TCP, and go on
serving everyone else.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.hostile._live import (
    FAST,
    LiveServer,
    MemoryMeter,
    check_echo,
    live_server,
    options,
    wait_until,
)
from tests.hostile._raw import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    RawPeer,
    close_payload,
    frame,
)

_GREEK = "κόσμε".encode()


async def opened(server: LiveServer) -> RawPeer:
    """A raw connection that completed a valid opening handshake (no extensions)."""
    peer = await server.attack()
    await peer.handshake()
    return peer


#: What a server may allocate, at most, while it answers one framing violation
#: (measured: 72-77 KiB for every attack here, mostly the 64 KiB read buffer).
_VIOLATION_BUDGET = 512 * 1024


async def expect_close(peer: RawPeer, code: int, *, hang_on: bool = False) -> None:
    """The next frame is a close with ``code``, and then the server closes TCP.

    Then the attacker closes its socket too, unless ``hang_on``.
    """
    before, close = await peer.receive_until_close()
    assert before == [], before
    assert close.close_code == code, (close.close_code, close.payload)
    assert not close.masked
    assert await peer.receive_rest() == b""
    if not hang_on:
        await peer.aclose()


async def violate(peer: RawPeer, attack: bytes, code: int) -> None:
    """Send ``attack``: a close with ``code`` and TCP close follow, within the memory budget."""
    with MemoryMeter() as memory:
        await peer.send(attack)
        await expect_close(peer, code)
    assert memory.peak < _VIOLATION_BUDGET, memory


_PROTOCOL_ERRORS = {
    "unmasked-text": frame(TEXT, b"hello", mask=None),
    "unmasked-close": frame(CLOSE, close_payload(1000), mask=None),
    "rsv1-without-extension": frame(TEXT, b"hello", rsv=4),
    "rsv2": frame(BINARY, b"hello", rsv=2),
    "rsv3": frame(BINARY, b"hello", rsv=1),
    **{
        f"reserved-opcode-{op:#x}": frame(op, b"x")
        for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)
    },
    "ping-over-125": frame(PING, b"p" * 126),
    "pong-over-125": frame(PONG, b"p" * 126),
    "close-over-125": frame(CLOSE, close_payload(1000, b"r" * 124)),
    "ping-declares-64-bit-length": frame(PING, b"", length=5, wide=True),
    "fragmented-ping": frame(PING, b"a", fin=False) + frame(CONTINUATION, b"b"),
    "fragmented-close": frame(CLOSE, close_payload(1000), fin=False),
    "continuation-without-start": frame(CONTINUATION, b"orphan"),
    "final-continuation-without-start": frame(CONTINUATION, b"orphan", fin=False),
    "text-inside-fragmented-message": frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),
    "binary-inside-fragmented-message": frame(BINARY, b"a", fin=False) + frame(BINARY, b"b"),
    "64-bit-length-top-bit": frame(BINARY, b"", length=(1 << 63) + 1),
    "64-bit-length-all-ones": frame(BINARY, b"", length=(1 << 64) - 1),
    "close-one-byte-payload": frame(CLOSE, b"\x03"),
    **{
        f"close-code-{code}": frame(CLOSE, close_payload(code, b"bye"))
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    },
}


@pytest.mark.parametrize("attack", _PROTOCOL_ERRORS.values(), ids=_PROTOCOL_ERRORS.keys())
async def test_protocol_violation_gets_1002(
    attack: bytes,
    autojump: trio.testing.MockClock,
) -> None:
    """A framing violation gets a 1002 close and TCP close; others are still served."""
    with trio.fail_after(20):
        async with live_server(FAST) as server:
            peer = await opened(server)
            await violate(peer, attack, 1002)
            await check_echo(server)
            await wait_until(lambda: server.running == 0)
            assert sorted(server.closes) == [1000, 1002]


_INVALID_DATA = {
    "invalid-utf8-whole": frame(TEXT, _GREEK + b"\xed\xa0\x80edited"),
    "invalid-utf8-split-across-fragments": (
        frame(TEXT, _GREEK + b"\xf4", fin=False) + frame(CONTINUATION, b"\x90\x80\x80")
    ),
    "truncated-utf8-at-the-end": frame(TEXT, _GREEK + b"\xe2\x82", fin=False)
    + frame(CONTINUATION, b""),
    "close-reason-invalid-utf8": frame(CLOSE, close_payload(1000, b"\xff\xfe")),
    "close-reason-truncated-utf8": frame(CLOSE, close_payload(1000, _GREEK[:3])),
}


@pytest.mark.parametrize("attack", _INVALID_DATA.values(), ids=_INVALID_DATA.keys())
async def test_invalid_data_gets_1007(attack: bytes, autojump: trio.testing.MockClock) -> None:
    """Text or a close reason that is not UTF-8 gets a 1007 close and TCP close."""
    with trio.fail_after(20):
        async with live_server(FAST) as server:
            peer = await opened(server)
            await violate(peer, attack, 1007)
            await check_echo(server)


_BAD_FIRST_FRAGMENTS = {
    "invalid-start-byte": _GREEK + b"\xff more",
    "never-valid-byte-at-the-end": _GREEK + b"\xc0",
    "above-u10ffff-prefix": _GREEK + b"\xf4\x90",
    "surrogate-prefix": _GREEK + b"\xed\xa0",
    "overlong-prefix": _GREEK + b"\xe0\x80",
}


@pytest.mark.parametrize("payload", _BAD_FIRST_FRAGMENTS.values(), ids=_BAD_FIRST_FRAGMENTS.keys())
async def test_invalid_utf8_in_first_fragment_fails_before_the_last(
    payload: bytes,
    autojump: trio.testing.MockClock,
) -> None:
    """A first fragment that no continuation can make valid UTF-8 gets 1007 at once."""
    with trio.fail_after(20):
        async with live_server(FAST) as server:
            peer = await opened(server)
            # The final fragment never comes.
            await violate(peer, frame(TEXT, payload, fin=False), 1007)
            await check_echo(server)


_TOO_BIG = {
    "one-frame": frame(BINARY, b"x" * 1001),
    "two-fragments": frame(BINARY, b"x" * 600, fin=False) + frame(CONTINUATION, b"x" * 401),
    "text-two-fragments": frame(TEXT, b"x" * 1000, fin=False) + frame(CONTINUATION, b"y"),
    "header-only": frame(BINARY, b"", length=1001),
    "declared-2-62": frame(BINARY, b"", length=1 << 62),
    "declared-2-62-after-a-fragment": frame(BINARY, b"x", fin=False)
    + frame(CONTINUATION, b"", length=1 << 62),
}


@pytest.mark.parametrize("attack", _TOO_BIG.values(), ids=_TOO_BIG.keys())
async def test_message_just_over_max_size_gets_1009(
    attack: bytes,
    autojump: trio.testing.MockClock,
) -> None:
    """A message one byte over max_message_size (or declaring far more) gets 1009 and TCP close."""
    with trio.fail_after(20):
        async with live_server(options(compression=None, max_message_size=1000)) as server:
            peer = await opened(server)
            await peer.send(frame(BINARY, b"x" * 1000))  # exactly the limit: fine
            echo = await peer.receive_frame()
            assert (echo.opcode, len(echo.payload)) == (BINARY, 1000)
            await violate(peer, attack, 1009)
            await check_echo(server)


async def test_default_limit_rejects_declared_2_62_bytes(autojump: trio.testing.MockClock) -> None:
    """With the default max_message_size, a frame declaring 2**62 bytes gets 1009 at once."""
    with trio.fail_after(20):
        async with live_server(FAST) as server:
            peer = await opened(server)
            await violate(peer, frame(BINARY, b"", length=1 << 62), 1009)
            await check_echo(server)


async def test_peer_keeping_tcp_open_after_our_close_is_dropped(
    autojump: trio.testing.MockClock,
) -> None:
    """A peer that ignores our 1002 and keeps TCP open is dropped at disconnect_timeout."""
    server_options = options(compression=None, disconnect_timeout=5)
    with trio.fail_after(60):
        async with live_server(server_options) as server:
            peer = await opened(server)
            await peer.send(frame(TEXT, b"unmasked", mask=None))
            start = trio.current_time()
            await expect_close(peer, 1002, hang_on=True)  # the server's close and half-close
            # The attacker neither answers nor closes; the server must let go
            # of the socket: then data from the attacker is refused with RST.
            with trio.fail_after(server_options.disconnect_timeout + 1):
                with pytest.raises(trio.BrokenResourceError):
                    while True:
                        await peer.send(frame(TEXT, b"anyone there?"))
                        assert await peer.stream.receive_some(1) == b""
                        await trio.sleep(0.5)
                await wait_until(lambda: server.running == 0)
            assert trio.current_time() - start <= server_options.disconnect_timeout + 2
            await check_echo(server)
