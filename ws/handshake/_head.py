"""Collects an HTTP head from a byte stream, enforcing the handshake limits.

h11 checks its size limit only while an event is incomplete, so a complete
oversized head that arrives in one read gets through (h11 issue #182). This
buffer therefore finds the end of the head itself and checks every limit on
each call to :meth:`HeadBuffer.feed`, before anything reaches h11.

It finds the end of the head exactly as h11 does (``h11/_receivebuffer.py``):
a head that starts with an empty line is that empty line, otherwise it ends at
the first ``\\n\\r?\\n``. Each byte is searched once: the search resumes two
bytes before where the previous one stopped, and newlines are counted once.
"""

from __future__ import annotations

import re

import attrs

from ws.errors import InvalidHandshake
from ws.handshake.limits import HandshakeLimits
from ws.typing import BytesLike

__all__ = ["HeadBuffer"]

_BLANK_LINE = re.compile(b"\n\r?\n")


@attrs.define(eq=False)
class HeadBuffer:
    """Bytes of a peer's HTTP head, and whatever followed it.

    :meth:`feed` raises ``error_type`` (with the HTTP status the limit
    implies) as soon as the head is known to break a limit. Until the head is
    complete the buffer holds less than ``max_head_size`` bytes plus the
    last chunk fed.
    """

    limits: HandshakeLimits
    error_type: type[InvalidHandshake]
    _data: bytearray = attrs.field(factory=bytearray, init=False)
    _end: int | None = attrs.field(default=None, init=False)
    _searched: int = attrs.field(default=0, init=False)
    _counted: int = attrs.field(default=0, init=False)
    _newlines: int = attrs.field(default=0, init=False)
    _consumed: int = attrs.field(default=0, init=False)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def complete(self) -> bool:
        """Whether a whole head is in the buffer."""
        return self._end is not None

    def feed(self, data: BytesLike) -> None:
        """Append bytes; once the head is complete they are kept as they come."""
        self._data += data
        if self._end is None:
            self.scan()

    def clear(self) -> None:
        """Drop everything (after an error)."""
        self._data = bytearray()

    def pop_head(self) -> bytes:
        """Remove the complete head from the buffer and return it."""
        assert self._end is not None
        head = bytes(self._data[: self._end])
        del self._data[: self._end]
        self._consumed += self._end
        self._end = None
        self._searched = self._counted = self._newlines = 0
        return head

    def take_rest(self) -> bytes:
        """Remove and return everything in the buffer."""
        rest = bytes(self._data)
        self._data = bytearray()
        return rest

    def scan(self) -> None:
        """Look for the end of the head in the bytes not searched yet; check the limits."""
        data = self._data
        end = self._find_end()
        stop = len(data) if end is None else end
        limits = self.limits
        if not self._newlines:
            # Still on the start line; without its "\n" it is at least stop + 1 bytes.
            newline = data.find(b"\n", self._counted, stop)
            length = stop + 1 if newline < 0 else newline + 1
            if length > limits.max_start_line:
                raise self.error_type(
                    f"start line longer than {limits.max_start_line} bytes", http_status=414
                )
        self._newlines += data.count(b"\n", self._counted, stop)
        self._counted = stop
        # Every "\n" ends a line: the start line, each field line, and the
        # empty line that ends a complete head.
        fields = self._newlines - 1 - (end is not None)
        if fields > limits.max_headers:
            raise self.error_type(f"more than {limits.max_headers} header fields", http_status=431)
        size = self._consumed + (len(data) + 1 if end is None else end)
        if size > limits.max_head_size:
            raise self.error_type(f"head larger than {limits.max_head_size} bytes", http_status=431)
        self._end = end

    def _find_end(self) -> int | None:
        data = self._data
        # Like h11: a leading empty line is a (malformed) head of its own.
        if data[:1] == b"\n":
            return 1
        if data[:2] == b"\r\n":
            return 2
        match = _BLANK_LINE.search(data, self._searched)
        if match is None:
            self._searched = max(0, len(data) - 2)
            return None
        return match.end()
