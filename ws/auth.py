"""HTTP Basic authentication (RFC 7617) for servers, as a ``process_request`` hook.

::

    await ws.serve_websocket(
        handler, "127.0.0.1", 8000, None,
        process_request=ws.basic_auth(credentials={"alice": "s3cret"}),
    )

    async def handler(request: ws.WebSocketRequest) -> None:
        print("hello", request.user)

A request without valid credentials gets ``401 Unauthorized`` with a
``WWW-Authenticate`` challenge before the upgrade, and the handler never
runs. Passwords are compared in constant time, and an unknown user costs
the same comparison as a known one.

Basic auth sends the password in clear with every connection: use it over
``wss://`` only. Browsers cannot set headers on a WebSocket; they send
Basic credentials only for ``wss://user:pass@host/`` URLs or after a 401 on
a page of the same origin. For browsers, see the token recipes in the docs.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping

from ws.http import HTTPRequest, HTTPResponse, ProcessRequest

__all__ = ["CheckCredentials", "basic_auth", "parse_basic_authorization"]

#: ``async def check(username, password) -> bool``.
CheckCredentials = Callable[[str, str], Awaitable[bool]]

_DUMMY = b"\0" * 32


def parse_basic_authorization(value: str | None) -> tuple[str, str] | None:
    """``(username, password)`` from an ``Authorization: Basic ...`` value, or ``None``.

    The credentials are decoded as UTF-8 (RFC 7617 section 2.1). A value
    of another scheme, or one that is not valid base64 of ``user:pass``,
    gives ``None``.
    """
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    if not colon:
        return None
    return username, password


def basic_auth(
    credentials: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    *,
    check_credentials: CheckCredentials | None = None,
    realm: str = "WebSocket",
) -> ProcessRequest:
    """A ``process_request`` hook that lets in only users with valid Basic credentials.

    Args:
        credentials: The users and their passwords, as a mapping or pairs.
        check_credentials: Or an async function that checks a username and
            password (a database, a hash): ``async def check(user, password) -> bool``.
        realm: The protection space named in the challenge.

    Returns:
        The hook. On success it sets ``request.user`` (seen by the handler
        as :attr:`ws.WebSocketRequest.user`) and lets the request go on.

    Raises:
        TypeError: Neither or both of ``credentials`` and ``check_credentials``.
        ValueError: A realm with a double quote, backslash or control
            character (it goes in a quoted string).
    """
    if (credentials is None) == (check_credentials is None):
        raise TypeError("basic_auth() takes credentials or check_credentials, exactly one of them")
    if any(char in realm for char in '"\\') or not realm.isprintable():
        raise ValueError(f"the realm goes in a quoted string: no quotes, backslashes or controls: {realm!r}")
    challenge = HTTPResponse(
        401,
        headers=[("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"')],
        body="401 Unauthorized\n",
    )
    check: CheckCredentials
    if credentials is not None:
        pairs = credentials.items() if isinstance(credentials, Mapping) else credentials
        passwords = {user: password.encode("utf-8") for user, password in pairs}

        async def check_mapping(username: str, password: str) -> bool:
            # The same work for a known and an unknown user: compare_digest
            # against a dummy leaks neither the user's existence nor the
            # password's length by timing.
            expected = passwords.get(username)
            given = password.encode("utf-8")
            if expected is None:
                hmac.compare_digest(given, _DUMMY)
                return False
            return hmac.compare_digest(given, expected)

        check = check_mapping
    else:
        assert check_credentials is not None
        check = check_credentials

    async def authenticate(request: HTTPRequest) -> HTTPResponse | None:
        parsed = parse_basic_authorization(request.header("authorization"))
        if parsed is None or not await check(*parsed):
            return challenge
        request.user = parsed[0]
        return None

    return authenticate
