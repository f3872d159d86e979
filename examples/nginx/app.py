"""A ws app made to run behind nginx: health check, real client address, graceful stop.

    python examples/nginx/app.py --port 8000

with ``nginx.conf`` (next to this file) in front of it. What a service
behind a reverse proxy needs, and where it is here:

* ``GET /healthz`` answers ``200 ok`` as plain HTTP on the WebSocket port
  (a ``process_request`` hook), for nginx, a load balancer or Kubernetes;
* every other path is a WebSocket echo that first sends a JSON welcome
  naming the client's address. nginx connects from its own address, so the
  client's is taken from ``X-Forwarded-For``, and only when the request
  comes from nginx (``--trusted-proxy``), since anyone can send that header;
* keepalive pings every ``PING_INTERVAL`` seconds, shorter than nginx's
  ``proxy_read_timeout``, so nginx never closes a quiet connection;
* SIGTERM (what systemd, Docker and Kubernetes send) stops accepting,
  closes every connection with 1001 (going away) and exits with status 0,
  so clients know to reconnect, to another instance if there is one.

The first line printed says where it listens: ``app: listening on
http://127.0.0.1:8000`` (``--port 0`` picks a free port).
"""

from __future__ import annotations

import argparse
import json
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import trio

import ws
from ws.http import ProcessRequest

#: Seconds between keepalive pings. nginx closes a proxied connection on
#: which nothing came from the app for proxy_read_timeout (60 s in
#: nginx.conf): a ping every 20 s keeps it open, with room for a lost one.
PING_INTERVAL: Final = 20.0

#: Seconds the handlers get to finish after SIGTERM.
SHUTDOWN_GRACE: Final = 5.0


def peer_address(remote: ws.Endpoint | str) -> str:
    """The IP address at the other end of the TCP connection (nginx's, behind nginx)."""
    return str(remote.address) if isinstance(remote, ws.Endpoint) else remote


def client_address(request: ws.HTTPRequest, trusted_proxies: frozenset[str]) -> str:
    """The client's address: from ``X-Forwarded-For`` if nginx sent the request, else the peer's.

    nginx's ``$proxy_add_x_forwarded_for`` *appends* the address it saw to
    whatever the client sent, so only the last entry is nginx's word; the
    ones before it are the client's, who may have made them up. With more
    proxies in a chain, each appends one: count that many from the right.
    """
    peer = peer_address(request.remote)
    forwarded = request.header("x-forwarded-for")
    if peer not in trusted_proxies or not forwarded:
        return peer  # a direct connection: the header, if any, proves nothing
    return forwarded.rsplit(",", 1)[-1].strip()


def health_check() -> ProcessRequest:
    """A ``process_request`` hook: ``GET /healthz`` is answered before any WebSocket handshake."""
    healthy = ws.HTTPResponse(200, headers={"Cache-Control": "no-store"}, body="ok\n")

    async def answer(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            return healthy
        return None  # on to the WebSocket handshake

    return answer


def echo_handler(trusted_proxies: frozenset[str]) -> Callable[[ws.WebSocketRequest], Awaitable[None]]:
    """The WebSocket side: a welcome that says who you are, then an echo."""

    async def echo(request: ws.WebSocketRequest) -> None:
        http = request.http_request
        client = client_address(http, trusted_proxies)
        connection = await request.accept()
        print(f"app: {client} connected via {peer_address(request.remote)}", flush=True)
        welcome = {
            "client": client,
            "forwarded_for": http.header("x-forwarded-for"),
            # https when nginx terminated TLS: tells the app how users reached it.
            "proto": http.header("x-forwarded-proto"),
        }
        await connection.send_message(json.dumps(welcome))
        async for message in connection:
            await connection.send_message(message)

    return echo


async def main(host: str, port: int, trusted_proxies: frozenset[str]) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    # Listen for the signals first: one that comes while starting still counts.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        listeners = await trio.open_tcp_listeners(port, host=host)
        server = ws.WebSocketServer(
            echo_handler(trusted_proxies),
            listeners,
            process_request=health_check(),
            ping_interval=PING_INTERVAL,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            print(f"app: listening on http://{host}:{server.port}", flush=True)
            async for signum in signals:
                print(f"app: {signal.Signals(signum).name}, shutting down", flush=True)
                await server.aclose(reason="server shutting down", grace=SHUTDOWN_GRACE)
                break
    print("app: stopped", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="A ws app to run behind nginx.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="nginx's address, whose X-Forwarded-For is believed (repeatable; default 127.0.0.1 and ::1)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    proxies = frozenset(args.trusted_proxy or ["127.0.0.1", "::1"])
    trio.run(main, args.host, args.port, proxies)
