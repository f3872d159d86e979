"""An interactive client, like trio-websocket's example client.

    python examples/client.py ws://127.0.0.1:8000/
    python examples/client.py --heartbeat ws://127.0.0.1:8000/

Type a line to send it; ``ping`` sends a ping and waits for the pong;
``close [code] [reason]`` closes. With ``--heartbeat`` a ping goes out every
second and the client gives up if a pong takes more than 5 seconds.
"""

from __future__ import annotations

import argparse
import ssl
import sys

import trio

import ws


async def heartbeat(connection: ws.WebSocketConnection, timeout: float, interval: float) -> None:
    """Ping every ``interval`` seconds; fail if a pong takes over ``timeout``."""
    while True:
        with trio.fail_after(timeout):
            await connection.ping()
        await trio.sleep(interval)


async def receive(connection: ws.WebSocketConnection) -> None:
    """Print every message until the connection closes."""
    async for message in connection:
        print(f"< {message!r}")
    print(f"closed: {connection.closed}")


async def repl(connection: ws.WebSocketConnection) -> None:
    """Read commands from stdin."""
    stdin = trio.wrap_file(sys.stdin)
    async for line in stdin:
        text = line.rstrip("\n")
        if text == "ping":
            await connection.ping()
            print("pong")
        elif text.startswith("close"):
            parts = text.split(maxsplit=2)
            code = int(parts[1]) if len(parts) > 1 else 1000
            await connection.aclose(code, parts[2] if len(parts) > 2 else None)
            return
        else:
            await connection.send_message(text)


async def main(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    try:
        async with ws.open_websocket_url(args.url, context) as connection:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(receive, connection)
                if args.heartbeat:
                    nursery.start_soon(heartbeat, connection, 5, 1)
                await repl(connection)
                nursery.cancel_scope.cancel()
    except ws.HandshakeError as exc:
        print(f"connection failed: {exc}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="interactive ws client")
    parser.add_argument("--heartbeat", action="store_true", help="ping every second")
    parser.add_argument("--cafile", help="CA certificate to trust for wss:// (e.g. example-ca.pem)")
    parser.add_argument("url", help="ws:// or wss:// URL")
    trio.run(main, parser.parse_args())
