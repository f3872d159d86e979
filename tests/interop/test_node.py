"""Interop with node's ``ws`` package, through the peer programs in ``node/``.

``scripts/install-peers`` installs the package into ``.peers/node`` (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.constants import peer_config
from tests.interop.harness import (
    COMPRESSION_MODES,
    INTEROP_DIR,
    REPO_ROOT,
    SCHEMES,
    Certificates,
    CompressionMode,
    Scheme,
    find_program,
    require,
    run_with_peer_client,
    run_with_peer_server,
)

NODE_WS = REPO_ROOT / ".peers" / "node" / "node_modules" / "ws"
SCRIPTS = INTEROP_DIR / "node"


@pytest.fixture
def node() -> list[str]:
    """``node`` and the arguments every peer script takes; skips without them."""
    program = find_program("node")
    require(program, "node (Node.js 18+)", "install Node.js, then run scripts/install-peers")
    assert program is not None
    require(NODE_WS / "package.json", "node's ws package", "run scripts/install-peers (npm install ws)")
    return [program, "--ws-module", str(NODE_WS), "--config", peer_config()]


def script(node: list[str], name: str) -> list[str]:
    """The command line running ``node/<name>`` with the common arguments."""
    return [node[0], str(SCRIPTS / name), *node[1:]]


@pytest.mark.parametrize("mode", COMPRESSION_MODES)
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_peer_is_client(
    scheme: Scheme, mode: CompressionMode, certs: Certificates, node: list[str], tmp_path: Path
) -> None:
    """A node ws client and a ws server talk, ping and close both ways."""

    def argv(url: str) -> list[str]:
        tls = ["--ca", str(certs.ca_file)] if scheme == "wss" else []
        return [*script(node, "client.js"), "--url", url, *tls]

    await run_with_peer_client(argv, scheme, mode, certs, tmp_path / "node.stderr")


@pytest.mark.parametrize("mode", COMPRESSION_MODES)
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_peer_is_server(
    scheme: Scheme, mode: CompressionMode, certs: Certificates, node: list[str], tmp_path: Path
) -> None:
    """A ws client and a node ws server talk, ping and close both ways."""
    tls = ["--cert", str(certs.cert_file), "--key", str(certs.key_file)] if scheme == "wss" else []
    await run_with_peer_server(
        [*script(node, "server.js"), *tls], scheme, mode, certs, tmp_path / "node.stderr"
    )
