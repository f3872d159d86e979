"""One worker of a ws service that runs as several processes behind a load balancer.

    WS_REDIS_URL=redis://127.0.0.1:6379/0 python examples/deploy/app.py --port 8001
    WS_REDIS_URL=redis://127.0.0.1:6379/0 python examples/deploy/app.py --port 8002

Start one per port, list the ports in ``nginx.conf`` or ``haproxy.cfg``
(next to this file), and let the balancer spread the clients. What each
worker offers:

* ``GET /healthz`` answers ``200 ok`` as plain HTTP on the WebSocket port
  (a ``process_request`` hook), for the balancer's health checks and for
  Kubernetes probes;
* ``/echo``: a WebSocket echo;
* ``/rooms/NAME``: a chat room shared by every worker. Each message a
  client sends goes to every member of the room, on this worker and on
  the others, through Redis pub/sub (:func:`ws.redis.open_broadcast`, URL
  in the ``WS_REDIS_URL`` environment variable; without it there are no
  rooms, and their paths answer 404);
* every WebSocket first receives a JSON greeting naming the worker (its
  process id) and what the balancer said about the client
  (``X-Forwarded-For``, ``X-Forwarded-Proto``);
* keepalive pings every :data:`PING_INTERVAL` seconds, shorter than the
  balancer's idle timeout, so that it never cuts a quiet connection;
* SIGTERM (what systemd, Docker and Kubernetes send) stops accepting,
  closes every connection with 1001 (going away) and exits with status 0:
  clients that reconnect (``ws.connect_forever``) come back through the
  balancer to the other workers. A worker that crashes is noticed by the
  balancer too, and its clients move the same way.

The first line printed says where it listens: ``app: worker 4242
listening on http://127.0.0.1:8001`` (``--port 0`` picks a free port).

The echo alone also runs as ``python -m ws serve --workers 4 --port 8000
--app-dir examples/deploy app:echo`` (several processes on one port); the
command line takes no ``process_request`` hook, so no ``/healthz`` there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from collections.abc import Sequence
from typing import Final

import trio

import ws
import ws.redis
from ws.http import ProcessRequest

#: Seconds between keepalive pings. The balancers close a connection that
#: carried nothing for 60 s (proxy_read_timeout, timeout tunnel): a ping
#: every 20 s keeps a quiet one open, with room for a lost ping.
PING_INTERVAL: Final = 20.0

#: Seconds the handlers get to finish after SIGTERM.
SHUTDOWN_GRACE: Final = 5.0

#: The environment variable with the Redis URL that the workers share.
REDIS_URL_VARIABLE: Final = "WS_REDIS_URL"


def health_check() -> ProcessRequest:
    """A ``process_request`` hook: ``GET /healthz`` is answered before any WebSocket handshake."""
    healthy = ws.HTTPResponse(200, headers={"Cache-Control": "no-store"}, body="ok\n")

    async def answer(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            return healthy
        return None  # on to the router and the WebSocket handshake

    return answer


#: The hook as a module attribute, for ``python -m ws serve --process-request app:health``.
health: Final = health_check()


def greeting(request: ws.WebSocketRequest) -> str:
    """The first message: which worker serves the client, and what the balancer told it."""
    http = request.http_request
    return json.dumps(
        {
            "worker": os.getpid(),
            # The balancer adds the address it saw after whatever the client
            # sent (nginx appends it, HAProxy adds a field: header() joins
            # them): only the last entry is the balancer's word.
            "forwarded_for": http.header("x-forwarded-for"),
            "proto": http.header("x-forwarded-proto"),
        }
    )


async def echo(request: ws.WebSocketRequest) -> None:
    """``/echo``: the greeting, then every message back to its sender."""
    connection = await request.accept()
    await connection.send_message(greeting(request))
    async for message in connection:
        await connection.send_message(message)


def routes(hub: ws.redis.RedisBroadcaster | None) -> ws.Router:
    """``/echo``, and ``/rooms/{name}`` if there is a hub; other paths answer 404."""
    router = ws.Router()
    router.add("/echo", echo)
    if hub is None:
        return router

    async def room(request: ws.WebSocketRequest, name: str) -> None:
        connection = await request.accept()
        # A member before the greeting: a client that has it gets every
        # message published after.
        async with hub.join(name, connection):
            await connection.send_message(greeting(request))
            async for message in connection:
                await hub.publish(name, message)

    router.add("/rooms/{name}", room)
    return router


async def serve(host: str, port: int, hub: ws.redis.RedisBroadcaster | None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    # Listen for the signals first: one that comes while starting still counts.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        listeners = await trio.open_tcp_listeners(port, host=host)
        server = ws.WebSocketServer(
            routes(hub),
            listeners,
            process_request=health_check(),
            ping_interval=PING_INTERVAL,
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            print(f"app: worker {os.getpid()} listening on http://{host}:{server.port}", flush=True)
            async for signum in signals:
                print(f"app: {signal.Signals(signum).name}, shutting down", flush=True)
                await server.aclose(reason="server shutting down", grace=SHUTDOWN_GRACE)
                break
    print("app: stopped", flush=True)


async def main(host: str, port: int, redis_url: str | None) -> None:
    """Open the Redis hub (if any), then serve."""
    if redis_url is None:
        await serve(host, port, None)
        return
    # If Redis is down at start, the hub still opens: rooms work within this
    # worker, and the hub reconnects in the background (logged on stderr).
    async with ws.redis.open_broadcast(redis_url, channel_prefix="ws-app:") as hub:
        await serve(host, port, hub)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="One worker of a ws service behind a load balancer.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port (default 8001; 0 picks a free one)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ws.redis").setLevel(logging.INFO)  # Redis lost and found again
    trio.run(main, args.host, args.port, os.environ.get(REDIS_URL_VARIABLE) or None)
