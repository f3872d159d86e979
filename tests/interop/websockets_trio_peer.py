"""The commanded echo (see ``constants.py``) on websockets' Trio implementation.

It runs in the test's own Trio run, next to ws.
"""

from __future__ import annotations

import json

import trio
from websockets.exceptions import ConnectionClosed
from websockets.trio.connection import Connection

from tests.interop.constants import (
    COMMAND_CLOSE,
    COMMAND_INFO,
    COMMAND_PING,
    PEER_CLOSE_CODE,
    PEER_CLOSE_REASON,
    PEER_PING_PAYLOAD,
    PONG_OK,
)
from tests.interop.scenario import STEP_TIMEOUT, PeerClose


def describe(conn: Connection) -> str:
    """The peer's view of the handshake, as the JSON answer to ``!info``."""
    names = [extension.name for extension in conn.protocol.extensions]
    return json.dumps({"subprotocol": conn.subprotocol, "extensions": ", ".join(names)})


async def commanded_echo(conn: Connection) -> PeerClose:
    """Echo and obey commands until the connection closes; report the close received."""
    try:
        while True:
            message = await conn.recv()
            if message == COMMAND_INFO:
                await conn.send(describe(conn))
            elif message == COMMAND_PING:
                pong = await conn.ping(PEER_PING_PAYLOAD)
                with trio.fail_after(STEP_TIMEOUT):
                    await pong.wait()
                await conn.send(PONG_OK)
            elif message == COMMAND_CLOSE:
                await conn.aclose(PEER_CLOSE_CODE, PEER_CLOSE_REASON)
            else:
                await conn.send(message)
    except ConnectionClosed:
        pass
    with trio.fail_after(STEP_TIMEOUT):
        await conn.wait_closed()
    assert conn.close_code is not None
    return PeerClose(conn.close_code, conn.close_reason or "")
