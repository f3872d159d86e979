"""A custom WebSocket extension: ``x-message-checksum``, an end-to-end checksum per message.

TCP and TLS protect each hop, but a message that crosses a proxy, a load
balancer or a buggy middlebox is unprotected while it sits there:
intermediaries that terminate TLS, or a bug in a WebSocket stack, can
corrupt it and nobody notices. This extension makes the sender append a
digest of each message, and the receiver check it: a damaged message
closes the connection with 1007 (invalid payload data) instead of
reaching the application.

The extension in one paragraph (what a spec for it would say): the client
offers ``x-message-checksum; algorithm=<name>`` (``sha256`` or ``crc32``),
once per algorithm it supports, in order of preference; the server accepts
at most one offer and answers with the same parameter. Then, in both
directions, the final frame of every data message ends with the digest of
the message's payload (all its frames, as they are on the wire, without the
digest): 32 bytes for ``sha256``, 4 for ``crc32`` (big-endian). Control
frames are not touched. No RSV bit is needed: once negotiated, *every*
message carries a digest, so there is nothing to flag.

The same file is a demo, with the extension in a server and a client::

    python examples/extension/checksum.py serve --port 8000
    python examples/extension/checksum.py send ws://127.0.0.1:8000/ hello world

To use the extension in your code, pass its factories to ``ws``::

    await ws.serve_websocket(handler, host, port, None, extensions=[ServerChecksumFactory()])
    async with ws.open_websocket_url(url, extensions=[ClientChecksumFactory("sha256")]) as connection:
        ...
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Final, Protocol

import attrs
import trio

import ws
from ws.errors import InvalidPayload, NegotiationError
from ws.frames import Frame, Opcode
from ws.typing import ExtensionName, ExtensionParameter

#: The extension's token in ``Sec-WebSocket-Extensions``. Unregistered
#: extensions conventionally start with ``x-``.
NAME: Final = ExtensionName("x-message-checksum")


class Hasher(Protocol):
    """What the extension needs of a running digest: hashlib's objects have it."""

    @property
    def digest_size(self) -> int: ...

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


@attrs.define(eq=False)
class Crc32:
    """CRC-32 with hashlib's interface: cheap (zlib's C code), catches accidental damage."""

    _value: int = 0

    @property
    def digest_size(self) -> int:
        return 4

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


#: The algorithms, by their name in the ``algorithm`` parameter. SHA-256
#: also catches deliberate tampering by whoever cannot rewrite the digest
#: too; CRC-32 only catches accidents, for 28 fewer bytes per message.
ALGORITHMS: Final[dict[str, Callable[[], Hasher]]] = {"sha256": hashlib.sha256, "crc32": Crc32}


def _known_algorithm(_instance: object, _attribute: object, value: str) -> None:
    if value not in ALGORITHMS:
        raise ValueError(f"algorithm is one of {', '.join(ALGORITHMS)}, not {value!r}")


def _algorithm_tuple(algorithms: Iterable[str]) -> tuple[str, ...]:
    return tuple(algorithms)


def _known_algorithms(_instance: object, _attribute: object, values: tuple[str, ...]) -> None:
    if not values:
        raise ValueError("give at least one algorithm")
    for value in values:
        _known_algorithm(_instance, _attribute, value)


# -- the per-connection extension ---------------------------------------------


@attrs.define(eq=False)
class MessageChecksum(ws.Extension):
    """``x-message-checksum`` on one connection: adds and checks a digest per message.

    ``ws`` calls :meth:`encode` with every frame the connection sends and
    :meth:`decode` with every frame it receives, in order, control frames
    included. A message may span several frames (``send_message_fragments``),
    so the running digest of the message in progress is kept per direction.
    """

    algorithm: str = attrs.field(validator=_known_algorithm)
    _sending: Hasher | None = attrs.field(default=None, init=False, repr=False)
    _receiving: Hasher | None = attrs.field(default=None, init=False, repr=False)

    # The Extension interface: the token, and the RSV bits the extension
    # sets (none: the frame parser keeps rejecting frames with any RSV bit
    # that no other extension claims).
    name = NAME
    rsv_mask = 0
    # Left False (the default): our frames' payloads carry a binary digest
    # at the end, so a text message's raw frames are not valid UTF-8 until
    # decode() has removed it.
    passes_plain_messages = False

    def encode(self, frame: Frame) -> Frame:
        """Hash an outgoing data frame; append the digest to a message's final frame."""
        if frame.opcode >= Opcode.CLOSE:  # control frames: close, ping, pong
            return frame
        if frame.opcode is not Opcode.CONTINUATION:  # the first frame of a message
            self._sending = ALGORITHMS[self.algorithm]()
        hasher = self._sending
        assert hasher is not None, "ws sends a continuation only after a first frame"
        hasher.update(frame.payload)
        if not frame.fin:
            return frame
        self._sending = None
        # A new Frame: frames are values, never changed in place. The RSV bits
        # are kept: permessage-deflate, which runs before us when both are
        # negotiated, marks compressed messages with RSV1.
        payload = b"".join((frame.payload, hasher.digest()))
        return Frame(frame.opcode, payload, True, frame.rsv1, frame.rsv2, frame.rsv3)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Hash an incoming data frame; check and remove the digest on a message's final frame.

        ``max_size`` is for extensions that make payloads larger
        (decompression); this one only makes them smaller, so it needs no check.

        Raises:
            ws.InvalidPayload: The digest does not match (close code 1007).
        """
        if frame.opcode >= Opcode.CLOSE:
            return frame
        if frame.opcode is not Opcode.CONTINUATION:
            self._receiving = ALGORITHMS[self.algorithm]()
        hasher = self._receiving
        # The protocol checks the order of frames before any extension sees them.
        assert hasher is not None, "a continuation reaches extensions only inside a message"
        if not frame.fin:
            hasher.update(frame.payload)
            return frame
        self._receiving = None
        size = hasher.digest_size
        if len(frame.payload) < size:
            raise InvalidPayload(f"message too short to hold its {self.algorithm} checksum")
        body = frame.payload[:-size]
        hasher.update(body)
        if hasher.digest() != frame.payload[-size:]:
            # The protocol turns this error into a close with its close_code,
            # 1007, and the message is never delivered.
            raise InvalidPayload(f"message {self.algorithm} checksum mismatch: damaged in transit")
        return Frame(frame.opcode, body, True, frame.rsv1, frame.rsv2, frame.rsv3)


# -- negotiation: one factory per side ---------------------------------------


def _algorithm_of(params: Sequence[ExtensionParameter]) -> str:
    """The one ``algorithm=<name>`` parameter of an offer or answer.

    Raises:
        NegotiationError: Anything else: a missing, repeated or unknown
            parameter, or an algorithm we do not know.
    """
    if len(params) != 1 or params[0][0] != "algorithm":
        raise NegotiationError(f"{NAME} takes exactly one parameter, algorithm; got {list(params)}")
    value = params[0][1]
    if value is None or value not in ALGORITHMS:
        raise NegotiationError(f"{NAME}: unknown algorithm {value!r}")
    return value


@attrs.frozen
class ClientChecksumFactory(ws.ClientExtensionFactory):
    """Offers ``x-message-checksum`` with one algorithm; checks the server's answer.

    To offer several algorithms, pass one factory for each, preferred first:
    ``extensions=[ClientChecksumFactory("sha256"), ClientChecksumFactory("crc32")]``.
    """

    algorithm: str = attrs.field(default="sha256", validator=_known_algorithm)

    name = NAME

    def get_request_params(self) -> list[ExtensionParameter]:
        """The offer: ``algorithm=<name>``."""
        return [("algorithm", self.algorithm)]

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[ws.Extension]
    ) -> ws.Extension:
        """Accept the server's answer if it chose this factory's algorithm.

        Raises:
            NegotiationError: Another algorithm, or other parameters. ``ws``
                then asks the client's next factory of the same name, if
                any; when none accepts, the handshake fails.
        """
        if _algorithm_of(params) != self.algorithm:
            raise NegotiationError(f"the server chose {params[0][1]}, not {self.algorithm}")
        return MessageChecksum(self.algorithm)


@attrs.frozen
class ServerChecksumFactory(ws.ServerExtensionFactory):
    """Accepts the first offer of ``x-message-checksum`` whose algorithm is in ``algorithms``."""

    algorithms: tuple[str, ...] = attrs.field(
        default=tuple(ALGORITHMS), converter=_algorithm_tuple, validator=_known_algorithms
    )

    name = NAME

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[ws.Extension]
    ) -> tuple[list[ExtensionParameter], ws.Extension]:
        """Accept one offer: answer with its algorithm and make the connection's extension.

        Raises:
            NegotiationError: Not an offer we accept; ``ws`` tries the
                client's next offer of this extension. A client none of whose
                offers is accepted connects without the extension.
        """
        algorithm = _algorithm_of(params)
        if algorithm not in self.algorithms:
            raise NegotiationError(f"{NAME}: algorithm {algorithm} is not enabled here")
        return [("algorithm", algorithm)], MessageChecksum(algorithm)


# -- the demo: an echo server and a client with the extension ----------------


def describe(extensions: Sequence[ws.Extension]) -> str:
    """The negotiated extensions of a connection, for people."""
    names = [
        f"{extension.name} ({extension.algorithm})"
        if isinstance(extension, MessageChecksum)
        else extension.name
        for extension in extensions
    ]
    return ", ".join(names) or "none"


async def echo(request: ws.WebSocketRequest) -> None:
    """Accept, say which extensions were negotiated, and echo every message."""
    connection = await request.accept()
    print(f"checksum: connection with {describe(connection.extensions)}", flush=True)
    async for message in connection:
        await connection.send_message(message)


async def serve(host: str, port: int, algorithms: Sequence[str]) -> None:
    """Run the echo server with the extension until SIGINT or SIGTERM."""
    # extensions= adds factories after permessage-deflate's, which stays on:
    # a client may negotiate both.
    serving = partial(
        ws.serve_websocket, echo, host, port, None, extensions=[ServerChecksumFactory(algorithms)]
    )
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serving)
            print(f"checksum: listening on ws://{host}:{server.port}/", flush=True)
            async for _signum in signals:
                await server.aclose(grace=5)
                break


async def send(url: str, algorithms: Sequence[str], messages: Sequence[str]) -> int:
    """Connect with the extension, print what was negotiated and the echoes; the exit status."""
    factories = [ClientChecksumFactory(algorithm) for algorithm in algorithms]
    try:
        async with ws.open_websocket_url(url, extensions=factories) as connection:
            print(f"negotiated: {describe(connection.extensions)}", flush=True)
            for message in messages:
                await connection.send_message(message)
                reply = await connection.get_message()
                print(f"received: {reply!s}", flush=True)
    except (OSError, ws.HandshakeError, ws.ConnectionClosed) as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: ``serve`` or ``send``."""
    parser = argparse.ArgumentParser(description="The x-message-checksum extension, demonstrated.")
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("serve", help="run an echo server that accepts the extension")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    server.add_argument(
        "--algorithm",
        dest="algorithms",
        action="append",
        choices=list(ALGORITHMS),
        help="an algorithm to accept (repeatable; default: all)",
    )
    client = commands.add_parser("send", help="send messages with the extension, print the echoes")
    client.add_argument("url", help="the server's URL, e.g. ws://127.0.0.1:8000/")
    client.add_argument("messages", nargs="*", default=["hello"], help="text messages to send")
    client.add_argument(
        "--algorithm",
        dest="algorithms",
        action="append",
        choices=list(ALGORITHMS),
        help="an algorithm to offer, preferred first (repeatable; default: sha256)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    if args.command == "serve":
        trio.run(serve, args.host, args.port, args.algorithms or list(ALGORITHMS))
    else:
        sys.exit(trio.run(send, args.url, args.algorithms or ["sha256"], args.messages))
