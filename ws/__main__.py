"""``python -m ws``: a small command-line tool.

``python -m ws demo`` starts an echo server on 127.0.0.1 (a free port),
connects a client to it, exchanges a few messages with permessage-deflate,
and closes both ends: a one-minute look at the library that needs nothing
but ws itself.
"""

from __future__ import annotations

import argparse
import sys

import trio

import ws


async def _echo(request: ws.WebSocketRequest) -> None:
    connection = await request.accept()
    async for message in connection:
        await connection.send_message(message)


async def demo() -> None:
    """Run an echo server and a client against it, printing what happens."""
    async with trio.open_nursery() as nursery:
        server = await nursery.start(ws.serve_websocket, _echo, "127.0.0.1", 0, None)
        url = f"ws://127.0.0.1:{server.port}/demo"
        print(f"server: listening on {server.listeners[0]}")
        async with ws.open_websocket_url(url) as connection:
            names = ", ".join(e.name for e in connection.extensions) or "none"
            print(f"client: connected to {url} (extensions: {names})")
            for message in ("hello", "ws on Trio", b"\x00\x01binary\xff", "x" * 100_000):
                await connection.send_message(message)
                echo = await connection.get_message()
                shown = repr(message) if len(message) < 40 else f"<{len(message)} chars>"
                print(f"client: sent {shown}, echo {'matches' if echo == message else 'DIFFERS'}")
            with trio.fail_after(5):
                await connection.ping()
            print("client: ping answered by pong")
        print(f"client: closed with {connection.closed}")
        nursery.cancel_scope.cancel()
    print("demo: done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ws", description="ws: WebSocket for Trio")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run an echo server and a client against it")
    args = parser.parse_args(argv)
    if args.command == "demo":
        trio.run(demo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
