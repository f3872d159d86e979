"""An upload server that streams each file to disk: memory stays flat whatever the size.

    python examples/upload/server.py --directory uploads --port 8000

A client connects to ``/upload/<file name>`` and sends the file as one
binary message (``client.py`` does). The server writes the message to
disk piece by piece as its frames arrive (``get_message_fragments``),
hashing it on the way, and answers with one JSON text message::

    {"name": "report.pdf", "size": 20971520, "sha256": "9f86d0..."}

The file appears in the directory only once it is complete (it is written
to a hidden ``.part`` file, then renamed); an upload that is interrupted or
too large leaves nothing behind. An upload over ``--max-size`` bytes is
refused with close code 1009 (message too big).

The first line printed says where it listens:
``upload: listening on ws://127.0.0.1:8000`` (``--port 0`` picks a free
port). Ctrl-C or SIGTERM stops it, with status 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
from collections.abc import AsyncIterator, Sequence

import trio

import ws

#: The largest upload accepted by default: 1 GiB.
DEFAULT_MAX_SIZE = 1024**3


def is_plain_file_name(name: str) -> bool:
    """Whether ``name`` is safe to use as a file name in the upload directory.

    The name comes from the client, percent-decoded: ``%2F`` gives a ``/``.
    Refusing separators, ``..`` and hidden names keeps every upload inside
    the directory (no ``../../etc/cron.d/x``) and away from our ``.part`` files.
    """
    return (
        name not in ("", ".", "..")
        and not name.startswith(".")
        and not any(bad in name for bad in ("/", "\\", "\0"))
        and len(name.encode()) <= 255
    )


def upload_router(directory: trio.Path, max_size: int) -> ws.Router:
    """The one route: ``/upload/{name}`` stores the message it receives as ``directory/name``."""
    router = ws.Router()

    @router.route("/upload/{name}")
    async def upload(request: ws.WebSocketRequest, name: str) -> None:
        if not is_plain_file_name(name):
            # Before the WebSocket handshake: the client gets a plain HTTP 400.
            await request.reject(400, body=b"the upload's name must be a plain file name\n")
            return
        connection = await request.accept()
        # Switch the connection to streaming now, before anything that waits
        # (opening the file takes a trip to a worker thread): frames that
        # arrive before this call are held whole, and a fast client can send
        # more than max_message_size (1 MiB) in the meantime, which would
        # close the connection with 1009.
        pieces = connection.get_message_fragments()
        part = directory / f".{name}.{os.urandom(4).hex()}.part"
        try:
            size, sha256 = await receive_to_file(connection, pieces, part, max_size)
            if size < 0:
                return  # refused: the connection is closed already
            # A rename within one directory is atomic: readers of the
            # directory see the old file or the new one, never half of it.
            await part.rename(directory / name)
        except ws.ConnectionClosed as closed:
            print(f"upload: {name} interrupted: {closed.reason}", flush=True)
            return
        finally:
            # Shielded: cleanup must run even when the handler is cancelled
            # (a shutdown whose grace ran out), and awaiting would raise
            # Cancelled at once without it.
            with trio.CancelScope(shield=True):
                await part.unlink(missing_ok=True)
        print(f"upload: stored {name}: {size} bytes, sha256 {sha256}", flush=True)
        await connection.send_message(json.dumps({"name": name, "size": size, "sha256": sha256}))

    return router


async def receive_to_file(
    connection: ws.WebSocketConnection,
    pieces: AsyncIterator[str | bytes],
    path: trio.Path,
    max_size: int,
) -> tuple[int, str]:
    """Write the message that ``pieces`` yields to ``path``; its size and SHA-256 (hex).

    Returns a size of -1 after refusing the message (closing the connection).
    """
    digest = hashlib.sha256()
    size = 0
    async with await trio.open_file(path, "wb") as file:
        # pieces (from connection.get_message_fragments()) yields each frame's
        # payload as it arrives, so only one frame (64 KiB from client.py; at
        # most max_message_size, 1 MiB by default) is in memory at a time,
        # not the whole file.
        async for piece in pieces:
            if isinstance(piece, str):
                await connection.aclose(ws.CloseCode.UNSUPPORTED_DATA, "send the file as binary")
                return -1, ""
            size += len(piece)
            if size > max_size:
                # Leaving the loop would skip the rest of the message, which
                # still has to come over the network: close instead.
                await connection.aclose(
                    ws.CloseCode.MESSAGE_TOO_BIG, f"uploads are limited to {max_size} bytes"
                )
                return -1, ""
            digest.update(piece)
            await file.write(piece)
    return size, digest.hexdigest()


async def main(directory: trio.Path, host: str, port: int, max_size: int) -> None:
    """Serve uploads into ``directory`` until SIGINT or SIGTERM."""
    await directory.mkdir(parents=True, exist_ok=True)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            router = upload_router(directory, max_size)
            server = await nursery.start(ws.serve_websocket, router, host, port, None)
            print(f"upload: listening on ws://{host}:{server.port}", flush=True)
            async for _signum in signals:
                await server.aclose(reason="server shutting down", grace=5)
                break
    print("upload: stopped", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Receive file uploads over WebSocket, streamed to disk.")
    parser.add_argument("--directory", default="uploads", help="where to store uploads (default ./uploads)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument(
        "--max-size", type=int, default=DEFAULT_MAX_SIZE, help="largest upload in bytes (default 1 GiB)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    trio.run(main, trio.Path(args.directory), args.host, args.port, args.max_size)
