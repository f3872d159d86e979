"""An echo server over TLS (``wss://``), with your certificate or a throw-away one.

    python examples/tls/server.py --certfile cert.pem --keyfile key.pem --port 8443
    python examples/tls/server.py --self-signed ca.pem --port 8443

The first form serves with a certificate you have (from your CA, from
Let's Encrypt, or made with openssl: see README.md). The second makes a
throw-away certificate authority with ``trustme`` (``pip install trustme``),
issues a certificate for localhost, 127.0.0.1 and ::1, and writes the CA's
certificate to ``ca.pem`` so that clients can trust it:
``python examples/tls/client.py wss://localhost:8443/ hello --cafile ca.pem``.

The first line printed says where it listens: ``tls: listening on wss://...``
(``--port 0`` picks a free port). SIGINT (Ctrl-C) or SIGTERM closes every
connection with 1001 and exits with status 0.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
from collections.abc import Sequence

import trio

import ws


def context_from_files(certfile: str, keyfile: str | None) -> ssl.SSLContext:
    """A server TLS context with the certificate chain in ``certfile`` and its key.

    ``certfile`` holds the server's certificate first, then any intermediate
    CA certificates (the "full chain"), all PEM; ``keyfile`` the private key
    (``None`` if it is in ``certfile`` too).
    """
    # Purpose.CLIENT_AUTH makes a context for the server side ("the clients
    # authenticate us"): no client certificate is asked for.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # Python's default already refuses SSLv3, TLS 1.0 and 1.1; saying it
    # keeps that true whatever the defaults become.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context


def self_signed_context(ca_path: str) -> ssl.SSLContext:
    """A server TLS context with a certificate from a throw-away CA; writes the CA to ``ca_path``.

    For development only: the CA's private key lives in this process's
    memory and is gone when it exits, so the certificate cannot be renewed,
    and nobody else trusts it.
    """
    try:
        import trustme
    except ImportError:
        sys.exit(
            "--self-signed needs trustme: pip install trustme "
            "(or pass --certfile and --keyfile; README.md shows how to make them with openssl)"
        )
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost", "127.0.0.1", "::1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    certificate.configure_cert(context)
    authority.cert_pem.write_to_path(ca_path)
    return context


async def echo(request: ws.WebSocketRequest) -> None:
    """Accept the connection and send every message back."""
    connection = await request.accept()
    # Under the WebSocket connection is the TLS stream, which knows what the
    # TLS handshake agreed on.
    stream = connection.stream
    if isinstance(stream, trio.SSLStream) and isinstance(request.remote, ws.Endpoint):
        print(f"tls: {request.remote.authority} connected with {stream.version()}", flush=True)
    async for message in connection:
        await connection.send_message(message)


async def main(host: str, port: int, context: ssl.SSLContext) -> None:
    """Serve ``wss://`` until SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            # The ssl_context argument is all it takes: serve_websocket wraps
            # each accepted TCP connection in TLS before the WebSocket handshake.
            server = await nursery.start(ws.serve_websocket, echo, host, port, context)
            listening = server.listeners[0]  # a ws.Endpoint, with is_ssl=True
            assert isinstance(listening, ws.Endpoint)
            print(f"tls: listening on {listening.url}/", flush=True)
            async for _signum in signals:
                await server.aclose(reason="server shutting down", grace=5)
                break
    print("tls: stopped", flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="A WebSocket echo server over TLS (wss://).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="port (default 8443; 0 picks a free one)")
    parser.add_argument("--certfile", help="the server's certificate chain (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM), if not in --certfile")
    parser.add_argument(
        "--self-signed",
        metavar="CA_FILE",
        help="use a throw-away certificate (needs trustme) and write its CA certificate here",
    )
    args = parser.parse_args(argv)
    if (args.certfile is None) == (args.self_signed is None):
        parser.error("give either --certfile (and --keyfile) or --self-signed CA_FILE")
    return args


if __name__ == "__main__":
    args = parse_args()
    if args.self_signed is not None:
        tls = self_signed_context(args.self_signed)
    else:
        tls = context_from_files(args.certfile, args.keyfile)
    trio.run(main, args.host, args.port, tls)
