"""examples/extension: x-message-checksum negotiated between ws peers, and what it catches.

The demo programs run as a user would; the damage test puts a relay that
flips one bit between a client and the demo server, and shows the message
arriving damaged without the extension and refused (1007) with it.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from functools import partial
from pathlib import Path

import attrs
import pytest
import trio

import ws
from examples.extension.checksum import (
    ClientChecksumFactory,
    MessageChecksum,
    ServerChecksumFactory,
    echo,
)
from ws.errors import InvalidPayload, NegotiationError
from ws.frames import Frame, Opcode
from ws.testing import open_memory_server
from tests.examples.programs import EXAMPLES, STEP, Program, run, running

DEMO = EXAMPLES / "extension" / "checksum.py"


async def demo_url(server: Program) -> str:
    """The URL the demo server printed."""
    line = await server.read_line()
    match = re.fullmatch(r"checksum: listening on (ws://127\.0\.0\.1:\d+/)", line)
    assert match is not None, line
    return match.group(1)


# -- the demo programs --------------------------------------------------------


async def test_the_demo_negotiates_the_clients_first_acceptable_offer(tmp_path: Path) -> None:
    """A server that accepts crc32 only: an offer of sha256 alone gets no checksum; sha256+crc32 gets crc32."""
    async with running(DEMO, "serve", "--port", "0", "--algorithm", "crc32", tmp_path=tmp_path) as server:
        url = await demo_url(server)
        result = await run(DEMO, "send", url, "hello", "wörld", "--algorithm", "sha256", "--algorithm", "crc32")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "negotiated: permessage-deflate, x-message-checksum (crc32)",
            "received: hello",
            "received: wörld",
        ]
        assert await server.read_line() == "checksum: connection with permessage-deflate, x-message-checksum (crc32)"

        result = await run(DEMO, "send", url, "hi")  # offers sha256 only
        assert result.stdout.splitlines() == ["negotiated: permessage-deflate", "received: hi"]
        assert await server.read_line() == "checksum: connection with permessage-deflate"


# -- what it is for: damage on the way ---------------------------------------


@attrs.define(eq=False)
class BitFlipper:
    """Flips the lowest bit of the byte ``at`` bytes past the end of the HTTP request."""

    at: int
    _head: bytearray = attrs.Factory(bytearray)
    _seen: int = -1  # bytes seen after the request; -1 while still in it

    def __call__(self, data: bytes) -> bytes:
        start = 0
        if self._seen < 0:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return data
            self._seen = 0
            start = len(data) - (len(self._head) - end - 4)
        index = start + self.at - self._seen
        self._seen += len(data) - start
        if not start <= index < len(data):
            return data
        damaged = bytearray(data)
        damaged[index] ^= 0x01
        return bytes(damaged)


async def pump(source: trio.SocketStream, sink: trio.SocketStream, change: BitFlipper | None) -> None:
    """Copy ``source`` to ``sink`` (through ``change``) until ``source`` ends."""
    try:
        while data := await source.receive_some():
            await sink.send_all(data if change is None else change(data))
        await sink.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def relay(server_port: int, flipper: BitFlipper, client: trio.SocketStream) -> None:
    """A middlebox: forwards one connection to the server, damaging one byte on the way in."""
    upstream = await trio.open_tcp_stream("127.0.0.1", server_port)
    async with client, upstream, trio.open_nursery() as nursery:
        nursery.start_soon(pump, upstream, client, None)
        await pump(client, upstream, flipper)


#: A binary message of 1,000 bytes: its frame from a client has a 2-byte
#: header, a 2-byte length and a 4-byte mask key, then the payload.
MESSAGE = bytes(range(256)) * 3 + bytes(232)
#: Where the relay flips a bit: the payload's byte 500. Flipping a bit of
#: a masked byte flips the same bit of the unmasked one.
DAMAGED_AT = 8 + 500


async def send_through_damage(server_port: int, extensions: list[ws.ClientExtensionFactory]) -> ws.ConnectionClosed | bytes:
    """Send MESSAGE through a relay that damages it; the echo, or how the connection closed."""
    async with trio.open_nursery() as nursery:
        handle = partial(relay, server_port, BitFlipper(DAMAGED_AT))
        listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        try:
            with trio.fail_after(STEP):
                # No compression: a bit flipped in deflated data would make
                # inflating fail (1007) even without the checksum.
                url = f"ws://127.0.0.1:{port}/"
                async with ws.open_websocket_url(url, compression=None, extensions=extensions) as client:
                    await client.send_message(MESSAGE)
                    try:
                        echoed = await client.get_message()
                    except ws.ConnectionClosed as closed:
                        return closed
                    assert isinstance(echoed, bytes)
                    return echoed
        finally:
            nursery.cancel_scope.cancel()


async def test_a_damaged_message_is_delivered_without_the_extension_and_refused_with_it(tmp_path: Path) -> None:
    """Without: one bit differs in the echo, silently. With: the server closes with 1007, nothing delivered."""
    async with running(DEMO, "serve", "--port", "0", tmp_path=tmp_path) as server:
        url = await demo_url(server)
        port = int(url.rsplit(":", 1)[1].rstrip("/"))

        echoed = await send_through_damage(port, [])
        assert isinstance(echoed, bytes)
        differences = [i for i, (a, b) in enumerate(zip(echoed, MESSAGE, strict=True)) if a != b]
        assert differences == [500]
        assert echoed[500] == MESSAGE[500] ^ 0x01

        for algorithm in ("sha256", "crc32"):
            closed = await send_through_damage(port, [ClientChecksumFactory(algorithm)])
            assert isinstance(closed, ws.ConnectionClosed), closed
            assert closed.reason.code == 1007
            assert closed.reason.reason == f"message {algorithm} checksum mismatch: damaged in transit"


# -- negotiation and messages of every shape, in memory ---------------------


async def test_every_kind_of_message_round_trips_with_and_without_deflate() -> None:
    """Text, binary, empty, fragmented and large messages come back unchanged, checked."""
    messages: list[str | bytes] = ["hello", "é" * 1000, "", b"", b"\x00\xff" * 40_000, b"x" * 100]
    for compression in ("deflate", None):
        async with open_memory_server(echo, extensions=[ServerChecksumFactory()]) as server:
            factories = [ClientChecksumFactory("sha256")]
            async with server.open_websocket(compression=compression, extensions=factories) as client:
                names = [extension.name for extension in client.extensions]
                assert names == (["permessage-deflate"] if compression else []) + ["x-message-checksum"]
                for message in messages:
                    await client.send_message(message)
                    assert await client.get_message() == message
                # A message in several frames, as an upload would send it.
                await client.send_message_fragments([b"abc", b"", b"def" * 10_000])
                assert await client.get_message() == b"abc" + b"def" * 10_000
                await client.send_message_fragments(["multi", "-frame ", "text ✓"])
                assert await client.get_message() == "multi-frame text ✓"
                await client.ping(b"control frames carry no checksum")


async def test_a_client_without_an_acceptable_offer_connects_without_it() -> None:
    """The extension is optional: no offer, or only refused ones, means a plain connection."""
    async with open_memory_server(echo, extensions=[ServerChecksumFactory(["crc32"])]) as server:
        for factories in ([], [ClientChecksumFactory("sha256")]):
            async with server.open_websocket(compression=None, extensions=factories) as client:
                assert client.extensions == []
                await client.send_message("plain")
                assert await client.get_message() == "plain"


def test_the_digest_on_the_wire() -> None:
    """encode appends the digest of the whole message to its final frame; decode checks and strips it."""
    sender, receiver = MessageChecksum("sha256"), MessageChecksum("sha256")
    first = sender.encode(Frame(Opcode.TEXT, b"split ", fin=False, rsv1=True))
    last = sender.encode(Frame(Opcode.CONTINUATION, b"message"))
    assert first == Frame(Opcode.TEXT, b"split ", fin=False, rsv1=True)  # untouched, RSV1 kept
    assert last.payload == b"message" + hashlib.sha256(b"split message").digest()
    ping = Frame(Opcode.PING, b"p")
    assert sender.encode(ping) is ping and receiver.decode(ping) is ping
    assert receiver.decode(first) == first
    assert receiver.decode(last) == Frame(Opcode.CONTINUATION, b"message")

    crc = MessageChecksum("crc32").encode(Frame(Opcode.BINARY, b"data"))
    assert crc.payload == b"data" + zlib.crc32(b"data").to_bytes(4, "big")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"abc", "message too short to hold its crc32 checksum"),
        (b"data" + (zlib.crc32(b"data") ^ 1).to_bytes(4, "big"), "message crc32 checksum mismatch: damaged in transit"),
    ],
)
def test_a_bad_digest_is_invalid_payload_1007(payload: bytes, error: str) -> None:
    """A short or wrong digest raises InvalidPayload, which closes with 1007."""
    with pytest.raises(InvalidPayload, match=re.escape(error)) as raised:
        MessageChecksum("crc32").decode(Frame(Opcode.BINARY, payload))
    assert raised.value.close_code == 1007


def test_negotiation_refuses_what_it_does_not_know() -> None:
    """Unknown, missing, repeated parameters, or another algorithm in the answer: NegotiationError."""
    server = ServerChecksumFactory(["sha256"])
    assert server.process_request_params([("algorithm", "sha256")], [])[0] == [("algorithm", "sha256")]
    for params in ([], [("algorithm", None)], [("algorithm", "md5")], [("algorithm", "crc32")],
                   [("algorithm", "sha256"), ("algorithm", "sha256")], [("level", "9")]):
        with pytest.raises(NegotiationError):
            server.process_request_params(params, [])
    client = ClientChecksumFactory("sha256")
    assert client.get_request_params() == [("algorithm", "sha256")]
    assert isinstance(client.process_response_params([("algorithm", "sha256")], []), MessageChecksum)
    with pytest.raises(NegotiationError, match="the server chose crc32, not sha256"):
        client.process_response_params([("algorithm", "crc32")], [])
    with pytest.raises(ValueError, match="algorithm is one of sha256, crc32, not 'md5'"):
        ClientChecksumFactory("md5")
