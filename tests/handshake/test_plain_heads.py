"""The plain-head fast path (ws.handshake._http) reads what h11 reads, or declines.

Whatever ``parse_plain_request`` or ``parse_plain_101`` accepts, h11 must
parse to the same target and fields; whatever is unusual must go to h11.
The generated heads mix plain pieces with everything h11 treats specially:
other methods and versions, bare LF, stray CR, obs-fold, control and
non-ASCII bytes, body framing fields, missing or repeated Host.
``WS_PLAIN_EXAMPLES=20000`` runs more examples (all passed so, once).
"""

from __future__ import annotations

import os
from unittest import mock

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import InvalidRequest
from ws.handshake import request as request_module
from ws.handshake._head import HeadBuffer
from ws.handshake._http import parse_plain_101, parse_plain_request
from ws.handshake.limits import HandshakeLimits
from ws.handshake.request import HandshakeRequest, parse_request

_EXAMPLES = int(os.environ.get("WS_PLAIN_EXAMPLES", "1000"))

_PLAIN_REQUEST_LINES = [b"GET / HTTP/1.1", b"GET /chat?room=1&x=%20 HTTP/1.1"]
_ODD_REQUEST_LINES = [
    b"GET  / HTTP/1.1",
    b"get / HTTP/1.1",
    b"GET / HTTP/1.0",
    b"GET / HTTP/2.0",
    b"POST / HTTP/1.1",
    b"GET ws://example.com/chat HTTP/1.1",
    b"GET /\x7f HTTP/1.1",
    b"GET /\x80 HTTP/1.1",
    b"GET / HTTP/1.1 ",
]
_PLAIN_STATUS_LINES = [b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 101", b"HTTP/1.1 101 "]
_ODD_STATUS_LINES = [
    b"HTTP/1.1 101 \t odd\treason ",
    b"HTTP/1.1 101 r\x80",
    b"HTTP/1.0 101 Switching Protocols",
    b"HTTP/1.1 100 Continue",
    b"HTTP/1.1 200 OK",
    b"HTTP/1.1 1010 x",
]
_PLAIN_NAMES = [b"Host", b"Upgrade", b"connection", b"Sec-WebSocket-Key", b"X-A", b"x-a"]
_ODD_NAMES = [b"HOST", b"Content-Length", b"Transfer-Encoding", b"bad name", b"", b"X\x80"]
_SEPARATORS = [b":", b": ", b":\t", b": \t ", b" :"]
_plain_values = st.text("abcXYZ019~!,; \t=", max_size=12).map(str.encode)
_odd_values = st.lists(
    st.sampled_from([b"a", b" ", b"\t", b"\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"\r", b"\n"]),
    max_size=6,
).map(b"".join)


@st.composite
def _heads(draw: st.DrawFn, plain_lines: list[bytes], odd_lines: list[bytes]) -> bytes:
    """Mostly plain heads, each with a fair chance of one or more unusual pieces."""

    def sometimes(plain: list[bytes], odd: list[bytes]) -> bytes:
        return draw(st.sampled_from(plain * 6 + odd))

    lines = [sometimes(plain_lines, odd_lines)]
    for _ in range(draw(st.sampled_from([1, 1, 1, 1, 0, 2]))):
        lines.append(b"Host: example.com:8000")
    for _ in range(draw(st.integers(0, 6))):
        name = sometimes(_PLAIN_NAMES, _ODD_NAMES)
        separator = draw(st.sampled_from(_SEPARATORS[:4] * 4 + _SEPARATORS[4:]))
        value = draw(st.one_of(_plain_values, _plain_values, _plain_values, _odd_values))
        lines.insert(draw(st.integers(1, len(lines))), name + separator + value)
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(1, len(lines))), b" folded")
    ends = st.sampled_from([b"\r\n"] * 40 + [b"\n", b"\r"])
    return b"".join(line + draw(ends) for line in lines) + b"\r\n"


def _h11_request(head: bytes) -> h11.Request | None:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(head)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    return event if isinstance(event, h11.Request) else None


def _h11_response(head: bytes) -> h11.InformationalResponse | h11.Response | None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(
        h11.Request(
            method=b"GET",
            target=b"/",
            headers=[(b"Host", b"ws"), (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")],
        )
    )
    conn.send(h11.EndOfMessage())
    conn.receive_data(head)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    return event if isinstance(event, h11.InformationalResponse | h11.Response) else None


@settings(max_examples=_EXAMPLES, deadline=None)
@given(_heads(_PLAIN_REQUEST_LINES, _ODD_REQUEST_LINES))
def test_a_plain_request_is_what_h11_reads(head: bytes) -> None:
    """Accepted requests parse in h11 to the same GET, target, version and fields."""
    plain = parse_plain_request(head)
    if plain is None:
        return
    event = _h11_request(head)
    assert event is not None, head
    assert (event.method, event.http_version) == (b"GET", b"1.1")
    assert (event.target, list(event.headers)) == (plain[0], list(plain[1]))


@settings(max_examples=_EXAMPLES, deadline=None)
@given(_heads(_PLAIN_STATUS_LINES, _ODD_STATUS_LINES))
def test_a_plain_101_is_what_h11_reads(head: bytes) -> None:
    """Accepted responses parse in h11 to an HTTP/1.1 101 with the same fields."""
    plain = parse_plain_101(head)
    if plain is None:
        return
    event = _h11_response(head)
    assert event is not None, head
    assert (event.status_code, event.http_version) == (101, b"1.1")
    assert list(event.headers) == list(plain)


def _outcome(head: bytes) -> tuple[object, ...]:
    try:
        result: HandshakeRequest = parse_request(head, HandshakeLimits())
    except InvalidRequest as exc:
        return ("raised", exc.http_status, str(exc))
    error = result.error
    return (
        result.method,
        result.target,
        result.path,
        result.headers,
        result.subprotocols,
        result.extensions,
        result.key,
        result.version,
        None if error is None else (error.http_status, str(error), error.headers),
    )


@settings(max_examples=_EXAMPLES // 2, deadline=None)
@given(_heads(_PLAIN_REQUEST_LINES, _ODD_REQUEST_LINES))
def test_parse_request_gives_the_same_with_or_without_the_fast_path(head: bytes) -> None:
    """Every outcome of parse_request, errors included, is the one h11 alone gives."""
    # parse_request takes heads as HeadBuffer delimits them.
    buffer = HeadBuffer(HandshakeLimits(), InvalidRequest)
    try:
        buffer.feed(head)
    except InvalidRequest:
        return
    if not buffer.complete:
        return
    head = buffer.pop_head()
    fast = _outcome(head)
    with mock.patch.object(request_module, "parse_plain_request", return_value=None):
        assert _outcome(head) == fast


_TYPICAL_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n"
    b"\r\n"
)


def test_typical_heads_take_the_fast_path() -> None:
    """What browsers and libraries send, and what servers answer, is plain."""
    plain = parse_plain_request(_TYPICAL_REQUEST)
    assert plain is not None
    assert plain[0] == b"/chat"
    assert plain[1][0] == (b"host", b"127.0.0.1:8000")
    assert plain[1][-1] == (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    assert parse_plain_101(response) == (
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    )


@pytest.mark.parametrize(
    "change",
    [
        (b"Host: 127.0.0.1:8000\r\n", b""),  # no Host: h11 says so
        (b"Host: 127.0.0.1:8000\r\n", b"Host: a\r\nHost: b\r\n"),  # two
        (b"Upgrade: websocket\r\n", b"Upgrade: websocket\n"),  # bare LF
        (b"Upgrade: websocket\r\n", b"Upgrade: web\rsocket\r\n"),  # stray CR
        (b"Upgrade: websocket\r\n", b"Upgrade:\r\n websocket\r\n"),  # obs-fold
        (b"Upgrade: websocket\r\n", b"Upgrade: websocket\r\nContent-Length: 0\r\n"),
        (b"Upgrade: websocket\r\n", b"Upgrade: websocket\r\nTransfer-Encoding: chunked\r\n"),
        (b"Upgrade: websocket\r\n", b"Upgrade: web\x80socket\r\n"),  # obs-text
        (b"Upgrade: websocket\r\n", b"Upgrade : websocket\r\n"),
        (b"GET /chat HTTP/1.1", b"GET /chat HTTP/1.0"),
        (b"GET /chat HTTP/1.1", b"OPTIONS /chat HTTP/1.1"),
        (b"GET /chat HTTP/1.1", b"GET ws://h/chat HTTP/1.1"),  # absolute form
        (b"\r\n\r\n", b"\r\n\n"),
    ],
)
def test_unusual_requests_go_to_h11(change: tuple[bytes, bytes]) -> None:
    """Each of these declines the fast path; h11 and the checks after it judge them."""
    old, new = change
    head = _TYPICAL_REQUEST.replace(old, new, 1)
    assert head != _TYPICAL_REQUEST
    assert parse_plain_request(head) is None
