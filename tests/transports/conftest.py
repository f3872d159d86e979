"""Fixtures for the transport tests: in-memory certificates and TLS contexts."""

from __future__ import annotations

import socket
import ssl

import pytest
import trustme

#: The name on the test server's certificate (with localhost, 127.0.0.1 and ::1).
SERVER_NAME = "trio-ws.example"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A certificate authority that exists only in memory."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    """A server certificate for SERVER_NAME, localhost and the loopback addresses."""
    return ca.issue_cert(SERVER_NAME, "localhost", "127.0.0.1", "::1")


@pytest.fixture
def server_context(server_cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server context presenting server_cert (fresh per test: tests set callbacks)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    return context


@pytest.fixture(params=["tls1.3", "tls1.2"])
def client_context(request: pytest.FixtureRequest, ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the test CA, for TLS 1.3 and for TLS 1.2."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if request.param == "tls1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


@pytest.fixture
def trusting_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the test CA (default TLS versions only)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(params=["127.0.0.1", "::1"])
def loopback(request: pytest.FixtureRequest) -> str:
    """Each loopback address; ::1 is skipped on machines without IPv6 loopback."""
    host: str = request.param
    if host == "::1" and not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (cannot bind ::1)")
    return host
