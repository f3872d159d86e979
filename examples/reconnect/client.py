"""A client that stays subscribed across server restarts, with ``ws.connect_forever``.

    python examples/reconnect/client.py ws://127.0.0.1:8000/

On each connection it prints ``connected (connection <n>)``, subscribes
(the new server knows nothing of the old connection), and prints every
message as ``received: <message>``. When the server goes away (restart,
crash, network failure), ``connect_forever`` waits a random, growing delay
and connects again; each retry is logged on stderr. It gives up only on an
answer that waiting cannot fix (a 403, a 404) or a close with 1000.

Ctrl-C or SIGTERM stops it (the open connection closes with 1001), with
status 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

import attrs
import trio

import ws


@attrs.define(eq=False)
class Subscriber:
    """The handler ``connect_forever`` calls with each new connection.

    State that must outlive one connection (counters here; a cursor or the
    last message id in a real feed) lives on this object, not in the call.
    """

    connections: int = 0
    messages: int = 0

    async def __call__(self, connection: ws.WebSocketConnection) -> None:
        self.connections += 1
        print(f"connected (connection {self.connections})", flush=True)
        # Subscribe on every connection: a restarted server starts from nothing.
        await connection.send_message("subscribe")
        # The loop ends quietly when the server closes with 1000 or 1001, and
        # raises ws.ConnectionClosed when the connection drops (1006).
        # connect_forever looks at how the connection ended, either way, to
        # decide whether to connect again.
        async for message in connection:
            self.messages += 1
            print(f"received: {message!s}", flush=True)


async def main(url: str, backoff: ws.Backoff) -> int:
    """Stay subscribed until a signal, or a final answer; the exit status."""
    subscriber = Subscriber()
    status = 0
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    print(f"{signal.Signals(signum).name}: stopping", flush=True)
                    nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_signal)
            try:
                await ws.connect_forever(subscriber, url, backoff=backoff)
            except ws.ConnectionRejected as exc:
                print(f"the server refused us with HTTP {exc.status_code}: giving up", file=sys.stderr)
                status = 1
            else:
                print("the server closed the connection for good: not reconnecting", flush=True)
            nursery.cancel_scope.cancel()  # stop waiting for signals
    print(f"stopped after {subscriber.connections} connection(s)", flush=True)
    return status


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Stay subscribed to a feed across restarts.")
    parser.add_argument("url", help="the feed's URL, e.g. ws://127.0.0.1:8000/")
    parser.add_argument(
        "--initial-delay",
        type=float,
        default=1.0,
        help="the longest wait before the first retry, in seconds (default 1)",
    )
    parser.add_argument(
        "--max-delay",
        type=float,
        default=60.0,
        help="the longest wait between retries, in seconds (default 60)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    # connect_forever logs every retry at INFO on the "ws" logger: show them.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Full jitter (the default): each wait is drawn at random below a ceiling
    # that doubles after each failure, so clients cut off together come back
    # spread out instead of all at once.
    backoff = ws.Backoff(initial=args.initial_delay, maximum=args.max_delay)
    sys.exit(trio.run(main, args.url, backoff))
