"""Size limits of the opening handshake.

A peer that never finishes its HTTP head, or sends thousands of header
fields, must not make us buffer without bound. These limits are checked as
bytes arrive, however the peer splits them, so a handshake never holds more
than ``max_head_size`` plus one read's worth of bytes.
"""

from __future__ import annotations

import attrs

__all__ = ["HandshakeLimits"]


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative integer, got {value!r}")


@attrs.frozen
class HandshakeLimits:
    """How much of a peer's opening handshake we are willing to read.

    The server answers a request over a limit with the status in brackets;
    the client fails with ``InvalidResponse``.

    Attributes:
        max_head_size: The most bytes in the request or response head: the
            start line, every header line and the blank line that ends the
            head (RFC 7230 section 3) [431]. On the client side the heads of
            interim 1xx responses count too.
        max_headers: The most header lines in a head [431]. An obsolete
            folded continuation line (RFC 7230 section 3.2.4) counts as one.
        max_start_line: The most bytes in the request line, which is mostly
            the request-target (RFC 7230 section 3.1.1), or in the status
            line, including its line ending [414].
        max_body_size: The most bytes of the body of a rejection (a response
            other than 101) the client keeps; the rest is not read, and the
            body it reports is truncated to this size.
    """

    max_head_size: int = attrs.field(default=16384, validator=_positive)
    max_headers: int = attrs.field(default=128, validator=_positive)
    max_start_line: int = attrs.field(default=8192, validator=_positive)
    max_body_size: int = attrs.field(default=65536, validator=_non_negative)
