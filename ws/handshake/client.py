"""The client side of the opening handshake (RFC 6455 sections 4.1 and 4.2.2), sans I/O.

Theory of operation
-------------------
A :class:`ClientHandshake` writes one request and reads one response. It
does no I/O: the caller sends what :meth:`ClientHandshake.data_to_send`
returns, feeds what it reads to :meth:`ClientHandshake.receive_data` and polls
:meth:`ClientHandshake.next_result`.

States (``_State``) and what moves between them (``_TRANSITIONS``)::

    IDLE --data_to_send()--> CONNECTING --valid 101--> ACCEPTED
                                 |
                                 +--status >= 200--> READING_BODY --body read--> REJECTED
                                 +--end of stream after a 1xx--------------------> REJECTED
                                 +--invalid response or limit--> FAILED

* h11 writes the request (so that it expects the switch to WebSocket) and
  parses each response head, but only after :class:`HeadBuffer` has checked
  the limits: the head is bounded however the server splits it.
* A 101 is checked by :func:`ws.handshake.response.check_response`, which
  also runs the extension factories.
* Interim 1xx responses other than 101 are skipped (RFC 9110 section 15.2);
  their heads count towards ``max_head_size``. A stream that ends right
  after one (a server that answers ``100 Continue`` and closes) is a
  rejection with that interim status, its headers and no body (``None`` in
  the ConnectionRejected), as trio-websocket reports it.
* The bytes after a 101 head are the server's first frames: they are handed
  over in :attr:`HandshakeAccepted.trailing_data`.
* The body of a rejection is read as it arrives, by h11 (Content-Length,
  chunked or until the end of the stream), and kept up to
  ``max_body_size`` bytes. A body that breaks off or is malformed ends the
  body early; the rejection stands either way.

What the caller does: send ``data_to_send()``, then read and feed bytes
until ``next_result`` returns a result. On :class:`HandshakeAccepted` hand
``trailing_data`` and every later byte to the protocol layer; on
:class:`HandshakeRejected` raise ``result.to_exception()`` and close; on
``InvalidResponse`` close.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Generic, final

import attrs
import h11

from ws.errors import ConnectionRejected, InvalidResponse, LocalProtocolError
from ws.handshake._head import HeadBuffer
from ws.handshake._http import check_field, drop_reserved, parse_plain_101, serialize_request
from ws.handshake.headers import build_extension_list, build_subprotocol_list, is_token
from ws.handshake.hooks import ClientExtensionFactoryHook, E
from ws.handshake.keys import generate_key, is_valid_key
from ws.handshake.limits import HandshakeLimits
from ws.handshake.response import check_response
from ws.typing import BytesLike, StateEnum

__all__ = ["ClientHandshake", "HandshakeAccepted", "HandshakeRejected"]

# What h11 is told was sent: the method and the upgrade offer are all it
# needs to read a 101 (or any other) response.
_H11_UPGRADE_REQUEST = h11.Request(
    method=b"GET",
    target=b"/",
    headers=[(b"Host", b"ws"), (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")],
)
_H11_END = h11.EndOfMessage()

# Fields the request sets itself; extra_headers with these names are left out.
_RESERVED = frozenset(
    {
        b"connection",
        b"content-length",
        b"host",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-key",
        b"sec-websocket-protocol",
        b"sec-websocket-version",
        b"transfer-encoding",
        b"upgrade",
    }
)
# The content types of the TLS records a TLS server sends first: alert, handshake.
_TLS_RECORD_TYPES = frozenset({0x15, 0x16})
# RFC 6455 section 3: a resource name is a path and an optional query; no fragment.
_RESOURCE = re.compile(r"/[\x21-\x22\x24-\x7e]*")


@attrs.frozen
class HandshakeAccepted(Generic[E]):
    """The server accepted the upgrade with a valid 101 response.

    Attributes:
        status_code: Always 101.
        headers: The response fields as ``(name, value)`` bytes, names in
            lowercase, in the order received.
        subprotocol: The subprotocol the server chose, or ``None``.
        extensions: The negotiated extensions, in the order of the server's
            ``Sec-WebSocket-Extensions``.
        trailing_data: Bytes received after the response head: the server's
            first frames, for the protocol layer.
    """

    status_code: int
    headers: tuple[tuple[bytes, bytes], ...]
    subprotocol: str | None
    extensions: tuple[E, ...]
    trailing_data: bytes


@attrs.frozen
class HandshakeRejected:
    """The server answered with a final status other than 101, or closed after a 1xx.

    Attributes:
        status_code: The status: 200 to 599, or 100 to 199 (not 101) when
            the stream ended after that interim response.
        headers: The response fields as ``(name, value)`` bytes, names in
            lowercase, in the order received.
        body: The body, truncated to ``max_body_size`` bytes, or shorter if
            the server closed the connection early or framed it badly;
            empty after an interim (1xx) response, which has none.
    """

    status_code: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def to_exception(self) -> ConnectionRejected:
        """Return the :class:`~ws.errors.ConnectionRejected` that reports this rejection.

        After an interim (1xx) response its ``body`` is ``None``, as
        trio-websocket reports it: such a response cannot have one
        (RFC 9110 section 15.2).
        """
        body = None if self.status_code < 200 else self.body
        return ConnectionRejected(self.status_code, self.headers, body)


class _State(StateEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    READING_BODY = "reading body"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"


class _Input(StateEnum):
    SEND_REQUEST = "send the request"
    ACCEPTED = "accept"
    REJECTED = "reject"
    BODY_READ = "finish the body"
    ENDED_AFTER_INTERIM = "end after an interim response"
    INVALID = "fail"


_TRANSITIONS: dict[tuple[_State, _Input], _State] = {
    (_State.IDLE, _Input.SEND_REQUEST): _State.CONNECTING,
    (_State.CONNECTING, _Input.ACCEPTED): _State.ACCEPTED,
    (_State.CONNECTING, _Input.REJECTED): _State.READING_BODY,
    (_State.CONNECTING, _Input.INVALID): _State.FAILED,
    (_State.CONNECTING, _Input.ENDED_AFTER_INTERIM): _State.REJECTED,
    (_State.READING_BODY, _Input.BODY_READ): _State.REJECTED,
}


def _check_host(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or not value.isascii():
        raise LocalProtocolError(f"invalid Host {value!r}: use format_host() and IDNA")
    check_field(b"Host", value.encode("ascii"))


def _check_resource(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if _RESOURCE.fullmatch(value) is None:
        raise LocalProtocolError(f"invalid resource {value!r}: a path starting with '/'")


def _to_subprotocols(value: Iterable[str]) -> tuple[str, ...]:
    # A lone string is a common slip: "chat" would offer "c, h, a, t".
    if isinstance(value, str):
        raise LocalProtocolError(f"subprotocols must be a sequence of strings, not {value!r}")
    subprotocols = tuple(value)
    for subprotocol in subprotocols:
        if not is_token(subprotocol):
            raise LocalProtocolError(f"subprotocol is not a token: {subprotocol!r}")
    return subprotocols


def _check_origin(
    instance: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is not None:
        if not value.isascii():
            raise LocalProtocolError(f"invalid Origin {value!r}")
        check_field(b"Origin", value.encode("ascii"))


def _check_key(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not is_valid_key(value):
        raise LocalProtocolError(f"invalid Sec-WebSocket-Key {value!r}")


@final
@attrs.define(eq=False, kw_only=True)
class ClientHandshake(Generic[E]):
    """The client's side of one opening handshake, generic in the extension type.

    Args:
        host: The ``Host`` value, already formatted with
            :func:`~ws.handshake.headers.format_host`.
        resource: The resource name: a path and optional query, starting
            with ``/`` (RFC 6455 section 3).
        subprotocols: The subprotocols to offer, in order of preference
            (any iterable of strings; kept as a tuple).
        extra_headers: More request fields. Fields that the handshake sets
            itself (``Host``, ``Upgrade``, ``Connection``, every
            ``Sec-WebSocket-*``, ``Content-Length``, ``Transfer-Encoding``,
            and ``Origin`` when ``origin`` is given) are left out, as
            trio-websocket documents ("will be overwritten").
        extensions: The extension factories whose offers to send, in order
            of preference.
        origin: The ``Origin`` value, or ``None`` to send none.
        user_agent: The ``User-Agent`` value, unless ``extra_headers`` has
            one; ``None`` to send none.
        limits: How much of the response to read.
        key: The ``Sec-WebSocket-Key``; a fresh random one by default.
            Inject one only to make tests deterministic.

    Raises:
        ws.errors.LocalProtocolError: An argument cannot be sent as given.
    """

    host: str = attrs.field(validator=_check_host)
    resource: str = attrs.field(validator=_check_resource)
    subprotocols: tuple[str, ...] = attrs.field(default=(), converter=_to_subprotocols)
    extra_headers: Sequence[tuple[bytes, bytes]] = attrs.field(default=())
    extensions: Sequence[ClientExtensionFactoryHook[E]] = attrs.field(default=())
    origin: str | None = attrs.field(default=None, validator=_check_origin)
    user_agent: str | None = attrs.field(default=None, kw_only=True)
    limits: HandshakeLimits = attrs.field(factory=HandshakeLimits)
    key: str = attrs.field(factory=generate_key, validator=_check_key)
    _state: _State = attrs.field(default=_State.IDLE, init=False)
    _extra: list[tuple[bytes, bytes]] = attrs.field(init=False)
    # Made when a head is not plain (see _http.parse_plain_101), or for a
    # rejection's body: a plain 101 needs no h11 connection at all.
    _conn: h11.Connection | None = attrs.field(default=None, init=False)
    _head: HeadBuffer = attrs.field(init=False)
    _limit_error: InvalidResponse | None = attrs.field(default=None, init=False)
    _result: HandshakeAccepted[E] | HandshakeRejected | None = attrs.field(default=None, init=False)
    _status_code: int = attrs.field(default=0, init=False)
    _headers: tuple[tuple[bytes, bytes], ...] = attrs.field(default=(), init=False)
    _body: bytearray = attrs.field(factory=bytearray, init=False)
    _eof: bool = attrs.field(default=False, init=False)
    # The last interim (1xx) response, if the stream ends right after it.
    _interim: h11.InformationalResponse | None = attrs.field(default=None, init=False)
    # The first two bytes of the response, to recognise a TLS server.
    _start: bytes = attrs.field(default=b"", init=False)

    @_extra.default
    def _make_extra(self) -> list[tuple[bytes, bytes]]:
        reserved = _RESERVED if self.origin is None else _RESERVED | {b"origin"}
        return drop_reserved(self.extra_headers, reserved)

    def _h11(self) -> h11.Connection:
        conn = self._conn
        if conn is None:
            conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=self.limits.max_head_size)
            # h11 only has to know that a GET with an upgrade offer went out
            # to read the response that follows: it is told of a constant one.
            conn.send(_H11_UPGRADE_REQUEST)
            conn.send(_H11_END)
            self._conn = conn
        return conn

    @_head.default
    def _make_head(self) -> HeadBuffer:
        return HeadBuffer(self.limits, InvalidResponse)

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after a 101 head, as in :attr:`HandshakeAccepted.trailing_data`.

        Empty unless the handshake succeeded.
        """
        result = self._result
        return result.trailing_data if isinstance(result, HandshakeAccepted) else b""

    @property
    def eof_received(self) -> bool:
        """Whether :meth:`receive_eof` was called."""
        return self._eof

    def data_to_send(self) -> bytes:
        """Return the opening request (RFC 6455 section 4.1) the first time, then ``b""``.

        Returns:
            The request bytes to send.

        Raises:
            ws.errors.LocalProtocolError: An extension factory's offer is not
                valid in ``Sec-WebSocket-Extensions``.
        """
        if self._state is not _State.IDLE:
            return b""
        headers = [
            (b"Host", self.host.encode("ascii")),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", self.key.encode("ascii")),
            (b"Sec-WebSocket-Version", b"13"),
        ]
        if self.origin is not None:
            headers.append((b"Origin", self.origin.encode("ascii")))
        if self.subprotocols:
            value = build_subprotocol_list(self.subprotocols)
            headers.append((b"Sec-WebSocket-Protocol", value.encode("ascii")))
        if self.extensions:
            offers = [(factory.name, factory.get_request_params()) for factory in self.extensions]
            try:
                value = build_extension_list(offers)
            except ValueError as exc:
                raise LocalProtocolError(f"invalid extension offer: {exc}") from exc
            headers.append((b"Sec-WebSocket-Extensions", value.encode("ascii")))
        extra = self._extra
        if self.user_agent is not None and not (
            extra and any(name.lower() == b"user-agent" for name, _ in extra)
        ):
            headers.append((b"User-Agent", self.user_agent.encode("latin-1")))
        headers.extend(extra)
        # Serialized here, like the server's responses: every field was
        # checked when it was given (measured: building and checking an
        # h11.Request per connection took 3% of a sequential connect +
        # handshake + close).
        self._transition(_Input.SEND_REQUEST)
        return serialize_request(b"GET", self.resource.encode("ascii"), headers)

    def receive_data(self, data: BytesLike) -> None:
        """Feed bytes read from the server.

        Args:
            data: The next bytes of the stream, possibly empty.

        Raises:
            ws.errors.LocalProtocolError: Called before the request was sent,
                after :meth:`receive_eof`, or after the handshake succeeded
                (later bytes belong to the protocol layer).
        """
        if self._eof:
            raise LocalProtocolError("receive_data() called after receive_eof()")
        state = self._state
        if state is _State.CONNECTING:
            if len(self._start) < 2 and data:
                self._sniff(data)
            if self._limit_error is None:
                try:
                    self._head.feed(data)
                except InvalidResponse as exc:
                    self._limit_error = exc
                    self._head.clear()
        elif state is _State.READING_BODY:
            if data:  # h11 takes b"" for the end of the stream
                self._h11().receive_data(bytes(data))
                self._read_body()
        elif state is _State.IDLE:
            raise LocalProtocolError("receive_data() called before data_to_send()")
        elif state is _State.ACCEPTED:
            raise LocalProtocolError(
                "after the handshake, pass received bytes to the protocol layer"
            )
        # REJECTED or FAILED: the connection is closing; drop the bytes.

    def receive_eof(self) -> None:
        """Note that the server closed its side of the connection."""
        if not self._eof and self._state is _State.READING_BODY:
            self._h11().receive_data(b"")
            self._read_body()
        self._eof = True

    def next_result(self) -> HandshakeAccepted[E] | HandshakeRejected | None:
        """Return the outcome once the response allows one.

        Returns:
            ``None`` while more bytes are needed; then the result, which is
            returned again by later calls.

        Raises:
            ws.errors.InvalidResponse: The response is not valid HTTP/1.1, is
                over the limits, is cut short by the end of the stream, or is
                a 101 that does not complete the WebSocket handshake
                (RFC 6455 section 4.1). Close the connection.
            ws.errors.LocalProtocolError: Called before the request was sent
                or after an ``InvalidResponse``.
        """
        state = self._state
        if state is _State.CONNECTING:
            return self._process_heads()
        if state is _State.READING_BODY:
            return None
        if self._result is None:
            raise LocalProtocolError(f"next_result() called in state {state.name}")
        return self._result

    def _process_heads(self) -> HandshakeAccepted[E] | HandshakeRejected | None:
        while True:
            if self._limit_error is not None:
                raise self._fail(self._limit_error)
            if not self._head.complete:
                if self._eof:
                    if self._interim is not None and not len(self._head):
                        return self._end_after_interim(self._interim)
                    if not self._start:
                        raise self._fail(
                            InvalidResponse(
                                "the server closed the connection without a response "
                                "(the server speaks TLS? use wss://)"
                            )
                        )
                    raise self._fail(
                        InvalidResponse("connection closed before the end of the response head")
                    )
                return None
            head = self._head.pop_head()
            plain = parse_plain_101(head)  # the common shape, without h11's cost
            if plain is not None:
                return self._accept(list(plain))
            conn = self._h11()
            conn.receive_data(head)
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise self._fail(InvalidResponse(f"invalid HTTP response: {exc}")) from exc
            # HeadBuffer ends a head where h11 does, so a whole head is a response or an error.
            assert isinstance(event, (h11.Response, h11.InformationalResponse))
            if isinstance(event, h11.Response):
                self._start_rejection(event)
                return self._result
            if event.status_code == 101:
                if event.http_version != b"1.1":
                    # RFC 6455 section 4.1: the upgrade is HTTP/1.1 only.
                    raise self._fail(
                        InvalidResponse(
                            "a 101 response must be HTTP/1.1, not HTTP/"
                            + event.http_version.decode("ascii", "replace")
                        )
                    )
                return self._accept(list(event.headers))
            # An interim response (100, 102, 103): the final one follows.
            self._interim = event
            try:
                self._head.scan()
            except InvalidResponse as exc:
                self._limit_error = exc
                self._head.clear()

    def _sniff(self, data: BytesLike) -> None:
        # A TLS record (handshake 0x16 or alert 0x15, version 3.x) where an
        # HTTP response should start: the request went in plain text to a
        # TLS port, which is no HTTP answer and may never end.
        start = self._start = self._start + bytes(data[: 2 - len(self._start)])
        if len(start) == 2 and start[0] in _TLS_RECORD_TYPES and start[1] == 3:
            if self._limit_error is None:
                self._limit_error = InvalidResponse(
                    "the server answered in TLS, not HTTP (the server speaks TLS? use wss://)"
                )
                self._head.clear()

    def _accept(self, headers: list[tuple[bytes, bytes]]) -> HandshakeAccepted[E]:
        try:
            subprotocol, extensions = check_response(
                headers, key=self.key, subprotocols=self.subprotocols, extensions=self.extensions
            )
        except InvalidResponse as exc:
            self._fail(exc)
            raise
        self._result = HandshakeAccepted(
            status_code=101,
            headers=tuple(headers),
            subprotocol=subprotocol,
            extensions=tuple(extensions),
            trailing_data=self._head.take_rest(),
        )
        self._transition(_Input.ACCEPTED)
        return self._result

    def _end_after_interim(self, event: h11.InformationalResponse) -> HandshakeRejected:
        # No final response will come: report the interim one, which has no body.
        self._result = HandshakeRejected(event.status_code, tuple(event.headers), b"")
        self._transition(_Input.ENDED_AFTER_INTERIM)
        return self._result

    def _start_rejection(self, event: h11.Response) -> None:
        self._status_code = event.status_code
        self._headers = tuple(event.headers)
        self._transition(_Input.REJECTED)
        rest = self._head.take_rest()
        conn = self._h11()
        if rest:
            conn.receive_data(rest)
        if self._eof:
            conn.receive_data(b"")
        self._read_body()

    def _read_body(self) -> None:
        limit = self.limits.max_body_size
        while True:
            try:
                event = self._h11().next_event()
            except h11.RemoteProtocolError:
                break  # a broken body ends the body; the rejection stands
            if event is h11.NEED_DATA:
                return
            if not isinstance(event, h11.Data):
                break  # EndOfMessage, or ConnectionClosed after the end of stream
            self._body += event.data[: limit - len(self._body)]
            if len(self._body) >= limit:
                break
        self._result = HandshakeRejected(self._status_code, self._headers, bytes(self._body))
        self._transition(_Input.BODY_READ)

    def _transition(self, event: _Input) -> None:
        try:
            self._state = _TRANSITIONS[self._state, event]
        except KeyError:
            raise LocalProtocolError(f"cannot {event.value} in state {self._state.name}") from None

    def _fail(self, exc: InvalidResponse) -> InvalidResponse:
        self._transition(_Input.INVALID)
        self._head.clear()
        return exc
