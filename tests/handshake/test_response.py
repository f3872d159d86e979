"""Tests for ws.handshake.response: the client's checks of a 101 response."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pytest

from ws.errors import InvalidResponse, NegotiationError
from ws.handshake.response import check_response

from ._fakes import FakeClientFactory, FakeExtension
from ._requests import ACCEPT, BASE_RESPONSE_HEADERS, KEY

Fields = list[tuple[bytes, bytes]]


def _fields(*, drop: Collection[bytes] = (), extra: Sequence[tuple[bytes, bytes]] = ()) -> Fields:
    """The fields of a valid 101 as h11 gives them (lowercase names), edited."""
    base = [
        (name.lower(), value) for name, value in BASE_RESPONSE_HEADERS if name.lower() not in drop
    ]
    return base + [(name.lower(), value) for name, value in extra]


def _check(
    fields: Fields,
    *,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[FakeClientFactory] = (),
) -> tuple[str | None, list[FakeExtension]]:
    return check_response(fields, key=KEY, subprotocols=subprotocols, extensions=extensions)


def _invalid(fields: Fields, **options: Sequence[str]) -> InvalidResponse:
    with pytest.raises(InvalidResponse) as info:
        _check(fields, subprotocols=options.get("subprotocols", ()))
    return info.value


def test_valid_response() -> None:
    """A 101 with the three required fields gives no subprotocol and no extensions."""
    assert _check(_fields()) == (None, [])


@pytest.mark.parametrize(
    "fields",
    [
        [(b"upgrade", b"WebSocket"), (b"connection", b"upgrade")],
        [(b"upgrade", b"WEBSOCKET"), (b"connection", b"keep-alive, UPGRADE")],
        [(b"upgrade", b"websocket"), (b"connection", b"keep-alive"), (b"connection", b"Upgrade")],
    ],
)
def test_upgrade_and_connection_are_case_insensitive(fields: Fields) -> None:
    """Upgrade and Connection match case-insensitively; Connection is a combined list."""
    assert _check(_fields(drop={b"upgrade", b"connection"}, extra=fields)) == (None, [])


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (_fields(drop={b"upgrade"}), "missing Upgrade"),
        (_fields(drop={b"upgrade"}, extra=[(b"Upgrade", b"h2c")]), "not 'websocket'"),
        (_fields(drop={b"upgrade"}, extra=[(b"Upgrade", b"websocket, h2c")]), "not 'websocket'"),
        (_fields(drop={b"upgrade"}, extra=[(b"Upgrade", b"web socket")]), "Upgrade"),
        (_fields(extra=[(b"Upgrade", b"websocket")]), "not 'websocket'"),
        (_fields(drop={b"connection"}), "missing Connection"),
        (_fields(drop={b"connection"}, extra=[(b"Connection", b"keep-alive")]), "'Upgrade'"),
        (_fields(drop={b"connection"}, extra=[(b"Connection", b"a b")]), "token list"),
        (_fields(drop={b"sec-websocket-accept"}), "missing Sec-WebSocket-Accept"),
        (
            _fields(drop={b"sec-websocket-accept"}, extra=[(b"Sec-WebSocket-Accept", b"AAAA")]),
            "wrong Sec-WebSocket-Accept",
        ),
        (
            _fields(extra=[(b"Sec-WebSocket-Accept", ACCEPT.encode())]),
            "more than one Sec-WebSocket-Accept",
        ),
        (_fields(extra=[(b"Sec-WebSocket-Protocol", b"chat")]), "not offered"),
        (_fields(extra=[(b"Sec-WebSocket-Extensions", b"x-foo")]), "not offered"),
        (_fields(extra=[(b"Sec-WebSocket-Extensions", b"x-foo;")]), "Sec-WebSocket-Extensions"),
    ],
)
def test_invalid_101(fields: Fields, match: str) -> None:
    """Every check of RFC 6455 section 4.1 fails the handshake with InvalidResponse."""
    assert match in str(_invalid(fields))


def test_subprotocol_chosen() -> None:
    """The subprotocol the server chose among our offers is returned."""
    fields = _fields(extra=[(b"Sec-WebSocket-Protocol", b"superchat")])
    assert _check(fields, subprotocols=["chat", "superchat"]) == ("superchat", [])


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ([(b"Sec-WebSocket-Protocol", b"superchat")], "not offered"),
        ([(b"Sec-WebSocket-Protocol", b"chat, superchat")], "several subprotocols"),
        (
            [(b"Sec-WebSocket-Protocol", b"chat"), (b"Sec-WebSocket-Protocol", b"chat")],
            "more than one",
        ),
        ([(b"Sec-WebSocket-Protocol", b"")], "empty Sec-WebSocket-Protocol"),
        ([(b"Sec-WebSocket-Protocol", b"a b")], "Sec-WebSocket-Protocol"),
    ],
)
def test_invalid_subprotocol(extra: Fields, match: str) -> None:
    """The server may choose at most one subprotocol, once, among those offered."""
    assert match in str(_invalid(_fields(extra=extra), subprotocols=["chat"]))


def test_extensions_in_response_order() -> None:
    """Extensions are built in the order of the server's (combined) answer."""
    foo, bar = FakeClientFactory("x-foo"), FakeClientFactory("x-bar")
    fields = _fields(
        extra=[
            (b"Sec-WebSocket-Extensions", b"x-bar; a=1"),
            (b"Sec-WebSocket-Extensions", b"x-foo"),
        ]
    )
    _, extensions = _check(fields, extensions=[foo, bar])
    assert extensions == [FakeExtension("x-bar", (("a", "1"),)), FakeExtension("x-foo")]
    assert bar.seen == [([("a", "1")], [])]
    assert foo.seen == [([], [FakeExtension("x-bar", (("a", "1"),))])]


def test_extension_falls_back_to_another_factory_of_the_same_name() -> None:
    """When a factory declines an answer, another factory with that name may accept it."""
    first = FakeClientFactory("x", tag="1", refuse=True)
    second = FakeClientFactory("x", tag="2")
    fields = _fields(extra=[(b"Sec-WebSocket-Extensions", b"x; a=1")])
    _, extensions = _check(fields, extensions=[first, second])
    assert extensions == [FakeExtension("x", (("a", "1"),), "2")]
    assert len(first.seen) == 1


def test_each_factory_builds_one_extension() -> None:
    """Two answers with one name use two factories with that name, in order."""
    factories = [FakeClientFactory("x", tag="1"), FakeClientFactory("x", tag="2")]
    _, extensions = _check(
        _fields(extra=[(b"Sec-WebSocket-Extensions", b"x, x")]), extensions=factories
    )
    assert [extension.tag for extension in extensions] == ["1", "2"]


def test_extension_accepted_twice() -> None:
    """The server cannot accept an extension more often than we have factories for it."""
    with pytest.raises(InvalidResponse, match="not offered"):
        _check(
            _fields(extra=[(b"Sec-WebSocket-Extensions", b"x, x")]),
            extensions=[FakeClientFactory("x")],
        )


def test_extension_negotiation_error_is_chained() -> None:
    """A factory refusing the server's parameters fails the handshake, chaining its error."""
    with pytest.raises(InvalidResponse, match="cannot accept extension 'x'") as info:
        _check(
            _fields(extra=[(b"Sec-WebSocket-Extensions", b"x; decline")]),
            extensions=[FakeClientFactory("x")],
        )
    assert isinstance(info.value.__cause__, NegotiationError)
