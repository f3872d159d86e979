"""Tests for ws.handshake.server: the server side of the opening handshake."""

from __future__ import annotations

import itertools
import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import InvalidRequest, LocalProtocolError
from ws.handshake.limits import HandshakeLimits
from ws.handshake.request import HandshakeRequest
from ws.handshake.server import _TRANSITIONS, ServerHandshake, _Input, _State

from ._fakes import FakeExtension, FakeServerFactory
from ._requests import ACCEPT, request

Server = ServerHandshake[FakeExtension]


def _receive(data: bytes, limits: HandshakeLimits | None = None) -> tuple[Server, HandshakeRequest]:
    server: Server = ServerHandshake(limits=limits or HandshakeLimits())
    server.receive_data(data)
    parsed = server.next_request()
    assert parsed is not None
    return server, parsed


def _invalid(data: bytes, limits: HandshakeLimits | None = None) -> InvalidRequest:
    server: Server = ServerHandshake(limits=limits or HandshakeLimits())
    server.receive_data(data)
    with pytest.raises(InvalidRequest) as info:
        server.next_request()
    return info.value


@pytest.mark.parametrize(
    "field", [(b"Content-Length", b"4"), (b"Transfer-Encoding", b"chunked")]
)
def test_a_request_with_a_body_can_be_answered_but_never_upgraded(field: tuple[bytes, bytes]) -> None:
    """A request with a body parses (a hook may answer it) but is no upgrade: its body never becomes frames."""
    server: Server = ServerHandshake()
    server.receive_data(request(extra=[field]) + b"\x81\x80ab")
    parsed = server.next_request()
    assert parsed is not None and parsed.has_body
    assert parsed.error is not None and parsed.error.http_status == 400
    assert "no body" in parsed.error.message
    with pytest.raises(LocalProtocolError, match="invalid request"):
        server.accept(parsed)
    assert server.reject(200, body=b"ok").startswith(b"HTTP/1.1 200 ")


# accept()


def test_accept_exact_bytes() -> None:
    """accept() writes the 101 with the accept key, subprotocol, extensions and extra headers."""
    server, parsed = _receive(
        request(
            extra=[
                (b"Sec-WebSocket-Protocol", b"chat, superchat"),
                (b"Sec-WebSocket-Extensions", b"x-foo; a=1, x-bar"),
            ]
        )
    )
    factories = [
        FakeServerFactory("x-bar"),
        FakeServerFactory("x-foo", answer=[("a", "2"), ("b", None)]),
    ]
    response, extensions = server.accept(
        parsed, subprotocol="superchat", extra_headers=[(b"Server", b"ws")], extensions=factories
    )
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n"
        b"Sec-WebSocket-Protocol: superchat\r\n"
        b"Sec-WebSocket-Extensions: x-foo; a=2; b, x-bar\r\n"
        b"Server: ws\r\n"
        b"\r\n"
    )
    assert extensions == [FakeExtension("x-foo", (("a", "2"), ("b", None))), FakeExtension("x-bar")]
    assert factories[1].seen == [([("a", "1")], [])]
    assert factories[0].seen == [([], [FakeExtension("x-foo", (("a", "2"), ("b", None)))])]


def test_accept_minimal() -> None:
    """Without subprotocol or extensions the 101 has only the three required fields."""
    server, parsed = _receive(request(extra=[(b"Sec-WebSocket-Extensions", b"x-unknown")]))
    response, extensions = server.accept(parsed, extensions=[FakeServerFactory("x-other")])
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n\r\n"
    )
    assert extensions == []


def test_declined_offer_falls_back_to_the_next_of_the_same_name() -> None:
    """A NegotiationError declines one offer; the next offer of that name is tried."""
    server, parsed = _receive(
        request(extra=[(b"Sec-WebSocket-Extensions", b"x; decline, x; p=1, x; p=2")])
    )
    factory = FakeServerFactory("x")
    response, extensions = server.accept(parsed, extensions=[factory])
    assert extensions == [FakeExtension("x", (("p", "1"),))]
    assert b"Sec-WebSocket-Extensions: x; p=1\r\n" in response
    assert len(factory.seen) == 2  # one accepted offer per factory; "p=2" is not asked


def test_several_factories_with_one_name() -> None:
    """Factories sharing a name are asked in turn, and each accepts one offer at most."""
    server, parsed = _receive(
        request(extra=[(b"Sec-WebSocket-Extensions", b"x; decline, x, x, x")])
    )
    first, second = FakeServerFactory("x", tag="1"), FakeServerFactory("x", tag="2")
    _, extensions = server.accept(parsed, extensions=[first, second])
    assert extensions == [FakeExtension("x", tag="1"), FakeExtension("x", tag="2")]


def test_accept_drops_reserved_extra_headers() -> None:
    """Extra headers cannot override the fields the handshake sets."""
    server, parsed = _receive(request())
    reserved = [
        (b"upgrade", b"h2c"),
        (b"Connection", b"close"),
        (b"Sec-WebSocket-Accept", b"forged"),
        (b"SEC-WEBSOCKET-PROTOCOL", b"x"),
        (b"Sec-WebSocket-Extensions", b"x"),
        (b"Content-Length", b"3"),
        (b"Transfer-Encoding", b"chunked"),
    ]
    response, _ = server.accept(parsed, extra_headers=[*reserved, (b"Set-Cookie", b"a=b")])
    assert response.count(b"\r\n") == 6
    assert response.endswith(b"Set-Cookie: a=b\r\n\r\n")


@pytest.mark.parametrize(
    "header",
    [
        (b"Bad Name", b"x"),
        (b"X", b"a\r\nInjected: 1"),
        (b"X", b" leading"),
        (b"X", b"nul\x00"),
        (b"", b"x"),
    ],
)
def test_accept_rejects_malformed_extra_headers(header: tuple[bytes, bytes]) -> None:
    """Extra headers must be valid HTTP fields: no injection through them."""
    server, parsed = _receive(request())
    with pytest.raises(LocalProtocolError, match="invalid header field"):
        server.accept(parsed, extra_headers=[header])


def test_accept_subprotocol_must_be_offered() -> None:
    """Choosing a subprotocol the client did not offer is a local error."""
    server, parsed = _receive(request(extra=[(b"Sec-WebSocket-Protocol", b"chat")]))
    with pytest.raises(LocalProtocolError, match="not offered"):
        server.accept(parsed, subprotocol="superchat")
    response, _ = server.accept(parsed, subprotocol="chat")
    assert b"Sec-WebSocket-Protocol: chat\r\n" in response


def test_accept_invalid_answer_params() -> None:
    """A factory answering parameters that are not tokens is a local error."""
    server, parsed = _receive(request(extra=[(b"Sec-WebSocket-Extensions", b"x")]))
    with pytest.raises(LocalProtocolError, match="invalid extension parameters"):
        server.accept(parsed, extensions=[FakeServerFactory("x", answer=[("a", "b c")])])


def test_accept_request_with_error() -> None:
    """Accepting a request whose error is set is a local error."""
    server, parsed = _receive(request(drop={b"upgrade"}))
    with pytest.raises(LocalProtocolError, match="invalid request"):
        server.accept(parsed)


def test_accept_twice() -> None:
    """A request is accepted once; a second accept() fails before asking factories again."""
    server, parsed = _receive(request(extra=[(b"Sec-WebSocket-Extensions", b"x")]))
    factory = FakeServerFactory("x")
    server.accept(parsed, extensions=[factory])
    with pytest.raises(LocalProtocolError, match="cannot accept in state ACCEPTED"):
        server.accept(parsed, extensions=[factory])
    assert len(factory.seen) == 1


def test_accept_foreign_request() -> None:
    """accept() only takes the request this handshake parsed."""
    server, _ = _receive(request())
    _, other = _receive(request())
    with pytest.raises(LocalProtocolError, match="next_request"):
        server.accept(other)


def test_accept_after_reject() -> None:
    """After a rejection nothing can be accepted."""
    server, parsed = _receive(request())
    server.reject(403)
    with pytest.raises(LocalProtocolError, match="REJECTED"):
        server.accept(parsed)


# reject() and error_response()


def test_reject_exact_bytes() -> None:
    """reject() writes the status, the headers, Content-Length, Connection: close and the body."""
    server, _ = _receive(request())
    response = server.reject(403, headers=[(b"Content-Type", b"text/plain")], body=b"go away")
    assert response == (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
        b"Connection: close\r\n\r\ngo away"
    )


def test_reject_unknown_status_has_empty_reason() -> None:
    """A status without a standard reason phrase gets an empty one."""
    server, _ = _receive(request())
    assert server.reject(599).startswith(b"HTTP/1.1 599 \r\n")


@pytest.mark.parametrize("status", [204, 304])
def test_reject_without_body(status: int) -> None:
    """204 and 304 have no body and no Content-Length."""
    server, _ = _receive(request())
    response = server.reject(status)
    assert b"Content-Length" not in response
    assert response.endswith(b"Connection: close\r\n\r\n")


def test_reject_body_not_allowed() -> None:
    """A body with 204 is a local error."""
    server, _ = _receive(request())
    with pytest.raises(LocalProtocolError, match="no body"):
        server.reject(204, body=b"x")


@pytest.mark.parametrize("status", [99, 100, 101, 199, 600])
def test_reject_status_range(status: int) -> None:
    """Only final statuses 200-599 can reject."""
    server, _ = _receive(request())
    with pytest.raises(LocalProtocolError, match="final status"):
        server.reject(status)


def test_reject_drops_reserved_headers() -> None:
    """Content-Length, Transfer-Encoding and Connection come from reject() itself."""
    server, _ = _receive(request())
    response = server.reject(
        400,
        headers=[
            (b"content-length", b"99"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Connection", b"keep-alive"),
        ],
        body=b"x",
    )
    assert (
        response == b"HTTP/1.1 400 Bad Request\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
    )


def test_reject_head_request_has_no_body() -> None:
    """The body is left out for a HEAD request, but Content-Length stays."""
    server, parsed = _receive(request(method=b"HEAD"))
    assert parsed.error is not None
    assert server.reject(200, body=b"OK") == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    )


def test_reject_plain_http_request() -> None:
    """A non-WebSocket request (a health check) can be answered with a 200."""
    server, parsed = _receive(request(drop={b"upgrade", b"connection", b"sec-websocket-key"}))
    assert parsed.error is not None
    assert server.reject(200, body=b"OK").endswith(b"\r\n\r\nOK")


def test_reject_twice() -> None:
    """A request is answered once."""
    server, _ = _receive(request())
    server.reject(403)
    with pytest.raises(LocalProtocolError, match="cannot reject in state REJECTED"):
        server.reject(403)


def test_reject_before_the_request() -> None:
    """A server may reject before reading a request (for example when overloaded)."""
    server: Server = ServerHandshake()
    assert server.reject(503).startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    server.receive_data(b"GET / HTTP/1.1\r\n")
    with pytest.raises(LocalProtocolError, match="REJECTED"):
        server.next_request()


def test_error_response_for_request_error() -> None:
    """error_response() answers with the status, headers and message of the error."""
    server, parsed = _receive(request(drop={b"sec-websocket-version"}))
    assert parsed.error is not None
    response = server.error_response(parsed.error)
    assert response == (
        b"HTTP/1.1 426 Upgrade Required\r\n"
        b"Upgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 76\r\n"
        b"Connection: close\r\n\r\n"
        b"Failed to open a WebSocket connection: missing Sec-WebSocket-Version header\n"
    )


def test_error_response_for_raised_error() -> None:
    """error_response() answers an InvalidRequest raised by next_request()."""
    server: Server = ServerHandshake(limits=HandshakeLimits(max_start_line=16))
    server.receive_data(b"GET /" + b"a" * 100)
    with pytest.raises(InvalidRequest) as info:
        server.next_request()
    assert server.error_response(info.value).startswith(b"HTTP/1.1 414 ")


# A TLS client on a plain port.


def _client_hello() -> bytes:
    """The first bytes a TLS client sends: a ClientHello record."""
    context = ssl.create_default_context()
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname="example.com")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("chunk", [1, 5, 100_000])
def test_tls_client_hello_is_400_at_once(chunk: int) -> None:
    """A ClientHello fails from its first byte with a 400 that says what happened."""
    hello = _client_hello()
    assert hello[:2] == b"\x16\x03"
    server: Server = ServerHandshake()
    server.receive_data(memoryview(hello[:chunk]))
    with pytest.raises(InvalidRequest, match="TLS handshake on a plain-text port") as info:
        server.next_request()
    assert info.value.http_status == 400
    response = server.error_response(info.value)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"use a ws:// URL, or serve this port with an ssl_context" in response


def test_tls_record_byte_only_counts_at_the_start() -> None:
    """0x16 after the first byte of the head is left to the HTTP parser."""
    server: Server = ServerHandshake()
    server.receive_data(b"GET / HTTP/1.1\r\n")
    server.receive_data(b"\x16")
    assert server.next_request() is None
    server.receive_data(b"\r\n\r\n")
    with pytest.raises(InvalidRequest) as info:
        server.next_request()
    assert "TLS" not in str(info.value)


def test_empty_chunk_before_a_tls_client_hello() -> None:
    """An empty read first does not hide the ClientHello that follows."""
    server: Server = ServerHandshake()
    server.receive_data(b"")
    server.receive_data(_client_hello())
    with pytest.raises(InvalidRequest, match="TLS"):
        server.next_request()


# next_request() states, EOF and misuse.


def test_next_request_needs_the_whole_head() -> None:
    """next_request() returns None until the head is complete, then the same request."""
    server: Server = ServerHandshake()
    data = request()
    assert server.next_request() is None
    server.receive_data(data[:-1])
    assert server.next_request() is None
    server.receive_data(data[-1:])
    parsed = server.next_request()
    assert parsed is not None
    assert server.next_request() is parsed
    server.accept(parsed)
    assert server.next_request() is parsed


@pytest.mark.parametrize("data", [b"", b"GET / HTTP/1.1\r\nHost: a\r\n"])
def test_eof_before_the_head(data: bytes) -> None:
    """The end of the stream before a whole head is an InvalidRequest."""
    server: Server = ServerHandshake()
    server.receive_data(data)
    server.receive_eof()
    assert server.eof_received
    with pytest.raises(InvalidRequest, match="connection closed"):
        server.next_request()


def test_eof_after_the_head() -> None:
    """A whole head followed by the end of the stream is still a request."""
    server: Server = ServerHandshake()
    server.receive_data(request())
    server.receive_eof()
    server.receive_eof()
    assert server.next_request() is not None


def test_receive_after_eof() -> None:
    """Feeding bytes after the end of the stream is a local error."""
    server: Server = ServerHandshake()
    server.receive_eof()
    with pytest.raises(LocalProtocolError, match="receive_eof"):
        server.receive_data(b"x")


def test_receive_after_accept() -> None:
    """After accept(), received bytes belong to the protocol layer."""
    server, parsed = _receive(request())
    server.accept(parsed)
    with pytest.raises(LocalProtocolError, match="protocol layer"):
        server.receive_data(b"\x81\x80")


def test_next_request_after_failure() -> None:
    """After an InvalidRequest, next_request() is a local error and bytes are dropped."""
    server: Server = ServerHandshake()
    server.receive_data(b"BAD\r\n\r\nmore")
    with pytest.raises(InvalidRequest):
        server.next_request()
    server.receive_data(b"ignored")
    assert len(server._head) == 0
    with pytest.raises(LocalProtocolError, match="FAILED"):
        server.next_request()
    assert server.trailing_data == b""
    server.reject(400)
    server.receive_data(b"ignored")


# Trailing data.


def test_trailing_data_in_the_same_read_and_later() -> None:
    """Bytes after the head, in the same read or later ones, are kept in order."""
    server: Server = ServerHandshake()
    assert server.trailing_data == b""
    server.receive_data(request() + b"\x81\x85")
    parsed = server.next_request()
    assert parsed is not None
    server.receive_data(b"abcd")
    server.receive_data(b"")
    server.receive_data(bytearray(b"e"))
    server.accept(parsed)
    assert server.trailing_data == b"\x81\x85abcde"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.lists(st.integers(0, 300), max_size=6))
def test_trailing_data_survives_any_split(frames: bytes, cuts: list[int]) -> None:
    """However request and frames are split across reads, the frames come out whole."""
    data = request() + frames
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    server: Server = ServerHandshake()
    parsed = None
    for a, b in itertools.pairwise(points):
        server.receive_data(data[a:b])
        parsed = server.next_request()
    assert parsed is not None and parsed.error is None
    server.accept(parsed)
    assert server.trailing_data == frames


# Limits.


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_huge_header_is_431_without_buffering(chunk: int) -> None:
    """A 1 MiB header field is refused with 431 and never buffered whole."""
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    server: Server = ServerHandshake()
    largest = 0
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        server.receive_data(piece)
        largest = max(largest, len(server._head))
        if chunk < 4096 and start > 20000:
            break  # byte by byte is slow in Python; the error came long before
    assert largest <= server.limits.max_head_size + chunk
    with pytest.raises(InvalidRequest, match="head larger than") as info:
        server.next_request()
    assert info.value.http_status == 431


def test_ten_thousand_headers_is_431() -> None:
    """10,000 header fields are refused with 431 after max_headers, fed line by line."""
    server: Server = ServerHandshake()
    server.receive_data(b"GET / HTTP/1.1\r\n")
    for i in range(10_000):
        server.receive_data(b"X-%d: a\r\n" % i)
        assert len(server._head) <= 4096
    with pytest.raises(InvalidRequest, match="more than 128 header fields") as info:
        server.next_request()
    assert info.value.http_status == 431


def test_ten_thousand_headers_in_one_read_is_431() -> None:
    """A complete head with 10,000 short fields in one read is refused (h11 issue #182)."""
    data = request(extra=[(b"X", b"y")] * 10_000)
    exc = _invalid(data, HandshakeLimits(max_head_size=1 << 20))
    assert exc.http_status == 431
    assert "header fields" in str(exc)


def test_oversized_request_line_is_414() -> None:
    """A request line over max_start_line is refused with 414 URI Too Long."""
    exc = _invalid(request(target=b"/" + b"a" * 9000))
    assert exc.http_status == 414


def test_limit_error_is_raised_by_next_request() -> None:
    """receive_data() records a limit breach; next_request() raises it; later bytes are dropped."""
    server: Server = ServerHandshake(limits=HandshakeLimits(max_head_size=64))
    server.receive_data(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20)
    server.receive_data(b"more")
    assert len(server._head) == 0
    with pytest.raises(InvalidRequest, match="head larger than"):
        server.next_request()


_TINY = HandshakeLimits(max_head_size=300, max_headers=8, max_start_line=64)


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    buffer = bytearray(data)
    for position, byte in edits:
        if buffer:
            buffer[position % len(buffer)] = byte
    return bytes(buffer)


_inputs = st.one_of(
    st.binary(max_size=400),
    st.builds(
        _mutate,
        st.sampled_from(
            [
                request(),
                request(extra=[(b"Sec-WebSocket-Extensions", b"x; a=1")]),
                request(method=b"PUT"),
            ]
        ),
        st.lists(
            st.tuples(st.integers(0, 1000), st.sampled_from(list(b'\r\n :;,="a/\x00\x80'))),
            max_size=4,
        ),
    ),
)


@settings(max_examples=200, deadline=None)
@given(_inputs, st.lists(st.integers(1, 64), min_size=1, max_size=20), st.booleans())
def test_arbitrary_input_ends_in_request_or_invalid_request(
    data: bytes, sizes: list[int], eof: bool
) -> None:
    """Any bytes in any chunks give None, a request or InvalidRequest, within bounded memory."""
    server: Server = ServerHandshake(limits=_TINY)
    position = 0
    try:
        for size in sizes * (len(data) // sum(sizes) + 1):
            chunk = data[position : position + size]
            position += size
            server.receive_data(chunk)
            assert len(server._head) + len(server.trailing_data) <= _TINY.max_head_size + size
            if server.next_request() is not None:
                return
            if position >= len(data):
                break
        if eof:
            server.receive_eof()
            assert server.next_request() is not None
    except InvalidRequest as exc:
        assert exc.http_status in (400, 414, 431, 505)
        assert server.error_response(exc).startswith(b"HTTP/1.1 ")


@pytest.mark.parametrize(("state", "event"), list(itertools.product(_State, _Input)))
def test_transition_table(state: _State, event: _Input) -> None:
    """Each (state, input) pair moves as the table says, or raises naming both."""
    server: Server = ServerHandshake()
    server._state = state
    expected = _TRANSITIONS.get((state, event))
    if expected is None:
        with pytest.raises(LocalProtocolError, match=f"cannot {event.value} in state {state.name}"):
            server._transition(event)
    else:
        server._transition(event)
        assert server._state is expected
