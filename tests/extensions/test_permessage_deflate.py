"""Tests for ws.extensions.permessage_deflate (RFC 7692)."""

from __future__ import annotations

import json
import os
import tracemalloc
import zlib
from collections.abc import Sequence

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import (
    InvalidPayload,
    LocalProtocolError,
    MessageTooBig,
    NegotiationError,
    RemoteProtocolError,
)
from ws.extensions import (
    ClientExtensionFactory,
    ClientPerMessageDeflateFactory,
    Extension,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from ws.frames.frame import Frame, Opcode
from ws.handshake.hooks import ClientExtensionFactoryHook, ServerExtensionFactoryHook
from ws.typing import ExtensionName, ExtensionParameter

TAIL = b"\x00\x00\xff\xff"
HELLO_FRAME = bytes.fromhex("c107f248cdc9c90700")

# Short names for the tables.
_Client = ClientPerMessageDeflateFactory
_Server = ServerPerMessageDeflateFactory

# One item of a conversation: a ping payload, or a data message as
# (opcode, fragments).
Item = bytes | tuple[Opcode, list[bytes]]


def _wire(frame: Frame) -> bytes:
    """Serialize a short unmasked frame, as in the RFC 7692 examples."""
    assert len(frame.payload) < 126
    first = (0x80 if frame.fin else 0) | (0x40 if frame.rsv1 else 0) | frame.opcode
    return bytes([first, len(frame.payload)]) + frame.payload


def _unwire(data: bytes) -> list[Frame]:
    """Parse short unmasked frames without extension bits other than RSV1."""
    frames = []
    while data:
        first, length = data[0], data[1]
        assert length < 126 and not first & 0x30
        frames.append(
            Frame(
                Opcode(first & 0x0F),
                data[2 : 2 + length],
                fin=bool(first & 0x80),
                rsv1=bool(first & 0x40),
            )
        )
        data = data[2 + length :]
    return frames


def _receive(
    extension: PerMessageDeflate, frames: Sequence[Frame], max_size: int | None = None
) -> list[bytes]:
    """Decode data frames and reassemble their messages."""
    messages: list[bytes] = []
    parts: list[bytes] = []
    for frame in frames:
        decoded = extension.decode(frame, max_size=max_size)
        assert not decoded.rsv1
        parts.append(decoded.payload)
        if decoded.fin:
            messages.append(b"".join(parts))
            parts = []
    return messages


def _send(extension: PerMessageDeflate, opcode: Opcode, fragments: Sequence[bytes]) -> list[Frame]:
    """Encode one message sent as the given fragments."""
    frames = []
    for index, fragment in enumerate(fragments):
        frame = Frame(
            opcode if index == 0 else Opcode.CONTINUATION,
            fragment,
            fin=index == len(fragments) - 1,
        )
        frames.append(extension.encode(frame))
    return frames


def _strict_inflate(data: bytes, wbits: int) -> bytes:
    """Inflate one output byte at a time, so every back-reference must come
    from a window of 2**wbits bytes; zlib rejects any reference further back."""
    decompressor = zlib.decompressobj(wbits=-wbits)
    output = bytearray()
    while True:
        chunk = decompressor.decompress(data, 1)
        output += chunk
        data = decompressor.unconsumed_tail
        if not chunk and not data:
            return bytes(output)


def _json_text(records: int, seed: int = 0) -> bytes:
    """JSON-like text with the repetition of real API traffic."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa"]
    return json.dumps(
        [
            {
                "id": index,
                "name": words[(index * 7 + seed) % 8] + str(index * 37 % 1000),
                "active": index % 3 == 0,
                "tags": [words[(index + k) % 8] for k in range(3)],
                "address": {"city": words[index % 8].title(), "zip": f"{index * 7919 % 99999:05d}"},
            }
            for index in range(records)
        ]
    ).encode()


# -- RFC 7692 section 7.2.3 examples, byte for byte ----------------------------


def test_rfc_7_2_3_1_hello_in_one_frame() -> None:
    """7.2.3.1: "Hello" compressed in one frame decodes, and we encode it identically."""
    assert _receive(PerMessageDeflate(), _unwire(HELLO_FRAME)) == [b"Hello"]
    frame = PerMessageDeflate().encode(Frame(Opcode.TEXT, b"Hello"))
    assert _wire(frame) == HELLO_FRAME


def test_rfc_7_2_3_1_hello_in_two_fragments() -> None:
    """7.2.3.1: the same DEFLATE data split over two frames decodes as it arrives."""
    frames = _unwire(bytes.fromhex("4103f248cd" "8004c9c90700"))
    extension = PerMessageDeflate()
    first = extension.decode(frames[0])
    assert first.opcode is Opcode.TEXT and not first.fin and not first.rsv1
    assert b"Hello".startswith(first.payload) and first.payload
    second = extension.decode(frames[1])
    assert second.opcode is Opcode.CONTINUATION and second.fin
    assert first.payload + second.payload == b"Hello"


def test_rfc_7_2_3_2_sharing_the_lz77_window() -> None:
    """7.2.3.2: the second "Hello" refers to the first; both directions agree byte for byte."""
    wire = bytes.fromhex("c107f248cdc9c90700" "c105f200110000")
    assert _receive(PerMessageDeflate(), _unwire(wire)) == [b"Hello", b"Hello"]
    sender = PerMessageDeflate()
    sent = [sender.encode(Frame(Opcode.TEXT, b"Hello")) for _ in range(2)]
    assert b"".join(_wire(frame) for frame in sent) == wire


def test_rfc_7_2_3_2_without_context_takeover_repeats_the_first_message() -> None:
    """7.2.3.2: with no_context_takeover, every "Hello" compresses like the first."""
    sender = PerMessageDeflate(local_no_context_takeover=True)
    sent = [_wire(sender.encode(Frame(Opcode.TEXT, b"Hello"))) for _ in range(3)]
    assert sent == [HELLO_FRAME] * 3


def test_rfc_7_2_3_3_no_compression_block() -> None:
    """7.2.3.3: "Hello" in a stored block decodes; compression level 0 produces it."""
    wire = bytes.fromhex("c10b000500faff48656c6c6f00")
    assert _receive(PerMessageDeflate(), _unwire(wire)) == [b"Hello"]
    frame = PerMessageDeflate(compression_level=0).encode(Frame(Opcode.TEXT, b"Hello"))
    assert _wire(frame) == wire


def test_rfc_7_2_3_4_bfinal_block() -> None:
    """7.2.3.4: a block with BFINAL set decodes, and later messages still decode."""
    bfinal_hello = bytes.fromhex("c108f348cdc9c9070000")
    wire = bfinal_hello + HELLO_FRAME + bfinal_hello
    assert _receive(PerMessageDeflate(), _unwire(wire)) == [b"Hello"] * 3


def test_rfc_7_2_3_5_two_deflate_blocks() -> None:
    """7.2.3.5: one message made of two DEFLATE blocks decodes."""
    wire = bytes.fromhex("c10df248050000" "00ffffcac9c90700")
    assert _receive(PerMessageDeflate(), _unwire(wire)) == [b"Hello"]


def test_rfc_7_2_3_6_empty_message() -> None:
    """7.2.3.6: an empty message is the single octet 0x00, both ways."""
    assert _receive(PerMessageDeflate(), _unwire(b"\xc1\x01\x00")) == [b""]
    sender = PerMessageDeflate()
    assert _wire(sender.encode(Frame(Opcode.TEXT, b""))) == b"\xc1\x01\x00"
    # Also after the window holds data.
    sender.encode(Frame(Opcode.TEXT, b"Hello"))
    assert _wire(sender.encode(Frame(Opcode.BINARY, b""))) == b"\xc2\x01\x00"


def test_rfc_7_2_3_6_empty_last_fragment() -> None:
    """7.2.3.6: a message whose data ended before its last fragment ends with 0x00."""
    sender = PerMessageDeflate()
    frames = _send(sender, Opcode.TEXT, [b"Hello", b""])
    assert frames[0].payload == bytes.fromhex("f248cdc9c90700") + TAIL
    assert frames[1] == Frame(Opcode.CONTINUATION, b"\x00", fin=True)
    wire = b"".join(_wire(frame) for frame in frames)
    assert wire == bytes.fromhex("410bf248cdc9c9070000" "00ffff" "800100")
    assert _receive(PerMessageDeflate(), _unwire(wire)) == [b"Hello"]


# -- Receiving -----------------------------------------------------------------


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
def test_uncompressed_message_passes_through(opcode: Opcode) -> None:
    """A message whose first frame lacks RSV1 is not touched."""
    extension = PerMessageDeflate()
    first = Frame(opcode, b"plain", fin=False)
    last = Frame(Opcode.CONTINUATION, b" text")
    assert extension.decode(first) is first
    assert extension.decode(last) is last
    # The connection still inflates the next compressed message.
    assert _receive(extension, _unwire(HELLO_FRAME)) == [b"Hello"]


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_control_frames_pass_through(opcode: Opcode) -> None:
    """Control frames are never compressed, even inside a fragmented message."""
    extension = PerMessageDeflate()
    frame = Frame(opcode, b"\x03\xe8")
    assert extension.decode(frame) is frame
    assert extension.encode(frame) is frame
    first = _unwire(bytes.fromhex("4103f248cd"))[0]
    extension.decode(first)
    assert extension.decode(frame) is frame
    assert extension.decode(Frame(Opcode.CONTINUATION, bytes.fromhex("c9c90700"))).fin


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_rsv1_on_a_control_frame_fails(opcode: Opcode) -> None:
    """RFC 7692 section 6: RSV1 on a control frame fails the connection (1002)."""
    with pytest.raises(RemoteProtocolError, match="control frame") as info:
        PerMessageDeflate().decode(Frame(opcode, b"", rsv1=True))
    assert type(info.value) is RemoteProtocolError
    assert info.value.close_code == 1002


@pytest.mark.parametrize("compressed_first", [True, False])
def test_rsv1_on_a_continuation_frame_fails(compressed_first: bool) -> None:
    """RFC 7692 section 6: RSV1 on a non-first fragment fails the connection (1002)."""
    extension = PerMessageDeflate()
    extension.decode(Frame(Opcode.TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=compressed_first))
    with pytest.raises(RemoteProtocolError, match="continuation frame") as info:
        extension.decode(Frame(Opcode.CONTINUATION, bytes.fromhex("c9c90700"), rsv1=True))
    assert type(info.value) is RemoteProtocolError
    assert info.value.close_code == 1002


def test_new_message_inside_a_compressed_message_fails() -> None:
    """A data frame that starts a message while one is in progress fails (1002)."""
    extension = PerMessageDeflate()
    extension.decode(Frame(Opcode.TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=True))
    with pytest.raises(RemoteProtocolError, match="previous one") as info:
        extension.decode(Frame(Opcode.BINARY, b"", rsv1=False))
    assert info.value.close_code == 1002


def test_other_rsv_bits_survive() -> None:
    """RSV2 and RSV3 belong to other extensions and are left as they were."""
    sender, receiver = PerMessageDeflate(), PerMessageDeflate()
    sent = sender.encode(Frame(Opcode.BINARY, b"data", rsv2=True, rsv3=True))
    assert (sent.rsv1, sent.rsv2, sent.rsv3) == (True, True, True)
    received = receiver.decode(sent)
    assert (received.rsv1, received.rsv2, received.rsv3) == (False, True, True)
    assert received.payload == b"data"


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff",  # BTYPE 11 is reserved
        bytes.fromhex("0005000000"),  # LEN and NLEN of a stored block disagree
        bytes.fromhex("f248cdc9c90700") * 2,  # the second copy reads as a bad stored block
        bytes.fromhex("f200110000"),  # a reference to history a fresh stream lacks
        b"\xfc",  # a dynamic block header with too many codes
    ],
)
def test_corrupt_data_is_invalid_payload(payload: bytes) -> None:
    """Data zlib rejects fails with 1007, chained from zlib.error."""
    extension = PerMessageDeflate()
    with pytest.raises(InvalidPayload) as info:
        extension.decode(Frame(Opcode.TEXT, payload, rsv1=True))
    assert info.value.close_code == 1007
    assert isinstance(info.value.__cause__, zlib.error)


def test_corrupt_continuation_is_invalid_payload() -> None:
    """Corrupt data in a later fragment fails the same way."""
    extension = PerMessageDeflate()
    first = Frame(Opcode.TEXT, bytes.fromhex("f248cdc9c90700") + TAIL, fin=False, rsv1=True)
    assert extension.decode(first).payload == b"Hello"
    with pytest.raises(InvalidPayload):
        extension.decode(Frame(Opcode.CONTINUATION, b"\xff\xff\xff"))


def _deflate_final(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


def _deflate_sync(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_bfinal_stream_ends_a_fragment() -> None:
    """A fragment that ends a DEFLATE stream is followed by a fresh stream."""
    extension = PerMessageDeflate()
    frames = [
        Frame(Opcode.TEXT, _deflate_final(b"Hel"), fin=False, rsv1=True),
        Frame(Opcode.CONTINUATION, _deflate_sync(b"lo")),
    ]
    assert _receive(extension, frames) == [b"Hello"]
    assert _receive(extension, _unwire(HELLO_FRAME)) == [b"Hello"]


@pytest.mark.parametrize("max_size", [None, 100])
def test_several_bfinal_streams_in_one_message(max_size: int | None) -> None:
    """Streams after a BFINAL block are inflated too, within the size limit."""
    payload = _deflate_final(b"He") + _deflate_final(b"ll") + _deflate_sync(b"o")
    frames = [Frame(Opcode.TEXT, payload, rsv1=True)]
    assert _receive(PerMessageDeflate(), frames, max_size) == [b"Hello"]


def test_bfinal_stream_cannot_exceed_the_limit() -> None:
    """The size limit also holds across BFINAL restarts."""
    payload = _deflate_final(b"Hello") + _deflate_sync(b"world")
    for max_size in (4, 5, 9):
        with pytest.raises(MessageTooBig):
            PerMessageDeflate().decode(Frame(Opcode.TEXT, payload, rsv1=True), max_size=max_size)
    decoded = PerMessageDeflate().decode(Frame(Opcode.TEXT, payload, rsv1=True), max_size=10)
    assert decoded.payload == b"Helloworld"


# -- Size limits and compression bombs -------------------------------------------


def test_max_size_boundary() -> None:
    """A message of exactly max_size bytes passes; one byte more fails with 1009."""
    message = _json_text(50)
    size = len(message)
    wire = PerMessageDeflate().encode(Frame(Opcode.TEXT, message))
    assert PerMessageDeflate().decode(wire, max_size=size).payload == message
    with pytest.raises(MessageTooBig) as info:
        PerMessageDeflate().decode(wire, max_size=size - 1)
    assert info.value.close_code == 1009


@pytest.mark.parametrize(("message", "max_size", "ok"), [
    (b"", 0, True),
    (b"x", 0, False),
    (b"", -1, False),
    (b"x", -5, False),
])
def test_max_size_zero_and_negative(message: bytes, max_size: int, ok: bool) -> None:
    """A budget of zero admits only empty payloads; a negative one admits nothing."""
    wire = PerMessageDeflate().encode(Frame(Opcode.BINARY, message))
    if ok:
        assert PerMessageDeflate().decode(wire, max_size=max_size).payload == message
    else:
        with pytest.raises(MessageTooBig):
            PerMessageDeflate().decode(wire, max_size=max_size)


def test_max_size_applies_per_fragment() -> None:
    """Each fragment is limited by what the message may still grow by."""
    message = _json_text(40)
    fragments = [message[i : i + 500] for i in range(0, len(message), 500)]
    sent = _send(PerMessageDeflate(), Opcode.TEXT, fragments)

    def receive(limit: int) -> bytes:
        receiver = PerMessageDeflate()
        received = b""
        for frame in sent:
            received += receiver.decode(frame, max_size=limit - len(received)).payload
        return received

    assert receive(len(message)) == message
    with pytest.raises(MessageTooBig):
        receive(len(message) - 1)


def _bomb() -> bytes:
    """About 1 MB of DEFLATE data that inflates to exactly 1 GiB of zeros.

    After a full flush, zlib compresses each MiB of zeros to the same bytes,
    so one compressed MiB repeated 1024 times is a valid stream.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    chunk = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert chunk.endswith(TAIL)
    return chunk * 1024


def test_compression_bomb_fails_with_bounded_memory() -> None:
    """A 1 MB message that would inflate to 1 GiB fails after at most max_size + 1 bytes."""
    bomb = _bomb()
    assert len(bomb) < 1_100_000
    max_size = 1 << 20
    extension = PerMessageDeflate()
    tracemalloc.start()
    try:
        with pytest.raises(MessageTooBig):
            extension.decode(Frame(Opcode.BINARY, bomb, rsv1=True), max_size=max_size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The payload plus its tail (1 MB), the output (1 MiB + 1 byte) and
    # zlib's buffers; nowhere near the 1 GiB the data claims.
    assert peak < 8 * max_size


def test_fragmented_compression_bomb_fails_early() -> None:
    """Sent as 64 KB fragments, the bomb fails within the fragments that reach the limit."""
    bomb = _bomb()
    step = 1 << 16
    frames = [
        Frame(
            Opcode.BINARY if start == 0 else Opcode.CONTINUATION,
            bomb[start : start + step],
            fin=start + step >= len(bomb),
            rsv1=start == 0,
        )
        for start in range(0, len(bomb), step)
    ]
    max_size = 4 << 20
    extension = PerMessageDeflate()
    received = 0
    with pytest.raises(MessageTooBig):
        for frame in frames:
            payload = extension.decode(frame, max_size=max_size - received).payload
            assert len(payload) <= max_size - received
            received += len(payload)
    assert received <= max_size


def test_no_limit_inflates_everything() -> None:
    """max_size=None inflates a highly compressed message in full."""
    message = bytes(10 << 20)
    wire = PerMessageDeflate().encode(Frame(Opcode.BINARY, message))
    assert len(wire.payload) < 20_000
    assert PerMessageDeflate().decode(wire).payload == message


# -- Sending ----------------------------------------------------------------------


def test_fragmented_message_sets_rsv1_on_first_frame_only() -> None:
    """RFC 7692 section 6: only the first frame of a compressed message has RSV1."""
    fragments = [b"first ", b"", b"second ", b"third"]
    frames = _send(PerMessageDeflate(), Opcode.BINARY, fragments)
    assert [frame.rsv1 for frame in frames] == [True, False, False, False]
    assert [frame.opcode for frame in frames] == [Opcode.BINARY] + [Opcode.CONTINUATION] * 3
    assert [frame.fin for frame in frames] == [False, False, False, True]
    # Non-final frames end on a sync flush; the final one has it stripped.
    assert all(frame.payload.endswith(TAIL) for frame in frames[:-1])
    assert not frames[-1].payload.endswith(TAIL)
    assert _receive(PerMessageDeflate(), frames) == [b"".join(fragments)]


def test_encode_rejects_rsv1() -> None:
    """RSV1 on an outgoing frame is a local error: permessage-deflate owns it."""
    with pytest.raises(LocalProtocolError, match="RSV1"):
        PerMessageDeflate().encode(Frame(Opcode.TEXT, b"x", rsv1=True))
    with pytest.raises(LocalProtocolError, match="RSV1"):
        PerMessageDeflate().encode(Frame(Opcode.PING, b"x", rsv1=True))


def test_encode_rejects_fragments_out_of_order() -> None:
    """Continuations need a message; a new message needs the last one finished."""
    extension = PerMessageDeflate()
    with pytest.raises(LocalProtocolError, match="outside a message"):
        extension.encode(Frame(Opcode.CONTINUATION, b"x"))
    extension.encode(Frame(Opcode.TEXT, b"x", fin=False))
    with pytest.raises(LocalProtocolError, match="previous one"):
        extension.encode(Frame(Opcode.TEXT, b"y"))


def test_context_takeover_shares_the_window() -> None:
    """A repeated message compresses much smaller the second time."""
    message = _json_text(10)
    sender, receiver = PerMessageDeflate(), PerMessageDeflate()
    first = sender.encode(Frame(Opcode.TEXT, message))
    second = sender.encode(Frame(Opcode.TEXT, message))
    assert len(second.payload) < len(first.payload) // 10
    assert _receive(receiver, [first, second]) == [message, message]


def test_local_no_context_takeover_resets_the_window() -> None:
    """With local_no_context_takeover every message compresses the same."""
    message = _json_text(10)
    sender = PerMessageDeflate(local_no_context_takeover=True)
    first = sender.encode(Frame(Opcode.TEXT, message))
    second = sender.encode(Frame(Opcode.TEXT, message))
    assert second == first
    # A receiver expecting no context takeover reads them.
    receiver = PerMessageDeflate(remote_no_context_takeover=True)
    assert _receive(receiver, [first, second]) == [message, message]


def test_remote_no_context_takeover_resets_the_inflater() -> None:
    """A receiver that agreed to no context takeover forgets previous messages."""
    wire = _unwire(bytes.fromhex("c107f248cdc9c90700" "c105f200110000"))
    receiver = PerMessageDeflate(remote_no_context_takeover=True)
    assert _receive(receiver, wire[:1]) == [b"Hello"]
    with pytest.raises(InvalidPayload):
        receiver.decode(wire[1])


@pytest.mark.parametrize("bits", [8, 9, 12])
def test_remote_window_bits_limit_the_inflater(bits: int) -> None:
    """An inflater with a small window rejects references beyond it."""
    block = os.urandom((1 << bits) + 100)
    sender = PerMessageDeflate()
    frames = [sender.encode(Frame(Opcode.BINARY, block)) for _ in range(2)]
    assert _receive(PerMessageDeflate(remote_max_window_bits=15), frames) == [block, block]
    receiver = PerMessageDeflate(remote_max_window_bits=bits)
    receiver.decode(frames[0])
    with pytest.raises(InvalidPayload):
        receiver.decode(frames[1])


@pytest.mark.parametrize("bits", [8, 9, 12])
def test_local_window_bits_limit_the_compressor(bits: int) -> None:
    """A compressor with a small window cannot refer back past it."""
    block = os.urandom((1 << bits) + 100)
    sender = PerMessageDeflate(local_max_window_bits=bits)
    first = sender.encode(Frame(Opcode.BINARY, block))
    second = sender.encode(Frame(Opcode.BINARY, block))
    assert len(second.payload) > len(block) // 2
    receiver = PerMessageDeflate(remote_max_window_bits=bits)
    assert _receive(receiver, [first, second]) == [block, block]


def test_strict_inflater_sees_references_beyond_its_window() -> None:
    """The strict checker used below rejects a stream that needs a bigger window."""
    data = os.urandom(300) * 3
    compressed = _deflate_sync(data)
    assert _strict_inflate(compressed, 9) == data
    with pytest.raises(zlib.error, match="too far back"):
        _strict_inflate(compressed, 8)


def _periodic(period: int, repeats: int, seed: int) -> bytes:
    """A block of ``period`` bytes, repeated: its matches are ``period`` bytes back."""
    return bytes((seed + index * 131) % 256 for index in range(period)) * repeats


# Periods around 256 bytes tempt a compressor to reach just past an 8-bit window.
_PERIODIC = st.builds(_periodic, st.integers(200, 320), st.integers(1, 6), st.integers(0, 255))


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(st.one_of(_PERIODIC, st.binary(max_size=700)), min_size=1, max_size=8),
    level=st.integers(-1, 9),
    mem_level=st.integers(1, 9),
)
def test_8_bit_window_is_honoured(messages: list[bytes], level: int, mem_level: int) -> None:
    """With local_max_window_bits=8, no reference reaches beyond 256 bytes, even across messages."""
    sender = PerMessageDeflate(
        local_max_window_bits=8, compression_level=level, mem_level=mem_level
    )
    stream = b"".join(
        sender.encode(Frame(Opcode.BINARY, message)).payload + TAIL for message in messages
    )
    assert _strict_inflate(stream, 8) == b"".join(messages)


# -- Round trips for every parameter combination ---------------------------------

_CHUNK = st.one_of(
    st.binary(max_size=600),
    st.lists(
        st.sampled_from([b"alpha", b"beta", b" ", b'{"k": ', b"1234", b"}, "]), max_size=200
    ).map(b"".join),
    _PERIODIC,
)
_ITEM: st.SearchStrategy[Item] = st.one_of(
    st.binary(max_size=125),
    st.tuples(
        st.sampled_from([Opcode.TEXT, Opcode.BINARY]), st.lists(_CHUNK, min_size=1, max_size=4)
    ),
)
# (no_context_takeover, max_window_bits) of one side.
_SIDES = [(nct, bits) for nct in (False, True) for bits in (8, 9, 12, 15)]


def _exchange(
    sender: PerMessageDeflate, receiver: PerMessageDeflate, conversation: list[Item]
) -> None:
    """Send a conversation through sender and receiver and check it arrives intact."""
    pong = Frame(Opcode.PONG, b"pong")
    for item in conversation:
        if isinstance(item, bytes):
            ping = Frame(Opcode.PING, item)
            assert sender.encode(ping) is ping
            assert receiver.decode(ping) is ping
            continue
        opcode, fragments = item
        received = []
        for index, frame in enumerate(_send(sender, opcode, fragments)):
            assert frame.rsv1 is (index == 0)
            decoded = receiver.decode(frame, max_size=1 << 20)
            assert decoded.opcode is frame.opcode and decoded.fin is frame.fin
            received.append(decoded.payload)
            # A control frame between fragments, in both directions.
            assert receiver.decode(sender.encode(pong)) is pong
        assert b"".join(received) == b"".join(fragments)


@pytest.mark.parametrize("client", _SIDES, ids=lambda side: f"client-nct{int(side[0])}-w{side[1]}")
@pytest.mark.parametrize("server", _SIDES, ids=lambda side: f"server-nct{int(side[0])}-w{side[1]}")
@settings(max_examples=12, deadline=None)
@given(
    to_server=st.lists(_ITEM, max_size=6),
    to_client=st.lists(_ITEM, max_size=6),
    level=st.integers(-1, 9),
    mem_level=st.integers(1, 9),
)
def test_round_trip_every_combination(
    client: tuple[bool, int],
    server: tuple[bool, int],
    to_server: list[Item],
    to_client: list[Item],
    level: int,
    mem_level: int,
) -> None:
    """Messages, whole and fragmented, round-trip for every no_context_takeover and window size."""
    (client_nct, client_bits), (server_nct, server_bits) = client, server
    client_side = PerMessageDeflate(
        local_no_context_takeover=client_nct,
        local_max_window_bits=client_bits,
        remote_no_context_takeover=server_nct,
        remote_max_window_bits=server_bits,
        compression_level=level,
        mem_level=mem_level,
    )
    server_side = PerMessageDeflate(
        local_no_context_takeover=server_nct,
        local_max_window_bits=server_bits,
        remote_no_context_takeover=client_nct,
        remote_max_window_bits=client_bits,
        compression_level=level,
        mem_level=mem_level,
    )
    # Interleave the directions: each side sends and receives alternately.
    for index in range(max(len(to_server), len(to_client))):
        _exchange(client_side, server_side, to_server[index : index + 1])
        _exchange(server_side, client_side, to_client[index : index + 1])


# -- Configuration and memory ------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("remote_max_window_bits", 7, ValueError),
        ("remote_max_window_bits", 16, ValueError),
        ("local_max_window_bits", True, ValueError),
        ("local_max_window_bits", 12.0, ValueError),
        ("compression_level", -2, ValueError),
        ("compression_level", 10, ValueError),
        ("mem_level", 0, ValueError),
        ("mem_level", 10, ValueError),
        ("remote_no_context_takeover", 1, TypeError),
        ("local_no_context_takeover", None, TypeError),
    ],
)
def test_invalid_settings(field: str, value: object, error: type[Exception]) -> None:
    """Out-of-range settings are refused when the extension is made."""
    with pytest.raises(error, match=field):
        PerMessageDeflate(**{field: value})  # type: ignore[arg-type]


def test_extension_identity() -> None:
    """The extension is named permessage-deflate and owns RSV1."""
    extension = PerMessageDeflate()
    assert extension.name == "permessage-deflate"
    assert extension.rsv_mask == 0x40
    assert "remote_max_window_bits=15" in repr(extension)
    assert extension != PerMessageDeflate()


@pytest.mark.parametrize(
    ("factory", "budget_kib"),
    [
        (_Server(), 96),
        (_Server(client_max_window_bits=12), 64),
    ],
)
def test_server_memory_per_connection(
    factory: ServerPerMessageDeflateFactory, budget_kib: int
) -> None:
    """With the defaults, a server connection's zlib state stays far below 256 KiB."""
    _, server = factory.process_request_params([("client_max_window_bits", None)], [])
    client = PerMessageDeflate(
        remote_max_window_bits=server.local_max_window_bits,
        local_max_window_bits=server.remote_max_window_bits,
    )
    message = _json_text(30)
    to_server = client.encode(Frame(Opcode.TEXT, message))
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        received = server.decode(to_server).payload
        sent = server.encode(Frame(Opcode.TEXT, received))
        del received
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert client.decode(sent).payload == message
    assert after - before - len(sent.payload) < budget_kib * 1024


# -- Negotiation (RFC 7692 sections 5 and 7.1) -----------------------------------

Params = list[ExtensionParameter]
# The negotiated settings of one side: (remote_no_context_takeover,
# local_no_context_takeover, remote_max_window_bits, local_max_window_bits).
Settings = tuple[bool, bool, int, int]



@attrs.define(eq=False)
class _RsvOneUser(Extension):
    """Some other extension, using RSV1 unless told otherwise."""

    rsv: int = 0x40
    label: str = "x-rsv-one"

    def __attrs_post_init__(self) -> None:
        self.name = ExtensionName(self.label)
        self.rsv_mask = self.rsv

    def encode(self, frame: Frame) -> Frame:
        return frame  # pragma: no cover

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        return frame  # pragma: no cover


@attrs.frozen
class _OtherClientFactory(ClientExtensionFactory):
    """A client factory for some other extension."""

    name = ExtensionName("x-other")

    def get_request_params(self) -> list[ExtensionParameter]:
        return []  # pragma: no cover

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        return _RsvOneUser()  # pragma: no cover


SNCT: ExtensionParameter = ("server_no_context_takeover", None)
CNCT: ExtensionParameter = ("client_no_context_takeover", None)
CMWB: ExtensionParameter = ("client_max_window_bits", None)


def _smwb(value: str) -> ExtensionParameter:
    return ("server_max_window_bits", value)


def _cmwb(value: str) -> ExtensionParameter:
    return ("client_max_window_bits", value)


def _settings(extension: PerMessageDeflate) -> Settings:
    return (
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
    )


@pytest.mark.parametrize(
    ("factory", "offer"),
    [
        (_Client(), [CMWB]),
        (_Client(client_max_window_bits=None), []),
        (_Client(client_max_window_bits=10), [_cmwb("10")]),
        (_Client(server_no_context_takeover=True), [SNCT, CMWB]),
        (_Client(client_no_context_takeover=True), [CNCT, CMWB]),
        (_Client(server_max_window_bits=8), [_smwb("8"), CMWB]),
        (
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=15,
                client_max_window_bits=9,
            ),
            [SNCT, CNCT, _smwb("15"), _cmwb("9")],
        ),
    ],
)
def test_client_offer(factory: ClientPerMessageDeflateFactory, offer: Params) -> None:
    """The client offers exactly the parameters it is configured with."""
    assert factory.name == "permessage-deflate"
    assert factory.get_request_params() == offer


_DEFAULT_CLIENT = ClientPerMessageDeflateFactory()


@pytest.mark.parametrize(
    ("factory", "response", "expected"),
    [
        (_DEFAULT_CLIENT, [], (False, False, 15, 15)),
        (_DEFAULT_CLIENT, [SNCT], (True, False, 15, 15)),
        (_DEFAULT_CLIENT, [CNCT], (False, True, 15, 15)),
        (_DEFAULT_CLIENT, [_smwb("10")], (False, False, 10, 15)),
        (_DEFAULT_CLIENT, [_smwb("8")], (False, False, 8, 15)),
        (_DEFAULT_CLIENT, [_cmwb("8")], (False, False, 15, 8)),
        (_DEFAULT_CLIENT, [_cmwb("15")], (False, False, 15, 15)),
        (_DEFAULT_CLIENT, [_cmwb("9"), _smwb("11"), CNCT, SNCT], (True, True, 11, 9)),
        (_Client(client_max_window_bits=12), [], (False, False, 15, 12)),
        (_Client(client_max_window_bits=12), [_cmwb("12")], (False, False, 15, 12)),
        (_Client(client_max_window_bits=12), [_cmwb("9")], (False, False, 15, 9)),
        (_Client(client_max_window_bits=None), [], (False, False, 15, 15)),
        (_Client(client_no_context_takeover=True), [], (False, True, 15, 15)),
        (_Client(client_no_context_takeover=True), [CNCT], (False, True, 15, 15)),
        (_Client(server_no_context_takeover=True), [SNCT], (True, False, 15, 15)),
        (_Client(server_max_window_bits=10), [_smwb("10")], (False, False, 10, 15)),
        (_Client(server_max_window_bits=10), [_smwb("8")], (False, False, 8, 15)),
    ],
)
def test_client_accepts_response(
    factory: ClientPerMessageDeflateFactory, response: Params, expected: Settings
) -> None:
    """A valid response yields an extension with the agreed settings."""
    extension = factory.process_response_params(response, [])
    assert _settings(extension) == expected
    assert extension.compression_level == factory.compression_level
    assert extension.mem_level == factory.mem_level


@pytest.mark.parametrize(
    ("factory", "response", "match"),
    [
        (_DEFAULT_CLIENT, [SNCT, SNCT], "duplicate parameter server_no_context_takeover"),
        (_DEFAULT_CLIENT, [_smwb("10"), _smwb("10")], "duplicate parameter server_max_window_bits"),
        (_DEFAULT_CLIENT, [_cmwb("10"), _cmwb("12")], "duplicate parameter client_max_window_bits"),
        (_DEFAULT_CLIENT, [CNCT, CNCT], "duplicate parameter client_no_context_takeover"),
        (_DEFAULT_CLIENT, [("x_unknown", None)], "unknown parameter x_unknown"),
        (_DEFAULT_CLIENT, [("Server_No_Context_Takeover", None)], "unknown parameter"),
        (_DEFAULT_CLIENT, [("server_no_context_takeover", "1")], "takes no value"),
        (_DEFAULT_CLIENT, [("client_no_context_takeover", "")], "takes no value"),
        (_DEFAULT_CLIENT, [("server_max_window_bits", None)], "needs a value"),
        (_DEFAULT_CLIENT, [_smwb("7")], "needs a value"),
        (_DEFAULT_CLIENT, [_smwb("16")], "needs a value"),
        (_DEFAULT_CLIENT, [_smwb("010")], "needs a value"),
        (_DEFAULT_CLIENT, [_smwb("+9")], "needs a value"),
        (_DEFAULT_CLIENT, [_smwb(" 9")], "needs a value"),
        (_DEFAULT_CLIENT, [_smwb("")], "needs a value"),
        (_DEFAULT_CLIENT, [CMWB], "needs a value"),
        (_DEFAULT_CLIENT, [_cmwb("nine")], "needs a value"),
        (
            _Client(server_no_context_takeover=True),
            [],
            "did not accept server_no_context_takeover",
        ),
        (_Client(server_max_window_bits=10), [], "did not accept server_max_window_bits"),
        (_Client(server_max_window_bits=10), [_smwb("11")], "exceeds the 10"),
        (_Client(client_max_window_bits=None), [_cmwb("10")], "was not offered"),
        (_Client(client_max_window_bits=10), [_cmwb("11")], "exceeds the 10"),
    ],
)
def test_client_rejects_response(
    factory: ClientPerMessageDeflateFactory, response: Params, match: str
) -> None:
    """An invalid or unfaithful response is a NegotiationError: the client fails the handshake."""
    with pytest.raises(NegotiationError, match=match):
        factory.process_response_params(response, [])


@pytest.mark.parametrize(
    "accepted",
    [
        [PerMessageDeflate()],
        [_RsvOneUser()],
    ],
    ids=["permessage-deflate", "other RSV1 user"],
)
def test_client_rejects_a_second_rsv1_user(accepted: list[Extension]) -> None:
    """Only one extension may use RSV1 (RFC 7692 section 5)."""
    with pytest.raises(NegotiationError, match="already uses RSV1"):
        _DEFAULT_CLIENT.process_response_params([], accepted)
    with pytest.raises(NegotiationError, match="already uses RSV1"):
        ServerPerMessageDeflateFactory().process_request_params([], accepted)


def test_other_extensions_do_not_conflict() -> None:
    """Extensions using other RSV bits can precede permessage-deflate."""
    other = _RsvOneUser(rsv=0x20, label="x-other")
    assert _DEFAULT_CLIENT.process_response_params([], [other]).name == "permessage-deflate"
    _, extension = ServerPerMessageDeflateFactory().process_request_params([], [other])
    assert extension.rsv_mask == 0x40


_DEFAULT_SERVER = ServerPerMessageDeflateFactory()
_UNLIMITED_SERVER = ServerPerMessageDeflateFactory(server_max_window_bits=None)
_CAPPING_SERVER = ServerPerMessageDeflateFactory(client_max_window_bits=11)


@pytest.mark.parametrize(
    ("factory", "offer", "response", "expected"),
    [
        # The defaults: our compressor uses 12 bits and says so.
        (_DEFAULT_SERVER, [], [_smwb("12")], (False, False, 15, 12)),
        (_DEFAULT_SERVER, [CMWB], [_smwb("12")], (False, False, 15, 12)),
        (_DEFAULT_SERVER, [_cmwb("10")], [_smwb("12")], (False, False, 10, 12)),
        (_DEFAULT_SERVER, [_smwb("10")], [_smwb("10")], (False, False, 15, 10)),
        (_DEFAULT_SERVER, [_smwb("14")], [_smwb("12")], (False, False, 15, 12)),
        (_DEFAULT_SERVER, [_smwb("8")], [_smwb("8")], (False, False, 15, 8)),
        # The client's requests are honoured.
        (_DEFAULT_SERVER, [SNCT], [SNCT, _smwb("12")], (False, True, 15, 12)),
        (_DEFAULT_SERVER, [CNCT], [CNCT, _smwb("12")], (True, False, 15, 12)),
        (
            _DEFAULT_SERVER,
            [_cmwb("9"), _smwb("11"), CNCT, SNCT],
            [SNCT, CNCT, _smwb("11")],
            (True, True, 9, 11),
        ),
        # Without a window limit of our own.
        (_UNLIMITED_SERVER, [], [], (False, False, 15, 15)),
        (_UNLIMITED_SERVER, [_smwb("15")], [_smwb("15")], (False, False, 15, 15)),
        (_UNLIMITED_SERVER, [_smwb("9")], [_smwb("9")], (False, False, 15, 9)),
        # Our own requirements.
        (_Server(server_no_context_takeover=True), [], [SNCT, _smwb("12")], (False, True, 15, 12)),
        (_Server(client_no_context_takeover=True), [], [CNCT, _smwb("12")], (True, False, 15, 12)),
        (_CAPPING_SERVER, [CMWB], [_smwb("12"), _cmwb("11")], (False, False, 11, 12)),
        (_CAPPING_SERVER, [_cmwb("9")], [_smwb("12"), _cmwb("9")], (False, False, 9, 12)),
        (_CAPPING_SERVER, [_cmwb("13")], [_smwb("12"), _cmwb("11")], (False, False, 11, 12)),
        # The client did not offer client_max_window_bits: we must not send it.
        (_CAPPING_SERVER, [], [_smwb("12")], (False, False, 15, 12)),
    ],
)
def test_server_accepts_offer(
    factory: ServerPerMessageDeflateFactory, offer: Params, response: Params, expected: Settings
) -> None:
    """The server answers with the parameters that bind both sides, and builds the extension."""
    params, extension = factory.process_request_params(offer, [])
    assert params == response
    assert _settings(extension) == expected
    assert extension.compression_level == factory.compression_level
    assert extension.mem_level == factory.mem_level


@pytest.mark.parametrize(
    ("offer", "match"),
    [
        ([SNCT, SNCT], "duplicate parameter"),
        ([CNCT, CNCT], "duplicate parameter"),
        ([_smwb("10"), _smwb("11")], "duplicate parameter"),
        ([CMWB, CMWB], "duplicate parameter"),
        ([CMWB, _cmwb("10")], "duplicate parameter"),
        ([("x_unknown", "1")], "unknown parameter"),
        ([("server_no_context_takeover", "true")], "takes no value"),
        ([("client_no_context_takeover", "1")], "takes no value"),
        ([("server_max_window_bits", None)], "needs a value"),
        ([_smwb("7")], "needs a value"),
        ([_smwb("16")], "needs a value"),
        ([_smwb("0x0f")], "needs a value"),
        ([_smwb("09")], "needs a value"),
        ([_cmwb("7")], "needs a value"),
        ([_cmwb("16")], "needs a value"),
        ([_cmwb("")], "needs a value"),
    ],
)
def test_server_declines_offer(offer: Params, match: str) -> None:
    """An offer with a duplicate, unknown or invalid parameter is declined."""
    with pytest.raises(NegotiationError, match=match):
        _DEFAULT_SERVER.process_request_params(offer, [])


def test_server_accepts_only_one_permessage_deflate() -> None:
    """After accepting one offer, the server declines the client's next offers."""
    _, first = _DEFAULT_SERVER.process_request_params([_smwb("10")], [])
    with pytest.raises(NegotiationError, match="already uses RSV1"):
        _DEFAULT_SERVER.process_request_params([], [first])


_WINDOW_BITS = st.integers(8, 15)
_CLIENT_FACTORIES = st.builds(
    ClientPerMessageDeflateFactory,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=st.none() | _WINDOW_BITS,
    client_max_window_bits=st.none() | st.just(True) | _WINDOW_BITS,
)
_SERVER_FACTORIES = st.builds(
    ServerPerMessageDeflateFactory,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=st.none() | _WINDOW_BITS,
    client_max_window_bits=st.none() | _WINDOW_BITS,
)


@settings(max_examples=200, deadline=None)
@given(client_factory=_CLIENT_FACTORIES, server_factory=_SERVER_FACTORIES)
def test_any_offer_and_answer_agree(
    client_factory: ClientPerMessageDeflateFactory,
    server_factory: ServerPerMessageDeflateFactory,
) -> None:
    """Whatever both sides want, the client accepts the answer and the sides mirror each other."""
    offer = client_factory.get_request_params()
    response, server = server_factory.process_request_params(offer, [])
    client = client_factory.process_response_params(response, [])
    assert client.remote_no_context_takeover == server.local_no_context_takeover
    assert client.local_no_context_takeover == server.remote_no_context_takeover
    assert client.remote_max_window_bits == server.local_max_window_bits
    assert client.local_max_window_bits <= server.remote_max_window_bits
    # What each side asked for holds.
    if client_factory.server_no_context_takeover or server_factory.server_no_context_takeover:
        assert server.local_no_context_takeover
    if client_factory.client_no_context_takeover or server_factory.client_no_context_takeover:
        assert client.local_no_context_takeover
    for limit in (client_factory.server_max_window_bits, server_factory.server_max_window_bits):
        assert limit is None or server.local_max_window_bits <= limit
    offered = client_factory.client_max_window_bits
    if offered is not None and offered is not True:
        assert client.local_max_window_bits <= offered
    if offered is not None and server_factory.client_max_window_bits is not None:
        assert client.local_max_window_bits <= server_factory.client_max_window_bits
    # And messages go through both ways, twice to exercise the windows.
    message = _json_text(5)
    for _ in range(2):
        assert _receive(server, [client.encode(Frame(Opcode.TEXT, message))]) == [message]
        assert _receive(client, [server.encode(Frame(Opcode.TEXT, message))]) == [message]


@pytest.mark.parametrize(
    ("cls", "field", "value", "error"),
    [
        (ClientPerMessageDeflateFactory, "server_max_window_bits", 7, ValueError),
        (ClientPerMessageDeflateFactory, "server_max_window_bits", True, ValueError),
        (ClientPerMessageDeflateFactory, "client_max_window_bits", 16, ValueError),
        (ClientPerMessageDeflateFactory, "client_max_window_bits", False, ValueError),
        (ClientPerMessageDeflateFactory, "client_max_window_bits", "12", ValueError),
        (ClientPerMessageDeflateFactory, "compression_level", 10, ValueError),
        (ClientPerMessageDeflateFactory, "mem_level", 0, ValueError),
        (ClientPerMessageDeflateFactory, "server_no_context_takeover", "yes", TypeError),
        (ServerPerMessageDeflateFactory, "server_max_window_bits", 16, ValueError),
        (ServerPerMessageDeflateFactory, "client_max_window_bits", True, ValueError),
        (ServerPerMessageDeflateFactory, "client_max_window_bits", 7, ValueError),
        (ServerPerMessageDeflateFactory, "compression_level", -2, ValueError),
        (ServerPerMessageDeflateFactory, "mem_level", 10, ValueError),
        (ServerPerMessageDeflateFactory, "client_no_context_takeover", 0, TypeError),
    ],
)
def test_invalid_factory_settings(
    cls: type[object], field: str, value: object, error: type[Exception]
) -> None:
    """Factories refuse out-of-range settings when they are made."""
    with pytest.raises(error, match=field):
        cls(**{field: value})


def test_factories_are_frozen_values() -> None:
    """Factories are immutable configuration, equal when their settings are."""
    assert ClientPerMessageDeflateFactory() == ClientPerMessageDeflateFactory()
    assert ServerPerMessageDeflateFactory(mem_level=9) != ServerPerMessageDeflateFactory()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        _DEFAULT_SERVER.mem_level = 9  # type: ignore[misc]


def test_factories_satisfy_the_handshake_hooks() -> None:
    """The handshake layer can use the factories through its structural protocols."""
    client: ClientExtensionFactoryHook[Extension] = ClientPerMessageDeflateFactory()
    server: ServerExtensionFactoryHook[Extension] = ServerPerMessageDeflateFactory()
    response, server_extension = server.process_request_params(client.get_request_params(), [])
    client_extension = client.process_response_params(response, [])
    assert server_extension.name == client_extension.name == client.name == server.name


def test_enable_client_permessage_deflate() -> None:
    """The helper adds a default client factory once."""
    assert enable_client_permessage_deflate() == [ClientPerMessageDeflateFactory()]
    custom = ClientPerMessageDeflateFactory(client_max_window_bits=None)
    assert enable_client_permessage_deflate([custom]) == [custom]
    other = _OtherClientFactory()
    assert enable_client_permessage_deflate([other]) == [other, ClientPerMessageDeflateFactory()]


def test_enable_server_permessage_deflate() -> None:
    """The helper adds a default server factory once."""
    assert enable_server_permessage_deflate(None) == [ServerPerMessageDeflateFactory()]
    custom = ServerPerMessageDeflateFactory(server_max_window_bits=None)
    factories = [custom]
    assert enable_server_permessage_deflate(factories) == [custom]
    assert enable_server_permessage_deflate(factories) is not factories


def test_uncompressed_messages_pass_through_unchanged() -> None:
    """permessage-deflate declares that messages without RSV1 pass decode() untouched, and they do."""
    assert PerMessageDeflate.passes_plain_messages
    extension = PerMessageDeflate()
    frames = [Frame(Opcode.TEXT, b"\xce\xba", fin=False), Frame(Opcode.CONTINUATION, b"\xe1")]
    assert [extension.decode(frame) for frame in frames] == frames


def test_client_compresses_with_zlib_default_mem_level() -> None:
    """A client, which compresses with a 15-bit window by default, uses memLevel 8 (5 is twice as slow there)."""
    factory = ClientPerMessageDeflateFactory()
    assert factory.mem_level == 8
    extension = factory.process_response_params([], [])
    assert (extension.local_max_window_bits, extension.mem_level) == (15, 8)
