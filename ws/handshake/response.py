"""The server's 101 response, as the client checks it (RFC 6455 section 4.1).

:func:`check_response` applies the client's checks of section 4.1 to the
fields of a 101 and runs the client side of extension negotiation: each
extension in the server's ``Sec-WebSocket-Extensions`` goes to a factory
with that name that has not built an extension yet; if that factory raises
``NegotiationError``, the next one with that name is tried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from ws.errors import InvalidResponse, NegotiationError
from ws.handshake.headers import (
    combine_values,
    parse_extension_list,
    parse_subprotocol_list,
    parse_token_list,
    parse_upgrade,
)
from ws.handshake.hooks import ClientExtensionFactoryHook, E
from ws.handshake.keys import accept_key

__all__ = ["check_response"]

_T = TypeVar("_T")


def check_response(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    key: str,
    subprotocols: Sequence[str],
    extensions: Sequence[ClientExtensionFactoryHook[E]],
) -> tuple[str | None, list[E]]:
    """Check the fields of a 101 response to our request (RFC 6455 section 4.1).

    Args:
        headers: The response fields, names in lowercase, as h11 gives them.
        key: The ``Sec-WebSocket-Key`` we sent.
        subprotocols: The subprotocols we offered.
        extensions: The extension factories whose offers we sent.

    Returns:
        The subprotocol the server chose (or ``None``) and the extensions the
        factories built, in the order of the server's
        ``Sec-WebSocket-Extensions``.

    Raises:
        ws.errors.InvalidResponse: The response does not complete the
            handshake. A factory's ``NegotiationError`` is chained as its cause.
    """
    # RFC 6455 section 4.1, the client's checks of the server's handshake.
    # "If the response lacks an |Upgrade| header field or the |Upgrade|
    # header field contains a value that is not an ASCII case-insensitive
    # match for the value "websocket", the client MUST _Fail the WebSocket
    # Connection_."
    upgrade = _parse(combine_values(headers, b"upgrade"), parse_upgrade, "Upgrade")
    if [protocol.lower() for protocol in upgrade] != ["websocket"]:
        raise InvalidResponse(f"Upgrade header is not 'websocket': {upgrade!r}")
    # "... or the |Connection| header field doesn't contain a token that
    # is an ASCII case-insensitive match for the value "Upgrade" ..."
    connection = _parse(combine_values(headers, b"connection"), parse_token_list, "Connection")
    if "upgrade" not in (token.lower() for token in connection):
        raise InvalidResponse(f"Connection header does not contain 'Upgrade': {connection!r}")
    # "If the response lacks a |Sec-WebSocket-Accept| header field or the
    # |Sec-WebSocket-Accept| contains a value other than the base64-encoded
    # SHA-1 of ... the client MUST _Fail the WebSocket Connection_."
    accepts = [value for name, value in headers if name == b"sec-websocket-accept"]
    if not accepts:
        raise InvalidResponse("missing Sec-WebSocket-Accept header")
    # RFC 6455 section 11.3.3: it "MUST NOT appear more than once in an HTTP response".
    if len(accepts) > 1:
        raise InvalidResponse("more than one Sec-WebSocket-Accept header")
    if accepts[0] != accept_key(key).encode("ascii"):
        raise InvalidResponse(f"wrong Sec-WebSocket-Accept {accepts[0]!r}")
    return _check_subprotocol(headers, subprotocols), _negotiate(headers, extensions)


def _check_subprotocol(
    headers: Sequence[tuple[bytes, bytes]], offered: Sequence[str]
) -> str | None:
    values = [value for name, value in headers if name == b"sec-websocket-protocol"]
    if not values:
        return None
    # RFC 6455 section 11.3.4: it "MUST NOT appear more than once in an HTTP response".
    if len(values) > 1:
        raise InvalidResponse("more than one Sec-WebSocket-Protocol header")
    protocols = _parse(
        values[0].decode("latin-1"), parse_subprotocol_list, "Sec-WebSocket-Protocol"
    )
    if len(protocols) > 1:
        raise InvalidResponse(f"the server chose several subprotocols: {protocols!r}")
    # Section 4.1: fail if the response "indicates the use of a subprotocol
    # that was not present in the client's handshake".
    if protocols[0] not in offered:
        raise InvalidResponse(f"the server chose subprotocol {protocols[0]!r}, not offered")
    return protocols[0]


def _negotiate(
    headers: Sequence[tuple[bytes, bytes]], factories: Sequence[ClientExtensionFactoryHook[E]]
) -> list[E]:
    # Section 4.1: fail if the response "indicates the use of an extension
    # that was not present in the client's handshake". The field may be
    # repeated in a response (RFC 6455 errata 3433).
    value = combine_values(headers, b"sec-websocket-extensions")
    if value is None:
        return []
    accepted: list[E] = []
    used: list[ClientExtensionFactoryHook[E]] = []
    for name, params in _parse(value, parse_extension_list, "Sec-WebSocket-Extensions"):
        candidates = [
            factory
            for factory in factories
            if factory.name == name and not any(factory is done for done in used)
        ]
        if not candidates:
            raise InvalidResponse(f"the server accepted extension {name!r}, not offered")
        error: NegotiationError | None = None
        for factory in candidates:
            try:
                accepted.append(factory.process_response_params(params, accepted))
            except NegotiationError as exc:
                error = exc
                continue
            used.append(factory)
            break
        else:
            raise InvalidResponse(f"cannot accept extension {name!r}: {error}") from error
    return accepted


def _parse(value: str | None, parse: Callable[[str], list[_T]], field: str) -> list[_T]:
    if value is None:
        raise InvalidResponse(f"missing {field} header")
    try:
        return parse(value)
    except ValueError as exc:
        raise InvalidResponse(str(exc)) from exc
