"""A WebSocket server on a Unix socket: only local processes, and you know which.

    python examples/unix/server.py /tmp/ws-example.sock

A Unix socket is a file: no port to pick, nothing reachable from the
network, and the file's permissions decide who may connect (here ``0o600``:
the server's own user; ``--mode 660`` adds its group). A reverse proxy on
the same machine (nginx's ``proxy_pass http://unix:/path:``) or a local
agent talks to it without any TCP port being open.

The server greets each client with the process id and user id of the
process that connected, which the kernel reports for Unix sockets
(``SO_PEERCRED``, on Linux), then echoes its messages.

The first line printed is the URL clients use:
``unix: listening on ws+unix://%2Ftmp%2Fws-example.sock/``. SIGINT (Ctrl-C)
or SIGTERM closes every connection with 1001, removes the socket file and
exits with status 0.
"""

from __future__ import annotations

import argparse
import signal
import socket
import struct
import urllib.parse
from collections.abc import Sequence
from functools import partial

import attrs
import trio

import ws


@attrs.frozen
class PeerCredentials:
    """Who is at the other end of a Unix socket, as the kernel saw at ``connect()``."""

    pid: int
    uid: int
    gid: int


def peer_credentials(stream: trio.abc.Stream) -> PeerCredentials | None:
    """The peer's process, user and group ids, or ``None`` where the OS does not tell.

    ``SO_PEERCRED`` is Linux's; the kernel records the credentials when the
    client connects, so the client cannot lie about them.
    """
    option: int | None = getattr(socket, "SO_PEERCRED", None)
    if option is None or not isinstance(stream, trio.SocketStream):
        return None
    layout = struct.Struct("3i")  # struct ucred: pid, uid, gid
    raw = stream.socket.getsockopt(socket.SOL_SOCKET, option, layout.size)
    return PeerCredentials(*layout.unpack(raw))


def unix_url(path: str, resource: str = "/") -> str:
    """The ``ws+unix://`` URL of ``resource`` on the socket at ``path``.

    The socket path goes in the authority, percent-encoded (``/`` too), so
    that it cannot be confused with the resource after it.
    """
    return f"ws+unix://{urllib.parse.quote(path, safe='')}{resource}"


async def greet_and_echo(request: ws.WebSocketRequest) -> None:
    """Say who connected, then send every message back."""
    connection = await request.accept()
    peer = peer_credentials(connection.stream)
    if peer is None:
        await connection.send_message("hello, local process")
    else:
        await connection.send_message(f"hello, process {peer.pid} of user {peer.uid}")
        print(f"unix: process {peer.pid} of user {peer.uid} connected", flush=True)
    async for message in connection:
        await connection.send_message(message)


async def main(path: str, mode: int) -> None:
    """Serve on the socket file ``path`` until SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            # Creates the socket file with ``mode`` before it accepts anyone,
            # replaces a stale file a crashed server left behind (never a live
            # socket, never a regular file), and removes the file on the way out.
            serve = partial(ws.serve_websocket_unix, greet_and_echo, path, mode=mode)
            server = await nursery.start(serve)
            print(f"unix: listening on {unix_url(path)}", flush=True)
            async for _signum in signals:
                await server.aclose(reason="server shutting down", grace=5)
                break
    print("unix: stopped", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="A WebSocket echo server on a Unix socket.")
    parser.add_argument("path", help="the socket file to create, e.g. /tmp/ws-example.sock")
    parser.add_argument(
        "--mode",
        type=lambda text: int(text, 8),
        default=0o600,
        help="permissions of the socket file, in octal (default 600: this user only)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    trio.run(main, args.path, args.mode)
