"""Interop with websockets' asyncio implementation, run in a subprocess.

The peer program is ``websockets_asyncio_peer.py`` (an asyncio event loop
of its own; ws stays in the test's Trio run).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.interop.harness import (
    COMPRESSION_MODES,
    SCHEMES,
    Certificates,
    CompressionMode,
    Scheme,
    run_with_peer_client,
    run_with_peer_server,
)

pytest.importorskip("websockets.asyncio", reason="websockets>=14 is missing: run scripts/install-peers")

PEER = [sys.executable, "-m", "tests.interop.websockets_asyncio_peer"]


@pytest.mark.parametrize("mode", COMPRESSION_MODES)
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_peer_is_client(scheme: Scheme, mode: CompressionMode, certs: Certificates, tmp_path: Path) -> None:
    """A websockets asyncio client and a ws server talk, ping and close both ways."""

    def argv(url: str) -> list[str]:
        tls = ["--ca", str(certs.ca_file)] if scheme == "wss" else []
        return [*PEER, "client", url, *tls]

    await run_with_peer_client(argv, scheme, mode, certs, tmp_path / "peer.stderr")


@pytest.mark.parametrize("mode", COMPRESSION_MODES)
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_peer_is_server(scheme: Scheme, mode: CompressionMode, certs: Certificates, tmp_path: Path) -> None:
    """A ws client and a websockets asyncio server talk, ping and close both ways."""
    tls = ["--cert", str(certs.cert_file), "--key", str(certs.key_file)] if scheme == "wss" else []
    await run_with_peer_server([*PEER, "server", *tls], scheme, mode, certs, tmp_path / "peer.stderr")
