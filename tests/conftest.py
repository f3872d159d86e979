"""Suite-wide fixtures: no test goes through a proxy set in the environment that runs it."""

from __future__ import annotations

import pytest

#: Every variable ws reads to choose a proxy (ws/_proxy.py), both cases.
PROXY_VARIABLES = tuple(
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the proxy variables for the test (a CI machine's own proxy must not apply)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
