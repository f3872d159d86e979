"""The conversation ws has with every peer, and the checks on what each side saw.

Every interop run opens two connections between ws and the peer, whichever
side is the client:

1. :func:`converse_and_close`: check the negotiated subprotocol and
   compression on both sides, send text, binary, 1 MiB and non-ASCII
   messages and expect them echoed back, ping the peer, have the peer ping
   us, then close with :data:`~constants.OUR_CLOSE_CODE` and a reason. The
   peer reports the close code and reason it received (:func:`check_peer_saw_our_close`).
2. :func:`let_peer_close`: ask the peer to close with
   :data:`~constants.PEER_CLOSE_CODE` and a reason, and check that ws
   reports exactly that; the peer reports that we echoed the code
   (:func:`check_peer_saw_close_echo`).

The peer runs a "commanded echo" (see ``constants.py``): it echoes every
message except the text commands, which ask it for its view of the
handshake, to ping, or to close.
"""

from __future__ import annotations

import json
import random

import attrs
import pytest
import trio

import ws
from tests.interop.constants import (
    COMMAND_CLOSE,
    COMMAND_INFO,
    COMMAND_PING,
    OUR_CLOSE_CODE,
    OUR_CLOSE_REASON,
    OUR_PING_PAYLOAD,
    PEER_CLOSE_CODE,
    PEER_CLOSE_REASON,
    PONG_OK,
    SUBPROTOCOL,
)

#: Seconds any single exchange with a peer may take.
STEP_TIMEOUT = 10

ONE_MIB = 1024 * 1024

#: The messages every peer must echo, by name (the name shows in failures).
MESSAGES: dict[str, str | bytes] = {
    "text": "hello, peer",
    "binary": bytes(range(256)) * 4,
    "non-ascii text": "h\u00e9llo w\u00f6rld \u2014 \u2603 \u65e5\u672c\u8a9e \U0001f389",
    # Incompressible, so that with deflate the compressed frame is slightly
    # larger than the 1 MiB limit on the message (which counts inflated bytes).
    "1 MiB binary": random.Random(6455).randbytes(ONE_MIB),
    "empty text": "",
}

DEFLATE = "permessage-deflate"


@attrs.frozen
class PeerInfo:
    """The peer's own view of the handshake, answered to :data:`COMMAND_INFO`.

    Attributes:
        subprotocol: The subprotocol the peer's library reports.
        extensions: The negotiated extensions as the peer's library reports
            them (names, or the ``Sec-WebSocket-Extensions`` value); ``""``
            for none.
    """

    subprotocol: str | None
    extensions: str

    @classmethod
    def from_json(cls, text: str) -> PeerInfo:
        """Parse the peer's JSON answer."""
        data: object = json.loads(text)
        assert isinstance(data, dict), text
        subprotocol = data.get("subprotocol") or None
        extensions = data.get("extensions") or ""
        assert subprotocol is None or isinstance(subprotocol, str), text
        assert isinstance(extensions, str), text
        return cls(subprotocol, extensions)


@attrs.frozen
class PeerClose:
    """The close frame the peer received, as it reports it after a connection.

    Attributes:
        code: The close code the peer received.
        reason: The close reason the peer received (``""`` for none).
    """

    code: int
    reason: str

    @classmethod
    def from_object(cls, data: object) -> PeerClose:
        """Read ``{"code": int, "reason": str}`` from a peer's JSON report."""
        assert isinstance(data, dict), data
        code = data.get("code")
        reason = data.get("reason") or ""
        assert isinstance(code, int) and isinstance(reason, str), data
        return cls(code, reason)


def check_our_negotiation(conn: ws.WebSocketConnection, *, compressed: bool) -> None:
    """ws agreed on the subprotocol, and used permessage-deflate iff ``compressed``."""
    assert conn.subprotocol == SUBPROTOCOL
    names = [extension.name for extension in conn.extensions]
    assert names == ([DEFLATE] if compressed else [])
    headers = dict(conn.handshake_headers)
    if conn.is_client:
        # As in trio-websocket: the headers that made the handshake are left out.
        assert b"sec-websocket-protocol" not in headers and b"upgrade" not in headers
    else:
        # The client offered what was agreed.
        assert SUBPROTOCOL in headers.get(b"sec-websocket-protocol", b"").decode()


async def _receive(conn: ws.WebSocketConnection) -> str | bytes:
    with trio.fail_after(STEP_TIMEOUT):
        return await conn.get_message()


async def ask_peer_info(conn: ws.WebSocketConnection) -> PeerInfo:
    """Ask the peer for its view of the handshake."""
    await conn.send_message(COMMAND_INFO)
    answer = await _receive(conn)
    assert isinstance(answer, str), answer
    return PeerInfo.from_json(answer)


async def converse_and_close(
    conn: ws.WebSocketConnection, *, compressed: bool, peer_can_ping: bool = True
) -> None:
    """Run the whole conversation on ``conn``, then close it ourselves.

    Args:
        conn: A fresh connection to a peer running the commanded echo.
        compressed: Whether permessage-deflate must have been negotiated.
        peer_can_ping: False for browsers, whose JavaScript cannot ping.
    """
    check_our_negotiation(conn, compressed=compressed)
    info = await ask_peer_info(conn)
    assert info.subprotocol == SUBPROTOCOL
    assert (DEFLATE in info.extensions) is compressed, info

    for name, message in MESSAGES.items():
        await conn.send_message(message)
        echoed = await _receive(conn)
        assert type(echoed) is type(message), name
        assert echoed == message, name

    # We ping them: ping() returns once the matching pong arrived.
    with trio.fail_after(STEP_TIMEOUT):
        await conn.ping(OUR_PING_PAYLOAD)
    if peer_can_ping:
        # They ping us: the peer checks the pong's payload before it answers.
        await conn.send_message(COMMAND_PING)
        assert await _receive(conn) == PONG_OK

    with trio.fail_after(STEP_TIMEOUT):
        await conn.aclose(OUR_CLOSE_CODE, OUR_CLOSE_REASON)
    assert conn.closed == ws.CloseReason(OUR_CLOSE_CODE, OUR_CLOSE_REASON)


async def let_peer_close(conn: ws.WebSocketConnection) -> None:
    """Ask the peer to close ``conn``, and check the code and reason ws reports."""
    await conn.send_message(COMMAND_CLOSE)
    with pytest.raises(ws.ConnectionClosed) as caught:
        await _receive(conn)
    expected = ws.CloseReason(PEER_CLOSE_CODE, PEER_CLOSE_REASON)
    assert caught.value.reason == expected
    assert conn.closed == expected


def check_peer_saw_our_close(report: PeerClose) -> None:
    """The peer received our close code and reason intact."""
    assert report == PeerClose(OUR_CLOSE_CODE, OUR_CLOSE_REASON)


def check_peer_saw_close_echo(report: PeerClose) -> None:
    """The peer closed, and ws answered with the same code (RFC 6455 section 5.5.1)."""
    assert report.code == PEER_CLOSE_CODE
