"""The server side of the opening handshake (RFC 6455 sections 4.2 and 4.4), sans I/O.

Theory of operation
-------------------
A :class:`ServerHandshake` reads one HTTP/1.1 request head and writes one
response. It does no I/O: the caller feeds it the bytes it reads and sends
the bytes it returns.

States (``_State``) and what moves between them (``_TRANSITIONS``)::

    RECEIVING --request parsed--> REQUEST --accept()--> ACCEPTED
        |                            |
        |                            +--reject()--> REJECTED
        +--invalid request--> FAILED --reject()--> REJECTED
        +--reject()------------------------------> REJECTED

* ``receive_data`` only buffers and checks the limits (the buffer never
  holds more than ``max_head_size`` plus the last chunk before the head is
  complete); ``next_request`` parses. A limit breach is raised by the next
  ``next_request`` call, and later bytes are dropped.
* A first byte of ``0x16`` is a TLS ClientHello: the client believes this is
  a TLS port and will never send the blank line that ends a head. It is
  raised by ``next_request`` as a 400 ``InvalidRequest`` at once, instead of
  leaving the caller to wait for its connect timeout.
* ``next_request`` raises :class:`~ws.errors.InvalidRequest` for requests
  that are not even acceptable HTTP/1.1 without a body. A well-formed
  request that is not a valid WebSocket upgrade comes back as a
  :class:`HandshakeRequest` whose ``error`` says why, so that the caller may
  answer it as plain HTTP (a health check) or with :meth:`error_response`.
* Bytes after the request head are the client's first frames. They are
  kept in :attr:`ServerHandshake.trailing_data` for the protocol layer.

What the caller does: feed bytes until ``next_request`` returns a request;
then send the bytes of ``accept``, ``reject`` or ``error_response``. After
``accept`` hand ``trailing_data`` and every later byte to the protocol; after
a rejection or an ``InvalidRequest`` send the response and close.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, final

import attrs

from ws.errors import InvalidRequest, LocalProtocolError, NegotiationError
from ws.handshake._head import HeadBuffer
from ws.handshake._http import drop_reserved, serialize_response
from ws.handshake.headers import build_extension_list
from ws.handshake.hooks import E, ServerExtensionFactoryHook
from ws.handshake.keys import accept_key
from ws.handshake.limits import HandshakeLimits
from ws.handshake.request import ExtensionOffers, HandshakeRequest, parse_request
from ws.typing import BytesLike, ExtensionParameter, StateEnum

__all__ = ["ServerHandshake"]

# Fields accept() and reject() set themselves; the caller's are left out.
_ACCEPT_RESERVED = frozenset(
    {
        b"connection",
        b"content-length",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"transfer-encoding",
        b"upgrade",
    }
)
_REJECT_RESERVED = frozenset({b"connection", b"content-length", b"transfer-encoding"})
# The content type of a TLS handshake record (RFC 8446 section 5.1), which is how
# every ClientHello starts; no HTTP request starts with this control character.
_TLS_HANDSHAKE_RECORD = b"\x16"
# RFC 7230 section 3.3.2: no Content-Length in a 204; 304 has no body either.
_NO_BODY_STATUSES = frozenset({204, 304})


class _State(StateEnum):
    RECEIVING = "receiving"
    REQUEST = "request"
    FAILED = "failed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class _Input(StateEnum):
    REQUEST_RECEIVED = "request received"
    REQUEST_INVALID = "request invalid"
    ACCEPT = "accept"
    REJECT = "reject"


_TRANSITIONS: dict[tuple[_State, _Input], _State] = {
    (_State.RECEIVING, _Input.REQUEST_RECEIVED): _State.REQUEST,
    (_State.RECEIVING, _Input.REQUEST_INVALID): _State.FAILED,
    (_State.RECEIVING, _Input.REJECT): _State.REJECTED,
    (_State.REQUEST, _Input.ACCEPT): _State.ACCEPTED,
    (_State.REQUEST, _Input.REJECT): _State.REJECTED,
    (_State.FAILED, _Input.REJECT): _State.REJECTED,
}


@final
@attrs.define(eq=False)
class ServerHandshake(Generic[E]):
    """The server's side of one opening handshake, generic in the extension type.

    Args:
        limits: How much of the request to read before giving up.
        server_header: The ``Server`` field of every response, unless the
            caller's headers have one; ``None`` for none.
    """

    limits: HandshakeLimits = attrs.field(factory=HandshakeLimits, kw_only=True)
    server_header: str | None = attrs.field(default=None, kw_only=True)
    _state: _State = attrs.field(default=_State.RECEIVING, init=False)
    _head: HeadBuffer = attrs.field(init=False)
    _limit_error: InvalidRequest | None = attrs.field(default=None, init=False)
    _request: HandshakeRequest | None = attrs.field(default=None, init=False)
    _trailing: bytearray = attrs.field(factory=bytearray, init=False)
    _eof: bool = attrs.field(default=False, init=False)

    @_head.default
    def _make_head(self) -> HeadBuffer:
        return HeadBuffer(self.limits, InvalidRequest)

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after the request head: the client's first frames.

        Empty until :meth:`next_request` has returned a request.
        """
        return bytes(self._trailing)

    @property
    def eof_received(self) -> bool:
        """Whether :meth:`receive_eof` was called: the client closed its side."""
        return self._eof

    def receive_data(self, data: BytesLike) -> None:
        """Feed bytes read from the client.

        Args:
            data: The next bytes of the stream, possibly empty.

        Raises:
            ws.errors.LocalProtocolError: Called after :meth:`receive_eof`, or
                after :meth:`accept` (later bytes belong to the protocol layer).
        """
        if self._eof:
            raise LocalProtocolError("receive_data() called after receive_eof()")
        state = self._state
        if state is _State.RECEIVING:
            if self._limit_error is None:
                if len(self._head) == 0 and data[:1] == _TLS_HANDSHAKE_RECORD:
                    # A TLS client on a plain port waits for a ServerHello and
                    # never sends the blank line that ends an HTTP head.
                    self._limit_error = InvalidRequest(
                        "the client began a TLS handshake on a plain-text port: "
                        "use a ws:// URL, or serve this port with an ssl_context",
                        http_status=400,
                    )
                    return
                try:
                    self._head.feed(data)
                except InvalidRequest as exc:
                    self._limit_error = exc
                    self._head.clear()
        elif state is _State.REQUEST:
            self._trailing += data
        elif state is _State.ACCEPTED:
            raise LocalProtocolError("after accept(), pass received bytes to the protocol layer")
        # FAILED or REJECTED: the connection is closing; drop the bytes.

    def receive_eof(self) -> None:
        """Note that the client closed its side of the connection."""
        self._eof = True

    def next_request(self) -> HandshakeRequest | None:
        """Parse the request once its head has arrived.

        Returns:
            ``None`` until the head is complete; then the request, which is
            returned again by later calls. Check its ``error`` before
            accepting it.

        Raises:
            ws.errors.InvalidRequest: The bytes are not an acceptable request:
                not HTTP/1.1 (400, or 505 for another version), over the
                limits (414 for the request line, 431 for the head), with a
                body (400), cut short by the end of the stream (400), or
                the start of a TLS handshake (400).
                Answer with :meth:`error_response`, then close.
            ws.errors.LocalProtocolError: Called after an ``InvalidRequest``
                or a rejection.
        """
        state = self._state
        if state is _State.REQUEST or state is _State.ACCEPTED:
            return self._request
        if state is not _State.RECEIVING:
            raise LocalProtocolError(f"next_request() called in state {state.name}")
        if self._limit_error is not None:
            raise self._fail(self._limit_error)
        if not self._head.complete:
            if self._eof:
                raise self._fail(
                    InvalidRequest("connection closed before the end of the request head")
                )
            return None
        try:
            request = parse_request(self._head.pop_head(), self.limits)
        except InvalidRequest as exc:
            self._fail(exc)
            raise
        self._trailing += self._head.take_rest()
        self._request = request
        self._transition(_Input.REQUEST_RECEIVED)
        return request

    def accept(
        self,
        request: HandshakeRequest,
        *,
        subprotocol: str | None = None,
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
        extensions: Sequence[ServerExtensionFactoryHook[E]] = (),
    ) -> tuple[bytes, list[E]]:
        """Accept the upgrade with a 101 response (RFC 6455 section 4.2.2).

        Extensions are negotiated in the client's order of offers: for each
        offer, the factories with that name that have not accepted one yet
        are asked in turn; a factory that raises ``NegotiationError``
        declines the offer, and the next offer of the same name gets its
        chance. Each factory accepts at most one offer.

        Args:
            request: The request :meth:`next_request` returned.
            subprotocol: The subprotocol to use, one the client offered, or
                ``None`` for none.
            extra_headers: More fields for the response. Fields the
                handshake sets (``Upgrade``, ``Connection``,
                ``Sec-WebSocket-Accept``, ``-Protocol``, ``-Extensions``,
                ``Content-Length``, ``Transfer-Encoding``) are left out.
            extensions: The server's extension factories.

        Returns:
            The response bytes to send, and the negotiated extensions in the
            order they were negotiated.

        Raises:
            ws.errors.LocalProtocolError: The request has an ``error``, is
                not this handshake's request, was already answered; the
                subprotocol was not offered; a header field is malformed.
        """
        if request is not self._request:
            raise LocalProtocolError("accept() takes the request that next_request() returned")
        if request.error is not None:
            raise LocalProtocolError(f"cannot accept an invalid request: {request.error}")
        self._next_state(_Input.ACCEPT)
        if subprotocol is not None and subprotocol not in request.subprotocols:
            raise LocalProtocolError(f"subprotocol {subprotocol!r} was not offered by the client")
        extra = drop_reserved(extra_headers, _ACCEPT_RESERVED)
        assert request.key is not None  # a request without an error has a key
        headers = [
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", accept_key(request.key).encode("ascii")),
        ]
        if subprotocol is not None:
            headers.append((b"Sec-WebSocket-Protocol", subprotocol.encode("ascii")))
        negotiated, answers = _negotiate(request.extensions, extensions)
        if answers:
            try:
                value = build_extension_list(answers)
            except ValueError as exc:
                raise LocalProtocolError(f"invalid extension parameters: {exc}") from exc
            headers.append((b"Sec-WebSocket-Extensions", value.encode("ascii")))
        headers.extend(extra)
        if self.server_header is not None:
            self._add_server(headers, extra)
        response = serialize_response(101, headers)
        self._transition(_Input.ACCEPT)
        return response, negotiated

    def reject(
        self,
        status_code: int,
        *,
        headers: Sequence[tuple[bytes, bytes]] = (),
        body: bytes = b"",
    ) -> bytes:
        """Answer with a plain HTTP response and close (RFC 6455 section 4.2.2).

        This is also how to answer a non-WebSocket request, such as a health
        check. The response carries ``Content-Length`` (except for 204 and
        304, which have no body) and ``Connection: close``; the body is left
        out for a ``HEAD`` request.

        Args:
            status_code: A final status, 200 to 599. 101 is not a rejection,
                and a 1xx response is not final.
            headers: More fields; ``Content-Length``, ``Transfer-Encoding``
                and ``Connection`` are left out, the handshake sets them.
            body: The response body.

        Returns:
            The response bytes to send before closing the connection.

        Raises:
            ws.errors.LocalProtocolError: The status is out of range, a body
                is given for 204 or 304, a field is malformed, or the request
                was already answered.
        """
        self._next_state(_Input.REJECT)
        if not 200 <= status_code <= 599:
            raise LocalProtocolError(
                f"a rejection needs a final status (200-599), not {status_code}"
            )
        fields = drop_reserved(headers, _REJECT_RESERVED)
        if status_code in _NO_BODY_STATUSES:
            if body:
                raise LocalProtocolError(f"a {status_code} response has no body")
        else:
            fields.append((b"Content-Length", str(len(body)).encode("ascii")))
        fields.append((b"Connection", b"close"))
        if self.server_header is not None:
            self._add_server(fields, fields)
        response = serialize_response(status_code, fields)
        if self._request is None or self._request.method != "HEAD":
            response += body
        self._transition(_Input.REJECT)
        return response

    def error_response(self, exc: InvalidRequest) -> bytes:
        """Answer an invalid request with the status it implies.

        Args:
            exc: The error ``next_request`` raised, or a request's ``error``.

        Returns:
            The response bytes: ``exc.http_status``, ``exc.headers`` and the
            error message as a ``text/plain`` body.

        Raises:
            ws.errors.LocalProtocolError: As for :meth:`reject`.
        """
        headers = [*exc.headers, (b"Content-Type", b"text/plain; charset=utf-8")]
        body = f"Failed to open a WebSocket connection: {exc.message}\n".encode()
        return self.reject(exc.http_status, headers=headers, body=body)

    def _add_server(
        self, fields: list[tuple[bytes, bytes]], given: list[tuple[bytes, bytes]]
    ) -> None:
        """Add our ``Server`` field to ``fields`` unless the caller ``given`` one."""
        assert self.server_header is not None
        if not given or not any(name.lower() == b"server" for name, _ in given):
            fields.append((b"Server", self.server_header.encode("latin-1")))

    def _next_state(self, event: _Input) -> _State:
        try:
            return _TRANSITIONS[self._state, event]
        except KeyError:
            raise LocalProtocolError(f"cannot {event.value} in state {self._state.name}") from None

    def _transition(self, event: _Input) -> None:
        self._state = self._next_state(event)

    def _fail(self, exc: InvalidRequest) -> InvalidRequest:
        self._transition(_Input.REQUEST_INVALID)
        self._head.clear()
        return exc


def _negotiate(
    offers: ExtensionOffers, factories: Sequence[ServerExtensionFactoryHook[E]]
) -> tuple[list[E], list[tuple[str, list[ExtensionParameter]]]]:
    accepted: list[E] = []
    answers: list[tuple[str, list[ExtensionParameter]]] = []
    used: list[ServerExtensionFactoryHook[E]] = []
    for name, params in offers:
        for factory in factories:
            if factory.name != name or any(factory is done for done in used):
                continue
            try:
                response_params, extension = factory.process_request_params(params, accepted)
            except NegotiationError:
                continue
            accepted.append(extension)
            answers.append((name, response_params))
            used.append(factory)
            break
    return accepted, answers
