"""The ``Sec-WebSocket-Key`` / ``Sec-WebSocket-Accept`` pair (RFC 6455 sections 1.3, 4.1, 4.2.2).

The client sends a fresh random nonce; the server proves it understood the
WebSocket handshake by hashing that nonce with a fixed GUID. Nothing here is
secret: the exchange only stops a non-WebSocket server (or a cache) from
accepting the upgrade by accident.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

__all__ = ["WEBSOCKET_GUID", "accept_key", "generate_key", "is_valid_key"]

#: The GUID of RFC 6455 section 1.3, appended to the key before hashing.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_NONCE_SIZE = 16


def generate_key() -> str:
    """Make a fresh ``Sec-WebSocket-Key`` value.

    RFC 6455 section 4.1: the value "MUST be a nonce consisting of a randomly
    selected 16-byte value that has been base64-encoded", chosen anew for
    each connection.

    Returns:
        16 random bytes from :mod:`secrets`, base64-encoded (24 characters).
    """
    return base64.b64encode(secrets.token_bytes(_NONCE_SIZE)).decode("ascii")


def accept_key(key: str) -> str:
    """Compute the ``Sec-WebSocket-Accept`` value for a key.

    RFC 6455 section 4.2.2, step 5.4: the base64 encoding of the SHA-1 of the
    key (as sent, without decoding it) concatenated with :data:`WEBSOCKET_GUID`.

    Args:
        key: The client's ``Sec-WebSocket-Key`` value.

    Returns:
        The value the server must send, and the client must expect.
    """
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid_key(key: str) -> bool:
    """Tell whether a ``Sec-WebSocket-Key`` value is well formed.

    RFC 6455 section 4.2.1, item 5: the value, "when decoded, is 16 bytes in
    length". Only the strict base64 alphabet with padding is accepted.

    Args:
        key: The value received from a client.

    Returns:
        ``True`` if ``key`` is the base64 encoding of exactly 16 bytes.
    """
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        return False
    return len(raw) == _NONCE_SIZE
