"""What both ends of an interop run agree on, shared with the peer programs.

This module imports nothing but the standard library so that the peer
scripts (``python -m tests.interop.websockets_asyncio_peer``) stay light.
The node and browser peers get the same values as JSON (see
:func:`peer_config`), so this file is the one place they are spelled.
"""

from __future__ import annotations

import json
from typing import Final

#: What clients offer, in order; the server picks :data:`SUBPROTOCOL`, the
#: second one, so a result of "chat" proves the server chose.
OFFERED_SUBPROTOCOLS: Final = ("superchat", "chat")
SUBPROTOCOL: Final = "chat"

#: Text messages starting with this prefix are commands to the peer, which
#: echoes every other message back unchanged.
COMMAND_INFO: Final = "!info"  # answer with JSON: {"subprotocol": ..., "extensions": ...}
COMMAND_PING: Final = "!ping"  # ping us with PEER_PING_PAYLOAD, then send PONG_OK
COMMAND_CLOSE: Final = "!close"  # close with PEER_CLOSE_CODE and PEER_CLOSE_REASON
PONG_OK: Final = "!pong-ok"

PEER_PING_PAYLOAD: Final = "ping from the peer"
OUR_PING_PAYLOAD: Final = b"ping from ws \xe2\x9c\x93"

#: The message size limit the peers are given. websockets also applies its
#: limit (1 MiB by default) to the compressed frame on the wire, so its
#: default would refuse our 1 MiB incompressible message once deflate makes
#: it a few hundred bytes longer. The peers' own limits are not under test;
#: ws keeps its default limit of exactly 1 MiB.
PEER_MAX_SIZE: Final = 4 * 1024 * 1024

OUR_CLOSE_CODE: Final = 4001
OUR_CLOSE_REASON: Final = "ws says bye \u2713"
PEER_CLOSE_CODE: Final = 4002
PEER_CLOSE_REASON: Final = "peer says bye \u2713"


def peer_config() -> str:
    """The constants a node or browser peer needs, as one JSON object."""
    return json.dumps(
        {
            "subprotocols": list(OFFERED_SUBPROTOCOLS),
            "subprotocol": SUBPROTOCOL,
            "commandInfo": COMMAND_INFO,
            "commandPing": COMMAND_PING,
            "commandClose": COMMAND_CLOSE,
            "pongOk": PONG_OK,
            "pingPayload": PEER_PING_PAYLOAD,
            "closeCode": PEER_CLOSE_CODE,
            "closeReason": PEER_CLOSE_REASON,
            "maxSize": PEER_MAX_SIZE,
        }
    )
