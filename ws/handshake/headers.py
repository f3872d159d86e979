"""Parsing and building the header fields of the opening handshake.

The grammars come from RFC 7230 (tokens, quoted strings, the ``#rule`` list
syntax of section 7) and RFC 6455 (``Sec-WebSocket-Protocol`` in section 4.1
and 11.3.4, ``Sec-WebSocket-Extensions`` in section 9.1).

Parsers take a header value decoded as Latin-1 (so that any byte maps to one
character and nothing fails to decode) and raise :class:`ValueError` with the
offending position; the client and the server turn that into
``InvalidResponse`` or ``InvalidRequest``. Builders raise :class:`ValueError`
for values the grammar cannot carry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from ws.typing import ExtensionParameter

__all__ = [
    "build_extension_list",
    "build_subprotocol_list",
    "combine_values",
    "format_host",
    "is_token",
    "parse_extension_list",
    "parse_subprotocol_list",
    "parse_token_list",
    "parse_upgrade",
]

_T = TypeVar("_T")

# RFC 7230 section 3.2.6: token = 1*tchar.
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# RFC 7230 section 3.2.3: OWS = *( SP / HTAB ).
_OWS = re.compile(r"[ \t]*")
# RFC 7230 section 3.2.6: quoted-string, with qdtext and quoted-pair.
_QUOTED_STRING = re.compile(
    r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)"'
)
_QUOTED_PAIR = re.compile(r"\\([\t \x21-\x7e\x80-\xff])")
# RFC 6874: the "%" before an IPv6 zone identifier is written "%25" in a URI.
_BARE_PERCENT = re.compile(r"%(?!25)")

_DEFAULT_PORTS = {False: 80, True: 443}


def is_token(value: str) -> bool:
    """Tell whether ``value`` is an RFC 7230 token (section 3.2.6).

    Args:
        value: The string to check.

    Returns:
        ``True`` if it is one or more ``tchar`` and nothing else.
    """
    return _TOKEN.fullmatch(value) is not None


def combine_values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    """Combine every field named ``name`` into one value (RFC 7230 section 3.2.2).

    A recipient may replace repeated fields with one whose value is the
    field values joined by commas, in order. That is only meaningful for
    list-valued fields; for single-valued ones the combination is simply
    invalid, which is how duplicates get rejected.

    Args:
        headers: ``(name, value)`` pairs with lowercase names, as h11 gives them.
        name: The lowercase field name.

    Returns:
        The combined value decoded as Latin-1, or ``None`` if the field is absent.
    """
    values = [value for key, value in headers if key == name]
    if not values:
        return None
    return b", ".join(values).decode("latin-1")


def _shorten(value: str) -> str:
    return repr(value) if len(value) <= 80 else repr(value[:77] + "...")


def _error(what: str, value: str, pos: int) -> ValueError:
    return ValueError(f"invalid {what} at position {pos}: {_shorten(value)}")


def _check_token(value: str, what: str) -> None:
    if not is_token(value):
        raise ValueError(f"{what} is not a token: {_shorten(value)}")


def _skip_ows(value: str, pos: int) -> int:
    match = _OWS.match(value, pos)
    assert match is not None  # OWS matches the empty string
    return match.end()


def _parse_token(value: str, pos: int, what: str) -> tuple[str, int]:
    match = _TOKEN.match(value, pos)
    if match is None:
        raise _error(what, value, pos)
    return match.group(), match.end()


def _parse_list(
    value: str, parse_item: Callable[[str, int], tuple[_T, int]], what: str
) -> list[_T]:
    # RFC 7230 section 7: 1#element, where a recipient must accept and ignore
    # empty list elements ("a, , b" and ", a," are both one-or-more lists).
    items: list[_T] = []
    pos = _skip_ows(value, 0)
    while pos < len(value):
        if value[pos] == ",":
            pos = _skip_ows(value, pos + 1)
            continue
        item, pos = parse_item(value, pos)
        items.append(item)
        pos = _skip_ows(value, pos)
        if pos < len(value) and value[pos] != ",":
            raise _error(what, value, pos)
    if not items:
        raise ValueError(f"empty {what}: {_shorten(value)}")
    return items


def parse_token_list(value: str) -> list[str]:
    """Parse a ``1#token`` list, such as the ``Connection`` field (RFC 7230 section 6.1).

    Args:
        value: The field value.

    Returns:
        The tokens, in order, with their original case.

    Raises:
        ValueError: The value is not a non-empty list of tokens.
    """
    return _parse_list(value, lambda v, pos: _parse_token(v, pos, "token list"), "token list")


def _parse_protocol(value: str, pos: int) -> tuple[str, int]:
    name, pos = _parse_token(value, pos, "Upgrade")
    if pos < len(value) and value[pos] == "/":
        version, pos = _parse_token(value, pos + 1, "Upgrade")
        return f"{name}/{version}", pos
    return name, pos


def parse_upgrade(value: str) -> list[str]:
    """Parse an ``Upgrade`` field: ``1#protocol`` (RFC 7230 section 6.7).

    Args:
        value: The field value.

    Returns:
        The protocols, as ``"name"`` or ``"name/version"``, in order.

    Raises:
        ValueError: The value is not a non-empty list of protocols.
    """
    return _parse_list(value, _parse_protocol, "Upgrade")


def parse_subprotocol_list(value: str) -> list[str]:
    """Parse a ``Sec-WebSocket-Protocol`` field (RFC 6455 sections 4.1 and 11.3.4).

    A client offers ``1#token``; a server answers with one token, which this
    function returns as a one-item list.

    Args:
        value: The (combined) field value.

    Returns:
        The subprotocols, in order.

    Raises:
        ValueError: The value is not a non-empty list of tokens.
    """
    return _parse_list(
        value,
        lambda v, pos: _parse_token(v, pos, "Sec-WebSocket-Protocol"),
        "Sec-WebSocket-Protocol",
    )


def build_subprotocol_list(subprotocols: Sequence[str]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` value (RFC 6455 section 4.1).

    Args:
        subprotocols: One or more subprotocol tokens.

    Returns:
        The tokens joined by ``", "``.

    Raises:
        ValueError: The sequence is empty or holds something that is not a token.
    """
    if not subprotocols:
        raise ValueError("at least one subprotocol is required")
    for subprotocol in subprotocols:
        _check_token(subprotocol, "subprotocol")
    return ", ".join(subprotocols)


def _parse_param_value(value: str, pos: int) -> tuple[str, int]:
    if pos < len(value) and value[pos] == '"':
        match = _QUOTED_STRING.match(value, pos)
        if match is None:
            raise _error("Sec-WebSocket-Extensions", value, pos)
        # RFC 6455 section 9.1: "When using the quoted-string syntax variant,
        # the value after quoted-string unescaping MUST conform to the 'token'
        # ABNF."
        unquoted = _QUOTED_PAIR.sub(r"\1", match.group(1))
        if not is_token(unquoted):
            raise _error("Sec-WebSocket-Extensions", value, pos)
        return unquoted, match.end()
    return _parse_token(value, pos, "Sec-WebSocket-Extensions")


def _parse_extension(value: str, pos: int) -> tuple[tuple[str, list[ExtensionParameter]], int]:
    # extension = extension-token *( ";" extension-param )
    # extension-param = token [ "=" (token | quoted-string) ]
    # RFC 6455 uses RFC 2616's implied *LWS rule, so whitespace may surround
    # ";" and "=".
    name, pos = _parse_token(value, pos, "Sec-WebSocket-Extensions")
    params: list[ExtensionParameter] = []
    while True:
        after = _skip_ows(value, pos)
        if after >= len(value) or value[after] != ";":
            return (name, params), pos
        pos = _skip_ows(value, after + 1)
        param, pos = _parse_token(value, pos, "Sec-WebSocket-Extensions")
        after = _skip_ows(value, pos)
        if after < len(value) and value[after] == "=":
            param_value, pos = _parse_param_value(value, _skip_ows(value, after + 1))
            params.append((param, param_value))
        else:
            params.append((param, None))


def parse_extension_list(value: str) -> list[tuple[str, list[ExtensionParameter]]]:
    """Parse a ``Sec-WebSocket-Extensions`` field (RFC 6455 section 9.1).

    Quoted parameter values are unescaped; RFC 6455 requires the result to
    be a token, so ``x="a b"`` is rejected.

    Args:
        value: The (combined) field value.

    Returns:
        ``(name, params)`` for each extension, in order; each parameter is
        ``(name, value)`` with ``None`` for a parameter without a value.

    Raises:
        ValueError: The value does not follow the grammar.
    """
    return _parse_list(value, _parse_extension, "Sec-WebSocket-Extensions")


def build_extension_list(extensions: Sequence[tuple[str, Sequence[ExtensionParameter]]]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` value (RFC 6455 section 9.1).

    Values are always written as bare tokens: RFC 6455 requires them to be
    tokens anyway, so quoting never adds anything.

    Args:
        extensions: ``(name, params)`` pairs, in order of preference.

    Returns:
        For example ``"permessage-deflate; client_max_window_bits, x-foo"``.

    Raises:
        ValueError: The sequence is empty, or a name or value is not a token.
    """
    if not extensions:
        raise ValueError("at least one extension is required")
    parts: list[str] = []
    for name, params in extensions:
        _check_token(name, "extension name")
        items = [name]
        for param, param_value in params:
            _check_token(param, "extension parameter name")
            if param_value is None:
                items.append(param)
            else:
                _check_token(param_value, "extension parameter value")
                items.append(f"{param}={param_value}")
        parts.append("; ".join(items))
    return ", ".join(parts)


def format_host(host: str, port: int, secure: bool) -> str:
    """Format a ``Host`` field value (RFC 7230 section 5.4, RFC 6455 section 4.1).

    IPv6 literals are put in brackets (RFC 3986 section 3.2.2), with the
    ``%`` of a zone identifier written ``%25`` (RFC 6874). The port is left
    out when it is the default for the scheme: 80 for ``ws``, 443 for ``wss``.

    Args:
        host: A host name, IPv4 literal or IPv6 literal (with or without
            brackets). International names must already be IDNA-encoded.
        port: The TCP port, 1 to 65535.
        secure: ``True`` for ``wss`` (TLS), ``False`` for ``ws``.

    Returns:
        For example ``"example.com"``, ``"example.com:8080"`` or ``"[::1]:8443"``.

    Raises:
        ValueError: ``host`` is empty or ``port`` is out of range.
    """
    if not host:
        raise ValueError("host must not be empty")
    if not 1 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    if ":" in host and not host.startswith("["):
        host = "[" + _BARE_PERCENT.sub("%25", host) + "]"
    if port == _DEFAULT_PORTS[secure]:
        return host
    return f"{host}:{port}"
