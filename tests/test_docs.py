"""The docs site builds without a warning, and the code in the docs works.

* ``sphinx -W`` builds ``docs/`` (the reference from the docstrings, and
  every page); any warning, an unresolved cross-reference included, fails.
  The intersphinx inventories are files in ``docs/_inventories/``: the
  build downloads nothing.
* Every ```` ```python ```` block of ``docs/**/*.md`` and ``README.md``
  compiles (top-level ``await`` allowed: the pages show fragments).
* Blocks marked to run are run, each in its own process with a timeout:
  in ``docs/``, a block whose fence follows the MyST comment line
  ``% test: run``; in ``README.md``, which is also read on GitHub and so
  carries no markers, the blocks that call ``trio.run(`` and bind port 0.
  A run may only reach loopback addresses: a guard in the process refuses
  any other connection or name lookup.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import attrs
import pytest

import ws

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: The MyST comment line that marks the next code block as one to run.
RUN_MARKER = "% test: run"

#: Seconds for one block; the runnable ones finish in about a second.
RUN_TIMEOUT = 30

#: Seconds for the whole Sphinx build (about 15 s on a 2-core machine).
BUILD_TIMEOUT = 300

#: The modules whose ``__all__`` the reference must document in full.
PUBLIC_MODULES = ("ws", "ws.testing", "ws.http", "ws.extensions", "ws.events", "ws.frames", "ws.protocol", "ws.redis", "ws.sync")

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)

# Run before a block: refuse connections and name lookups beyond loopback.
_LOOPBACK_GUARD = textwrap.dedent(
    """
    import ipaddress, runpy, socket, sys

    def _loopback(host):
        if isinstance(host, bytes):
            host = host.decode()
        if host in (None, "localhost") or str(host).startswith("\\0"):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def _check(address):
        if isinstance(address, tuple) and not _loopback(address[0]):
            raise OSError(f"the docs test reaches loopback only, not {address[0]!r}")

    _connect, _connect_ex, _getaddrinfo = (
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    )

    def connect(self, address):
        _check(address)
        return _connect(self, address)

    def connect_ex(self, address):
        _check(address)
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        _check((host,))
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (
        connect, connect_ex, getaddrinfo
    )
    runpy.run_path(sys.argv[1], run_name="__main__")
    """
)


@attrs.frozen
class Block:
    """One fenced ``python`` block of a Markdown file."""

    path: Path
    line: int
    code: str
    run: bool

    @property
    def name(self) -> str:
        """``docs/howto/testing.md:42``, for test ids and tracebacks."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    readme = path.name == "README.md"
    found = []
    for match in _FENCE.finditer(text):
        if match["info"].strip().split()[:1] != ["python"]:
            continue
        indent = len(match["indent"])
        code = "\n".join(line[indent:] for line in match["body"].splitlines()) + "\n"
        line = text.count("\n", 0, match.start()) + 1
        if readme:
            run = "trio.run(" in code and bool(re.search(r"[\"']127\.0\.0\.1[\"'],\s*0\b", code))
        else:
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            run = before.strip() == RUN_MARKER
        found.append(Block(path, line, code, run))
    return found


def _all_blocks() -> list[Block]:
    pages = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]
    return [block for page in pages if "_build" not in page.parts for block in _blocks(page)]


BLOCKS = _all_blocks()
RUNNABLE = [block for block in BLOCKS if block.run]


@attrs.frozen
class Site:
    """The outcome of one Sphinx build of ``docs/``."""

    returncode: int
    output: str
    html: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """Build the site once for the tests that look at it (about 15 s)."""
    for module in ("sphinx", "furo", "myst_parser"):
        pytest.importorskip(module, reason="the docs extra is missing: pip install -e '.[docs]'")
    html = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(html)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        cwd=ROOT,
    )
    return Site(result.returncode, result.stdout + result.stderr, html)


def _inventory(site: Site) -> dict[str, int]:
    """The Python objects the site documents, with their priority (-1: an alias)."""
    data = (site.html / "objects.inv").read_bytes()
    lines = zlib.decompress(data.split(b"\n", 4)[4]).decode().splitlines()
    objects = {}
    for line in lines:
        name, role, priority, _ = line.split(" ", 3)
        if role.startswith("py:"):
            objects[name] = int(priority)
    return objects


def test_the_docs_build_without_warnings(site: Site) -> None:
    """sphinx-build -W (nitpicky, every reference resolved) succeeds, offline."""
    assert site.returncode == 0, site.output
    assert (site.html / "index.html").is_file()
    # The intersphinx links point at the real sites.
    html = (site.html / "reference" / "client.html").read_text(encoding="utf-8")
    assert "https://docs.python.org/3/library/ssl.html#ssl.SSLContext" in html
    assert "https://trio.readthedocs.io/en/stable/reference-core.html#trio.Nursery" in html


def test_the_reference_has_every_public_name(site: Site) -> None:
    """ws.__all__ and the public subpackages' __all__ are all in the reference."""
    assert site.returncode == 0, site.output
    documented = _inventory(site)
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            # Documented under its own module, or once under ws (same object).
            if f"{module_name}.{name}" not in documented and not (
                getattr(ws, name, None) is obj and f"ws.{name}" in documented
            ):
                missing.append(f"{module_name}.{name}")
    assert "ws.protocol.Protocol" in documented
    assert missing == []


def test_the_reference_has_no_private_name(site: Site) -> None:
    """No documented object (aliases aside) has a name with a leading underscore."""
    assert site.returncode == 0, site.output
    private = [
        name
        for name, priority in _inventory(site).items()
        if priority != -1 and any(part.startswith("_") for part in name.split("."))
    ]
    assert private == []


def test_the_docs_have_runnable_blocks() -> None:
    """The getting-started and tutorial echo examples are among the blocks that run."""
    pages = {block.path.relative_to(DOCS).as_posix() for block in RUNNABLE if block.path.is_relative_to(DOCS)}
    assert {"getting-started.md", "tutorial/echo.md"} <= pages
    assert any(block.path.name == "README.md" for block in RUNNABLE)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_python_block_compiles(block: Block) -> None:
    """Every python block of the docs and the README is valid Python."""
    compile(block.code, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda block: block.name)
def test_runnable_block_runs(block: Block, tmp_path: Path) -> None:
    """A block marked to run exits with status 0 within its timeout, on loopback only."""
    script = tmp_path / "example.py"
    # Blank lines in front, so that tracebacks give the line in the page.
    script.write_text("\n" * block.line + block.code, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")}
    result = subprocess.run(
        [sys.executable, "-c", _LOOPBACK_GUARD, str(script)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{block.name} failed:\n{result.stdout}{result.stderr}"
