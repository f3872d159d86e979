"""A feed server to restart under a reconnecting client: ticks for each subscriber.

    python examples/reconnect/server.py --port 8000 --name first

A client sends ``subscribe``; from then on the server sends
``tick <n> from <name>`` every ``--interval`` seconds (``n`` counts from 1
on each connection). ``--name`` tells one run of the server from the next
in the client's output.

Stop it with SIGTERM or Ctrl-C: connections close with 1001 ("going away"),
as in a rolling restart, and the program exits with status 0. Kill it with
``kill -9`` to play a crash: clients see their connection drop without a
close frame (1006). ``client.py`` comes back after either.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence
from functools import partial

import trio

import ws


async def feed(name: str, interval: float, request: ws.WebSocketRequest) -> None:
    """Wait for ``subscribe``, then tick until the connection closes."""
    connection = await request.accept()
    try:
        if await connection.get_message() != "subscribe":
            await connection.aclose(ws.CloseCode.POLICY_VIOLATION, "say subscribe first")
            return
        tick = 0
        while True:
            tick += 1
            await connection.send_message(f"tick {tick} from {name}")
            await trio.sleep(interval)
    except ws.ConnectionClosed:
        pass  # the client left, or the server is shutting down: nothing left to do


async def main(host: str, port: int, name: str, interval: float) -> None:
    """Serve until SIGINT or SIGTERM, then close every connection with 1001."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            handler = partial(feed, name, interval)
            server = await nursery.start(ws.serve_websocket, handler, host, port, None)
            print(f"feed {name}: listening on ws://{host}:{server.port}/", flush=True)
            async for _signum in signals:
                await server.aclose(reason="server restarting", grace=5)
                break
    print(f"feed {name}: stopped", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="A WebSocket feed: ticks for each subscriber.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--name", default="feed", help="this run's name, sent in every tick")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between ticks (default 1)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    trio.run(main, args.host, args.port, args.name, args.interval)
