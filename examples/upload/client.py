"""Upload a file as one WebSocket message, streamed from disk, and check the server's digest.

    python examples/upload/client.py big.iso --server ws://127.0.0.1:8000

The file is read in chunks by an async file reader and each chunk goes out
as one frame of a single binary message (``send_message_fragments``), so
memory stays flat whatever the file's size, and the message's length need
not be known in advance. The client hashes what it sends and compares with
the SHA-256 the server computed from what it stored.

Prints ``uploaded <name>: <size> bytes, sha256 <hex> (verified by the
server)`` and exits with status 0; exits with status 1 if the server
refused or interrupted the upload, or its digest differs.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import urllib.parse
from collections.abc import AsyncGenerator, Sequence

import attrs
import trio

import ws

#: Bytes read from the file, and sent in one frame, at a time.
CHUNK_SIZE = 64 * 1024


@attrs.define
class Sent:
    """What went out: filled in while the file is read."""

    size: int = 0
    sha256: str = ""


async def read_chunks(path: trio.Path, chunk_size: int, sent: Sent) -> AsyncGenerator[bytes, None]:
    """The file's contents, ``chunk_size`` bytes at a time, hashed on the way.

    An async generator: each read runs in a worker thread (trio.open_file),
    so a slow disk never blocks the other tasks of the program.
    """
    digest = hashlib.sha256()
    async with await trio.open_file(path, "rb") as file:
        while chunk := await file.read(chunk_size):
            digest.update(chunk)
            sent.size += len(chunk)
            yield chunk
    sent.sha256 = digest.hexdigest()


async def upload(url: str, path: trio.Path, chunk_size: int = CHUNK_SIZE) -> tuple[Sent, dict[str, object]]:
    """Send the file at ``path`` to ``url``; what was sent, and the server's answer.

    Raises:
        ws.ConnectionRejected: The server refused the upload before it started.
        ws.ConnectionClosed: The server closed the connection during the upload.
    """
    sent = Sent()
    async with ws.open_websocket_url(url) as connection:
        if (await path.stat()).st_size == 0:
            # An empty iterable sends no message at all: send the empty one.
            await connection.send_message(b"")
            sent.sha256 = hashlib.sha256().hexdigest()
        else:
            # aclosing() closes the generator (and the file) even if the send
            # fails halfway, instead of leaving that to the garbage collector.
            async with contextlib.aclosing(read_chunks(path, chunk_size, sent)) as chunks:
                # compress=False: most large files (archives, media, images)
                # are compressed already; deflating them again costs CPU for
                # nothing. Leave the default (None) for text-like data.
                await connection.send_message_fragments(chunks, compress=False)
        answer = await connection.get_message()
    assert isinstance(answer, str), "the server answers with JSON text"
    reply: dict[str, object] = json.loads(answer)
    return sent, reply


async def main(server: str, path: trio.Path, name: str) -> int:
    """Upload, check the digest, report; the exit status."""
    url = f"{server.rstrip('/')}/upload/{urllib.parse.quote(name, safe='')}"
    try:
        sent, reply = await upload(url, path)
    except ws.ConnectionRejected as exc:
        body = exc.body.decode(errors="replace").strip() if exc.body else ""
        print(f"the server refused the upload: HTTP {exc.status_code} {body}", file=sys.stderr)
        return 1
    except ws.ConnectionClosed as exc:
        print(f"the server closed the connection: {exc.reason.code} {exc.reason.reason}", file=sys.stderr)
        return 1
    if reply.get("sha256") != sent.sha256 or reply.get("size") != sent.size:
        print(f"the server stored something else: sent {sent}, the server says {reply}", file=sys.stderr)
        return 1
    print(f"uploaded {name}: {sent.size} bytes, sha256 {sent.sha256} (verified by the server)", flush=True)
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Upload a file over WebSocket, streamed.")
    parser.add_argument("file", help="the file to upload")
    parser.add_argument("--server", default="ws://127.0.0.1:8000", help="the upload server's base URL")
    parser.add_argument("--name", help="the name to store it under (default: the file's name)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    file = trio.Path(args.file)
    sys.exit(trio.run(main, args.server, file, args.name or file.name))
