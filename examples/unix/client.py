"""A WebSocket client for a Unix socket: connects with a ``ws+unix://`` URL.

    python examples/unix/client.py /tmp/ws-example.sock hello world

Prints the server's greeting and the echo of each message
(``received: ...``), then exits with status 0; status 1 if it could not
connect (no such socket file, nobody listening, no permission).
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from collections.abc import Sequence

import trio

import ws


def shown(message: str | bytes) -> str:
    """A message for the terminal: text as it is, binary as its size."""
    return message if isinstance(message, str) else f"<{len(message)} bytes>"


async def main(path: str, messages: Sequence[str]) -> int:
    """Connect to the socket at ``path``, print the greeting and the echoes; the exit status."""
    # ws+unix://<socket path, percent-encoded>/<resource>: the path is the
    # authority of the URL, so every "/" in it is written %2F.
    url = f"ws+unix://{urllib.parse.quote(path, safe='')}/"
    try:
        async with ws.open_websocket_url(url) as connection:
            print(f"server says: {shown(await connection.get_message())}", flush=True)
            for message in messages:
                await connection.send_message(message)
                print(f"received: {shown(await connection.get_message())}", flush=True)
    except OSError as exc:  # ws.ConnectFailed is an OSError
        print(f"could not connect to {path}: {exc}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Talk to a WebSocket server on a Unix socket.")
    parser.add_argument("path", help="the server's socket file, e.g. /tmp/ws-example.sock")
    parser.add_argument("messages", nargs="*", default=["hello"], help="text messages to send")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    sys.exit(trio.run(main, args.path, args.messages))
