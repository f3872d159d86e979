"""Tests for ws.handshake.headers: RFC 7230 lists and the WebSocket header fields."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws.handshake.headers import (
    build_extension_list,
    build_subprotocol_list,
    combine_values,
    format_host,
    is_token,
    parse_extension_list,
    parse_subprotocol_list,
    parse_token_list,
    parse_upgrade,
)
from ws.typing import ExtensionParameter

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("websocket", True),
        (TCHARS, True),
        ("", False),
        ("a b", False),
        ("a,b", False),
        ("a;b", False),
        ('"a"', False),
        ("a/b", False),
        ("é", False),
    ],
)
def test_is_token(value: str, expected: bool) -> None:
    """A token is one or more tchar and nothing else."""
    assert is_token(value) is expected


def test_combine_values() -> None:
    """Repeated fields are joined with ", " in order; an absent field is None."""
    headers = [(b"a", b"1"), (b"b", b"x"), (b"a", b"2, 3"), (b"c", b"\xe9")]
    assert combine_values(headers, b"a") == "1, 2, 3"
    assert combine_values(headers, b"b") == "x"
    assert combine_values(headers, b"c") == "\xe9"
    assert combine_values(headers, b"d") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Upgrade", ["Upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        ("a,b", ["a", "b"]),
        (" \ta \t, \tb\t ", ["a", "b"]),
        (", a ,, b ,", ["a", "b"]),
    ],
)
def test_parse_token_list(value: str, expected: list[str]) -> None:
    """Token lists follow RFC 7230's #rule, ignoring empty elements and OWS."""
    assert parse_token_list(value) == expected


@pytest.mark.parametrize("value", ["", " ", ",", " , ,", "a b", "a;b", "a,@", "a, b c", '"a"'])
def test_parse_token_list_errors(value: str) -> None:
    """An empty list or anything but tokens between commas is rejected."""
    with pytest.raises(ValueError, match="token list"):
        parse_token_list(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("websocket", ["websocket"]),
        ("WebSocket", ["WebSocket"]),
        ("HTTP/2.0, websocket", ["HTTP/2.0", "websocket"]),
        ("h2c , websocket/13", ["h2c", "websocket/13"]),
    ],
)
def test_parse_upgrade(value: str, expected: list[str]) -> None:
    """Upgrade lists hold protocol names with an optional /version."""
    assert parse_upgrade(value) == expected


@pytest.mark.parametrize("value", ["", "web socket", "websocket/", "/13", "a/b/c", "websocket;q=1"])
def test_parse_upgrade_errors(value: str) -> None:
    """Malformed Upgrade values are rejected."""
    with pytest.raises(ValueError, match="Upgrade"):
        parse_upgrade(value)


def test_parse_subprotocol_list() -> None:
    """Sec-WebSocket-Protocol is a list of tokens, in order."""
    assert parse_subprotocol_list("chat, superchat") == ["chat", "superchat"]
    assert parse_subprotocol_list("v2.json") == ["v2.json"]


@pytest.mark.parametrize("value", ["", "chat superchat", "chat/1", "chat;x", "é"])
def test_parse_subprotocol_list_errors(value: str) -> None:
    """Subprotocols that are not tokens, or none at all, are rejected."""
    with pytest.raises(ValueError, match="Sec-WebSocket-Protocol"):
        parse_subprotocol_list(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("permessage-deflate", [("permessage-deflate", [])]),
        (
            "permessage-deflate; client_max_window_bits",
            [("permessage-deflate", [("client_max_window_bits", None)])],
        ),
        (
            "permessage-deflate;server_max_window_bits=10;client_no_context_takeover",
            [
                (
                    "permessage-deflate",
                    [("server_max_window_bits", "10"), ("client_no_context_takeover", None)],
                )
            ],
        ),
        ('x; a="10"', [("x", [("a", "10")])]),
        ('x; a="\\1\\0"', [("x", [("a", "10")])]),
        ('x ;\ta = "b" ; c', [("x", [("a", "b"), ("c", None)])]),
        ("a, b; c=d, e", [("a", []), ("b", [("c", "d")]), ("e", [])]),
        (", a ,, b,", [("a", []), ("b", [])]),
        ("x; a=1, x; a=2", [("x", [("a", "1")]), ("x", [("a", "2")])]),
    ],
)
def test_parse_extension_list(
    value: str, expected: list[tuple[str, list[ExtensionParameter]]]
) -> None:
    """Extension lists parse per RFC 6455 section 9.1, unescaping quoted values."""
    assert parse_extension_list(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        ",",
        "a b",
        "a;",
        "a; ",
        "a;;b",
        "a; =1",
        "a; b=",
        "a; b=,",
        'a; b="unterminated',
        'a; b="a b"',  # unescaped value is not a token
        'a; b=""',
        'a; b="x"y',
        "a; b=c d",
        '"a"',
        "a; b=é",
    ],
)
def test_parse_extension_list_errors(value: str) -> None:
    """Values that do not follow the section 9.1 grammar are rejected."""
    with pytest.raises(ValueError, match="Sec-WebSocket-Extensions"):
        parse_extension_list(value)


def test_parse_error_message_is_shortened() -> None:
    """Error messages show at most about 80 characters of the value."""
    with pytest.raises(ValueError) as info:
        parse_token_list("a b" + "c" * 1000)
    assert len(str(info.value)) < 150
    assert "..." in str(info.value)


def test_build_subprotocol_list() -> None:
    """Subprotocols are joined with ", "."""
    assert build_subprotocol_list(["chat", "superchat"]) == "chat, superchat"


@pytest.mark.parametrize("subprotocols", [[], ["chat", "a b"], [""]])
def test_build_subprotocol_list_errors(subprotocols: list[str]) -> None:
    """An empty list or a non-token subprotocol cannot be sent."""
    with pytest.raises(ValueError, match="subprotocol"):
        build_subprotocol_list(subprotocols)


def test_build_extension_list() -> None:
    """Extensions are written as "name; param=value" joined with ", "."""
    value = build_extension_list(
        [
            (
                "permessage-deflate",
                [("client_max_window_bits", None), ("server_max_window_bits", "10")],
            ),
            ("x-foo", []),
        ]
    )
    assert value == "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo"


@pytest.mark.parametrize(
    ("extensions", "what"),
    [
        ([], "at least one"),
        ([("a b", [])], "extension name"),
        ([("a", [("b c", None)])], "parameter name"),
        ([("a", [("b", "c d")])], "parameter value"),
        ([("a", [("b", "")])], "parameter value"),
    ],
)
def test_build_extension_list_errors(
    extensions: list[tuple[str, list[ExtensionParameter]]], what: str
) -> None:
    """Names and values that are not tokens cannot be sent."""
    with pytest.raises(ValueError, match=what):
        build_extension_list(extensions)


extension_lists = st.lists(
    st.tuples(tokens, st.lists(st.tuples(tokens, st.none() | tokens), max_size=4)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(extension_lists)
def test_extension_list_round_trip(extensions: list[tuple[str, list[ExtensionParameter]]]) -> None:
    """Parsing what build_extension_list wrote gives back the same extensions."""
    assert parse_extension_list(build_extension_list(extensions)) == extensions


@settings(max_examples=200, deadline=None)
@given(st.lists(tokens, min_size=1, max_size=6))
def test_subprotocol_list_round_trip(subprotocols: list[str]) -> None:
    """Parsing what build_subprotocol_list wrote gives back the same subprotocols."""
    assert parse_subprotocol_list(build_subprotocol_list(subprotocols)) == subprotocols


@pytest.mark.parametrize(
    ("host", "port", "secure", "expected"),
    [
        ("example.com", 80, False, "example.com"),
        ("example.com", 443, True, "example.com"),
        ("example.com", 443, False, "example.com:443"),
        ("example.com", 80, True, "example.com:80"),
        ("example.com", 8080, False, "example.com:8080"),
        ("127.0.0.1", 8000, True, "127.0.0.1:8000"),
        ("::1", 80, False, "[::1]"),
        ("::1", 8443, True, "[::1]:8443"),
        ("2001:db8::1", 443, True, "[2001:db8::1]"),
        ("[::1]", 81, False, "[::1]:81"),
        ("fe80::1%eth0", 80, False, "[fe80::1%25eth0]"),
        ("fe80::1%25eth0", 9000, False, "[fe80::1%25eth0]:9000"),
    ],
)
def test_format_host(host: str, port: int, secure: bool, expected: str) -> None:
    """IPv6 literals get brackets; the port appears only when it is not the default."""
    assert format_host(host, port, secure) == expected


@pytest.mark.parametrize(("host", "port"), [("", 80), ("example.com", 0), ("example.com", 65536)])
def test_format_host_errors(host: str, port: int) -> None:
    """An empty host or an out-of-range port is rejected."""
    with pytest.raises(ValueError):
        format_host(host, port, False)
