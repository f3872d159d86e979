"""Header arguments as users give them (str or bytes pairs) and as we send them (bytes pairs)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HeadersArg", "normalize_headers"]

HeadersArg = Iterable[tuple[bytes | str, bytes | str]] | None


def normalize_headers(headers: HeadersArg) -> tuple[tuple[bytes, bytes], ...]:
    """Turn ``extra_headers`` (str or bytes pairs, or ``None``) into byte pairs."""
    if headers is None:
        return ()
    result = []
    for name, value in headers:
        result.append(
            (
                name.encode("ascii") if isinstance(name, str) else bytes(name),
                value.encode("latin-1") if isinstance(value, str) else bytes(value),
            )
        )
    return tuple(result)
