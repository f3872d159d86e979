"""Tests for ws.transports._errors: how failures to open a transport are reported."""

from __future__ import annotations

import errno
import ssl

import pytest
import trio

from ws.transports import TLSHandshakeAborted
from ws.transports._errors import map_connect_errors, map_tls_handshake_errors


def _all_attempts_failed(*errors: Exception) -> OSError:
    """What trio.open_tcp_stream raises when every attempt fails."""
    message = "all attempts to connect to example:80 failed"
    try:
        raise OSError(message) from ExceptionGroup(message, list(errors))
    except OSError as exc:
        return exc


def test_same_errno_everywhere_becomes_that_error() -> None:
    """If every attempt was refused, ConnectionRefusedError is raised, chained to trio's error."""
    original = _all_attempts_failed(
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    )
    with pytest.raises(ConnectionRefusedError) as info, map_connect_errors():
        raise original
    assert info.value.errno == errno.ECONNREFUSED
    assert str(info.value).endswith("example:80 failed: Connection refused")
    assert info.value.__cause__ is original


def test_nested_groups_are_flattened() -> None:
    """Errors in nested groups count as attempts too."""
    timeout = TimeoutError(errno.ETIMEDOUT, "Connection timed out")
    original = _all_attempts_failed(ExceptionGroup("inner", [timeout]), timeout)
    with pytest.raises(TimeoutError), map_connect_errors():
        raise original


@pytest.mark.parametrize(
    "errors",
    [
        # Different failures: no single error says it all.
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
            TimeoutError(errno.ETIMEDOUT, "Connection timed out"),
        ),
        # Failures without an errno.
        (OSError("no errno"),),
        # Something that is not an OSError.
        (ValueError("odd"),),
    ],
)
def test_mixed_failures_keep_trios_error(errors: tuple[Exception, ...]) -> None:
    """When the attempts failed in different ways, trio's OSError is raised unchanged."""
    original = _all_attempts_failed(*errors)
    with pytest.raises(OSError) as info, map_connect_errors():
        raise original
    assert info.value is original


def test_ordinary_oserrors_pass_through() -> None:
    """An OSError with an errno, or without a group cause, is not touched."""
    for original in (
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        OSError("plain"),
    ):
        with pytest.raises(OSError) as info, map_connect_errors():
            raise original
        assert info.value is original


def _broken_by(cause: BaseException | None) -> trio.BrokenResourceError:
    try:
        if cause is None:
            raise trio.BrokenResourceError
        raise trio.BrokenResourceError from cause
    except trio.BrokenResourceError as exc:
        return exc


def test_tls_error_keeps_its_class_and_details() -> None:
    """An SSL error is re-raised as the same class, with its attributes and a clear message."""
    cause = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    cause.verify_code = 62
    cause.verify_message = "Hostname mismatch"
    cause.reason = "CERTIFICATE_VERIFY_FAILED"
    broken = _broken_by(cause)
    with pytest.raises(ssl.SSLCertVerificationError) as info, map_tls_handshake_errors("peer"):
        raise broken
    error = info.value
    assert error is not cause
    assert str(error) == f"TLS handshake with peer failed: {cause}"
    assert (error.errno, error.verify_code, error.verify_message, error.reason) == (
        1,
        62,
        "Hostname mismatch",
        "CERTIFICATE_VERIFY_FAILED",
    )
    assert error.__cause__ is broken


@pytest.mark.parametrize(
    "cause",
    [ssl.SSLEOFError(8, "EOF"), ssl.SSLSyscallError(5, "syscall"), ssl.SSLZeroReturnError(6, "0")],
)
def test_tls_eof_is_an_aborted_handshake(cause: ssl.SSLError) -> None:
    """OpenSSL's ways of saying "the peer went away" become TLSHandshakeAborted."""
    with (
        pytest.raises(TLSHandshakeAborted, match="the peer closed the connection"),
        map_tls_handshake_errors("peer"),
    ):
        raise _broken_by(cause)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            _broken_by(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")),
            "connection broke: .*reset",
        ),
        (trio.BrokenResourceError("gone"), "connection broke: gone$"),
        (_broken_by(None), "connection broke$"),
    ],
)
def test_transport_failure_is_an_aborted_handshake(
    broken: trio.BrokenResourceError, message: str
) -> None:
    """A transport failure (no TLS error) becomes TLSHandshakeAborted that names it."""
    with pytest.raises(TLSHandshakeAborted, match=message), map_tls_handshake_errors("peer"):
        raise broken


def test_aborted_handshake_is_a_connection_error() -> None:
    """TLSHandshakeAborted is caught by except ConnectionError and except OSError."""
    assert issubclass(TLSHandshakeAborted, ConnectionError)
    assert issubclass(TLSHandshakeAborted, OSError)
