"""Frame serializer (RFC 6455 section 5.2)."""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Callable
from typing import Final

from ws.errors import LocalProtocolError
from ws.frames.frame import MAX_CONTROL_PAYLOAD, Frame
from ws.frames.mask import apply_mask

__all__ = ["MaskKeySource", "random_mask_key", "serialize", "serialize_frame", "serialize_parts"]

#: Something that returns a fresh 4-byte masking key each time it is called.
MaskKeySource = Callable[[], bytes]

_H2: Final = struct.Struct("!BB")
_H4: Final = struct.Struct("!BBH")
_H10: Final = struct.Struct("!BBQ")


#: Keys fetched from the OS per system call.
_KEYS_PER_FETCH: Final = 128
# Keys fetched and not handed out yet. deque.popleft() is atomic, so two
# threads never get the same key; a forked child starts with none, so it
# never repeats its parent's.
_keys: deque[bytes] = deque()
os.register_at_fork(after_in_child=_keys.clear)


def random_mask_key() -> bytes:
    """A fresh masking key from the OS's CSPRNG (RFC 6455 section 5.3).

    "The masking key needs to be unpredictable; thus, the masking key MUST
    be derived from a strong source of entropy." The keys come from
    :func:`os.urandom`, fetched 128 at a time: a system call per frame
    cost a client about a tenth of its small-message rate. Each key is
    handed out once, also across threads and forks.
    """
    try:
        return _keys.popleft()
    except IndexError:
        block = os.urandom(4 * _KEYS_PER_FETCH)
        # Split in C (map and zip): no Python step per key.
        _keys.extend(map(bytes, zip(*[iter(block[4:])] * 4)))
        return block[:4]


def serialize(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    fin: bool = True,
    rsv: int = 0,
    mask_key: bytes | None = None,
) -> bytes:
    """Encode one frame.

    This is the hot-path form of :func:`serialize_frame`: it takes the
    fields without a :class:`Frame` object.

    Args:
        opcode: The frame opcode.
        payload: The unmasked payload.
        fin: The FIN bit.
        rsv: The RSV bits, as a mask of RSV1/RSV2/RSV3.
        mask_key: The 4-byte masking key (clients), or ``None`` (servers).

    Returns:
        The frame's bytes.

    Raises:
        LocalProtocolError: A control frame that is fragmented or longer than
            125 bytes.
    """
    # _flat() and _head(), inlined: this runs for every frame sent.
    if type(payload) is memoryview and (payload.itemsize != 1 or not payload.c_contiguous):
        payload = payload.cast("B") if payload.c_contiguous else payload.tobytes()
    length = len(payload)
    if opcode >= 8 and (length > MAX_CONTROL_PAYLOAD or not fin):
        raise _control_frame_error(opcode, length)
    first = (0x80 if fin else 0) | rsv | opcode
    if mask_key is None:
        if length < 126:
            return _H2.pack(first, length) + payload
        if length < 65536:
            return _H4.pack(first, 126, length) + payload
        return _H10.pack(first, 127, length) + payload
    if length < 126:
        header = _H2.pack(first, 0x80 | length)
    elif length < 65536:
        header = _H4.pack(first, 0xFE, length)
    else:
        header = _H10.pack(first, 0xFF, length)
    return header + mask_key + apply_mask(payload, mask_key)


def serialize_parts(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    fin: bool = True,
    rsv: int = 0,
    mask_key: bytes | None = None,
) -> tuple[bytes, bytes]:
    """Encode one frame as its head (header and masking key) and its body.

    :func:`serialize` without joining the two: for a large payload that a
    vectored write (``os.writev``) sends as it is. An unmasked ``bytes``
    payload is the body itself, not a copy; other bytes-like payloads are
    copied, so that changing them later cannot change what is written.
    Arguments and errors as :func:`serialize`.
    """
    payload = _flat(payload)
    head = _head(opcode, len(payload), fin, rsv, mask_key)
    if mask_key is not None:
        return head, apply_mask(payload, mask_key)
    return head, payload if type(payload) is bytes else bytes(payload)


def _flat(payload: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    # len() of a memoryview counts items, not bytes, and a strided view
    # cannot be concatenated: make it a flat view of bytes.
    if type(payload) is memoryview and (payload.itemsize != 1 or not payload.c_contiguous):
        return payload.cast("B") if payload.c_contiguous else payload.tobytes()
    return payload


def _control_frame_error(opcode: int, length: int) -> LocalProtocolError:
    return LocalProtocolError(
        f"control frame (opcode 0x{opcode:x}) must be final and at most "
        f"{MAX_CONTROL_PAYLOAD} bytes, not {length} bytes"
    )


def _head(opcode: int, length: int, fin: bool, rsv: int, mask_key: bytes | None) -> bytes:
    # The frame's header, and its masking key if it has one.
    if opcode >= 8 and (length > MAX_CONTROL_PAYLOAD or not fin):
        raise _control_frame_error(opcode, length)
    first = (0x80 if fin else 0) | rsv | opcode
    if mask_key is None:
        if length < 126:
            return _H2.pack(first, length)
        if length < 65536:
            return _H4.pack(first, 126, length)
        return _H10.pack(first, 127, length)
    if length < 126:
        return _H2.pack(first, 0x80 | length) + mask_key
    if length < 65536:
        return _H4.pack(first, 0xFE, length) + mask_key
    return _H10.pack(first, 0xFF, length) + mask_key


def serialize_frame(frame: Frame, mask_key: bytes | None = None) -> bytes:
    """Encode ``frame``, masked with ``mask_key`` if one is given.

    Raises:
        LocalProtocolError: A control frame that is fragmented or longer than
            125 bytes.
    """
    return serialize(frame.opcode, frame.payload, frame.fin, frame.rsv, mask_key)
