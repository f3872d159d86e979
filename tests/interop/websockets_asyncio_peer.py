"""A websockets (asyncio) peer for the interop tests, run as a subprocess.

    python -m tests.interop.websockets_asyncio_peer server [--cert PEM --key PEM]
    python -m tests.interop.websockets_asyncio_peer client URL [--ca PEM]

Both run the commanded echo (see ``constants.py``) with websockets'
defaults (permessage-deflate allowed) and report on stdout, one JSON object
a line: the server first prints ``{"port": N}``, then, like the client,
``{"code": ..., "reason": ...}`` with the close frame received, after each
connection. The client connects twice, one connection after the other, and
exits; the server runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.interop.constants import (
    COMMAND_CLOSE,
    COMMAND_INFO,
    COMMAND_PING,
    OFFERED_SUBPROTOCOLS,
    PEER_CLOSE_CODE,
    PEER_CLOSE_REASON,
    PEER_MAX_SIZE,
    PEER_PING_PAYLOAD,
    PONG_OK,
    SUBPROTOCOL,
)

#: Seconds for any one step; the test kills the process anyway.
TIMEOUT = 10


def report(data: dict[str, object]) -> None:
    """Print one JSON line for the test."""
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


async def commanded_echo(conn: ClientConnection | ServerConnection) -> None:
    """Echo and obey commands until the connection closes, then report the close."""
    try:
        while True:
            message = await conn.recv()
            if message == COMMAND_INFO:
                names = [extension.name for extension in conn.protocol.extensions]
                await conn.send(json.dumps({"subprotocol": conn.subprotocol, "extensions": ", ".join(names)}))
            elif message == COMMAND_PING:
                pong = await conn.ping(PEER_PING_PAYLOAD)
                await asyncio.wait_for(pong, TIMEOUT)
                await conn.send(PONG_OK)
            elif message == COMMAND_CLOSE:
                await conn.close(PEER_CLOSE_CODE, PEER_CLOSE_REASON)
            else:
                await conn.send(message)
    except ConnectionClosed:
        pass
    await asyncio.wait_for(conn.wait_closed(), TIMEOUT)
    report({"code": conn.close_code, "reason": conn.close_reason})


def tls_server_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """A server context for the certificate files, if given."""
    if cert is None or key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def run_server(cert: str | None, key: str | None) -> None:
    """Serve on 127.0.0.1, an ephemeral port, until killed."""
    async with serve(
        commanded_echo,
        "127.0.0.1",
        0,
        ssl=tls_server_context(cert, key),
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        ping_interval=None,
        max_size=PEER_MAX_SIZE,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        report({"port": port})
        await server.serve_forever()


async def run_client(url: str, ca: str | None) -> None:
    """Connect twice to ``url``, one connection after the other."""
    context = None
    if ca is not None:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    for _ in range(2):
        async with connect(
            url,
            ssl=context,
            subprotocols=[Subprotocol(name) for name in OFFERED_SUBPROTOCOLS],
            proxy=None,
            open_timeout=TIMEOUT,
            close_timeout=TIMEOUT,
            ping_interval=None,
            max_size=PEER_MAX_SIZE,
        ) as conn:
            await commanded_echo(conn)


def main() -> None:
    """Parse the command line and run the peer."""
    parser = argparse.ArgumentParser(description=__doc__)
    roles = parser.add_subparsers(dest="role", required=True)
    server = roles.add_parser("server")
    server.add_argument("--cert")
    server.add_argument("--key")
    client = roles.add_parser("client")
    client.add_argument("url")
    client.add_argument("--ca")
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(run_server(args.cert, args.key))
    else:
        asyncio.run(run_client(args.url, args.ca))


if __name__ == "__main__":
    main()
