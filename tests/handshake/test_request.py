"""Tests for ws.handshake.request: parsing and checking an opening request."""

from __future__ import annotations

import h11
import pytest

from ws.errors import InvalidRequest
from ws.handshake.limits import HandshakeLimits
from ws.handshake.request import HandshakeRequest, parse_request

from ._requests import KEY, request


def _parse(data: bytes) -> HandshakeRequest:
    return parse_request(data, HandshakeLimits())


def _invalid(data: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_request(data, HandshakeLimits())
    return info.value


# Parsing a valid request.


def test_valid_request_fields() -> None:
    """A valid upgrade is parsed into its fields, with lowercase header names and no error."""
    parsed = _parse(
        request(
            target=b"/chat?room=1",
            extra=[
                (b"Sec-WebSocket-Protocol", b"chat, superchat"),
                (b"Sec-WebSocket-Extensions", b"permessage-deflate; client_max_window_bits, x-foo"),
                (b"X-Custom", b"Value"),
            ],
        )
    )
    assert parsed.error is None
    assert parsed.method == "GET"
    assert parsed.target == "/chat?room=1"
    assert parsed.path == "/chat?room=1"
    assert parsed.key == KEY
    assert parsed.version == "13"
    assert parsed.subprotocols == ("chat", "superchat")
    assert parsed.extensions == (
        ("permessage-deflate", (("client_max_window_bits", None),)),
        ("x-foo", ()),
    )
    assert parsed.headers[0] == (b"host", b"example.com")
    assert parsed.headers[-1] == (b"x-custom", b"Value")


def test_request_is_a_hashable_value() -> None:
    """HandshakeRequest is frozen and hashable."""
    parsed = _parse(request())
    assert hash(parsed) == hash(parsed)


def test_repeated_list_headers_combine() -> None:
    """Repeated Sec-WebSocket-Protocol and -Extensions fields combine in order (RFC 7230 3.2.2)."""
    parsed = _parse(
        request(
            extra=[
                (b"Sec-WebSocket-Protocol", b"a"),
                (b"Sec-WebSocket-Extensions", b"x; p=1"),
                (b"sec-websocket-protocol", b"b, c"),
                (b"SEC-WEBSOCKET-EXTENSIONS", b"y"),
            ]
        )
    )
    assert parsed.error is None
    assert parsed.subprotocols == ("a", "b", "c")
    assert parsed.extensions == (("x", (("p", "1"),)), ("y", ()))


@pytest.mark.parametrize(
    "fields",
    [
        [(b"upgrade", b"WebSocket"), (b"connection", b"upgrade")],
        [(b"UPGRADE", b"WEBSOCKET"), (b"CONNECTION", b"UPGRADE")],
        [(b"Upgrade", b"h2c, websocket"), (b"Connection", b"keep-alive, Upgrade")],
        [
            (b"Upgrade", b"h2c"),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"keep-alive"),
            (b"Connection", b"Upgrade"),
        ],
    ],
)
def test_upgrade_and_connection_are_case_insensitive_lists(
    fields: list[tuple[bytes, bytes]],
) -> None:
    """Upgrade and Connection match case-insensitively, anywhere in (combined) lists."""
    parsed = _parse(request(drop={b"upgrade", b"connection"}, extra=fields))
    assert parsed.error is None


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/", "/"),
        (b"/a/b?c=d&e", "/a/b?c=d&e"),
        (b"ws://example.com/chat?x=1", "/chat?x=1"),
        (b"http://example.com:8080", "/"),
        (b"wss://example.com/a", "/a"),
    ],
)
def test_resource_name_from_origin_and_absolute_form(target: bytes, path: str) -> None:
    """The path is the resource name, whether the target is origin-form or absolute-form."""
    parsed = _parse(request(target=target))
    assert parsed.error is None
    assert parsed.target == target.decode()
    assert parsed.path == path


# Requests that are not acceptable HTTP/1.1 raise InvalidRequest.


@pytest.mark.parametrize(
    ("data", "status", "match"),
    [
        (b"\x16\x03\x01\x02\x00\x01\r\n\r\n", 400, "invalid HTTP request"),
        (b"GET /\r\n\r\n", 400, "invalid HTTP request"),
        (b"\r\nGET / HTTP/1.1\r\n\r\n", 400, "invalid HTTP request"),
        (b"GET / HTTP/1.1\r\nbad header\r\n\r\n", 400, "invalid HTTP request"),
        (request(drop={b"host"}), 400, "Host"),
        (request(extra=[(b"Host", b"other.example")]), 400, "invalid HTTP request"),
        (request(version=b"HTTP/1.0"), 505, "HTTP/1.0"),
        (request(version=b"HTTP/2.0"), 505, "HTTP/2.0"),
        (request(extra=[(b"Transfer-Encoding", b"gzip")]), 400, "invalid HTTP request"),
        (request(extra=[(b"Content-Length", b"x")]), 400, "invalid HTTP request"),
    ],
)
def test_invalid_http_raises(data: bytes, status: int, match: str) -> None:
    """Bytes that are not an HTTP/1.1 request raise InvalidRequest."""
    exc = _invalid(data)
    assert exc.http_status == status
    assert exc.headers == []
    assert match in str(exc)


def test_h11_errors_are_chained() -> None:
    """An h11 parse error is the cause of the InvalidRequest."""
    exc = _invalid(b"GET /\r\n\r\n")
    assert isinstance(exc.__cause__, h11.RemoteProtocolError)


def test_empty_content_length_is_not_a_body() -> None:
    """Content-Length: 0 announces no body and is accepted."""
    parsed = _parse(request(extra=[(b"Content-Length", b"0")]))
    assert parsed.error is None and not parsed.has_body


@pytest.mark.parametrize(
    "field", [(b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked")]
)
def test_a_body_is_announced_and_is_no_upgrade(field: tuple[bytes, bytes]) -> None:
    """A request with a body parses, for a hook to answer, with a 400 error for the upgrade."""
    parsed = _parse(request(extra=[field]))
    assert parsed.has_body
    assert parsed.error is not None and parsed.error.http_status == 400
    assert "no body" in str(parsed.error)


# Well-formed requests that are not valid upgrades carry an error.

_UPGRADE = [(b"Upgrade", b"websocket")]
_VERSION = [(b"Upgrade", b"websocket"), (b"Sec-WebSocket-Version", b"13")]


@pytest.mark.parametrize(
    ("data", "status", "headers", "match"),
    [
        (request(method=b"POST"), 405, [(b"Allow", b"GET")], "method POST"),
        (request(method=b"HEAD"), 405, [(b"Allow", b"GET")], "method HEAD"),
        (request(target=b"*"), 400, [], "resource name"),
        (request(target=b"example.com:443"), 400, [], "resource name"),
        (request(drop={b"upgrade"}), 426, _UPGRADE, "missing Upgrade"),
        (
            request(drop={b"upgrade"}, extra=[(b"Upgrade", b"h2c")]),
            426,
            _UPGRADE,
            "does not contain",
        ),
        (request(drop={b"upgrade"}, extra=[(b"Upgrade", b"web socket")]), 426, _UPGRADE, "Upgrade"),
        (request(drop={b"upgrade"}, extra=[(b"Upgrade", b"")]), 426, _UPGRADE, "empty"),
        (request(drop={b"connection"}), 426, _UPGRADE, "missing Connection"),
        (
            request(drop={b"connection"}, extra=[(b"Connection", b"keep-alive")]),
            426,
            _UPGRADE,
            "does not contain 'upgrade'",
        ),
        (
            request(drop={b"connection"}, extra=[(b"Connection", b"a b")]),
            426,
            _UPGRADE,
            "token list",
        ),
        (request(drop={b"sec-websocket-version"}), 426, _VERSION, "missing Sec-WebSocket-Version"),
        (
            request(drop={b"sec-websocket-version"}, extra=[(b"Sec-WebSocket-Version", b"8")]),
            426,
            _VERSION,
            "unsupported",
        ),
        (request(extra=[(b"Sec-WebSocket-Version", b"13")]), 426, _VERSION, "'13, 13'"),
        (request(drop={b"sec-websocket-key"}), 400, [], "missing Sec-WebSocket-Key"),
        (
            request(
                drop={b"sec-websocket-key"}, extra=[(b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZQ==")]
            ),
            400,
            [],
            "invalid Sec-WebSocket-Key",
        ),
        (
            request(drop={b"sec-websocket-key"}, extra=[(b"Sec-WebSocket-Key", b"not base64!")]),
            400,
            [],
            "invalid Sec-WebSocket-Key",
        ),
        (
            request(extra=[(b"Sec-WebSocket-Key", KEY.encode())]),
            400,
            [],
            "invalid Sec-WebSocket-Key",
        ),
        (request(extra=[(b"Sec-WebSocket-Protocol", b"a b")]), 400, [], "Sec-WebSocket-Protocol"),
        (
            request(extra=[(b"Sec-WebSocket-Extensions", b"x;")]),
            400,
            [],
            "Sec-WebSocket-Extensions",
        ),
    ],
)
def test_invalid_upgrade_sets_error(
    data: bytes, status: int, headers: list[tuple[bytes, bytes]], match: str
) -> None:
    """A well-formed request that is not a valid upgrade comes back with the right error."""
    parsed = _parse(data)
    assert parsed.error is not None
    assert parsed.error.http_status == status
    assert parsed.error.headers == headers
    assert match in str(parsed.error)


def test_error_priority_method_first() -> None:
    """When several checks fail, the method is reported first (RFC 6455 4.2.1 order)."""
    parsed = _parse(request(method=b"POST", drop={b"upgrade", b"sec-websocket-key"}))
    assert parsed.error is not None
    assert parsed.error.http_status == 405


def test_version_is_checked_before_key() -> None:
    """A client of another version learns the version to use even if its key is odd."""
    parsed = _parse(
        request(
            drop={b"sec-websocket-version", b"sec-websocket-key"},
            extra=[(b"Sec-WebSocket-Version", b"8")],
        )
    )
    assert parsed.error is not None
    assert parsed.error.http_status == 426


def test_invalid_offers_leave_fields_empty() -> None:
    """Unparsable offers are reported in error and leave subprotocols and extensions empty."""
    parsed = _parse(
        request(extra=[(b"Sec-WebSocket-Protocol", b"a b"), (b"Sec-WebSocket-Extensions", b",")])
    )
    assert parsed.subprotocols == ()
    assert parsed.extensions == ()
