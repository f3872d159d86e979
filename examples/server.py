"""An echo server, like trio-websocket's example server.

    python examples/server.py 127.0.0.1 8000
    python examples/server.py --ssl 127.0.0.1 8443   # a throw-away trustme certificate

It prints the URL it listens on, logs each connection, and stops on Ctrl-C
or SIGTERM: it closes the open connections with 1001 (going away), gives
their handlers a moment, and exits 0. ``python -m ws serve`` is a ready-made
echo server with more options (Unix sockets, your own certificate).
"""

from __future__ import annotations

import argparse
import logging
import signal
import ssl

import trio

import ws

logger = logging.getLogger("server")


async def handler(request: ws.WebSocketRequest) -> None:
    """Accept every connection and echo its messages until it closes."""
    connection = await request.accept()
    logger.info("connection from %s to %s", request.remote, request.path)
    try:
        async for message in connection:  # ends quietly on 1000, 1001 and 1005
            shown = message if len(message) < 80 else f"<{len(message)}>"
            logger.info("%s: %r", request.remote, shown)
            await connection.send_message(message)
    except ws.ConnectionClosed:
        pass  # closed with another code: logged below
    logger.info("%s closed: %s", request.remote, connection.closed)


def make_ssl_context() -> ssl.SSLContext:
    """A server context with a certificate from a throw-away trustme CA."""
    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    ca.cert_pem.write_to_path("example-ca.pem")
    logger.info("clients can trust example-ca.pem")
    return context


async def main(args: argparse.Namespace) -> None:
    context = make_ssl_context() if args.ssl else None
    # Opened first, so that a signal right after the "listening" line is seen.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(ws.serve_websocket, handler, args.host, args.port, context)
            for endpoint in server.listeners:
                print(f"listening on {endpoint.url}/", flush=True)
            async for signum in signals:
                logger.info("%s: shutting down", signal.Signals(signum).name)
                break
            await server.aclose()  # 1001 to every client, then waits for the handlers
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="ws echo server")
    parser.add_argument("--ssl", action="store_true", help="serve wss:// with a test certificate")
    parser.add_argument("host", help="interface to bind, e.g. 127.0.0.1")
    parser.add_argument("port", type=int, help="port to bind (0 picks one)")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    trio.run(main, parser.parse_args())
