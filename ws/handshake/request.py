"""The client's opening request, as the server parses and checks it (RFC 6455 section 4.2.1).

:func:`parse_request` separates two kinds of bad requests. Bytes that are
not an HTTP/1.1 request without a body raise :class:`~ws.errors.InvalidRequest`:
there is nothing sensible to do but answer with an error and close. A
well-formed request that is not a valid WebSocket upgrade (a health check, a
browser fetching the page, an old client) is returned with ``error`` set, so
the server may still answer it as plain HTTP.

The checks follow the order of RFC 6455 section 4.2.1, except that the
version is checked before the key: a client speaking another version learns
from the 426 which version to use (section 4.4).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs
import h11

from ws.errors import InvalidRequest
from ws.handshake._http import parse_plain_request
from ws.handshake.headers import (
    combine_values,
    parse_extension_list,
    parse_subprotocol_list,
    parse_token_list,
    parse_upgrade,
)
from ws.handshake.keys import is_valid_key
from ws.handshake.limits import HandshakeLimits
from ws.typing import ExtensionParameter

__all__ = ["ExtensionOffers", "HandshakeRequest", "parse_request"]

_T = TypeVar("_T")

#: Extension offers as parsed from a request: ``(name, params)`` in client order.
ExtensionOffers = tuple[tuple[str, tuple[ExtensionParameter, ...]], ...]

_UPGRADE_REQUIRED = [(b"Upgrade", b"websocket")]
_VERSION_REQUIRED = [(b"Upgrade", b"websocket"), (b"Sec-WebSocket-Version", b"13")]


@attrs.frozen
class HandshakeRequest:
    """A client's opening request, parsed (RFC 6455 section 4.2.1).

    Attributes:
        method: The request method, such as ``"GET"``.
        target: The request-target exactly as sent (RFC 7230 section 5.3).
        path: The resource name: path and query (RFC 6455 section 3), taken
            from the target whether it is in origin-form or absolute-form.
        headers: Every header field as ``(name, value)`` bytes, names in
            lowercase, in the order received.
        subprotocols: The subprotocols offered, in the client's order;
            repeated ``Sec-WebSocket-Protocol`` fields are combined.
        extensions: The extensions offered as ``(name, params)``, in the
            client's order; repeated ``Sec-WebSocket-Extensions`` fields
            are combined.
        key: The ``Sec-WebSocket-Key`` value, or ``None`` if absent.
        version: The ``Sec-WebSocket-Version`` value, or ``None`` if absent.
        error: Why this is not a valid WebSocket upgrade, or ``None`` if it
            is. Its ``http_status`` and ``headers`` say how to answer
            (see :meth:`ServerHandshake.error_response`).
        has_body: Whether the request announced a body (``Content-Length``
            above 0, or ``Transfer-Encoding``). The body is never read: such
            a request is not an upgrade (``error`` is a 400), and can only
            be answered and closed.
    """

    method: str
    target: str
    path: str
    headers: tuple[tuple[bytes, bytes], ...]
    subprotocols: tuple[str, ...]
    extensions: ExtensionOffers
    key: str | None
    version: str | None
    error: InvalidRequest | None
    has_body: bool = False


def parse_request(head: bytes, limits: HandshakeLimits) -> HandshakeRequest:
    """Parse and check one complete request head (RFC 6455 section 4.2.1).

    Args:
        head: The request line, the header lines and the empty line, as
            :class:`~ws.handshake._head.HeadBuffer` delimits them.
        limits: The handshake limits (the head is already within them).

    Returns:
        The request; ``error`` is set if it is well-formed HTTP/1.1 but not
        a valid WebSocket upgrade.

    Raises:
        ws.errors.InvalidRequest: The head is not valid HTTP/1.1 (400) or
            has another HTTP version (505).
    """
    plain = parse_plain_request(head)  # the common shape, without h11's cost
    has_body = False
    if plain is None:
        method, target, headers, has_body = _parse_with_h11(head, limits)
    else:
        method = "GET"
        target = plain[0].decode("ascii")
        headers = plain[1]
    resource = _resource_name(target)
    subprotocols, protocol_error = _parse_field(
        headers, b"sec-websocket-protocol", parse_subprotocol_list, []
    )
    offers, extension_error = _parse_field(
        headers, b"sec-websocket-extensions", parse_extension_list, []
    )
    key = combine_values(headers, b"sec-websocket-key")
    version = combine_values(headers, b"sec-websocket-version")
    checks = (
        InvalidRequest("an opening handshake request has no body") if has_body else None,
        _check_method(method),
        None if resource is not None else InvalidRequest(f"invalid resource name: {target!r}"),
        _check_upgrade(headers),
        _check_version(version),
        _check_key(key),
        protocol_error,
        extension_error,
    )
    return HandshakeRequest(
        method=method,
        target=target,
        path=target if resource is None else resource,
        headers=headers,
        subprotocols=tuple(subprotocols),
        extensions=tuple((name, tuple(params)) for name, params in offers),
        key=key,
        version=version,
        error=next((error for error in checks if error is not None), None),
        has_body=has_body,
    )


def _parse_with_h11(
    head: bytes, limits: HandshakeLimits
) -> tuple[str, str, tuple[tuple[bytes, bytes], ...], bool]:
    """What parse_request needs from h11: method, target, fields, whether a body follows.

    Raises:
        InvalidRequest: Not HTTP/1.1.
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head_size)
    conn.receive_data(head)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as exc:
        raise InvalidRequest(f"invalid HTTP request: {exc}", http_status=400) from exc
    # HeadBuffer ends a head where h11 does, so a whole head is a request or an error.
    assert isinstance(event, h11.Request)
    # RFC 6455 section 4.1: "The method of the request MUST be GET, and the
    # HTTP version MUST be at least 1.1." We speak HTTP/1.1 only.
    if event.http_version != b"1.1":
        http_version = event.http_version.decode("ascii")
        raise InvalidRequest(f"HTTP/{http_version} is not supported", http_status=505)
    headers = tuple((name, value) for name, value in event.headers)
    names = {name for name, _ in headers}
    # A body would arrive where the frames do; it is never read, as frames
    # or otherwise (h11 checked Content-Length is a number).
    has_body = b"transfer-encoding" in names or any(
        name == b"content-length" and int(value) > 0 for name, value in headers
    )
    return event.method.decode("ascii"), event.target.decode("ascii"), headers, has_body


def _resource_name(target: str) -> str | None:
    # RFC 7230 section 5.3: origin-form ("/chat?x=1") or, which a server MUST
    # accept, absolute-form ("ws://host/chat?x=1").
    if target.startswith("/"):
        return target
    parts = urllib.parse.urlsplit(target)
    if not parts.scheme or not parts.netloc:
        return None
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _parse_field(
    headers: Sequence[tuple[bytes, bytes]],
    name: bytes,
    parse: Callable[[str], list[_T]],
    default: list[_T],
) -> tuple[list[_T], InvalidRequest | None]:
    value = combine_values(headers, name)
    if value is None:
        return default, None
    try:
        return parse(value), None
    except ValueError as exc:
        return default, InvalidRequest(str(exc))


def _check_method(method: str) -> InvalidRequest | None:
    if method == "GET":
        return None
    return InvalidRequest(
        f"method {method} is not allowed; the opening handshake uses GET",
        http_status=405,
        headers=[(b"Allow", b"GET")],
    )


def _check_upgrade(headers: Sequence[tuple[bytes, bytes]]) -> InvalidRequest | None:
    # RFC 6455 section 4.2.1, items 3 and 4: an Upgrade field containing
    # "websocket" and a Connection field containing the token "Upgrade",
    # both ASCII case-insensitive.
    for name, wanted, parse in (
        (b"upgrade", "websocket", parse_upgrade),
        (b"connection", "upgrade", parse_token_list),
    ):
        field = name.decode("ascii").capitalize()
        value = combine_values(headers, name)
        if value is None:
            return InvalidRequest(
                f"missing {field} header; is this a WebSocket request?",
                http_status=426,
                headers=_UPGRADE_REQUIRED,
            )
        try:
            items = parse(value)
        except ValueError as exc:
            return InvalidRequest(str(exc), http_status=426, headers=_UPGRADE_REQUIRED)
        if wanted not in (item.lower() for item in items):
            return InvalidRequest(
                f"{field} header {value!r} does not contain {wanted!r}",
                http_status=426,
                headers=_UPGRADE_REQUIRED,
            )
    return None


def _check_version(version: str | None) -> InvalidRequest | None:
    # RFC 6455 section 4.2.2 and 4.4: answer another version with 426 and
    # the versions we speak in Sec-WebSocket-Version.
    if version == "13":
        return None
    if version is None:
        problem = "missing Sec-WebSocket-Version header"
    else:
        problem = f"unsupported Sec-WebSocket-Version {version!r}; this server speaks 13"
    return InvalidRequest(problem, http_status=426, headers=_VERSION_REQUIRED)


def _check_key(key: str | None) -> InvalidRequest | None:
    if key is None:
        return InvalidRequest("missing Sec-WebSocket-Key header")
    if not is_valid_key(key):
        return InvalidRequest(f"invalid Sec-WebSocket-Key {key!r}")
    return None
