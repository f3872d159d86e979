"""Tests for ws.frames.mask: every masking implementation against a naive reference."""

from __future__ import annotations

import array
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.frames import mask as mask_module
from ws.frames.mask import (
    MaskFunction,
    apply_mask,
    apply_mask_int,
    apply_mask_python,
    apply_mask_translate,
    speedups_apply_mask,
)

#: Every masking implementation; TestMask runs against each one, the
#: compiled helper included when it was built.
IMPLEMENTATIONS: list[MaskFunction] = [apply_mask_python, apply_mask_int, apply_mask_translate]
if speedups_apply_mask is not None:
    IMPLEMENTATIONS.append(speedups_apply_mask)

# Sizes around every special case: empty, under/at/over one key length,
# around the int/translate cut-over (16384), and 1 MiB.
SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 125, 126, 16383, 16384, 16385, 65536, 1 << 20]

KEYS = [
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x37\xfa\x21\x3d",
    b"\x01\x02\x04\x80",
]

# (data, key, masked): byte-exact examples.
EXAMPLES = [
    # RFC 6455 section 5.7, "A single-frame masked text message".
    (b"Hello", b"\x37\xfa\x21\x3d", bytes.fromhex("7f9f4d5158")),
    (b"", b"\x37\xfa\x21\x3d", b""),
    (b"\x00\x00\x00\x00", b"\x01\x02\x03\x04", b"\x01\x02\x03\x04"),
    (b"\x00" * 9, b"\x01\x02\x03\x04", bytes.fromhex("010203040102030401")),
    (b"\xff\xff\xff", b"\x0f\xf0\x00\xff", b"\xf0\x0f\xff"),
]


def naive_mask(data: bytes, key: bytes) -> bytes:
    """RFC 6455 section 5.3, literally: octet i XOR key octet i mod 4."""
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def pattern(size: int) -> bytes:
    """A deterministic payload where neighbouring bytes differ."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


def impl_id(impl: MaskFunction) -> str:
    """The test id of an implementation."""
    if impl is speedups_apply_mask:
        return "speedups"
    return impl.__name__


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=impl_id)
class TestMask:
    """The contract every masking implementation meets."""

    @pytest.mark.parametrize(("data", "key", "masked"), EXAMPLES)
    def test_examples(self, impl: MaskFunction, data: bytes, key: bytes, masked: bytes) -> None:
        """Masking gives the exact bytes of the hand-computed examples."""
        assert impl(data, key) == masked

    @pytest.mark.parametrize("size", SIZES)
    @pytest.mark.parametrize("key", KEYS, ids=bytes.hex)
    def test_matches_reference(self, impl: MaskFunction, size: int, key: bytes) -> None:
        """Masking agrees with the naive reference at every size."""
        data = pattern(size)
        assert impl(data, key) == naive_mask(data, key)

    @pytest.mark.parametrize("size", [0, 1, 5, 16383, 16384, 70000])
    def test_input_types(self, impl: MaskFunction, size: int) -> None:
        """bytes, bytearray and memoryview inputs (sliced or not) give the same bytes."""
        key = b"\x37\xfa\x21\x3d"
        data = pattern(size)
        expected = naive_mask(data, key)
        padded = b"xyz" + data + b"uvw"
        inputs: list[bytes | bytearray | memoryview] = [
            data,
            bytearray(data),
            memoryview(data),
            memoryview(bytearray(data)),
            memoryview(padded)[3 : 3 + size],
            memoryview(bytearray(padded))[3 : 3 + size],
        ]
        for value in inputs:
            result = impl(value, key)
            assert type(result) is bytes
            assert result == expected

    def test_strided_and_wide_views(self, impl: MaskFunction) -> None:
        """Non-contiguous views and views of wide items are masked as their bytes."""
        key = b"\x37\xfa\x21\x3d"
        data = pattern(40001)
        strided = memoryview(data)[1::3]
        assert impl(strided, key) == naive_mask(strided.tobytes(), key)
        words = array.array("I", range(3000))
        wide = memoryview(words)
        assert impl(wide, key) == naive_mask(words.tobytes(), key)
        wide_strided = memoryview(words)[::2]
        assert impl(wide_strided, key) == naive_mask(wide_strided.tobytes(), key)

    def test_input_not_modified(self, impl: MaskFunction) -> None:
        """Masking returns new bytes and leaves a mutable input unchanged."""
        for size in (8, 20000):
            data = bytearray(pattern(size))
            impl(data, b"\x37\xfa\x21\x3d")
            assert data == pattern(size)

    @settings(max_examples=200, deadline=None)
    @given(data=st.binary(max_size=40000), key=st.binary(min_size=4, max_size=4))
    def test_masking_twice_is_identity(self, impl: MaskFunction, data: bytes, key: bytes) -> None:
        """Masking is its own inverse, and agrees with the reference on any input."""
        masked = impl(data, key)
        assert masked == naive_mask(data, key)
        assert impl(masked, key) == data

    @pytest.mark.parametrize("key", [b"", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05"], ids=len)
    def test_key_of_wrong_length(self, impl: MaskFunction, key: bytes) -> None:
        """A key that is not exactly 4 bytes is a ValueError, not a silently wrong mask."""
        with pytest.raises(ValueError):
            impl(b"abcdef", key)


def test_implementations_are_distinct() -> None:
    """The implementation list names each implementation once."""
    assert len(set(IMPLEMENTATIONS)) == len(IMPLEMENTATIONS)


def test_apply_mask_is_the_active_implementation() -> None:
    """apply_mask is the compiled helper exactly when SPEEDUPS says so."""
    if mask_module.SPEEDUPS:
        assert speedups_apply_mask is not None
        assert apply_mask is speedups_apply_mask
    else:
        assert apply_mask is apply_mask_python


def active_implementation(no_speedups: str | None) -> str:
    """Import ws.frames.mask in a fresh interpreter and say what it picked."""
    env = dict(os.environ)
    env.pop("WS_NO_SPEEDUPS", None)
    if no_speedups is not None:
        env["WS_NO_SPEEDUPS"] = no_speedups
    code = (
        "from ws.frames import mask, parser, serializer\n"
        "same = mask.apply_mask is parser.apply_mask is serializer.apply_mask\n"
        "print(mask.SPEEDUPS, mask.apply_mask is mask.apply_mask_python, same)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_ws_no_speedups_forces_pure_python() -> None:
    """WS_NO_SPEEDUPS=1 makes every user of apply_mask take the pure-Python code."""
    assert active_implementation("1") == "False True True"


@pytest.mark.parametrize("value", [None, "0", ""])
def test_speedups_used_when_built(value: str | None) -> None:
    """Without WS_NO_SPEEDUPS (or set to 0 or empty), the helper is used if it was built."""
    if speedups_apply_mask is None:
        assert active_implementation(value) == "False True True"
    else:
        assert active_implementation(value) == "True False True"


@pytest.mark.skipif(speedups_apply_mask is None, reason="C helper not built (no compiler)")
class TestCompiledHelper:
    """What only the C function can get wrong: its argument handling."""

    def test_wrong_argument_count(self) -> None:
        """Too few or too many arguments are a TypeError."""
        assert speedups_apply_mask is not None
        function: object = speedups_apply_mask
        assert callable(function)
        with pytest.raises(TypeError):
            function(b"abc")
        with pytest.raises(TypeError):
            function(b"abc", b"abcd", b"x")

    def test_not_a_buffer(self) -> None:
        """Data or a key without the buffer protocol is a TypeError."""
        function: object = speedups_apply_mask
        assert callable(function)
        with pytest.raises(TypeError):
            function("text", b"abcd")
        with pytest.raises(TypeError):
            function(b"abc", "abcd")

    def test_key_may_be_any_buffer(self) -> None:
        """The key may be a bytearray or memoryview as well as bytes."""
        assert speedups_apply_mask is not None
        key = b"\x01\x02\x03\x04"
        expected = naive_mask(b"hello world", key)
        assert speedups_apply_mask(b"hello world", bytes(bytearray(key))) == expected
        function: object = speedups_apply_mask
        assert callable(function)
        assert function(b"hello world", bytearray(key)) == expected
        assert function(b"hello world", memoryview(key)) == expected
