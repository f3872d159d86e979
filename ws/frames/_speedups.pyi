"""Type stub for the optional C extension built from ``_speedups.c``."""

__all__ = ["apply_mask"]

def apply_mask(data: bytes | bytearray | memoryview, key: bytes, /) -> bytes:
    """Mask (or unmask) ``data`` with the 4-byte masking ``key``; new ``bytes``."""
