"""Header arguments as users give them (str or bytes pairs) and as we send them (bytes pairs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["HeadersArg", "normalize_headers"]

HeadersArg = (
    Iterable[tuple[bytes | str, bytes | str]] | Mapping[str, str] | Mapping[bytes, bytes] | None
)


def normalize_headers(headers: HeadersArg) -> tuple[tuple[bytes, bytes], ...]:
    """Turn ``extra_headers`` (str or bytes pairs, a mapping, or ``None``) into byte pairs.

    Raises:
        TypeError: Something else: a str, or items that are not pairs.
    """
    if headers is None:
        return ()
    given: object = headers  # untyped callers may pass anything
    if isinstance(given, (str, bytes)):
        raise TypeError("headers are (name, value) pairs or a mapping, not one str or bytes")
    items = headers.items() if isinstance(headers, Mapping) else headers
    result = []
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError(
                f"headers are (name, value) pairs or a mapping; got the item {item!r}"
            ) from None
        result.append(
            (
                name.encode("ascii") if isinstance(name, str) else bytes(name),
                value.encode("latin-1") if isinstance(value, str) else bytes(value),
            )
        )
    return tuple(result)
