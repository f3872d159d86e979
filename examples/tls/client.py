"""A WebSocket client over TLS (``wss://``): sends messages, prints the replies.

    python examples/tls/client.py wss://localhost:8443/ hello world --cafile ca.pem
    python examples/tls/client.py wss://echo.example.com/ hello

With ``--cafile``, the server's certificate must be signed by the CA in
that file (for example the one ``server.py --self-signed ca.pem`` wrote,
or a self-signed certificate made with openssl). Without it, the system's
trusted CAs are used, as a browser would.

Prints ``received: <reply>`` for each message, then exits with status 0.
A certificate that does not verify exits with status 2 and says why.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import Sequence

import trio

import ws


def shown(message: str | bytes) -> str:
    """A message for the terminal: text as it is, binary as its size."""
    return message if isinstance(message, str) else f"<{len(message)} bytes>"


def client_context(cafile: str | None) -> ssl.SSLContext:
    """A client TLS context that trusts ``cafile``, or the system's CAs if ``None``.

    ``create_default_context`` verifies the certificate chain *and* that the
    certificate names the host of the URL (``check_hostname``): never turn
    either off outside a test, or anyone on the path can read the traffic.
    """
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)


def verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate error behind ``exc``, if a certificate did not verify."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__
    return None


async def main(url: str, messages: Sequence[str], context: ssl.SSLContext) -> int:
    """Send each message and print its echo; the exit status."""
    try:
        # For a wss:// URL the client does the TLS handshake (with SNI and
        # host name checking against the URL's host) before the WebSocket one.
        async with ws.open_websocket_url(url, context) as connection:
            for message in messages:
                await connection.send_message(message)
                print(f"received: {shown(await connection.get_message())}", flush=True)
    except ws.ConnectFailed as exc:
        failed = verification_error(exc)
        if failed is None:
            print(f"could not connect: {exc}", file=sys.stderr)
            return 1
        print(
            f"the server's certificate was not accepted: {failed.verify_message}.\n"
            "If the server uses a private or self-signed certificate, pass --cafile "
            "with the certificate of the CA that signed it.",
            file=sys.stderr,
        )
        return 2
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description="Send messages to a wss:// server, print the replies.")
    parser.add_argument("url", help="a wss:// URL, e.g. wss://localhost:8443/")
    parser.add_argument("messages", nargs="*", default=["hello"], help="text messages to send")
    parser.add_argument("--cafile", help="trust the CA certificate(s) in this PEM file")
    args = parser.parse_args(argv)
    if not args.url.startswith("wss://"):
        parser.error(f"this example speaks TLS: the URL starts with wss://, not {args.url!r}")
    return args


if __name__ == "__main__":
    args = parse_args()
    sys.exit(trio.run(main, args.url, args.messages, client_context(args.cafile)))
