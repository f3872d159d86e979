"""Fuzzing ClientHandshake with structured, near-valid server responses.

tests/handshake/test_client.py fuzzes raw bytes and byte-level edits. This
edits responses at the HTTP level (status lines, dropped, duplicated or
recased fields, odd values, interim responses, rejection bodies framed in
every way, broken lines) with the real permessage-deflate factory offering.
Properties:

* feeding the bytes whole or in any chunks gives the same outcome;
* the outcome is an acceptance, a rejection or ``InvalidResponse``, and the
  client buffers no more than its limits allow;
* an acceptance names only what was offered (subprotocol, extensions);
* harmless variations (name case, field order, extra fields, token case and
  lists, interim 1xx responses) are always accepted.
"""

from __future__ import annotations

from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import InvalidResponse
from ws.extensions import ClientPerMessageDeflateFactory
from ws.extensions.base import Extension
from ws.handshake.client import ClientHandshake, HandshakeAccepted
from ws.handshake.limits import HandshakeLimits
from tests.hostile._raw import KEY, accept_for

_LIMITS: Final = HandshakeLimits(
    max_head_size=2048, max_headers=24, max_start_line=256, max_body_size=64
)
_OFFERED: Final = ("chat", "superchat")

Field = tuple[bytes, bytes]

_ACCEPT: Final = accept_for(KEY).encode()
_BASE: Final[list[Field]] = [
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Accept", _ACCEPT),
    (b"Sec-WebSocket-Protocol", b"chat"),
    (b"Sec-WebSocket-Extensions", b"permessage-deflate"),
]
_ODD_VALUES: Final = [
    b"", b" ", b"websocket", b"h2c", b"Upgrade", b"close", b"other", b"chat, superchat",
    b"permessage-deflate; server_max_window_bits=7", b"permessage-deflate; x",
    b"permessage-deflate; client_max_window_bits=16", b"x-unknown",
    b"permessage-deflate, permessage-deflate", accept_for("AAAAAAAAAAAAAAAAAAAAAA==").encode(),
    b"\x80\xff", b"x" * 300,
]
_EXTRA: Final[list[Field]] = [
    (b"Sec-WebSocket-Accept", _ACCEPT), (b"Sec-WebSocket-Protocol", b"superchat"),
    (b"Content-Length", b"0"), (b"Content-Length", b"10"), (b"Transfer-Encoding", b"chunked"),
    (b"Server", b"hostile"), (b"Upgrade", b"h2c"),
]
_BROKEN_LINES: Final = [b"No-Colon", b"Space : x", b" folded", b": empty", b"Bad Name: x"]
_STATUS_LINES: Final = [
    b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 101 Switching Protocols",
    b"HTTP/1.1 101 ", b"HTTP/1.1 101", b"HTTP/1.0 101 Switching Protocols",
    b"HTTP/1.1 200 OK", b"HTTP/1.1 302 Found", b"HTTP/1.1 403 Forbidden",
    b"HTTP/1.1 1O1 Nope", b"HTTP/1.1 99 Low", b"HTTP/2 101", b"ICY 200 OK",
]
_BODIES: Final = [
    b"", b"0123456789", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\nbad chunk", b"b" * 200,
]
_INTERIM: Final = [
    b"",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n",
]


@st.composite
def harmless_responses(draw: st.DrawFn) -> bytes:
    """A valid 101 in any field order and name case, with variations a client must accept."""
    substitutes = {
        b"Upgrade": [b"websocket", b"WebSocket", b" websocket "],
        b"Connection": [b"Upgrade", b"upgrade", b"Upgrade, keep-alive"],
        b"Sec-WebSocket-Protocol": [b"chat", b"superchat"],
    }
    fields = [
        (name, draw(st.sampled_from(substitutes[name])) if name in substitutes else value)
        for name, value in _BASE
    ]
    if draw(st.booleans()):
        fields = [field for field in fields if field[0] != b"Sec-WebSocket-Protocol"]
    if draw(st.booleans()):
        fields = [field for field in fields if field[0] != b"Sec-WebSocket-Extensions"]
    fields += draw(st.lists(st.sampled_from([(b"Server", b"x"), (b"Date", b"today")]), max_size=2))
    fields = draw(st.permutations(fields))
    cases = [lambda n: n, bytes.lower, bytes.upper, bytes.swapcase]
    lines = [b"HTTP/1.1 101 Switching Protocols"]
    lines += [draw(st.sampled_from(cases))(name) + b": " + value for name, value in fields]
    return draw(st.sampled_from(_INTERIM)) + b"\r\n".join(lines) + b"\r\n\r\n"


@st.composite
def near_valid_responses(draw: st.DrawFn) -> bytes:
    """A valid response changed by a few HTTP-level edits, then frames or a body."""
    status = b"HTTP/1.1 101 Switching Protocols"
    fields = list(_BASE)
    extra_lines: list[bytes] = []
    for _ in range(draw(st.integers(0, 4))):
        edit = draw(st.sampled_from(["drop", "value", "extra", "dup", "broken", "status"]))
        index = draw(st.integers(0, max(len(fields) - 1, 0)))
        if edit == "drop" and fields:
            del fields[index]
        elif edit == "value" and fields:
            fields[index] = (fields[index][0], draw(st.sampled_from(_ODD_VALUES)))
        elif edit == "extra":
            fields.insert(index, draw(st.sampled_from(_EXTRA)))
        elif edit == "dup" and fields:
            fields.insert(index, fields[index])
        elif edit == "broken":
            extra_lines.append(draw(st.sampled_from(_BROKEN_LINES)))
        elif edit == "status":
            status = draw(st.sampled_from(_STATUS_LINES))
    lines = [status, *(name + b": " + value for name, value in fields), *extra_lines]
    newline = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    head = newline.join(lines) + newline + newline
    return draw(st.sampled_from(_INTERIM)) + head + draw(st.sampled_from(_BODIES))


Outcome = tuple[object, ...]


def _client() -> ClientHandshake[Extension]:
    return ClientHandshake(
        host="example.com",
        resource="/",
        subprotocols=_OFFERED,
        extensions=[ClientPerMessageDeflateFactory()],
        limits=_LIMITS,
        key=KEY,
    )


def _outcome(data: bytes, sizes: list[int]) -> Outcome:
    """Feed ``data`` in chunks of ``sizes`` (cycling), then EOF; describe what came out."""
    client = _client()
    client.data_to_send()
    position = 0
    try:
        while True:
            for size in sizes:
                if position < len(data):
                    chunk = data[position : position + size]
                    position += size
                    client.receive_data(chunk)
                    assert len(client._head) <= _LIMITS.max_head_size + size
                    assert len(client._body) <= _LIMITS.max_body_size
                else:
                    client.receive_eof()
                result = client.next_result()
                if isinstance(result, HandshakeAccepted):
                    assert result.subprotocol in (None, *_OFFERED)
                    names = [extension.name for extension in result.extensions]
                    assert names in ([], ["permessage-deflate"])
                    return (
                        "accepted", result.subprotocol, names,
                        result.trailing_data + data[position:],
                    )
                if result is not None:
                    assert 200 <= result.status_code <= 599
                    assert len(result.body) <= _LIMITS.max_body_size
                    # How much of a body arrived depends on where EOF fell.
                    return ("rejected", result.status_code, result.headers)
                if client.eof_received:
                    raise AssertionError("no result after EOF")
    except InvalidResponse:
        return ("invalid",)


@settings(max_examples=300, deadline=None)
@given(
    data=near_valid_responses(),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=8),
)
def test_near_valid_responses_same_outcome_however_split(data: bytes, sizes: list[int]) -> None:
    """Edited responses end in a result or InvalidResponse, the same whole or in chunks."""
    assert _outcome(data, sizes) == _outcome(data, [len(data) + 1])


@settings(max_examples=150, deadline=None)
@given(
    data=harmless_responses(),
    frames=st.binary(max_size=40),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=8),
)
def test_harmless_variations_are_accepted(data: bytes, frames: bytes, sizes: list[int]) -> None:
    """Field order, name case, token lists and interim responses never stop a valid 101."""
    outcome = _outcome(data + frames, sizes)
    assert outcome[0] == "accepted", outcome
    assert outcome[3] == frames
