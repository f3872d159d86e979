"""The import rules of DESIGN.md and STYLE.md, checked by reading every import."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ws"

# Which of our own packages each layer may import (besides itself).
SHARED = {"ws.errors", "ws.typing"}
OWN_RULES: dict[str, set[str]] = {
    "ws.errors": set(),
    "ws.typing": set(),
    "ws.frames": SHARED,
    "ws.handshake": SHARED,
    "ws.extensions": SHARED | {"ws.frames"},
    "ws.events": SHARED | {"ws.frames", "ws.extensions"},
    "ws.protocol": SHARED | {"ws.frames", "ws.extensions", "ws.events"},
    "ws.transports": SHARED,
}
# Which third-party packages each layer may import; the layers that compose
# (connection, builder, client, server, testing, ...) may import anything.
THIRD_PARTY_RULES: dict[str, set[str]] = {
    "ws.errors": set(),
    "ws.typing": set(),
    "ws.frames": {"attrs"},
    "ws.handshake": {"attrs", "h11"},
    "ws.extensions": {"attrs"},
    "ws.events": {"attrs"},
    "ws.protocol": {"attrs"},
    "ws.transports": {"attrs", "trio"},
}
# Below the line there is no I/O, no clock and no randomness beyond the
# injected sources (os.urandom for mask keys, secrets for handshake keys).
NO_IO_LAYERS = {"ws.errors", "ws.typing", "ws.frames", "ws.handshake", "ws.extensions",
                "ws.events", "ws.protocol"}
IO_MODULES = {"socket", "ssl", "select", "selectors", "asyncio", "threading", "time",
              "random", "subprocess", "trio", "anyio"}


def module_name(path: Path) -> str:
    """The dotted module name of a file under ws/."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """The layer a module belongs to: its first two dotted components."""
    return ".".join(module.split(".")[:2])


def imports_of(path: Path) -> list[str]:
    """Every module a file imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                found.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module is not None:
                found.append(node.module)
    return found


FILES = sorted(PACKAGE.rglob("*.py"))


def test_walk_finds_the_package() -> None:
    """The walk sees the layers it checks."""
    layers = {layer_of(module_name(f)) for f in FILES}
    assert {"ws.frames", "ws.protocol", "ws.errors"} <= layers


def violations(module: str, imported: list[str]) -> list[str]:
    """The imports of ``module`` that break its layer's rules."""
    layer = layer_of(module)
    if layer not in OWN_RULES:
        return []  # a composing layer may import anything
    bad: list[str] = []
    for name in imported:
        top = name.split(".")[0]
        if top == "ws":
            target = layer_of(name)
            if target != layer and target not in OWN_RULES[layer]:
                bad.append(f"{module} imports {name}, which {layer} may not use")
        elif top == "__future__" or top in sys.stdlib_module_names:
            if layer in NO_IO_LAYERS and top in IO_MODULES:
                bad.append(f"{module} does I/O through {name}")
        elif top not in THIRD_PARTY_RULES[layer]:
            bad.append(f"{module} imports third-party {name}, which {layer} may not use")
    return bad


@pytest.mark.parametrize("path", FILES, ids=[module_name(f) for f in FILES])
def test_imports_follow_the_layering_rules(path: Path) -> None:
    """Each module imports only what its layer is allowed to."""
    assert violations(module_name(path), imports_of(path)) == []


def test_rules_catch_violations() -> None:
    """The checker flags trio, h11, an upper layer and a socket below the line."""
    found = violations(
        "ws.frames.parser", ["trio", "h11", "ws.protocol", "socket", "struct", "ws.errors"]
    )
    assert len(found) == 4
    assert violations("ws.connection", ["trio", "ws.protocol"]) == []
    assert violations("ws.handshake.server", ["h11", "ws.extensions"]) == [
        "ws.handshake.server imports ws.extensions, which ws.handshake may not use"
    ]

