"""Tests for ws.handshake._head: finding the end of an HTTP head within the limits."""

from __future__ import annotations

import contextlib
import itertools

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import InvalidHandshake, InvalidRequest, InvalidResponse
from ws.handshake._head import HeadBuffer
from ws.handshake.limits import HandshakeLimits

REQUEST = b"GET / HTTP/1.1\r\nHost: example.com\r\nA: b\r\n\r\n"


def _buffer(**limits: int) -> HeadBuffer:
    return HeadBuffer(HandshakeLimits(**limits), InvalidRequest)


def _end_of(data: bytes, chunks: list[int] | None = None) -> int | None:
    buffer = _buffer(max_head_size=1 << 20, max_headers=1 << 20, max_start_line=1 << 20)
    pieces = [data] if chunks is None else _split(data, chunks)
    for piece in pieces:
        buffer.feed(piece)
    return len(buffer.pop_head()) if buffer.complete else None


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (REQUEST, len(REQUEST)),
        (REQUEST + b"trailing", len(REQUEST)),
        (b"GET / HTTP/1.1\nHost: a\n\nx", 24),
        (b"GET / HTTP/1.1\nHost: a\n\r\nx", 25),
        (b"\r\nGET / HTTP/1.1\r\n\r\n", 2),
        (b"\nGET", 1),
        (b"\r", None),
        (b"\rX\n\n", 4),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
        (b"GET / HTTP/1.1\r\n\r", None),
        (b"", None),
    ],
)
def test_end_of_head(data: bytes, end: int | None) -> None:
    """The head ends where h11 ends it: a leading empty line, or the first blank line."""
    assert _end_of(data) == end


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([b"\r", b"\n", b"a", b": ", b"\r\n"]), max_size=20).map(b"".join),
    st.lists(st.integers(0, 40), max_size=8),
)
def test_end_of_head_does_not_depend_on_the_split(data: bytes, cuts: list[int]) -> None:
    """However the bytes are split, the head ends at the same place."""
    assert _end_of(data, cuts) == _end_of(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"a", b"\r\n"]), max_size=16).map(b"".join))
def test_end_of_head_agrees_with_h11(data: bytes) -> None:
    """h11 extracts the same head bytes from the buffer as HeadBuffer finds."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    with contextlib.suppress(h11.RemoteProtocolError):
        conn.next_event()
    consumed = len(data) - len(conn.trailing_data[0])
    end = _end_of(data)
    assert consumed == (0 if end is None else end)


def test_limits_at_the_boundary() -> None:
    """A head of exactly max_head_size passes; one more byte is a 431."""
    exact = _buffer(max_head_size=len(REQUEST))
    exact.feed(REQUEST)
    assert exact.complete
    over = _buffer(max_head_size=len(REQUEST) - 1)
    with pytest.raises(InvalidRequest, match="head larger than") as info:
        over.feed(REQUEST)
    assert info.value.http_status == 431


def test_incomplete_head_at_the_limit_fails_early() -> None:
    """An incomplete head that fills max_head_size cannot end in time and fails at once."""
    buffer = _buffer(max_head_size=len(REQUEST))
    with pytest.raises(InvalidRequest, match="head larger than"):
        buffer.feed(REQUEST[:-1] + b"x")
    buffer = _buffer(max_head_size=len(REQUEST))
    buffer.feed(REQUEST[:-2])
    buffer.feed(REQUEST[-2:])
    assert buffer.complete


def test_start_line_at_the_boundary() -> None:
    """A start line of exactly max_start_line bytes (with CRLF) passes; one more is a 414."""
    line = len(b"GET / HTTP/1.1\r\n")
    exact = _buffer(max_start_line=line)
    exact.feed(REQUEST)
    assert exact.complete
    over = _buffer(max_start_line=line - 1)
    with pytest.raises(InvalidRequest, match="start line") as info:
        over.feed(REQUEST)
    assert info.value.http_status == 414


def test_start_line_without_newline_fails_early() -> None:
    """A start line that reaches max_start_line without a newline fails before it ends."""
    buffer = _buffer(max_start_line=10)
    buffer.feed(b"GET /1234")  # 9 bytes: with its newline the line could still fit
    with pytest.raises(InvalidRequest, match="start line"):
        buffer.feed(b"5")


def test_header_count_at_the_boundary() -> None:
    """max_headers fields pass; one more is a 431, even before the head is complete."""
    exact = _buffer(max_headers=2)
    exact.feed(REQUEST)
    assert exact.complete
    over = _buffer(max_headers=1)
    with pytest.raises(InvalidRequest, match="more than 1 header fields") as info:
        over.feed(REQUEST)
    assert info.value.http_status == 431
    early = _buffer(max_headers=1)
    with pytest.raises(InvalidRequest, match="header fields"):
        early.feed(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n")


def test_bytes_after_the_head_do_not_count() -> None:
    """Newlines and bytes after the end of the head are not checked against the limits."""
    buffer = _buffer(max_head_size=len(REQUEST), max_headers=2)
    buffer.feed(REQUEST + b"\n" * 1000)
    assert buffer.complete
    buffer.feed(b"\n" * 1000)
    assert buffer.pop_head() == REQUEST
    assert buffer.take_rest() == b"\n" * 2000
    assert len(buffer) == 0


def test_error_type_is_configurable() -> None:
    """The buffer raises the error type it was made with."""
    buffer = HeadBuffer(HandshakeLimits(max_head_size=4), InvalidResponse)
    with pytest.raises(InvalidResponse):
        buffer.feed(b"HTTP/1.1 101")


def test_successive_heads_share_the_size_limit() -> None:
    """After pop_head, the next head is found in what remains, and sizes add up."""
    first = b"HTTP/1.1 100 Continue\r\n\r\n"
    second = b"HTTP/1.1 200 OK\r\n\r\n"
    buffer = HeadBuffer(HandshakeLimits(max_head_size=len(first) + len(second)), InvalidResponse)
    buffer.feed(first + second + b"body")
    assert buffer.pop_head() == first
    assert not buffer.complete
    buffer.scan()
    assert buffer.pop_head() == second
    assert buffer.take_rest() == b"body"
    tight = HeadBuffer(HandshakeLimits(max_head_size=len(first) + len(second) - 1), InvalidResponse)
    tight.feed(first + second)
    tight.pop_head()
    with pytest.raises(InvalidHandshake, match="head larger than"):
        tight.scan()


def test_clear_drops_everything() -> None:
    """clear() empties the buffer."""
    buffer = _buffer()
    buffer.feed(b"GET / HT")
    buffer.clear()
    assert len(buffer) == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=10))
def test_buffer_stays_within_limit_plus_one_chunk(data: bytes, cuts: list[int]) -> None:
    """Until the head is complete, the buffer holds less than the limit plus the last chunk."""
    buffer = _buffer(max_head_size=100, max_headers=4, max_start_line=50)
    for piece in _split(data, cuts):
        try:
            buffer.feed(piece)
        except InvalidRequest as exc:
            assert exc.http_status in (414, 431)
            return
        if buffer.complete:
            return
        assert len(buffer) < 100
