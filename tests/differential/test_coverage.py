"""The differential suite covers trio-websocket's whole public API and every divergence."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import tests.differential
from tests.differential.divergences import DIVERGENCES
from tests.differential.harness import ASSERTED_DIVERGENCES, USES

#: Attributes trio-websocket sets on instances (not visible on the classes).
INSTANCE_ATTRIBUTES = {
    "ConnectionClosed": ("reason",),
    "ConnectionRejected": ("status_code", "headers", "body"),
    "Endpoint": ("address", "port", "is_ssl"),
}

MIGRATION_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migration.md"


def _load_every_scenario() -> None:
    for info in pkgutil.iter_modules(tests.differential.__path__):
        if info.name.startswith("test_"):
            importlib.import_module(f"tests.differential.{info.name}")


def public_surface() -> set[str]:
    """trio-websocket 0.12.2's public names, with ``Class.member`` for its classes' members."""
    trio_websocket = pytest.importorskip(
        "trio_websocket", reason="pip install trio-websocket==0.12.2 (or scripts/install-peers)"
    )
    names: set[str] = set()
    for name in dir(trio_websocket):
        if name.startswith("_"):
            continue
        value = getattr(trio_websocket, name)
        if inspect.ismodule(value):
            continue
        names.add(name)
        if inspect.isclass(value):
            own = [m for m in vars(value) if not m.startswith("_") and m != "CONNECTION_ID"]
            names.update(f"{name}.{member}" for member in own)
            names.update(f"{name}.{member}" for member in INSTANCE_ATTRIBUTES.get(name, ()))
    return names


def test_every_public_name_of_trio_websocket_is_exercised() -> None:
    """Each public name (and class member) of trio-websocket appears in some scenario's uses."""
    _load_every_scenario()
    used = set().union(*USES.values())
    missing = sorted(public_surface() - used)
    assert not missing, f"no differential scenario uses: {missing}"
    unknown = sorted(used - public_surface())
    assert not unknown, f"scenarios claim names trio-websocket does not have: {unknown}"


def test_every_divergence_is_asserted_and_documented() -> None:
    """Each entry of DIVERGENCES is asserted by a scenario and explained in docs/migration.md."""
    _load_every_scenario()
    assert set(DIVERGENCES) <= ASSERTED_DIVERGENCES, sorted(set(DIVERGENCES) - ASSERTED_DIVERGENCES)
    guide = MIGRATION_GUIDE.read_text()
    undocumented = [ident for ident in DIVERGENCES if f"`{ident}`" not in guide]
    assert not undocumented, f"docs/migration.md does not explain: {undocumented}"
