"""A chat service: rooms by path, a web page, a health check, a graceful shutdown.

    python examples/chat/app.py --host 127.0.0.1 --port 8000

then open http://127.0.0.1:8000/ (or ``/?room=name``) in two browser tabs.
``--port 0`` picks a free port; the line ``chat: listening on http://...``
says which.

One ``ws`` server does everything on one port:

* ``GET /`` (the chat page) and ``GET /health`` are plain HTTP, answered
  by a ``process_request`` hook before any WebSocket handshake;
* WebSocket connections to ``/room/{name}`` join that room (a
  :class:`ws.Router` route); other paths get 404 before the upgrade;
* browsers may connect only from the page's own origin (``origins=``);
  clients that send no ``Origin`` header (scripts, not browsers) are let in;
* SIGINT (Ctrl-C) or SIGTERM stops accepting, closes every connection with
  1001 (going away), and the program exits with status 0.

Clients send text messages. The server sends JSON objects, with ``"type"``:

* ``{"type": "welcome", "room": ..., "you": "guest-3", "members": 2}`` once, first;
* ``{"type": "join" | "leave", "who": "guest-4", "members": 3}`` when others come and go;
* ``{"type": "message", "from": "guest-4", "text": "hi"}`` for each message
  another member of the room sent (senders do not get their own back).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

import ws
from ws.http import ProcessRequest

#: The page served at ``/``.
PAGE_FILE = Path(__file__).with_name("index.html")

#: The longest message a client may send, in bytes; a longer one closes its
#: connection with 1009 (message too big).
MAX_MESSAGE_SIZE = 16 * 1024

#: Seconds the handlers get to finish after a shutdown signal.
SHUTDOWN_GRACE = 5.0


@attrs.define(eq=False)
class Rooms:
    """Who is in which room: each room maps its connections to their names."""

    _members: dict[str, dict[ws.WebSocketConnection, str]] = attrs.Factory(dict)
    _guests: int = 0

    def new_name(self) -> str:
        """A name for a newcomer: ``guest-1``, ``guest-2``, ..."""
        self._guests += 1
        return f"guest-{self._guests}"

    def join(self, room: str, connection: ws.WebSocketConnection, name: str) -> None:
        """Add a connection to a room under a name."""
        self._members.setdefault(room, {})[connection] = name

    def leave(self, room: str, connection: ws.WebSocketConnection) -> None:
        """Remove a connection from its room; forget rooms that became empty."""
        members = self._members.get(room, {})
        members.pop(connection, None)
        if not members:
            self._members.pop(room, None)

    def members(self, room: str) -> list[ws.WebSocketConnection]:
        """The connections in a room now (a copy)."""
        return list(self._members.get(room, {}))

    def others(self, room: str, connection: ws.WebSocketConnection) -> list[ws.WebSocketConnection]:
        """The connections in a room, except ``connection``."""
        return [member for member in self._members.get(room, {}) if member is not connection]


def event(kind: str, **fields: object) -> str:
    """One message from the server: a JSON object with a ``"type"``."""
    return json.dumps({"type": kind, **fields})


def chat_router(rooms: Rooms) -> ws.Router:
    """The WebSocket side: one route, ``/room/{name}``."""
    router = ws.Router()

    @router.route("/room/{name}")
    async def room(request: ws.WebSocketRequest, name: str) -> None:
        connection = await request.accept()
        me = rooms.new_name()
        count = len(rooms.members(name)) + 1
        # The welcome goes out before we join: no message can overtake it.
        await connection.send_message(event("welcome", room=name, you=me, members=count))
        rooms.join(name, connection, me)
        try:
            await ws.broadcast(rooms.others(name, connection), event("join", who=me, members=count))
            async for message in connection:
                if isinstance(message, bytes):
                    await connection.aclose(ws.CloseCode.UNSUPPORTED_DATA, "text messages only")
                    break
                said = event("message", **{"from": me, "text": message})  # "from" is a keyword
                await ws.broadcast(rooms.others(name, connection), said)
        finally:
            rooms.leave(name, connection)
            left = rooms.members(name)
            # Members that are closing (the server stopping) are skipped.
            await ws.broadcast(left, event("leave", who=me, members=len(left)))

    return router


def http_hook(page: bytes) -> ProcessRequest:
    """The plain HTTP side: ``GET /`` returns ``page``, ``GET /health`` returns ``OK``.

    Everything else (WebSocket handshakes included) goes on to the router.
    """
    page_response = ws.HTTPResponse(
        200,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
        body=page,
    )
    health_response = ws.HTTPResponse(200, headers={"Cache-Control": "no-store"}, body="OK\n")

    async def answer(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        if request.is_websocket or request.method not in ("GET", "HEAD"):
            return None
        if request.path == "/":
            return page_response
        if request.path == "/health":
            return health_response
        return None

    return answer


def authority(host: str, port: int) -> str:
    """``host:port`` as it appears in a URL (IPv6 addresses in brackets)."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass  # a host name
    return f"{host}:{port}"


def allowed_origins(host: str, port: int, extra: Sequence[str] = ()) -> list[str | None]:
    """The ``Origin`` values to accept: this server's page, ``extra``, and none at all.

    Browsers send the origin of the page that opens the WebSocket, such as
    ``http://127.0.0.1:8000``; on loopback, the page may have been opened
    as ``localhost`` or ``127.0.0.1``. ``None`` lets in clients that send no
    ``Origin`` (they are not browsers, so no web page speaks through them).
    """
    hosts = [host]
    if host in ("127.0.0.1", "localhost", "::1"):
        hosts = ["127.0.0.1", "localhost", "[::1]"]
    origins: list[str | None] = [f"http://{authority(name, port)}" for name in hosts]
    origins.extend(extra)
    origins.append(None)
    return origins


def make_server(
    listeners: Sequence[trio.SocketListener],
    host: str,
    *,
    extra_origins: Sequence[str] = (),
    page: bytes | None = None,
) -> ws.WebSocketServer:
    """The chat server on ``listeners`` (not running yet: call its ``run``).

    Args:
        listeners: TCP listeners, e.g. from :func:`trio.open_tcp_listeners`;
            the first one's port is the one page origins are built with.
        host: The host name or address browsers use to reach the server.
        extra_origins: More allowed ``Origin`` values (e.g. behind a proxy:
            ``https://chat.example.com``).
        page: The page served at ``/``; by default ``index.html``.
    """
    port = listeners[0].socket.getsockname()[1]
    return ws.WebSocketServer(
        chat_router(Rooms()),
        listeners,
        max_message_size=MAX_MESSAGE_SIZE,
        process_request=http_hook(PAGE_FILE.read_bytes() if page is None else page),
        origins=allowed_origins(host, port, extra_origins),
    )


async def main(host: str, port: int, extra_origins: Sequence[str]) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    # Listen for the signals first: one that comes while starting still counts.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        listeners = await trio.open_tcp_listeners(port, host=host)
        server = make_server(listeners, host, extra_origins=extra_origins)
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            bound = listeners[0].socket.getsockname()[1]
            print(f"chat: listening on http://{authority(host, bound)}", flush=True)
            async for signum in signals:
                print(f"chat: {signal.Signals(signum).name}, shutting down", flush=True)
                await server.aclose(reason="server shutting down", grace=SHUTDOWN_GRACE)
                break
    print("chat: stopped", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="A ws chat server: rooms at /room/<name>, a page at /.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept browsers from this origin, e.g. https://chat.example.com (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every connection")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    trio.run(main, args.host, args.port, args.origin)
