"""Per-message compression control: ``compress=`` and permessage-deflate's size threshold.

Sans-IO first (the RSV1 bit and the payload on the wire, and what the peer
decodes), then real connections over memory streams and loopback sockets.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

import ws
import ws.testing
from ws._broadcast import _PLAIN, _share_key
from ws.errors import LocalProtocolError
from ws.events import Event, Fragment, Message
from ws.extensions import (
    ClientPerMessageDeflateFactory,
    Extension,
    ExtensionPipeline,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from ws.frames.frame import RSV1, Frame, Opcode
from ws.frames.parser import FrameParser
from ws.frames.serializer import serialize_frame
from ws.protocol import Protocol, Side
from ws.typing import ExtensionName

from tests.helpers import ProtocolPair
from tests.test_broadcast import serving

TAIL = b"\x00\x00\xff\xff"
THRESHOLD = 64


def deflate_pair(threshold: int = THRESHOLD, *, takeover: bool = True) -> ProtocolPair:
    """A client and a server with permessage-deflate; the server has ``threshold``."""
    return ProtocolPair.create(
        client_extensions=[PerMessageDeflate(remote_no_context_takeover=not takeover)],
        server_extensions=[
            PerMessageDeflate(threshold=threshold, local_no_context_takeover=not takeover)
        ],
    )


def server_frames(pair: ProtocolPair) -> list[Frame]:
    """Take what the server queued and parse it, without delivering it."""
    parser = FrameParser(mask_required=False, allowed_rsv=RSV1)
    for chunk in pair.server.data_to_send():
        parser.feed(chunk)
    frames = []
    while (frame := parser.next_frame()) is not None:
        frames.append(frame)
    return frames


def deliver(pair: ProtocolPair, frames: list[Frame]) -> list[Event]:
    """Feed frames to the client as the server would have sent them; return its events."""
    for frame in frames:
        pair.client.receive_data(serialize_frame(frame, None))
    return pair.client.events_received()


def inflate(payload: bytes) -> bytes:
    """Inflate one compressed message from an empty window."""
    return zlib.decompressobj(wbits=-15).decompress(payload + TAIL)


# -- sans-IO: one whole message -----------------------------------------------------


@pytest.mark.parametrize(
    ("size", "compress", "compressed"),
    [
        (THRESHOLD - 1, None, False),
        (THRESHOLD, None, True),  # exactly at the threshold: compressed
        (THRESHOLD + 1, None, True),
        (THRESHOLD - 1, True, True),
        (THRESHOLD, True, True),
        (0, True, True),
        (THRESHOLD - 1, False, False),
        (THRESHOLD, False, False),
        (10_000, False, False),
        (0, None, False),
    ],
)
@pytest.mark.parametrize("binary", [False, True])
def test_whole_message_on_the_wire(
    size: int, compress: bool | None, compressed: bool, binary: bool
) -> None:
    """RSV1 and payload on the wire follow compress= and the threshold; the peer gets the message."""
    pair = deflate_pair()
    data = b"x" * size
    if binary:
        pair.server.send_binary(data, compress=compress)
    else:
        pair.server.send_text(data.decode(), compress=compress)
    [frame] = server_frames(pair)
    assert frame.opcode is (Opcode.BINARY if binary else Opcode.TEXT)
    assert frame.fin
    assert frame.rsv1 is compressed
    if compressed:
        assert inflate(frame.payload) == data
        if size >= THRESHOLD:
            assert len(frame.payload) < size
    else:
        assert frame.payload == data
    expected = data if binary else data.decode()
    assert deliver(pair, [frame]) == [Message(expected)]


def test_threshold_zero_compresses_every_message() -> None:
    """threshold=0: even an empty message is compressed (to the single byte 0x00)."""
    pair = deflate_pair(0)
    for text in ["", "a", "hello"]:
        pair.server.send_text(text)
        [frame] = server_frames(pair)
        assert frame.rsv1
        assert inflate(frame.payload) == text.encode()
        assert deliver(pair, [frame]) == [Message(text)]
    pair.server.send_text("", compress=False)  # compress=False still wins
    [frame] = server_frames(pair)
    assert not frame.rsv1 and frame.payload == b""


def test_threshold_counts_utf8_bytes() -> None:
    """The threshold compares the UTF-8 size of a text message, not its length in characters."""
    pair = deflate_pair(8)
    pair.server.send_text("é" * 4)  # 4 characters, 8 bytes
    [frame] = server_frames(pair)
    assert frame.rsv1
    pair.server.send_text("é" * 3 + "e")  # 7 bytes
    [frame] = server_frames(pair)
    assert not frame.rsv1


# -- sans-IO: fragmented messages ---------------------------------------------------


@pytest.mark.parametrize("compress", [None, True, False])
def test_fragmented_message_follows_its_first_frame(compress: bool | None) -> None:
    """Only the first frame decides; continuations follow, RSV1 only ever on the first frame.

    With compress=None a fragmented message is compressed whatever the size
    of its first fragment: the threshold applies to whole messages only.
    """
    pair = deflate_pair()
    pieces = ["ab", "c" * 200, "", "d"]
    pair.server.send_text(pieces[0], fin=False, compress=compress)
    for piece in pieces[1:-1]:
        pair.server.send_continuation(piece, fin=False)
    pair.server.send_continuation(pieces[-1], fin=True)
    frames = server_frames(pair)
    assert [frame.opcode for frame in frames] == [Opcode.TEXT] + [Opcode.CONTINUATION] * 3
    assert [frame.fin for frame in frames] == [False, False, False, True]
    compressed = compress is not False
    assert [frame.rsv1 for frame in frames] == [compressed, False, False, False]
    if compressed:
        stream = zlib.decompressobj(wbits=-15)
        inflated = b"".join(stream.decompress(frame.payload) for frame in frames)
        inflated += stream.decompress(TAIL)
        assert inflated == "".join(pieces).encode()
    else:
        assert [frame.payload for frame in frames] == [piece.encode() for piece in pieces]
    assert deliver(pair, frames) == [Message("".join(pieces))]


def test_uncompressed_fragments_then_compressed_message() -> None:
    """After an uncompressed fragmented message, the next message is compressed as usual."""
    pair = deflate_pair()
    pair.server.send_binary(b"1" * 100, fin=False, compress=False)
    pair.server.send_continuation(b"2" * 100, fin=True)
    pair.server.send_binary(b"3" * 100)
    frames = server_frames(pair)
    assert [frame.rsv1 for frame in frames] == [False, False, True]
    assert deliver(pair, frames) == [Message(b"1" * 100 + b"2" * 100), Message(b"3" * 100)]


def test_control_frames_between_uncompressed_fragments() -> None:
    """A ping between the fragments of an uncompressed message changes nothing."""
    pair = deflate_pair()
    pair.server.send_text("x" * 100, fin=False, compress=False)
    pair.server.send_ping(b"p")
    pair.server.send_continuation("y" * 100, fin=True)
    frames = server_frames(pair)
    assert [(frame.opcode, frame.rsv1) for frame in frames] == [
        (Opcode.TEXT, False), (Opcode.PING, False), (Opcode.CONTINUATION, False)
    ]


def test_extension_refuses_a_new_message_inside_an_uncompressed_one() -> None:
    """The extension tracks an uncompressed fragmented message as it tracks a compressed one."""
    extension = PerMessageDeflate()
    extension.encode_message(Frame(Opcode.TEXT, b"a", fin=False), False)
    with pytest.raises(LocalProtocolError, match="before the previous one ended"):
        extension.encode(Frame(Opcode.TEXT, b"b"))
    with pytest.raises(LocalProtocolError, match="before the previous one ended"):
        extension.encode_message(Frame(Opcode.BINARY, b"b"), True)
    assert extension.encode(Frame(Opcode.CONTINUATION, b"c")) == Frame(Opcode.CONTINUATION, b"c")
    with pytest.raises(LocalProtocolError, match="outside a message"):
        extension.encode(Frame(Opcode.CONTINUATION, b"d"))


def test_encode_message_passes_other_frames_to_encode() -> None:
    """encode_message on a continuation or control frame is encode."""
    extension = PerMessageDeflate()
    ping = Frame(Opcode.PING, b"p")
    assert extension.encode_message(ping, True) is ping
    first = extension.encode_message(Frame(Opcode.TEXT, b"a" * 50, fin=False), True)
    assert first.rsv1
    last = extension.encode_message(Frame(Opcode.CONTINUATION, b"b" * 50), False)
    assert not last.rsv1  # a continuation follows its first frame, whatever it says
    stream = zlib.decompressobj(wbits=-15)
    assert stream.decompress(first.payload + last.payload + TAIL) == b"a" * 50 + b"b" * 50


def test_rsv1_already_set_is_refused_on_every_path() -> None:
    """A frame that already has RSV1 is a local bug, whether compressed or not."""
    extension = PerMessageDeflate(threshold=100)
    with pytest.raises(LocalProtocolError, match="RSV1"):
        extension.encode(Frame(Opcode.TEXT, b"small", rsv1=True))
    with pytest.raises(LocalProtocolError, match="RSV1"):
        extension.encode_message(Frame(Opcode.TEXT, b"x", rsv1=True), False)
    with pytest.raises(LocalProtocolError, match="RSV1"):
        extension.encode(Frame(Opcode.CONTINUATION, b"x", rsv1=True))


# -- sans-IO: context takeover ------------------------------------------------------


def test_interleaved_messages_with_context_takeover_inflate() -> None:
    """Compressed and uncompressed messages interleave; the windows stay in step both ways."""
    pair = deflate_pair()
    # The client compresses everything its policy says (threshold 0) unless told.
    script: list[tuple[str, bool | None]] = [
        ("the quick brown fox " * 5, None),
        ("tiny", None),
        ("the quick brown fox " * 5, False),
        ("the quick brown fox jumps " * 4, True),
        ("ok", True),
        ("the quick brown fox " * 5, None),
        ("the lazy dog " * 10, False),
        ("the lazy dog " * 10, None),
    ]
    wire_rsv1: list[bool] = []
    for text, compress in script:
        pair.server.send_text(text, compress=compress)
        [frame] = server_frames(pair)
        wire_rsv1.append(frame.rsv1)
        assert deliver(pair, [frame]) == [Message(text)]
        pair.client.send_text(text, compress=compress)
        _, server_events = pair.pump()
        assert server_events == [Message(text)]
    assert wire_rsv1 == [True, False, False, True, True, True, False, True]


def test_uncompressed_message_leaves_the_window_untouched() -> None:
    """A repeat after an uncompressed copy refers to the last compressed one: tiny on the wire."""
    pair = deflate_pair()
    text = "market data, a line long enough to compress well: 0123456789 abcdef"
    pair.server.send_text(text)
    [first] = server_frames(pair)
    pair.server.send_text("something else entirely, never compressed " * 3, compress=False)
    pair.server.send_text(text)
    _, second = server_frames(pair)
    assert first.rsv1 and second.rsv1
    assert len(second.payload) < len(first.payload) // 4  # a back-reference
    pair.client.receive_data(serialize_frame(first, None))
    assert pair.client.events_received() == [Message(text)]


def test_no_context_takeover_and_small_messages() -> None:
    """Without context takeover, uncompressed messages go as they are too, and all inflate."""
    pair = deflate_pair(takeover=False)
    texts = ["a" * 10, "b" * 200, "c" * 10, "b" * 200]
    for text in texts:
        pair.server.send_text(text)
    frames = server_frames(pair)
    assert [frame.rsv1 for frame in frames] == [False, True, False, True]
    assert frames[1].payload == frames[3].payload  # each from an empty window
    assert deliver(pair, frames) == [Message(text) for text in texts]


def test_small_messages_never_create_a_compressor() -> None:
    """A connection that only sends messages below the threshold allocates no zlib stream."""
    extension = PerMessageDeflate(threshold=THRESHOLD)
    protocol = Protocol(Side.SERVER, [extension])
    for _ in range(10):
        protocol.send_text("tick")
    assert extension._compressor is None
    protocol.send_text("tick", compress=True)
    assert extension._compressor is not None


# -- sans-IO: the pipeline, other extensions, no extension --------------------------


@attrs.define(eq=False)
class _Suffix(Extension):
    """A minimal custom extension written before encode_message existed."""

    seen: list[bytes] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self.name = ExtensionName("x-suffix")

    def encode(self, frame: Frame) -> Frame:
        self.seen.append(frame.payload)
        return Frame(frame.opcode, frame.payload + b"!", frame.fin, frame.rsv1)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return Frame(frame.opcode, frame.payload[:-1], frame.fin, frame.rsv1)


def test_custom_extension_ignores_the_choice() -> None:
    """An extension without encode_message gets encode(), whatever compress says."""
    suffix = _Suffix()
    pipeline = ExtensionPipeline([suffix])
    assert pipeline.encode_message(Frame(Opcode.TEXT, b"a"), True) == Frame(Opcode.TEXT, b"a!")
    assert pipeline.encode_message(Frame(Opcode.TEXT, b"b"), False) == Frame(Opcode.TEXT, b"b!")
    assert suffix.seen == [b"a", b"b"]


def test_pipeline_passes_the_choice_to_every_extension() -> None:
    """With two extensions, each gets the choice, in negotiation order."""
    suffix = _Suffix()
    deflate = PerMessageDeflate(threshold=1000)
    pipeline = ExtensionPipeline([suffix, deflate])
    forced = pipeline.encode_message(Frame(Opcode.TEXT, b"hello"), True)
    assert forced.rsv1 and inflate(forced.payload) == b"hello!"
    plain = pipeline.encode_message(Frame(Opcode.TEXT, b"x" * 2000), False)
    assert not plain.rsv1 and plain.payload == b"x" * 2000 + b"!"
    default = pipeline.encode(Frame(Opcode.TEXT, b"hi"))
    assert not default.rsv1 and default.payload == b"hi!"


def test_empty_pipeline_and_no_extension_ignore_compress() -> None:
    """Without extensions compress=True is no error and sends the bytes as they are."""
    pipeline = ExtensionPipeline()
    frame = Frame(Opcode.TEXT, b"x")
    assert pipeline.encode_message(frame, True) is frame
    pair = ProtocolPair.create()
    pair.server.send_text("hello", compress=True)
    pair.server.send_binary(b"bytes", compress=False)
    client_events, _ = pair.pump()
    assert client_events == [Message("hello"), Message(b"bytes")]


def test_fragments_delivered_as_they_come_when_uncompressed() -> None:
    """A streaming receiver gets each fragment of an uncompressed message unchanged."""
    pair = ProtocolPair.create(
        client_extensions=[PerMessageDeflate()],
        server_extensions=[PerMessageDeflate()],
        assemble_messages=False,
    )
    pair.server.send_text("ab", fin=False, compress=False)
    pair.server.send_continuation("cd", fin=True)
    client_events, _ = pair.pump()
    assert [(e.data, e.final) for e in client_events if isinstance(e, Fragment)] == [
        ("ab", False), ("cd", True)
    ]


# -- settings -----------------------------------------------------------------------


def test_factories_default_threshold_and_negotiated_extension() -> None:
    """Both factories default to 64 bytes and hand their threshold to the extension."""
    client_factory = ClientPerMessageDeflateFactory()
    server_factory = ServerPerMessageDeflateFactory(threshold=200)
    assert client_factory.threshold == 64
    assert ServerPerMessageDeflateFactory().threshold == 64
    assert PerMessageDeflate().threshold == 0
    params, server_ext = server_factory.process_request_params(
        client_factory.get_request_params(), []
    )
    client_ext = client_factory.process_response_params(params, [])
    assert server_ext.threshold == 200
    assert client_ext.threshold == 64
    # The threshold is ours alone: nothing about it goes into the handshake.
    assert client_factory.get_request_params() == ClientPerMessageDeflateFactory(
        threshold=0
    ).get_request_params()


@pytest.mark.parametrize(
    "factory", [ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory, PerMessageDeflate]
)
def test_threshold_is_validated(factory: type[Extension] | type[object]) -> None:
    """threshold is an int >= 0: a negative one is a ValueError, another type a TypeError."""
    assert factory(threshold=0).threshold == 0  # type: ignore[call-arg,attr-defined]
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        factory(threshold=-1)  # type: ignore[call-arg]
    for wrong in (1.5, "64", True, None):
        with pytest.raises(TypeError, match="threshold must be an int"):
            factory(threshold=wrong)  # type: ignore[call-arg]


# -- real connections ---------------------------------------------------------------


@pytest.fixture
def frame_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """DEBUG on for ``ws`` before connections are built: every frame is logged."""
    caplog.set_level(logging.DEBUG, logger="ws")
    yield caplog


def received_frames(caplog: pytest.LogCaptureFixture, connection: ws.WebSocketConnection) -> list[str]:
    """The 'received TEXT/BINARY frame, N bytes, ...' records of a connection, id removed."""
    prefix = f"[{connection.id}] received "
    out = []
    for record in caplog.records:
        text = record.getMessage()
        if text.startswith(prefix) and ("TEXT" in text or "BINARY" in text):
            out.append(text[len(prefix):])
    return out


async def test_send_message_compress_over_a_connection(
    frame_log: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """compress=None/True/False through send_message: right bits on the wire, messages intact."""
    big = "all work and no play " * 20  # 420 bytes
    with trio.fail_after(5):
        async with ws.testing.open_websocket_pair() as (client, server):
            assert client.extensions and server.extensions
            await client.send_message(big, compress=False)
            assert await server.get_message() == big
            await client.send_message("small")
            assert await server.get_message() == "small"
            await client.send_message(b"small", compress=True)
            assert await server.get_message() == b"small"
            await client.send_message(big)
            assert await server.get_message() == big
            await server.send_message(bytearray(big.encode()), compress=False)
            assert await client.get_message() == big.encode()
    plain, small, forced, compressed = received_frames(frame_log, server)
    assert plain == f"TEXT frame, {len(big)} bytes, fin"  # not ", compressed"
    assert small == "TEXT frame, 5 bytes, fin"  # below the threshold
    assert forced.startswith("BINARY frame, ") and forced.endswith(", fin, compressed")
    assert compressed.startswith("TEXT frame, ") and compressed.endswith(", fin, compressed")
    assert int(compressed.split(", ")[1].split()[0]) < 50  # the window had the text already
    assert received_frames(frame_log, client) == [f"BINARY frame, {len(big)} bytes, fin"]


async def test_compress_true_without_deflate_is_no_error(
    frame_log: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """The peer declined compression: compress=True sends the message as it is."""
    with trio.fail_after(5):
        async with ws.testing.open_websocket_pair(compression=None) as (client, server):
            assert not client.extensions
            await client.send_message("x" * 500, compress=True)
            assert await server.get_message() == "x" * 500
    assert received_frames(frame_log, server) == ["TEXT frame, 500 bytes, fin"]


async def test_compress_must_be_a_bool_or_none(autojump_clock: trio.testing.MockClock) -> None:
    """compress='yes' is a TypeError before anything is sent; the connection stays usable."""
    with trio.fail_after(5):
        async with ws.testing.open_websocket_pair() as (client, server):
            with pytest.raises(TypeError, match="compress must be None, True or False"):
                await client.send_message("hi", compress="yes")  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="compress must be None, True or False"):
                await client.send_message("hi", compress=1)  # type: ignore[arg-type]
            with pytest.raises(ws.errors.MessageTypeError):
                await client.send_message(42, compress=True)  # type: ignore[arg-type]
            await client.send_message("after")
            assert await server.get_message() == "after"


async def test_threshold_set_on_the_factory_applies(
    frame_log: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """A client factory with threshold=0 compresses a 5-byte message; 1000 leaves 500 bytes alone."""
    for threshold, compressed in ((0, True), (1000, False)):
        options = ws.ClientOptions(compression=ClientPerMessageDeflateFactory(threshold=threshold))
        with trio.fail_after(5):
            async with ws.testing.open_websocket_pair(client_options=options) as (client, server):
                await client.send_message("hello")
                await client.send_message("y" * 500)
                assert await server.get_message() == "hello"
                assert await server.get_message() == "y" * 500
        frames = received_frames(frame_log, server)
        assert [frame.endswith("compressed") for frame in frames] == [compressed, compressed]


# -- broadcast ----------------------------------------------------------------------


def test_share_key_follows_the_threshold_and_compress() -> None:
    """An uncompressed message shares the plain frame, whatever the context takeover."""
    takeover = Protocol(Side.SERVER, [PerMessageDeflate(threshold=64)])
    fresh = Protocol(
        Side.SERVER,
        [PerMessageDeflate(threshold=64, local_no_context_takeover=True, local_max_window_bits=12)],
    )
    assert _share_key(takeover, 63, None) == _PLAIN
    assert _share_key(takeover, 64, None) is None  # compressed with its own window
    assert _share_key(takeover, 10_000, False) == _PLAIN
    assert _share_key(takeover, 1, True) is None
    assert _share_key(fresh, 63, None) == _PLAIN
    assert _share_key(fresh, 64, None) == (12, -1, 8)
    assert _share_key(fresh, 1, True) == (12, -1, 8)
    assert _share_key(fresh, 10_000, False) == _PLAIN
    client = Protocol(Side.CLIENT, [PerMessageDeflate()])
    assert _share_key(client, 1, False) is None  # each frame masked for itself


async def test_broadcast_compress_over_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small or compress=False: one plain frame for all; compress=True: each compresses; all arrive."""
    deflated: list[int] = []
    real = PerMessageDeflate._deflate

    def counting(self: PerMessageDeflate, frame: Frame, compressor: object, first: bool) -> Frame:
        deflated.append(id(self))
        return real(self, frame, compressor, first)  # type: ignore[arg-type]

    monkeypatch.setattr(PerMessageDeflate, "_deflate", counting)
    big = "prices moved again " * 30
    with trio.fail_after(10):
        async with serving(4, server_compression="deflate", client_compression="deflate") as served:
            for message, compress, compressions in (
                ("tick", None, 0),
                (big, False, 0),
                ("tick", True, 4),
                (big, None, 4),
            ):
                deflated.clear()
                await ws.broadcast(served.servers(), message, compress=compress)
                for client in served.clients:
                    assert await client.get_message() == message
                assert len(deflated) == compressions
                assert len(set(deflated)) == compressions  # one each
            with pytest.raises(TypeError, match="compress must be None, True or False"):
                await ws.broadcast(served.servers(), "x", compress="no")  # type: ignore[arg-type]


async def test_broadcast_compress_in_memory(autojump_clock: trio.testing.MockClock) -> None:
    """The per-connection path passes compress= through to each connection's send."""
    with trio.fail_after(5):
        async with ws.testing.open_websocket_pair() as (client, server):
            await ws.broadcast([server], "z" * 300, compress=False)
            await ws.broadcast([server], "z", compress=True)
            assert await client.get_message() == "z" * 300
            assert await client.get_message() == "z"


# -- the benchmark behind the default ------------------------------------------------


def test_threshold_benchmark_quick_run() -> None:
    """bench/compression_threshold.py --quick prints both tables, every size, sane figures."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "bench" / "compression_threshold.py"), "--quick", "--repeats", "1"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [
        [cell.strip().replace(",", "") for cell in line.strip("|").split("|")]
        for line in done.stdout.splitlines()
        if line.startswith("| ") and line[2].isdigit()
    ]
    assert [int(row[0]) for row in rows] == [16, 32, 64, 128, 256, 512, 1024, 2048, 4096] * 2
    for row in rows:
        plain, deflated = float(row[2]), float(row[3])
        assert deflated < plain  # JSON with context takeover always shrinks
        assert float(row[5]) > 0 and float(row[6]) > 0
