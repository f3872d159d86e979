"""Fuzzing ServerHandshake with structured, near-valid opening requests.

tests/handshake/test_server.py fuzzes raw bytes and byte-level edits of a
few requests. This works at the level of HTTP: a valid request whose request
line, fields, values and line endings are changed by a few edits (dropped,
duplicated or recased fields, odd values, bodies, folded or broken lines),
with the real permessage-deflate factory negotiating. Properties:

* feeding the bytes whole or in any chunks gives the same outcome;
* the outcome is a request or an ``InvalidRequest`` with a documented status,
  and every error response is well-formed HTTP with that status;
* a request without ``error`` can be accepted, with the right accept key;
* harmless variations (name case, field order, extra fields, optional
  whitespace, token case and lists) are always accepted.
"""

from __future__ import annotations

from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import InvalidRequest
from ws.extensions import ServerPerMessageDeflateFactory
from ws.extensions.base import Extension
from ws.handshake.limits import HandshakeLimits
from ws.handshake.request import HandshakeRequest
from ws.handshake.server import ServerHandshake
from tests.hostile._raw import KEY, accept_for, parse_head

_LIMITS: Final = HandshakeLimits(max_head_size=2048, max_headers=24, max_start_line=256)

Field = tuple[bytes, bytes]

_BASE: Final[list[Field]] = [
    (b"Host", b"example.com"),
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", KEY.encode()),
    (b"Sec-WebSocket-Version", b"13"),
    (b"Sec-WebSocket-Protocol", b"chat, superchat"),
    (b"Sec-WebSocket-Extensions", b"permessage-deflate; client_max_window_bits"),
]
_ODD_VALUES: Final = [
    b"", b" ", b"websocket", b"Upgrade", b"13", b"8", b"13, 8", b"keep-alive, Upgrade",
    b"permessage-deflate; server_max_window_bits=7", b"permessage-deflate; x",
    b"permessage-deflate;;", b'permessage-deflate; client_max_window_bits="15"',
    b"permessage-deflate, permessage-deflate", b"a, , b", b"\x80\xff", b"chat,chat",
    b"dGhlIHNhbXBsZSBub25jZQ", b"AAAAAAAAAAAAAAAAAAAAAA==", b"-1", b"9" * 40, b"x" * 300,
]
_EXTRA: Final[list[Field]] = [
    (b"Content-Length", b"0"), (b"Content-Length", b"5"), (b"Content-Length", b"abc"),
    (b"Transfer-Encoding", b"chunked"), (b"Origin", b"http://example.com"),
    (b"Host", b"other.example"), (b"Sec-WebSocket-Key", b"AAAAAAAAAAAAAAAAAAAAAA=="),
    (b"Sec-WebSocket-Version", b"13"), (b"Upgrade", b"h2c"), (b"X-Any", b"thing"),
]
_BROKEN_LINES: Final = [
    b"No-Colon-Here", b"Space-Before-Colon : x", b" folded continuation", b"\tfolded",
    b": empty-name", b"Nul\x00Name: x", b"Bad Name: x", b"X: \x00",
]
_METHODS: Final = [b"GET", b"GET", b"GET", b"POST", b"get", b"HEAD", b"G\x00T", b""]
_TARGETS: Final = [b"/", b"/chat?room=1", b"ws://example.com/p?q", b"*", b"", b"/a b", b"/\xff"]
_VERSIONS: Final = [
    b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 ",
]


@st.composite
def harmless_fields(draw: st.DrawFn) -> list[Field]:
    """The base fields in any order and name case, with variations a server must accept."""
    fields = list(_BASE)
    substitutes = {
        b"Upgrade": [b"websocket", b"WebSocket", b"websocket ", b"  websocket"],
        b"Connection": [b"Upgrade", b"upgrade", b"keep-alive, Upgrade", b"Upgrade,keep-alive"],
        b"Sec-WebSocket-Protocol": [b"chat, superchat", b"chat,superchat", b"chat"],
    }
    fields = [
        (name, draw(st.sampled_from(substitutes[name])) if name in substitutes else value)
        for name, value in fields
    ]
    fields += draw(st.lists(st.sampled_from([(b"Origin", b"http://x"), (b"X-Any", b"1"),
                                             (b"Cache-Control", b"no-cache")]), max_size=3))
    fields = draw(st.permutations(fields))
    return [(_recase(name, draw(st.integers(0, 3))), value) for name, value in fields]


def _recase(name: bytes, how: int) -> bytes:
    return [name, name.lower(), name.upper(), name.swapcase()][how]


@st.composite
def near_valid_requests(draw: st.DrawFn) -> bytes:
    """A valid request changed by a few HTTP-level edits."""
    method, target, version = b"GET", b"/", b"HTTP/1.1"
    lines: list[bytes] = []
    fields = draw(harmless_fields())
    for _ in range(draw(st.integers(0, 4))):
        edit = draw(st.sampled_from(["drop", "value", "extra", "broken", "start", "dup"]))
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
            lines.append(draw(st.sampled_from(_BROKEN_LINES)))
        elif edit == "start":
            method = draw(st.sampled_from(_METHODS))
            target = draw(st.sampled_from(_TARGETS))
            version = draw(st.sampled_from(_VERSIONS))
    head = [method + b" " + target + b" " + version]
    head += [name + b": " + value for name, value in fields]
    position = draw(st.integers(1, len(head)))
    head[position:position] = lines
    newline = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    body = b"hello" if draw(st.integers(0, 5)) == 0 else b""
    return newline.join(head) + newline + newline + body


Outcome = tuple[object, ...]


def _outcome(data: bytes, sizes: list[int]) -> Outcome:
    """Feed ``data`` in chunks of ``sizes`` (cycling), then EOF; describe what came out."""
    server: ServerHandshake[Extension] = ServerHandshake(limits=_LIMITS)
    position = 0
    try:
        while True:
            for size in sizes:
                chunk = data[position : position + size]
                position += size
                server.receive_data(chunk)
                # Never more than the head limit plus the chunk just fed.
                assert len(server._head) <= _LIMITS.max_head_size + size
                request = server.next_request()
                if request is not None:
                    return _accepted_outcome(server, request, data[position:])
                if position >= len(data):
                    server.receive_eof()
                    request = server.next_request()
                    assert request is not None
                    return _accepted_outcome(server, request, b"")
    except InvalidRequest as exc:
        assert exc.http_status in (400, 414, 431, 505), exc
        _check_error_response(server.error_response(exc), exc)
        return ("invalid", exc.http_status)


def _accepted_outcome(
    server: ServerHandshake[Extension], request: HandshakeRequest, unfed: bytes
) -> Outcome:
    """Describe a parsed request; ``unfed`` is what the caller had not fed yet."""
    error = request.error
    if error is not None:
        assert error.http_status in (400, 405, 426), error
        names = {name.lower() for name, _ in error.headers}
        if error.http_status == 426:
            assert b"upgrade" in names or b"sec-websocket-version" in names
        _check_error_response(
            server.error_response(error), error, head=request.method == "HEAD"
        )
        return ("error", request.method, request.path, error.http_status)
    assert request.method == "GET" and request.version == "13"
    subprotocol = request.subprotocols[0] if request.subprotocols else None
    response, extensions = server.accept(
        request, subprotocol=subprotocol, extensions=[ServerPerMessageDeflateFactory()]
    )
    start, fields = parse_head(response)
    assert start == b"HTTP/1.1 101 Switching Protocols"
    assert request.key is not None
    assert fields[b"sec-websocket-accept"] == [accept_for(request.key).encode()]
    return (
        "accepted", request.path, request.subprotocols, request.extensions,
        subprotocol, [type(e).__name__ for e in extensions], server.trailing_data + unfed,
    )


def _check_error_response(response: bytes, error: InvalidRequest, *, head: bool = False) -> None:
    """A well-formed response with the error's status; a HEAD request gets no body."""
    start_and_fields, _, body = response.partition(b"\r\n\r\n")
    start, fields = parse_head(start_and_fields + b"\r\n\r\n")
    assert start.startswith(b"HTTP/1.1 %d " % error.http_status), start
    assert fields[b"connection"] == [b"close"]
    if head:
        assert body == b""
    else:
        assert fields[b"content-length"] == [b"%d" % len(body)]


@settings(max_examples=300, deadline=None)
@given(
    data=near_valid_requests(),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=8),
)
def test_near_valid_requests_same_outcome_however_split(data: bytes, sizes: list[int]) -> None:
    """Edited requests end in a request or a documented error, the same whole or in chunks."""
    assert _outcome(data, sizes) == _outcome(data, [len(data) + 1])


@settings(max_examples=150, deadline=None)
@given(
    fields=harmless_fields(),
    sizes=st.lists(st.integers(1, 64), min_size=1, max_size=8),
    target=st.sampled_from([b"/", b"/chat?room=1", b"ws://example.com/chat"]),
)
def test_harmless_variations_are_accepted(
    fields: list[Field], sizes: list[int], target: bytes
) -> None:
    """Field order, name case, token lists and extra fields never stop a valid upgrade."""
    lines = [b"GET " + target + b" HTTP/1.1", *(name + b": " + value for name, value in fields)]
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    outcome = _outcome(data, sizes)
    assert outcome[0] == "accepted", outcome
    assert outcome[5] == ["PerMessageDeflate"]
