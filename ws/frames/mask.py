"""Masking and unmasking of frame payloads (RFC 6455 section 5.3).

"Octet i of the transformed data is the XOR of octet i of the original data
with octet at index i modulo 4 of the masking key." Masking is its own
inverse, so one function does both.

Pure Python has two fast ways to XOR a buffer with a repeating key, and
which one wins depends on the size (measured on CPython 3.11, x86_64, one
core; see ``bench/codec.py``):

* one big-integer XOR: ``int.from_bytes`` the data and the repeated key,
  XOR, ``to_bytes``. Three linear passes with tiny constant cost; best for
  small payloads (64 B: 0.7 us against 1.7 us for the tables; 4 KiB:
  9.1 us against 10.3 us).
* ``bytes.translate`` through 4 precomputed 256-byte tables, one per key
  byte, on the four strided slices ``data[i::4]``. The per-call cost is
  higher (eight strided copies) but the per-byte cost is lower: 64 KiB in
  152 us against 220 us, 1 MiB in 2.1 ms (500 MB/s) against 3.3 ms.

The cut-over measured between 8 KiB and 64 KiB; :data:`_TRANSLATE_THRESHOLD`
sits in between.

Both lose by far to the optional C helper ``ws.frames._speedups`` (built
from ``_speedups.c`` at install time when a compiler is present), which
XORs eight bytes at a time: see its measurements in that file. When it is
importable, :func:`apply_mask` *is* the C function and :data:`SPEEDUPS` is
true; the environment variable ``WS_NO_SPEEDUPS=1`` (read at import) forces
the pure-Python code, :func:`apply_mask_python`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

__all__ = [
    "SPEEDUPS",
    "apply_mask",
    "apply_mask_int",
    "apply_mask_python",
    "apply_mask_translate",
    "speedups_apply_mask",
]

_TRANSLATE_THRESHOLD: Final = 16384

# _XOR_TABLES[k] maps every byte b to b ^ k; 64 KiB in all, built on first use.
_XOR_TABLES: list[bytes] = []


def _tables() -> list[bytes]:
    if not _XOR_TABLES:
        _XOR_TABLES.extend(bytes(b ^ k for b in range(256)) for k in range(256))
    return _XOR_TABLES


def _check_key(key: bytes) -> None:
    if len(key) != 4:
        raise ValueError(f"a masking key is 4 bytes, not {len(key)}")


def _as_bytes_view(data: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    # len() of a memoryview counts items, not bytes: view wide items as bytes.
    if isinstance(data, memoryview) and (data.itemsize != 1 or not data.c_contiguous):
        return data.tobytes() if not data.c_contiguous else data.cast("B")
    return data


def apply_mask_int(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Mask ``data`` with the 4-byte ``key`` using one big-integer XOR.

    Raises:
        ValueError: ``key`` is not 4 bytes long.
    """
    _check_key(key)
    data = _as_bytes_view(data)
    n = len(data)
    if n == 0:
        return b""
    repeated = (key * ((n + 3) >> 2))[:n] if n != 4 else key
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        n, "little"
    )


def apply_mask_translate(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Mask ``data`` with the 4-byte ``key`` using ``bytes.translate`` tables.

    Raises:
        ValueError: ``key`` is not 4 bytes long.
    """
    _check_key(key)
    data = _as_bytes_view(data)
    tables = _tables()
    source = data if isinstance(data, bytes) else bytes(data)
    out = bytearray(source)
    out[0::4] = source[0::4].translate(tables[key[0]])
    out[1::4] = source[1::4].translate(tables[key[1]])
    out[2::4] = source[2::4].translate(tables[key[2]])
    out[3::4] = source[3::4].translate(tables[key[3]])
    return bytes(out)


def apply_mask_python(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """Mask (or unmask) ``data`` with the 4-byte masking ``key``, in pure Python.

    Picks the faster of the two pure-Python methods for the payload's size.

    Args:
        data: The payload.
        key: The masking key; exactly 4 bytes.

    Returns:
        The masked payload, as new ``bytes``.

    Raises:
        ValueError: ``key`` is not 4 bytes long.
    """
    if len(data) < _TRANSLATE_THRESHOLD:
        return apply_mask_int(data, key)
    return apply_mask_translate(data, key)


MaskFunction = Callable[[bytes | bytearray | memoryview, bytes], bytes]


def _load_speedups() -> MaskFunction | None:
    try:
        from ws.frames._speedups import apply_mask as compiled
    except ImportError:  # built without a compiler: the pure-Python code it is
        return None
    return compiled


#: The compiled ``apply_mask`` when the extension was built, else ``None``
#: (whatever ``WS_NO_SPEEDUPS`` says, so that tests can reach both).
speedups_apply_mask: Final = _load_speedups()

#: True when :func:`apply_mask` is the compiled helper, False when it is
#: the pure-Python :func:`apply_mask_python`.
SPEEDUPS: Final = speedups_apply_mask is not None and os.environ.get("WS_NO_SPEEDUPS", "0") in (
    "",
    "0",
)

#: Mask (or unmask) a payload with a 4-byte key; returns new ``bytes``.
#: Raises ``ValueError`` when the key is not 4 bytes long. It is the C helper
#: when :data:`SPEEDUPS` is true, else :func:`apply_mask_python`.
apply_mask: Final[MaskFunction] = (
    speedups_apply_mask if SPEEDUPS and speedups_apply_mask is not None else apply_mask_python
)
