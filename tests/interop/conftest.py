"""Fixtures shared by the interop tests."""

from __future__ import annotations

import pytest

from tests.interop.harness import Certificates


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A trustme CA and a 127.0.0.1 server certificate, in memory and as PEM files."""
    return Certificates.create(tmp_path_factory.mktemp("interop-certs"))
