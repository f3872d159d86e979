"""Where ws differs from trio-websocket 0.12.2 on purpose: the one list.

Every entry is asserted as a difference by at least one scenario
(``diverges={"observation": "id"}``, checked by ``test_coverage.py``), and
appears in ``docs/migration.md`` under its id with the same reason and the
setting that restores trio-websocket's behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

Check = Callable[[object], bool]


def _any(_: object) -> bool:
    return True


@attrs.frozen
class Divergence:
    """One deliberate difference.

    Attributes:
        what: What differs, in a sentence.
        why: Why ws keeps it.
        restore: How to get trio-websocket's behaviour back with ws, or why
            there is no setting for it.
        theirs: What trio-websocket's observation must satisfy.
        ours: What ws's observation must satisfy.
    """

    what: str
    why: str
    restore: str
    theirs: Check = _any
    ours: Check = _any

    def check(self, key: str, *, theirs: object, ours: object) -> None:
        """Assert that both observations are the documented ones."""
        assert self.theirs(theirs), f"{key!r}: trio-websocket observed {theirs!r}; {self.what}"
        assert self.ours(ours), f"{key!r}: ws observed {ours!r}; {self.what}"


def _raised(*kinds: str) -> Check:
    """An observation of an exception that is an instance of every one of ``kinds``."""

    def check(value: object) -> bool:
        return (
            isinstance(value, tuple)
            and len(value) == 3
            and value[0] == "raised"
            and all(kind in value[1] for kind in kinds)
        )

    return check


def _equals(expected: object) -> Check:
    return lambda value: value == expected


DIVERGENCES: Final[dict[str, Divergence]] = {
    "handler-errors-are-logged": Divergence(
        what=(
            "An exception escaping a server handler is logged to the 'ws' logger, the "
            "client gets close code 1011 and the server keeps serving; trio-websocket "
            "lets it propagate out of serve_websocket, which stops the server."
        ),
        why=(
            "One client's bad input must not take the service down for everyone; "
            "this is what every production server does."
        ),
        restore='ServerOptions(handler_errors="raise") (the client then also sees 1011)',
    ),
    "keepalive-on-by-default": Divergence(
        what="ws sends a keepalive ping every 20 s and drops a peer whose pong takes more than 20 s.",
        why="A dead peer behind a NAT or a crashed host otherwise holds a connection for ever.",
        restore="ping_interval=None on any client or server function (or in its options)",
    ),
    "compression-on-by-default": Divergence(
        what="ws offers and accepts permessage-deflate (RFC 7692) unless told not to.",
        why="Text messages shrink several times over, and browsers offer it anyway.",
        restore="compression=None on every client and server function",
        theirs=lambda value: value is None,
        ours=lambda value: isinstance(value, str) and "permessage-deflate" in value,
    ),
    "redirects-followed": Divergence(
        what=(
            "ws clients follow 301, 302, 303, 307 and 308 answers to the opening request "
            "(at most max_redirects=10, never from wss:// to ws://); trio-websocket raises "
            "ConnectionRejected."
        ),
        why="Services move; websockets and browsers follow redirects too.",
        restore="max_redirects=0 on every client function",
        theirs=lambda value: value == ("rejected", 302),
        ours=lambda value: value == ("connected", "/new"),
    ),
    "proxy-from-environment": Divergence(
        what=(
            "ws clients connect through the proxy that HTTP_PROXY, HTTPS_PROXY or ALL_PROXY "
            "name (NO_PROXY honoured), as curl and websockets do; trio-websocket ignores them."
        ),
        why="Behind a corporate proxy, the environment is where the proxy is configured.",
        restore="proxy=None on every client function",
        theirs=lambda value: value == ("direct", "/new"),
        ours=lambda value: value == ("through the proxy", "ProxyError"),
    ),
    "product-headers": Divergence(
        what=(
            "ws servers send a Server header (trio-ws/<version> Python/<x.y>) on every "
            "response, and ws clients a User-Agent header of the same form."
        ),
        why="Operators read them in logs and proxies; both are settable and removable.",
        restore="server_header=None on servers, user_agent_header=None on clients",
        theirs=lambda value: value in (None, False),
        ours=lambda value: value is True or (isinstance(value, bytes) and value.startswith(b"trio-ws/")),
    ),
    "server-handshake-headers": Divergence(
        what=(
            "On a server, connection.handshake_headers holds the client's request "
            "headers; trio-websocket leaves it empty there."
        ),
        why="The headers are the natural answer to the property's name, on both sides.",
        restore="none needed: code that read the empty tuple had nothing to read",
        theirs=_equals(()),
    ),
    "receive-buffer-default": Divergence(
        what="receive_buffer_size defaults to 64 KiB (None in the signature), not 4 KiB.",
        why="One read per 4 KiB costs a scheduler trip per 4 KiB; 64 KiB is Trio's own default.",
        restore="receive_buffer_size=4096",
        theirs=_equals(4096),
        ours=lambda value: value is None,
    ),
    "connection-repr": Divergence(
        what=(
            "repr(connection) shows the side, the peer, the path and the state; "
            "trio-websocket's is object's default. str(connection) is the same in both."
        ),
        why="A repr that says which connection it is helps in logs and debuggers.",
        restore="none needed: use str(connection) for the 'client-N' form",
    ),
    "more-url-schemes": Divergence(
        what=(
            "open_websocket_url also takes ws+unix:// URLs, so its error for an unknown "
            "scheme names three schemes (still a ValueError)."
        ),
        why="Unix sockets are how a WebSocket service sits behind a local proxy.",
        restore="none needed: the error type is the same",
        theirs=_raised("ValueError"),
        ours=_raised("ValueError"),
    ),
    "interim-responses": Divergence(
        what=(
            "A 1xx response (100 Continue, 103 Early Hints) before the 101 is skipped, as "
            "HTTP requires; trio-websocket takes it as a rejection. A 1xx with nothing "
            "after it is a ConnectionRejected with its status and body None in both."
        ),
        why="RFC 9110 section 15.2: a client must accept interim responses before the final one.",
        restore="none: a server that sends 1xx before the 101 is correct",
        theirs=_raised("ConnectionRejected"),
        ours=_equals("no exception"),
    ),
    "python-versions": Divergence(
        what="ws needs Python 3.11 or later.",
        why="ExceptionGroup, TaskGroup-era typing and the speed of 3.11's interpreter.",
        restore="none: stay on trio-websocket for older Pythons",
    ),
    "exception-messages": Divergence(
        what=(
            "Some exception messages are worded differently (the type, and the attributes "
            "such as status_code and reason, are the same)."
        ),
        why="ws's messages say what happened and what to check, e.g. the URL or the timeout.",
        restore="none needed: match on the exception type and attributes, not the text",
    ),
    "rejection-closes-connection": Divergence(
        what=(
            "After WebSocketRequest.reject() ws's response has 'Connection: close' and a "
            "reason phrase ('403 Forbidden'), and ws closes the connection; trio-websocket "
            "sends neither and keeps the connection open until the client closes it."
        ),
        why=(
            "RFC 9112 section 9.6: a server that closes after a response says so. A client "
            "that reads to the end of the connection would otherwise wait for ever, and an "
            "idle rejected connection is a resource any client can hold."
        ),
        restore="none: the status, the other headers and the body are the same",
        theirs=lambda value: isinstance(value, tuple) and value[0] is None and value[2] is False,
        ours=_equals((b"close", b"Forbidden", True)),
    ),
    "message-type-error": Divergence(
        what=(
            "send_message() of something that is neither str nor bytes-like raises "
            "ws.MessageTypeError, a TypeError and a ValueError, whose message names the "
            "type; trio-websocket raises a plain ValueError('message must be str or bytes')."
        ),
        why="A wrong argument type is a TypeError in Python; the message says which type came.",
        restore="none needed: 'except ValueError' still catches it",
        theirs=lambda value: _raised("ValueError")(value) and not _raised("TypeError")(value),
        ours=_raised("TypeError", "ValueError"),
    ),
    "bytes-like-messages": Divergence(
        what=(
            "send_message() takes bytearray and memoryview too, and sends them as binary "
            "messages (the peer receives bytes); trio-websocket raises ValueError for them."
        ),
        why="Buffers filled in place are bytes-like; copying them into bytes first is waste.",
        restore="none needed: code written for trio-websocket passes str or bytes",
        theirs=lambda value: value == [] or _raised("ValueError")(value),
        ours=lambda value: value in ("no exception", [b"ba", b"mv"]),
    ),
    "pings-end-with-the-connection": Divergence(
        what=(
            "A ping() waiting for its pong when the connection closes raises "
            "ConnectionClosed; with trio-websocket it waits for ever."
        ),
        why="A pong cannot come after the close: waiting for it is a hang.",
        restore="none needed: code that bounded the wait with a timeout still works",
        theirs=lambda value: value in ("still waiting after 100 s", None),
        ours=lambda value: _raised("ConnectionClosed")(value)
        or (isinstance(value, tuple) and value[0] == "CloseReason"),
    ),
    "request-headers-complete": Divergence(
        what=(
            "WebSocketRequest.headers lists every header of the request; trio-websocket "
            "(through wsproto) leaves out Host, Sec-WebSocket-Protocol and "
            "Sec-WebSocket-Extensions."
        ),
        why=(
            "A handler needs Host for virtual hosting and origin checks, and the list "
            "is the request as the client sent it, as on a plain HTTP server."
        ),
        restore=(
            "filter them out: [(n, v) for n, v in request.headers if n not in "
            "(b'host', b'sec-websocket-protocol', b'sec-websocket-extensions')]"
        ),
        theirs=_equals([]),
        ours=lambda value: isinstance(value, list)
        and any(item[0] == b"host" for item in value)
        and all(
            item[0] in (b"host", b"sec-websocket-protocol", b"sec-websocket-extensions")
            for item in value
        ),
    ),
    "close-reason-wording": Divergence(
        what=(
            "When ws fails a connection itself (1009 message too big, 1002, 1007, ...), the "
            "close reason's text is worded differently; the close code is the same."
        ),
        why=(
            "ws's reasons name the rule or the limit that was broken, in one wording "
            "whichever check noticed, e.g. 'message bigger than the limit of 1000 bytes'."
        ),
        restore="none needed: match on CloseReason.code, not on the text",
        theirs=lambda value: isinstance(value, str),
        ours=lambda value: isinstance(value, str),
    ),
    "local-close-reason": Divergence(
        what=(
            "From the moment aclose(code, reason) is called, connection.closed and the "
            "ConnectionClosed raised in the calls it interrupts carry that code and reason; "
            "trio-websocket reports CloseReason(1000, None) until the peer's answer arrives."
        ),
        why=(
            "The application chose the code: calling a close with 4000 a normal closure "
            "misleads the tasks that handle it."
        ),
        restore=(
            "none needed: with the default code both report 1000 throughout, and once "
            "aclose() returns both report the code and reason given"
        ),
        theirs=lambda value: "code=1000," in str(value),
        ours=lambda value: "code=4000," in str(value),
    ),
    "message-size-in-bytes": Divergence(
        what=(
            "max_message_size counts a text message's UTF-8 bytes; trio-websocket counts its "
            "characters, so ws takes up to 4 times fewer non-ASCII characters."
        ),
        why=(
            "The limit bounds memory, and bytes are what a frame header announces: ws "
            "refuses a message before buffering it, without decoding it first."
        ),
        restore="max_message_size=4 * n accepts every text of n characters",
        theirs=lambda value: isinstance(value, tuple) and value[0] == "arrived",
        ours=_equals(("ConnectionClosed", 1009)),
    ),
    "ipv6-host-header": Divergence(
        what=(
            "For an IPv6 address (ws://[::1]:8000/) the client sends 'Host: [::1]:8000'; "
            "trio-websocket sends 'Host: ::1:8000'."
        ),
        why=(
            "RFC 3986 section 3.2.2 and RFC 9110 section 7.2: an IPv6 address in a Host "
            "header is written in brackets; without them the port cannot be told from the "
            "address, and servers reject or misread it."
        ),
        restore="none: the form without brackets is not valid HTTP",
        theirs=lambda value: isinstance(value, list) and ("/v6", "::1:PORT") in value,
        ours=lambda value: isinstance(value, list) and ("/v6", "[::1]:PORT") in value,
    ),
    "connect-failed-is-oserror": Divergence(
        what=(
            "When open_websocket* cannot connect (refused, unreachable, a failed TLS "
            "handshake), it raises ws.ConnectFailed: a HandshakeError chained to the "
            "OSError, as in trio-websocket, that is also an OSError with its errno; "
            "trio-websocket's HandshakeError is not an OSError."
        ),
        why=(
            "trio-websocket's own documentation catches OSError around open_websocket_url; "
            "with ws both 'except HandshakeError' and 'except OSError' work, and errno "
            "tells a refused connection from an unreachable host."
        ),
        restore="none needed: it is still a HandshakeError whose __cause__ is the OSError",
        theirs=lambda value: _raised("HandshakeError")(value) and not _raised("OSError")(value),
        ours=_raised("HandshakeError", "OSError"),
    ),
    "tls-mismatch-fails-fast": Divergence(
        what=(
            "A failed TLS handshake (wss:// to a server without TLS, an untrusted "
            "certificate) or a ws:// request to a TLS port raises a HandshakeError at once, "
            "whose message says what probably happened ('the server does not speak TLS? "
            "use ws://', 'the server speaks TLS? use wss://'); trio-websocket waits for "
            "connect_timeout and raises ConnectionTimeout, and ws:// to a TLS port can "
            "wait longer, until the server gives up."
        ),
        why="The first bytes show the mistake; a timeout a minute later hides it.",
        restore="none needed: both are HandshakeError, which 'except HandshakeError' catches",
        theirs=lambda value: _raised("ConnectionTimeout")(value)
        or value == "still waiting after 10 s",
        ours=lambda value: _raised("HandshakeError")(value)
        and not _raised("ConnectionTimeout")(value),
    ),
    "client-socket-closed": Divergence(
        what=(
            "When the server closes the connection first, or its TCP connection ends, ws's "
            "client closes its socket as the connection ends; trio-websocket's client leaves "
            "it open, even after aclose(), until the garbage collector closes it (with a "
            "ResourceWarning)."
        ),
        why="A client that reconnects in a loop would hold a file descriptor per old connection.",
        restore="none needed: nothing could use the socket of a closed connection",
        theirs=_equals(False),
        ours=_equals(True),
    ),
}
