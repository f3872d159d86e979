"""The one place where transport failures become the exceptions we document.

Every failure to open a transport is an :class:`OSError`, as trio-websocket
documents for its connect functions, so ``except OSError`` catches them all:

- ``connect_tcp``: trio reports "all attempts to connect failed" as a bare
  :class:`OSError` (no errno) chained to an :class:`ExceptionGroup` of the
  per-address errors. When every attempt failed the same way, we raise that
  error instead (:class:`ConnectionRefusedError`, :class:`TimeoutError`, ...),
  so callers can catch the specific type; otherwise trio's error stands.
  No :class:`ExceptionGroup` escapes: it stays in the ``__cause__`` chain.
- TLS handshakes: trio wraps the :mod:`ssl` error in
  :class:`trio.BrokenResourceError`. We raise an :class:`ssl.SSLError` of the
  same class (:class:`ssl.SSLCertVerificationError` for a bad certificate or
  a hostname mismatch), with the same attributes and a message that says the
  handshake failed. When the peer simply went away (an EOF, a reset, a
  closed in-memory stream) there is no TLS error to report, and we raise
  :class:`TLSHandshakeAborted`, a :class:`ConnectionError`.

Each translation is written ``raise new from original``.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator

import trio

__all__ = ["TLSHandshakeAborted", "map_connect_errors", "map_tls_handshake_errors"]

# Errors OpenSSL reports when the transport ended rather than the peer
# speaking bad TLS. EOF before the handshake shows up as SSLSyscallError on
# some systems (trio's _ssl.py notes the same).
_EOF_ERRORS = (ssl.SSLEOFError, ssl.SSLSyscallError, ssl.SSLZeroReturnError)


class TLSHandshakeAborted(ConnectionError):
    """The connection ended or broke during the TLS handshake.

    Raised when the peer closed or reset the connection (or an in-memory
    peer went away) before the handshake finished, so there is no TLS error
    to report. The underlying failure is chained as ``__cause__``.
    """


@contextlib.contextmanager
def map_connect_errors() -> Iterator[None]:
    """Turn trio's "all attempts failed" into the common error, if there is one."""
    try:
        yield
    except OSError as exc:
        better = _common_connect_error(exc)
        if better is None:
            raise
        raise better from exc


@contextlib.contextmanager
def map_tls_handshake_errors(peer: str) -> Iterator[None]:
    """Unwrap the cause of a failed TLS handshake with *peer* (see the module docstring)."""
    try:
        yield
    except trio.BrokenResourceError as exc:
        raise _tls_handshake_error(peer, exc) from exc


def _common_connect_error(exc: OSError) -> OSError | None:
    if exc.errno is not None or not isinstance(exc.__cause__, ExceptionGroup):
        return None
    leaves = _leaves(exc.__cause__)
    errnos = {leaf.errno if isinstance(leaf, OSError) else None for leaf in leaves}
    first = leaves[0]
    if len(errnos) != 1 or not isinstance(first, OSError) or first.errno is None:
        return None
    # OSError(errno, ...) picks the subclass for the errno: ConnectionRefusedError, ...
    return OSError(first.errno, f"{exc}: {first.strerror or first}")


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for child in group.exceptions:
        if isinstance(child, BaseExceptionGroup):
            leaves.extend(_leaves(child))
        else:
            leaves.append(child)
    return leaves


def _tls_handshake_error(peer: str, exc: trio.BrokenResourceError) -> OSError:
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLError) and not isinstance(cause, _EOF_ERRORS):
        return _relabel_ssl_error(cause, f"TLS handshake with {peer} failed: {cause}")
    if isinstance(cause, _EOF_ERRORS):
        reason = "the peer closed the connection"
    elif cause is not None:
        reason = f"the connection broke: {cause}"
    elif str(exc):
        reason = f"the connection broke: {exc}"
    else:
        reason = "the connection broke"
    return TLSHandshakeAborted(f"TLS handshake with {peer} failed: {reason}")


def _relabel_ssl_error(error: ssl.SSLError, message: str) -> ssl.SSLError:
    """A copy of *error* (same class and attributes) that says *message*."""
    relabelled = type(error)(error.errno, message)
    # OpenSSL's details (reason, library, verify_code, verify_message) live
    # in the instance dict.
    vars(relabelled).update(vars(error))
    return relabelled
