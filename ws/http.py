"""Plain HTTP on the WebSocket port: the request a hook sees, the response it may give.

A server's ``process_request`` hook is called with an :class:`HTTPRequest`
for every request that parses as HTTP/1.1, upgrade or not. It returns
``None`` to go on with the WebSocket handshake, or an :class:`HTTPResponse`,
which is sent as a plain HTTP/1.1 response before the connection closes::

    async def health(request: ws.HTTPRequest) -> ws.HTTPResponse | None:
        if request.path == "/health":
            return ws.HTTPResponse(200, body="OK\\n")
        return None

    await ws.serve_websocket(handler, "127.0.0.1", 8000, None, process_request=health)

The hook never sees a request body: a request that announces one is
answered (by the hook or with 400) without its body being read.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Sequence
from http import HTTPStatus
from typing import TypeAlias

import attrs

from ws._headers import normalize_headers
from ws.transports.endpoint import Address

__all__ = ["HTTPRequest", "HTTPResponse", "ProcessRequest", "ProcessRequestArg"]


def _header_values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for field, value in headers if field == name]


@attrs.define(eq=False)
class HTTPRequest:
    """A request on the server's port, as ``process_request`` hooks see it.

    Attributes:
        method: The request method, such as ``"GET"`` or ``"HEAD"``.
        path: The path of the request target, without the query string,
            as sent (percent-escapes are not decoded).
        query: The query string, without the ``?`` (``""`` if none).
        headers: Every header field as ``(name, value)`` bytes, names in
            lower case, in the order received.
        local: The server's end of the connection.
        remote: The client's end of the connection.
        is_websocket: Whether this is a valid WebSocket upgrade request;
            without a hook's answer, any other request gets an HTTP error
            (426, 405, 400) as before.
        has_body: Whether the request announced a body. It is never read:
            answer with a response, or the server answers 400.
        user: The user a :func:`ws.basic_auth` hook authenticated, or ``None``.
        state: Anything hooks want to hand to the handler
            (``request.state`` there).
    """

    method: str
    path: str
    query: str
    headers: tuple[tuple[bytes, bytes], ...]
    local: Address
    remote: Address
    is_websocket: bool
    has_body: bool = False
    user: str | None = None
    state: dict[str, object] = attrs.field(factory=dict)

    @property
    def resource(self) -> str:
        """Path and query, as :attr:`ws.WebSocketRequest.path` has them."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def header(self, name: str) -> str | None:
        """The value of a header field, or ``None`` if it is absent.

        Repeated fields are joined with ``", "`` (RFC 9110 section 5.3).
        The name is matched without regard to case; the value is decoded
        as Latin-1, as HTTP allows any octet there.
        """
        values = _header_values(self.headers, name.lower().encode("ascii"))
        if not values:
            return None
        return b", ".join(values).decode("latin-1")

    @property
    def query_params(self) -> dict[str, list[str]]:
        """The query string parsed: each name with its values, in order.

        ``"?room=a&room=b&x"`` gives ``{"room": ["a", "b"], "x": [""]}``.
        """
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)


def _body(value: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"an HTTP response body is bytes or str, not {type(value).__name__}")


def _status(_instance: object, _attribute: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"status_code is an int, not {type(value).__name__}")
    if not 200 <= value <= 599:
        raise ValueError(
            f"an HTTPResponse has a final status (200-599), not {value}; "
            "101 is the WebSocket handshake's own"
        )


@attrs.frozen
class HTTPResponse:
    """A plain HTTP/1.1 response for ``process_request`` to return.

    It is sent with ``Content-Length`` and ``Connection: close`` (the
    server sets both), and the connection is closed after it. A ``HEAD``
    request gets the head only.

    Args:
        status_code: A final status, 200 to 599.
        headers: More header fields, as ``(name, value)`` pairs or a mapping;
            ``str`` or ``bytes``. Without a ``Content-Type``, a non-empty body
            is sent as ``text/plain; charset=utf-8``.
        body: The body; ``str`` is encoded as UTF-8.

    Raises:
        TypeError: A status that is not an int, or a body that is neither
            bytes nor str.
        ValueError: A status outside 200-599.
    """

    status_code: int = attrs.field(validator=_status)
    headers: tuple[tuple[bytes, bytes], ...] = attrs.field(default=(), converter=normalize_headers)
    body: bytes = attrs.field(default=b"", converter=_body)

    @property
    def reason(self) -> str:
        """The standard reason phrase of the status (``"Not Found"``), or ``""``."""
        try:
            return HTTPStatus(self.status_code).phrase
        except ValueError:
            return ""

    def fields(self) -> list[tuple[bytes, bytes]]:
        """The header fields to send: ours, plus a default ``Content-Type``."""
        fields = list(self.headers)
        if self.body and not any(name.lower() == b"content-type" for name, _ in fields):
            fields.append((b"Content-Type", b"text/plain; charset=utf-8"))
        return fields

    @classmethod
    def plain(cls, status_code: int, text: str | None = None) -> HTTPResponse:
        """A short ``text/plain`` response: the text, or the status's reason phrase."""
        if text is None:
            text = f"{status_code} {HTTPStatus(status_code).phrase}\n"
        return cls(status_code, body=text)


#: One ``process_request`` hook: ``async def hook(request) -> HTTPResponse | None``.
ProcessRequest: TypeAlias = Callable[[HTTPRequest], Awaitable[HTTPResponse | None]]

#: What ``process_request=`` takes: one hook, or several tried in order (the
#: first response wins), or ``None``.
ProcessRequestArg: TypeAlias = ProcessRequest | Sequence[ProcessRequest] | None


def hook_tuple(hooks: ProcessRequestArg | Iterable[ProcessRequest]) -> tuple[ProcessRequest, ...]:
    """``process_request=`` as a tuple of hooks, checked."""
    if hooks is None:
        return ()
    if callable(hooks):
        return (hooks,)
    result = tuple(hooks)
    for hook in result:
        if not callable(hook):
            raise TypeError(
                f"process_request takes async callables (or a sequence of them), not {hook!r}"
            )
    return result
