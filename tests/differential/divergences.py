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
        restore="ClientOptions(ping_interval=None) / ServerOptions(ping_interval=None)",
    ),
    "compression-on-by-default": Divergence(
        what="ws offers and accepts permessage-deflate (RFC 7692) unless told not to.",
        why="Text messages shrink several times over, and browsers offer it anyway.",
        restore="compression=None on every client and server function",
        theirs=lambda value: value is None,
        ours=lambda value: isinstance(value, str) and "permessage-deflate" in value,
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
}
