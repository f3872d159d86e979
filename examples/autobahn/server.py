"""An echo server for the Autobahn TestSuite's fuzzing client.

    python examples/autobahn/server.py 127.0.0.1 9001
    kosoku -m fuzzingclient -p 4 -o reports/servers 127.0.0.1:9001

It echoes every message (text as text, binary as binary) with
permessage-deflate on (ws's default, which accepts every parameter set the
13.x cases offer), a message limit large enough for the 16 MiB messages of
the 9.x cases, and no keepalive pings: the suite records every ping it
receives, and a case that gets one it did not ask for fails. Once it
listens it prints ``listening on <port>`` and flushes stdout, so a script
can start it with port 0 and read the port back.
"""

from __future__ import annotations

import argparse
from functools import partial

import trio

import ws

OPTIONS = ws.ServerOptions(
    # The 9.x cases send messages of up to 16 MiB; leave room above that.
    max_message_size=64 * 1024 * 1024,
    message_queue_size=4,
    ping_interval=None,
    # Compress every message, also those below the default threshold of 64
    # bytes. RFC 7692 lets any message go uncompressed, but kosoku's 12.x and
    # 13.x cases (ported from the Autobahn TestSuite) hash what they receive
    # and get a str for an uncompressed text message: "Strings must be encoded
    # before hashing", an ERROR for each 16-byte case (12.x.1, 13.x.1). The
    # threshold itself is checked in tests/test_compress_control.py and
    # against websockets and node's ws in tests/interop.
    compression=ws.ServerPerMessageDeflateFactory(threshold=0),
)


async def echo(request: ws.WebSocketRequest) -> None:
    """Accept the connection and echo each message until the peer closes."""
    connection = await request.accept()
    try:
        async for message in connection:
            await connection.send_message(message)
    except ws.ConnectionClosed:
        pass  # the suite fails connections on purpose


async def main(host: str, port: int) -> None:
    """Serve until interrupted; print the port once listening."""
    async with trio.open_nursery() as nursery:
        server: ws.WebSocketServer = await nursery.start(
            partial(ws.serve_websocket, echo, host, port, None, options=OPTIONS)
        )
        print(f"listening on {server.port}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="ws echo server for the Autobahn TestSuite")
    parser.add_argument("host", nargs="?", default="127.0.0.1", help="interface to bind")
    parser.add_argument("port", nargs="?", type=int, default=9001, help="port (0 picks one)")
    args = parser.parse_args()
    try:
        trio.run(main, args.host, args.port)
    except KeyboardInterrupt:
        pass
