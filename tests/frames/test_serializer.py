"""Tests for ws.frames.serializer: byte-exact frames, control frames, mask keys, round trips."""

from __future__ import annotations

import itertools
import os
import threading
from array import array
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import LocalProtocolError
from ws.frames.frame import RSV1, RSV2, RSV3, Frame, Opcode
from ws.frames import serializer
from ws.frames.parser import FrameParser
from ws.frames.serializer import (
    MaskKeySource,
    random_mask_key,
    serialize,
    serialize_frame,
    serialize_parts,
)

KEY = bytes.fromhex("37fa213d")  # the masking key of the RFC 6455 section 5.7 examples
ALL_RSV = RSV1 | RSV2 | RSV3


def h(text: str) -> bytes:
    """Bytes from spaced hex, as the RFC writes them."""
    return bytes.fromhex(text)


def pattern(size: int) -> bytes:
    """A deterministic payload where neighbouring bytes differ."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def mask(data: bytes, key: bytes = KEY) -> bytes:
    """RFC 6455 section 5.3, literally (independent of ws.frames.mask)."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def encode(frame: Frame, key: bytes | None = None) -> bytes:
    """A naive reference encoder for RFC 6455 section 5.2."""
    first = (0x80 * frame.fin) | (0x40 * frame.rsv1) | (0x20 * frame.rsv2)
    first |= (0x10 * frame.rsv3) | frame.opcode
    masked = 0x80 if key is not None else 0
    n = len(frame.payload)
    if n <= 125:
        header = bytes([first, masked | n])
    elif n <= 0xFFFF:
        header = bytes([first, masked | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, masked | 127]) + n.to_bytes(8, "big")
    if key is None:
        return header + frame.payload
    return header + key + mask(frame.payload, key)


class Case(NamedTuple):
    opcode: Opcode
    payload: bytes
    wire: bytes
    fin: bool = True
    rsv: int = 0
    mask_key: bytes | None = None

    def frame(self) -> Frame:
        return Frame(
            self.opcode,
            self.payload,
            self.fin,
            bool(self.rsv & RSV1),
            bool(self.rsv & RSV2),
            bool(self.rsv & RSV3),
        )


B256 = pattern(256)
B64K = pattern(65536)

CASES = {
    # RFC 6455 section 5.7, every example.
    "rfc-unmasked-text": Case(Opcode.TEXT, b"Hello", h("81 05 48 65 6c 6c 6f")),
    "rfc-masked-text": Case(
        Opcode.TEXT, b"Hello", h("81 85 37 fa 21 3d 7f 9f 4d 51 58"), mask_key=KEY
    ),
    "rfc-fragment-1": Case(Opcode.TEXT, b"Hel", h("01 03 48 65 6c"), fin=False),
    "rfc-fragment-2": Case(Opcode.CONTINUATION, b"lo", h("80 02 6c 6f")),
    "rfc-unmasked-ping": Case(Opcode.PING, b"Hello", h("89 05 48 65 6c 6c 6f")),
    "rfc-masked-pong": Case(
        Opcode.PONG, b"Hello", h("8a 85 37 fa 21 3d 7f 9f 4d 51 58"), mask_key=KEY
    ),
    "rfc-256-binary": Case(Opcode.BINARY, B256, h("82 7e 01 00") + B256),
    "rfc-64k-binary": Case(Opcode.BINARY, B64K, h("82 7f 00 00 00 00 00 01 00 00") + B64K),
    # Length encodings at the boundaries, unmasked.
    "len-0": Case(Opcode.BINARY, b"", h("82 00")),
    "len-125": Case(Opcode.BINARY, pattern(125), h("82 7d") + pattern(125)),
    "len-126": Case(Opcode.BINARY, pattern(126), h("82 7e 00 7e") + pattern(126)),
    "len-65535": Case(Opcode.BINARY, pattern(65535), h("82 7e ff ff") + pattern(65535)),
    "len-65536": Case(
        Opcode.BINARY, pattern(65536), h("82 7f 00 00 00 00 00 01 00 00") + pattern(65536)
    ),
    # Length encodings at the boundaries, masked.
    "masked-len-0": Case(Opcode.BINARY, b"", h("82 80 37 fa 21 3d"), mask_key=KEY),
    "masked-len-125": Case(
        Opcode.BINARY, pattern(125), h("82 fd 37 fa 21 3d") + mask(pattern(125)), mask_key=KEY
    ),
    "masked-len-126": Case(
        Opcode.BINARY,
        pattern(126),
        h("82 fe 00 7e 37 fa 21 3d") + mask(pattern(126)),
        mask_key=KEY,
    ),
    "masked-len-65535": Case(
        Opcode.BINARY,
        pattern(65535),
        h("82 fe ff ff 37 fa 21 3d") + mask(pattern(65535)),
        mask_key=KEY,
    ),
    "masked-len-65536": Case(
        Opcode.BINARY,
        pattern(65536),
        h("82 ff 00 00 00 00 00 01 00 00 37 fa 21 3d") + mask(pattern(65536)),
        mask_key=KEY,
    ),
    # Control frames up to 125 bytes.
    "close-1000": Case(Opcode.CLOSE, b"\x03\xe8", h("88 02 03 e8")),
    "close-empty-masked": Case(Opcode.CLOSE, b"", h("88 80 00 00 00 00"), mask_key=bytes(4)),
    "ping-125": Case(Opcode.PING, pattern(125), h("89 7d") + pattern(125)),
    "pong-125-masked": Case(
        Opcode.PONG, pattern(125), h("8a fd 37 fa 21 3d") + mask(pattern(125)), mask_key=KEY
    ),
    # FIN and RSV bits in the first byte.
    "text-not-fin": Case(Opcode.TEXT, b"", h("01 00"), fin=False),
    "continuation-not-fin": Case(Opcode.CONTINUATION, b"x", h("00 01 78"), fin=False),
    "rsv1": Case(Opcode.TEXT, b"", h("c1 00"), rsv=RSV1),
    "rsv2": Case(Opcode.TEXT, b"", h("a1 00"), rsv=RSV2),
    "rsv3": Case(Opcode.TEXT, b"", h("91 00"), rsv=RSV3),
    "rsv1-rsv3": Case(Opcode.BINARY, b"", h("d2 00"), rsv=RSV1 | RSV3),
    "rsv-all": Case(Opcode.BINARY, b"", h("f2 00"), rsv=ALL_RSV),
    "rsv1-not-fin": Case(Opcode.TEXT, b"", h("41 00"), fin=False, rsv=RSV1),
    "rsv-all-not-fin-continuation": Case(Opcode.CONTINUATION, b"", h("70 00"), False, ALL_RSV),
    "rsv1-masked": Case(
        Opcode.TEXT, b"Hello", h("c1 85 37 fa 21 3d 7f 9f 4d 51 58"), rsv=RSV1, mask_key=KEY
    ),
    "rsv2-ping": Case(Opcode.PING, b"", h("a9 00"), rsv=RSV2),
}

# (opcode, payload size, fin): control frames we may not send.
CONTROL_ERRORS = [
    (opcode, size, fin)
    for opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG)
    for size, fin in ((126, True), (1000, True), (65536, True), (0, False), (125, False))
]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_serialize(case: Case) -> None:
    """serialize writes the exact bytes of the frame."""
    wire = serialize(case.opcode, case.payload, case.fin, case.rsv, case.mask_key)
    assert type(wire) is bytes
    assert wire == case.wire


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_serialize_frame(case: Case) -> None:
    """serialize_frame writes the same bytes from a Frame, RSV flags included."""
    assert serialize_frame(case.frame(), case.mask_key) == case.wire


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_serialize_matches_reference(case: Case) -> None:
    """The table agrees with the naive reference encoder."""
    assert encode(case.frame(), case.mask_key) == case.wire


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_serialize_parts(case: Case) -> None:
    """serialize_parts gives the frame as head and body: joined, the same bytes as serialize."""
    head, body = serialize_parts(case.opcode, case.payload, case.fin, case.rsv, case.mask_key)
    assert type(head) is bytes and type(body) is bytes
    assert head + body == case.wire
    assert len(body) == len(case.payload)


@pytest.mark.parametrize("mask_key", [None, KEY], ids=["unmasked", "masked"])
def test_serialize_parts_body_is_never_shared_with_a_mutable_payload(mask_key: bytes | None) -> None:
    """An unmasked bytes payload is the body itself (no copy); a bytearray's or a view's is copied."""
    payload = pattern(70000)
    expected = serialize(Opcode.BINARY, payload, mask_key=mask_key)
    _, body = serialize_parts(Opcode.BINARY, payload, mask_key=mask_key)
    assert (body is payload) == (mask_key is None)
    for mutable in (bytearray(payload), memoryview(bytearray(payload))):
        head, body = serialize_parts(Opcode.BINARY, mutable, mask_key=mask_key)
        mutable[:4] = b"XXXX"  # changed after the frame was made
        assert head + body == expected
    view = memoryview(array("H", [0x4142, 0x4344, 0x4546]))
    assert b"".join(serialize_parts(Opcode.BINARY, view, mask_key=mask_key)) == serialize(
        Opcode.BINARY, view.tobytes(), mask_key=mask_key
    )


@pytest.mark.parametrize(("opcode", "size", "fin"), CONTROL_ERRORS[:3])
def test_serialize_parts_control_frame_errors(opcode: Opcode, size: int, fin: bool) -> None:
    """serialize_parts refuses the control frames serialize refuses, and keys of the wrong length."""
    with pytest.raises(LocalProtocolError):
        serialize_parts(opcode, bytes(size), fin, mask_key=KEY)
    with pytest.raises(ValueError):
        serialize_parts(Opcode.BINARY, bytes(size), mask_key=b"\x01\x02")


def test_serialize_defaults() -> None:
    """serialize defaults to a final, unmasked frame with no RSV bit."""
    assert serialize(Opcode.TEXT, b"Hello") == h("81 05 48 65 6c 6c 6f")
    assert serialize_frame(Frame(Opcode.TEXT, b"Hello")) == h("81 05 48 65 6c 6c 6f")


@pytest.mark.parametrize("mask_key", [None, KEY], ids=["unmasked", "masked"])
@pytest.mark.parametrize("size", [0, 5, 125, 126, 16384, 65536])
def test_payload_types(size: int, mask_key: bytes | None) -> None:
    """bytes, bytearray and memoryview payloads (sliced or not) give the same bytes."""
    payload = pattern(size)
    expected = encode(Frame(Opcode.BINARY, payload), mask_key)
    padded = b"ab" + payload + b"cd"
    payloads: list[bytes | bytearray | memoryview] = [
        payload,
        bytearray(payload),
        memoryview(payload),
        memoryview(bytearray(payload)),
        memoryview(padded)[2 : 2 + size],
    ]
    for value in payloads:
        wire = serialize(Opcode.BINARY, value, mask_key=mask_key)
        assert type(wire) is bytes
        assert wire == expected


@pytest.mark.parametrize("mask_key", [None, KEY], ids=["unmasked", "masked"])
def test_payload_memoryview_of_wide_items(mask_key: bytes | None) -> None:
    """A memoryview of items wider than a byte is sent as its bytes, with its length in bytes."""
    view = memoryview(array("H", [0x4142, 0x4344, 0x4546]))
    raw = view.tobytes()
    assert serialize(Opcode.BINARY, view, mask_key=mask_key) == encode(
        Frame(Opcode.BINARY, raw), mask_key
    )


def test_masking_leaves_payload_alone() -> None:
    """Masking a bytearray payload does not modify it."""
    payload = bytearray(b"Hello")
    assert serialize(Opcode.TEXT, payload, mask_key=KEY) == h("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert payload == b"Hello"


@pytest.mark.parametrize(("opcode", "size", "fin"), CONTROL_ERRORS)
def test_control_frame_errors(opcode: Opcode, size: int, fin: bool) -> None:
    """A control frame over 125 bytes or without FIN is a LocalProtocolError."""
    for mask_key in (None, KEY):
        with pytest.raises(LocalProtocolError) as excinfo:
            serialize(opcode, bytes(size), fin, mask_key=mask_key)
        assert excinfo.value.close_code == 1011
        with pytest.raises(LocalProtocolError):
            serialize_frame(Frame(opcode, bytes(size), fin), mask_key)


@pytest.mark.parametrize("opcode", [Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY])
def test_data_frames_have_no_control_limits(opcode: Opcode) -> None:
    """Data frames may be over 125 bytes and not final."""
    assert serialize(opcode, bytes(126), fin=False) == bytes([opcode, 126, 0, 126]) + bytes(126)


@pytest.mark.parametrize("key", [b"", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05"], ids=len)
@pytest.mark.parametrize("size", [0, 5, 20000])
def test_mask_key_of_wrong_length(key: bytes, size: int) -> None:
    """A masking key that is not 4 bytes is a ValueError."""
    with pytest.raises(ValueError):
        serialize(Opcode.BINARY, bytes(size), mask_key=key)


def test_random_mask_key() -> None:
    """random_mask_key returns 4 fresh bytes each call."""
    keys = [random_mask_key() for _ in range(100)]
    assert all(type(key) is bytes and len(key) == 4 for key in keys)
    assert len(set(keys)) == 100  # a collision has probability about 1e-6


def test_random_mask_key_hands_out_os_urandom_bytes_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys are os.urandom's bytes, fetched a block at a time, each handed out once."""
    requests: list[int] = []
    blocks: list[bytes] = []

    def fake_urandom(n: int) -> bytes:
        requests.append(n)
        block = bytes((len(blocks) * 7 + i) % 256 for i in range(n))
        blocks.append(block)
        return block

    serializer._keys.clear()
    monkeypatch.setattr(os, "urandom", fake_urandom)
    per_fetch = serializer._KEYS_PER_FETCH
    keys = [random_mask_key() for _ in range(per_fetch + 1)]
    assert requests == [4 * per_fetch, 4 * per_fetch]
    assert b"".join(keys) == blocks[0] + blocks[1][:4]
    serializer._keys.clear()


def test_random_mask_key_is_fresh_in_a_forked_child() -> None:
    """A forked child fetches its own keys instead of repeating its parent's."""
    random_mask_key()  # the parent holds fetched keys now
    assert serializer._keys
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, b"1" if not serializer._keys else b"0")
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)


def test_random_mask_key_threads_never_share_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys taken by several threads at once are each handed out once."""
    counter = itertools.count()
    lock = threading.Lock()

    def numbered_urandom(n: int) -> bytes:
        # Every 4-byte slot a distinct number, so a key handed out twice shows.
        with lock:
            return b"".join(next(counter).to_bytes(4, "big") for _ in range(n // 4))

    serializer._keys.clear()
    monkeypatch.setattr(os, "urandom", numbered_urandom)
    got: list[list[bytes]] = [[] for _ in range(4)]

    def take(into: list[bytes]) -> None:
        for _ in range(5000):
            into.append(random_mask_key())

    threads = [threading.Thread(target=take, args=(into,)) for into in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [key for into in got for key in into]
    assert len(keys) == 20000 and len(set(keys)) == 20000
    serializer._keys.clear()


def test_random_mask_key_is_a_mask_key_source() -> None:
    """random_mask_key fits MaskKeySource and its keys mask frames."""
    source: MaskKeySource = random_mask_key
    key = source()
    wire = serialize(Opcode.TEXT, b"Hello", mask_key=key)
    assert wire[:2] == h("81 85") and wire[2:6] == key


frames_strategy = st.builds(
    Frame,
    opcode=st.sampled_from(Opcode),
    payload=st.binary(max_size=300) | st.sampled_from([b"", bytes(125), bytes(126)]),
    fin=st.booleans(),
    rsv1=st.booleans(),
    rsv2=st.booleans(),
    rsv3=st.booleans(),
).map(
    lambda f: Frame(f.opcode, f.payload[:125], True, f.rsv1, f.rsv2, f.rsv3)
    if f.opcode >= 8
    else f
)


@settings(max_examples=300, deadline=None)
@given(
    frames=st.lists(frames_strategy, max_size=8),
    mask_key=st.none() | st.binary(min_size=4, max_size=4),
    data=st.data(),
)
def test_round_trip(frames: list[Frame], mask_key: bytes | None, data: st.DataObject) -> None:
    """Serialized frames parse back to themselves in any chunking, masked or not."""
    wire = b"".join(serialize_frame(frame, mask_key) for frame in frames)
    assert wire == b"".join(encode(frame, mask_key) for frame in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    bounds = [0, *cuts, len(wire)]
    parser = FrameParser(mask_required=mask_key is not None, allowed_rsv=ALL_RSV)
    parsed: list[Frame] = []
    for start, end in zip(bounds, bounds[1:]):
        parser.feed(wire[start:end])
        while (frame := parser.next_frame()) is not None:
            parsed.append(frame)
    assert parsed == frames
    assert parser.buffered == 0
