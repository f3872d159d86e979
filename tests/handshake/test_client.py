"""Tests for ws.handshake.client."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.errors import ConnectionRejected, InvalidResponse, LocalProtocolError
from ws.handshake.client import (
    _TRANSITIONS,
    ClientHandshake,
    HandshakeAccepted,
    HandshakeRejected,
    _Input,
    _State,
)
from ws.handshake.limits import HandshakeLimits

from ._fakes import FakeClientFactory, FakeExtension
from ._requests import ACCEPT, KEY, response

Client = ClientHandshake[FakeExtension]


def _client(
    *,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[FakeClientFactory] = (),
    limits: HandshakeLimits | None = None,
) -> Client:
    client: Client = ClientHandshake(
        host="example.com",
        resource="/chat",
        subprotocols=subprotocols,
        extensions=extensions,
        limits=limits or HandshakeLimits(),
        key=KEY,
    )
    client.data_to_send()
    return client


def _accepted(data: bytes, client: Client | None = None) -> HandshakeAccepted[FakeExtension]:
    client = client or _client()
    client.receive_data(data)
    result = client.next_result()
    assert isinstance(result, HandshakeAccepted)
    return result


def _rejected(
    data: bytes, *, eof: bool = False, limits: HandshakeLimits | None = None
) -> HandshakeRejected:
    client = _client(limits=limits)
    client.receive_data(data)
    if eof:
        client.receive_eof()
    result = client.next_result()
    assert isinstance(result, HandshakeRejected)
    return result


def _invalid(data: bytes, client: Client | None = None) -> InvalidResponse:
    client = client or _client()
    client.receive_data(data)
    with pytest.raises(InvalidResponse) as info:
        client.next_result()
    return info.value


# The request.


def test_request_exact_bytes() -> None:
    """The request carries the RFC 6455 section 4.1 fields, offers and extra headers, in order."""
    client: Client = ClientHandshake(
        host="example.com:8080",
        resource="/chat?room=1",
        subprotocols=["chat", "superchat"],
        extra_headers=[(b"Authorization", b"Basic eDp5"), (b"X-Empty", b"")],
        extensions=[
            FakeClientFactory("permessage-deflate", [("client_max_window_bits", None)]),
            FakeClientFactory("x-foo", [("a", "1")]),
        ],
        origin="http://example.com",
        key=KEY,
    )
    assert client.data_to_send() == (
        b"GET /chat?room=1 HTTP/1.1\r\n"
        b"Host: example.com:8080\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Origin: http://example.com\r\n"
        b"Sec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo; a=1\r\n"
        b"Authorization: Basic eDp5\r\n"
        b"X-Empty: \r\n"
        b"\r\n"
    )
    assert client.data_to_send() == b""


def test_minimal_request() -> None:
    """Without options the request has only the five required fields."""
    client: Client = ClientHandshake(host="[::1]:8000", resource="/", key=KEY)
    assert client.data_to_send() == (
        b"GET / HTTP/1.1\r\nHost: [::1]:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


def test_request_reads_back_through_h11() -> None:
    """The request, serialized without h11, is one h11's server side reads back field for field."""
    extra = [(b"Authorization", b"Basic eDp5"), (b"X-Tab", b"a\tb"), (b"X-Empty", b"")]
    client: Client = ClientHandshake(
        host="example.com", resource="/a?b=c", subprotocols=["chat"], extra_headers=extra, key=KEY
    )
    server = h11.Connection(h11.SERVER)
    server.receive_data(client.data_to_send())
    request = server.next_event()
    assert isinstance(request, h11.Request)
    assert (request.method, request.target, request.http_version) == (b"GET", b"/a?b=c", b"1.1")
    assert [(name, value) for name, value in request.headers.raw_items()] == [
        (b"Host", b"example.com"),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", KEY.encode()),
        (b"Sec-WebSocket-Version", b"13"),
        (b"Sec-WebSocket-Protocol", b"chat"),
        *extra,
    ]
    assert isinstance(server.next_event(), h11.EndOfMessage)


def test_default_key_is_random() -> None:
    """Each handshake gets a fresh key by default."""
    first: Client = ClientHandshake(host="a", resource="/")
    second: Client = ClientHandshake(host="a", resource="/")
    assert first.key != second.key


def test_reserved_extra_headers_are_left_out() -> None:
    """Extra headers naming fields the handshake sets are left out, whatever their case."""
    reserved = [
        (b"host", b"evil"),
        (b"UPGRADE", b"h2c"),
        (b"Connection", b"close"),
        (b"Sec-WebSocket-Key", b"AAAAAAAAAAAAAAAAAAAAAA=="),
        (b"Sec-WebSocket-Version", b"8"),
        (b"Sec-WebSocket-Protocol", b"x"),
        (b"Sec-WebSocket-Extensions", b"x"),
        (b"Sec-WebSocket-Accept", b"x"),
        (b"Content-Length", b"4"),
        (b"Transfer-Encoding", b"chunked"),
    ]
    client: Client = ClientHandshake(
        host="a", resource="/", extra_headers=[*reserved, (b"Origin", b"http://a")], key=KEY
    )
    data = client.data_to_send()
    assert data.count(b"\r\n") == 8
    assert data.endswith(b"Sec-WebSocket-Version: 13\r\nOrigin: http://a\r\n\r\n")


def test_extra_origin_is_left_out_when_origin_is_given() -> None:
    """An Origin extra header gives way to the origin argument."""
    client: Client = ClientHandshake(
        host="a", resource="/", origin="http://b", extra_headers=[(b"origin", b"http://a")], key=KEY
    )
    data = client.data_to_send()
    assert b"Origin: http://b\r\n" in data
    assert b"http://a" not in data


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("host", "", "Host"),
        ("host", "exämple.com", "Host"),
        ("host", "a\r\nX: y", "invalid header field"),
        ("resource", "", "resource"),
        ("resource", "chat", "resource"),
        ("resource", "/a b", "resource"),
        ("resource", "/a#frag", "resource"),
        ("resource", "/é", "resource"),
        ("subprotocols", ["chat", "a b"], "subprotocol"),
        ("subprotocols", "chat", "sequence of strings"),
        ("extra_headers", [(b"Bad Name", b"x")], "invalid header field"),
        ("extra_headers", [(b"X", b"a\r\nY: b")], "invalid header field"),
        ("origin", "http://é", "Origin"),
        ("origin", "http://a\n", "invalid header field"),
        ("key", "short", "Sec-WebSocket-Key"),
    ],
)
def test_invalid_arguments(field: str, value: object, match: str) -> None:
    """Arguments that cannot be sent as given are refused at construction."""
    arguments: dict[str, object] = {"host": "a", "resource": "/", field: value}
    with pytest.raises(LocalProtocolError, match=match):
        ClientHandshake(**arguments)  # type: ignore[arg-type]


def test_subprotocols_from_any_iterable() -> None:
    """Subprotocols may come from any iterable; they are kept as a tuple."""
    client: Client = ClientHandshake(host="a", resource="/", subprotocols=(p for p in ["x", "y"]))
    assert client.subprotocols == ("x", "y")
    assert b"Sec-WebSocket-Protocol: x, y\r\n" in client.data_to_send()


def test_invalid_extension_offer() -> None:
    """A factory offering a parameter that is not a token is a local error."""
    client: Client = ClientHandshake(
        host="a", resource="/", extensions=[FakeClientFactory("x", [("a", "b c")])]
    )
    with pytest.raises(LocalProtocolError, match="invalid extension offer"):
        client.data_to_send()


def test_receive_before_sending() -> None:
    """Receiving or polling before the request was produced is a local error."""
    client: Client = ClientHandshake(host="a", resource="/")
    with pytest.raises(LocalProtocolError, match="data_to_send"):
        client.receive_data(b"HTTP/1.1")
    with pytest.raises(LocalProtocolError, match="IDLE"):
        client.next_result()


# A 101 that completes the handshake.


def test_accepted_result() -> None:
    """A valid 101 gives the status, lowercase headers, no subprotocol and no extensions."""
    result = _accepted(response(extra=[(b"X-Server", b"ws")]))
    assert result == HandshakeAccepted(
        status_code=101,
        headers=(
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", ACCEPT.encode()),
            (b"x-server", b"ws"),
        ),
        subprotocol=None,
        extensions=(),
        trailing_data=b"",
    )


def test_subprotocol_chosen() -> None:
    """The subprotocol the server chose among our offers is reported."""
    client = _client(subprotocols=["chat", "superchat"])
    result = _accepted(response(extra=[(b"Sec-WebSocket-Protocol", b"superchat")]), client)
    assert result.subprotocol == "superchat"


def test_extensions_in_response_order() -> None:
    """Extensions are built by the factories in the order of the server's answer."""
    foo, bar = FakeClientFactory("x-foo"), FakeClientFactory("x-bar")
    client = _client(extensions=[foo, bar])
    result = _accepted(
        response(
            extra=[
                (b"Sec-WebSocket-Extensions", b"x-bar; a=1"),
                (b"Sec-WebSocket-Extensions", b"x-foo"),
            ]
        ),
        client,
    )
    assert result.extensions == (FakeExtension("x-bar", (("a", "1"),)), FakeExtension("x-foo"))
    assert bar.seen == [([("a", "1")], [])]
    assert foo.seen == [([], [FakeExtension("x-bar", (("a", "1"),))])]


# A 101 that does not complete the handshake.


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (response(drop={b"upgrade"}), "missing Upgrade"),
        (response(extra=[(b"Sec-WebSocket-Extensions", b"x-foo")]), "not offered"),
        (b"HTTP/1.1 101\r\nbad header\r\n\r\n", "invalid HTTP response"),
        (b"HTTP/9 101 Nope\r\n\r\n", "invalid HTTP response"),
        (b"\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n", "invalid HTTP response"),
    ],
)
def test_invalid_101(data: bytes, match: str) -> None:
    """A malformed response or a 101 failing the section 4.1 checks is an InvalidResponse."""
    assert match in str(_invalid(data))


def test_h11_errors_are_chained() -> None:
    """An h11 parse error is the cause of the InvalidResponse."""
    exc = _invalid(b"HTTP/1.1 101\r\nbad header\r\n\r\n")
    assert isinstance(exc.__cause__, h11.RemoteProtocolError)


def test_state_after_failure() -> None:
    """After an InvalidResponse, bytes are dropped and next_result() is a local error."""
    client = _client()
    _invalid(response(drop={b"upgrade"}), client)
    client.receive_data(b"more")
    with pytest.raises(LocalProtocolError, match="FAILED"):
        client.next_result()
    assert client.trailing_data == b""


# Interim responses.


def test_interim_responses_are_skipped() -> None:
    """1xx responses other than 101 are skipped before the final one."""
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + response()
    )
    assert _accepted(data + b"\x81\x00").trailing_data == b"\x81\x00"


def test_interim_response_split_from_the_final_one() -> None:
    """The final response may arrive in a later read than an interim one."""
    client = _client()
    client.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 10")
    assert client.next_result() is None
    assert _accepted(response()[len(b"HTTP/1.1 10") :], client).status_code == 101


def test_interim_response_then_the_end_is_a_rejection() -> None:
    """A stream that ends after a 1xx is a rejection with that status, its headers, body None."""
    client = _client()
    client.receive_data(b"HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n")
    assert client.next_result() is None
    client.receive_eof()
    result = client.next_result()
    assert result == HandshakeRejected(100, ((b"x-interim", b"yes"),), b"")
    assert client.next_result() is result
    exc = result.to_exception()
    assert (exc.status_code, exc.headers, exc.body) == (100, ((b"x-interim", b"yes"),), None)


def test_last_interim_response_is_the_rejection() -> None:
    """After several 1xx responses and the end of the stream, the last one is reported."""
    result = _rejected(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", eof=True
    )
    assert (result.status_code, result.headers, result.body) == (103, ((b"link", b"</a>"),), b"")
    assert result.to_exception().body is None


def test_interim_response_then_a_cut_head() -> None:
    """Part of a second head and then the end of the stream is a cut-short response."""
    client = _client()
    client.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 10")
    client.receive_eof()
    with pytest.raises(InvalidResponse, match="before the end of the response head"):
        client.next_result()


def test_interim_heads_count_towards_the_limit() -> None:
    """Interim heads use up max_head_size, so endless 1xx responses are refused."""
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    client = _client(limits=HandshakeLimits(max_head_size=len(interim) * 3))
    exc = _invalid(interim * 5, client)
    assert "head larger than" in str(exc)


# Rejections.


def test_rejection_with_content_length() -> None:
    """A non-101 response is a rejection with its status, headers and body."""
    result = _rejected(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nX-Why: no\r\n\r\ngo away")
    assert result == HandshakeRejected(
        status_code=403, headers=((b"content-length", b"7"), (b"x-why", b"no")), body=b"go away"
    )


def test_rejection_body_in_pieces() -> None:
    """The body may arrive over several reads; the result waits for its end."""
    client = _client()
    client.receive_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: 6\r\n\r\nno")
    assert client.next_result() is None
    client.receive_data(b"")
    client.receive_data(bytearray(b"pe"))
    assert client.next_result() is None
    client.receive_data(b"!!extra")
    result = client.next_result()
    assert isinstance(result, HandshakeRejected)
    assert result.body == b"nope!!"
    client.receive_data(b"ignored")
    assert client.next_result() is result
    assert client.trailing_data == b""


def test_rejection_chunked() -> None:
    """A chunked body is decoded."""
    data = (
        b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert _rejected(data).body == b"abcde"


def test_rejection_until_eof() -> None:
    """A body without length runs until the end of the stream."""
    client = _client()
    client.receive_data(b"HTTP/1.1 503 Busy\r\n\r\nback ")
    assert client.next_result() is None
    client.receive_data(b"later")
    client.receive_eof()
    client.receive_eof()
    result = client.next_result()
    assert isinstance(result, HandshakeRejected)
    assert result.body == b"back later"


def test_rejection_with_eof_before_polling() -> None:
    """A response followed by the end of the stream before next_result() is still complete."""
    assert _rejected(b"HTTP/1.1 400 Bad\r\n\r\nwhy", eof=True).body == b"why"


def test_rejection_body_cut_short() -> None:
    """A body cut short by the end of the stream is reported as far as it came."""
    assert _rejected(b"HTTP/1.1 401 No\r\nContent-Length: 10\r\n\r\nabc", eof=True).body == b"abc"


def test_rejection_with_malformed_chunks() -> None:
    """A malformed chunked body ends the body; the rejection stands."""
    data = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n"
    assert _rejected(data).body == b"abc"


def test_rejection_without_body() -> None:
    """A 204 has no body."""
    assert _rejected(b"HTTP/1.1 204 No Content\r\n\r\n").body == b""


def test_rejection_body_is_truncated() -> None:
    """The body is kept up to max_body_size bytes; the rest is not read."""
    limits = HandshakeLimits(max_body_size=5)
    data = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\n" + b"x" * 100
    assert _rejected(data, limits=limits).body == b"xxxxx"
    client = _client(limits=limits)
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nxxx")
    assert client.next_result() is None
    client.receive_data(b"x" * 97)
    result = client.next_result()
    assert isinstance(result, HandshakeRejected)
    assert result.body == b"xxxxx"
    assert _rejected(data, limits=HandshakeLimits(max_body_size=0)).body == b""


def test_rejection_to_exception() -> None:
    """A rejection converts to ConnectionRejected with the same status, headers and body."""
    result = _rejected(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    exc = result.to_exception()
    assert isinstance(exc, ConnectionRejected)
    assert (exc.status_code, exc.headers, exc.body) == (403, result.headers, b"no")


# EOF, misuse and limits.


@pytest.mark.parametrize("data", [b"", b"HTTP/1.1 101 Switching Protocols\r\n"])
def test_eof_before_the_head(data: bytes) -> None:
    """The end of the stream before a whole head is an InvalidResponse."""
    client = _client()
    client.receive_data(data)
    client.receive_eof()
    assert client.eof_received
    with pytest.raises(InvalidResponse, match="closed the connection|connection closed"):
        client.next_result()


def test_eof_without_a_byte_suggests_wss() -> None:
    """No byte at all before the end: a TLS server dropping a plain request; the error says so."""
    client = _client()
    client.receive_eof()
    with pytest.raises(InvalidResponse) as info:
        client.next_result()
    assert str(info.value) == (
        "the server closed the connection without a response (the server speaks TLS? use wss://)"
    )


@pytest.mark.parametrize("record", [b"\x15\x03\x03\x00\x02\x02\x46", b"\x16\x03\x01\x00\x05hello"])
@pytest.mark.parametrize("split", [1, 2])
def test_tls_record_instead_of_http(record: bytes, split: int) -> None:
    """A TLS alert or handshake record where HTTP should be fails at once, naming wss://."""
    client = _client()
    client.receive_data(record[:split])
    if split == 1:
        assert client.next_result() is None
    client.receive_data(record[split:])
    with pytest.raises(InvalidResponse, match=r"the server speaks TLS\? use wss://"):
        client.next_result()


def test_tls_like_bytes_later_are_not_sniffed() -> None:
    """Only the first two bytes of the response are checked: an HTTP head stays HTTP."""
    result = _rejected(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n\x16\x03")
    assert (result.status_code, result.body) == (400, b"\x16\x03")


def test_receive_after_eof() -> None:
    """Feeding bytes after the end of the stream is a local error."""
    client = _client()
    client.receive_eof()
    with pytest.raises(LocalProtocolError, match="receive_eof"):
        client.receive_data(b"x")


def test_receive_after_accept() -> None:
    """After the handshake, received bytes belong to the protocol layer."""
    client = _client()
    result = _accepted(response(), client)
    assert client.next_result() is result
    with pytest.raises(LocalProtocolError, match="protocol layer"):
        client.receive_data(b"\x81\x00")


@pytest.mark.parametrize("chunk", [1, 100, 1 << 20])
def test_huge_response_head_is_refused(chunk: int) -> None:
    """A 1 MiB response head is refused without being buffered whole."""
    data = b"HTTP/1.1 101 Switching Protocols\r\nX: " + b"a" * (1 << 20) + b"\r\n\r\n"
    client = _client()
    for start in range(0, min(len(data), 20000 if chunk == 1 else len(data)), chunk):
        client.receive_data(data[start : start + chunk])
        assert len(client._head) <= client.limits.max_head_size + chunk
    with pytest.raises(InvalidResponse, match="head larger than"):
        client.next_result()


def test_too_many_response_headers() -> None:
    """More than max_headers response fields are refused."""
    exc = _invalid(response(extra=[(b"X", b"y")] * 200))
    assert "header fields" in str(exc)


def test_long_status_line() -> None:
    """A status line over max_start_line is refused."""
    exc = _invalid(b"HTTP/1.1 101 " + b"a" * 9000 + b"\r\n\r\n")
    assert "start line" in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.lists(st.integers(0, 300), max_size=6))
def test_trailing_data_survives_any_split(frames: bytes, cuts: list[int]) -> None:
    """However the 101 and the first frames are split, the frames come out whole."""
    data = response() + frames
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    client = _client()
    result = None
    fed = 0
    for a, b in itertools.pairwise(points):
        client.receive_data(data[a:b])
        fed = b
        result = client.next_result()
        if result is not None:
            break
    assert isinstance(result, HandshakeAccepted)
    assert result.trailing_data + data[fed:] == frames
    assert client.trailing_data == result.trailing_data


_TINY = HandshakeLimits(max_head_size=300, max_headers=8, max_start_line=64, max_body_size=50)


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    buffer = bytearray(data)
    for position, byte in edits:
        buffer[position % len(buffer)] = byte
    return bytes(buffer)


_inputs = st.one_of(
    st.binary(max_size=400),
    st.builds(
        _mutate,
        st.sampled_from(
            [
                response(extra=[(b"Sec-WebSocket-Extensions", b"x; a=1")]) + b"frames",
                b"HTTP/1.1 100 Continue\r\n\r\n" + response(),
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 70\r\n\r\n" + b"b" * 70,
                b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            ]
        ),
        st.lists(
            st.tuples(st.integers(0, 1000), st.sampled_from(list(b'\r\n :;,="a0\x00\x80'))),
            max_size=4,
        ),
    ),
)


@settings(max_examples=200, deadline=None)
@given(_inputs, st.lists(st.integers(1, 64), min_size=1, max_size=20), st.booleans())
def test_arbitrary_input_ends_in_result_or_invalid_response(
    data: bytes, sizes: list[int], eof: bool
) -> None:
    """Any bytes in any chunks give None, a result or InvalidResponse, within bounded memory."""
    client = _client(extensions=[FakeClientFactory("x")], limits=_TINY)
    position = 0
    try:
        for size in sizes * (len(data) // sum(sizes) + 1):
            chunk = data[position : position + size]
            position += size
            client.receive_data(chunk)
            assert len(client._head) <= _TINY.max_head_size + size
            assert len(client._body) <= _TINY.max_body_size
            if client.next_result() is not None:
                return
            if position >= len(data):
                break
        if eof:
            client.receive_eof()
            assert client.next_result() is not None
    except InvalidResponse:
        pass


@pytest.mark.parametrize(("state", "event"), list(itertools.product(_State, _Input)))
def test_transition_table(state: _State, event: _Input) -> None:
    """Each (state, input) pair moves as the table says, or raises naming both."""
    client: Client = ClientHandshake(host="a", resource="/")
    client._state = state
    expected = _TRANSITIONS.get((state, event))
    if expected is None:
        with pytest.raises(LocalProtocolError, match=f"cannot {event.value} in state {state.name}"):
            client._transition(event)
    else:
        client._transition(event)
        assert client._state is expected


@pytest.mark.parametrize("version", [b"1.0", b"0.9"])
def test_101_must_be_http_1_1(version: bytes) -> None:
    """RFC 6455 section 4.1: a 101 in another HTTP version does not open the connection."""
    data = response().replace(b"HTTP/1.1 ", b"HTTP/" + version + b" ", 1)
    error = _invalid(data)
    assert "HTTP/1.1" in str(error)
