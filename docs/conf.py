"""Sphinx configuration of the ws docs site.

Build it (what tests/test_docs.py runs; any warning fails)::

    pip install -e '.[docs]'
    python -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing is downloaded: the intersphinx inventories of Python and Trio are
small files in ``docs/_inventories/`` (made by ``docs/_inventories/make.py``),
and the links in them point at the real sites.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docutils.nodes import Element, TextElement
    from sphinx.addnodes import pending_xref
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ws  # noqa: E402  (after the path insert, so that the tree's ws is documented)

project = "ws"
author = "The ws developers"
copyright = "the ws developers"  # noqa: A001  (Sphinx's name)
release = ws.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_inventories", "Thumbs.db", ".DS_Store"]

html_theme = "furo"
html_title = f"ws {release}"

# -- MyST: the Markdown pages --------------------------------------------------

# Headings get GitHub-style anchors, so that the pages' links such as
# (#graceful-shutdown-serveraclose) work on GitHub and on the site alike.
myst_heading_anchors = 4

# -- autodoc ---------------------------------------------------------------------

autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
# Long unions shown by the name of their documented alias.
autodoc_type_aliases = {
    "Compression": "ws.options.Compression",
    "ProcessRequestArg": "ws.http.ProcessRequestArg",
    "Logger": "ws.options.Logger",
}
# Defaults as values ("connect_timeout=60"), not as the names in the source.
autodoc_preserve_defaults = False
# The docstrings are Google style.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections become attribute entries, which docstrings can link to.
napoleon_use_ivar = False

# -- intersphinx: vendored inventories, no network -----------------------------------

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", "_inventories/python.inv"),
    "trio": ("https://trio.readthedocs.io/en/stable", "_inventories/trio.inv"),
}
# {doc} and :doc: name our own pages only.
intersphinx_disabled_reftypes = ["std:doc"]

# -- nitpicky: every cross-reference, type hints included, must resolve -------------

nitpicky = True
nitpick_ignore = [
    # Type variables of generic functions (connect_forever returns what its
    # handler returns): private names with nothing to link to.
    ("py:class", "ws._reconnect.T"),
    # The signature of ExtensionPipeline.decode, spelled as a private
    # Protocol class because Callable cannot spell a keyword argument.
    ("py:class", "ws.extensions.pipeline._Decoder"),
    # The module that composes connections: internal, named in the
    # connection's docstring to say where the parts come from.
    ("py:mod", "ws.builder"),
    # The listener ws.testing serves on (MemoryWebSocketServer.listener):
    # ws.transports is plumbing under the public API, not in the reference.
    ("py:class", "ws.transports.MemoryListener"),
    ("py:class", "ws.transports.memory.MemoryListener"),
]


# -- Private module paths to the public names --------------------------------------
#
# Type hints name the class where it is defined, e.g.
# ws.connection._connection.WebSocketConnection; the reference documents it
# once, under its public name (ws.WebSocketConnection). This maps the one to
# the other by identity: a reference to any path that is the same object as a
# documented one resolves to the documented entry.


def _import_path(path: str) -> object | None:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


_PUBLIC: dict[int, tuple[str, str]] = {}


def _public_names(env: BuildEnvironment) -> dict[int, tuple[str, str]]:
    if not _PUBLIC:
        for name, entry in env.get_domain("py").objects.items():  # type: ignore[attr-defined]
            if entry.aliased or not name.startswith("ws"):
                continue
            obj = _import_path(name)
            if obj is not None and not isinstance(obj, (int, float, str, bytes, tuple, frozenset)):
                _PUBLIC.setdefault(id(obj), (name, entry.objtype))
    return _PUBLIC


def _resolve_private_path(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: TextElement
) -> Element | None:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("ws."):
        # A short name in a docstring of another module ("Raises:
        # ConnectFailed" in ws.testing, Router.route in ws.routing): the
        # public name of that spelling, if there is one.
        target = f"ws.{target}"
    obj = _import_path(target)
    if obj is None:
        return None
    public = _public_names(env).get(id(obj))
    if public is None:
        return None
    name, objtype = public
    domain = env.get_domain("py")
    role = {"exception": "exc", "function": "func", "method": "meth", "attribute": "attr"}.get(
        objtype, objtype
    )
    return domain.resolve_xref(env, node["refdoc"], app.builder, role, name, node, contnode)


# -- Docstring style that napoleon reads otherwise ---------------------------------
#
# Two habits of our Google-style docstrings that napoleon does not expect:
#
# * Parameters that share a description are listed together, and the list
#   may wrap: "subprotocols, extra_headers,\n    receive_buffer_size: As for
#   ...". The wrapped names are joined into one line here.
# * Attribute and property docstrings are prose ("The local endpoint: ..."),
#   never "type: description" (the annotation gives the type), so napoleon
#   must not take the words before the first colon for a type. An empty
#   comment as the first line keeps it from doing so.


def _join_wrapped_names(lines: list[str]) -> None:
    i = 0
    section = ""
    while i < len(lines) - 1:
        line = lines[i]
        stripped = line.strip()
        if stripped.endswith(":") and not line.startswith(" "):
            section = stripped
        elif (
            section in ("Args:", "Arguments:", "Parameters:")
            and line.startswith("    ")
            and not line.startswith("     ")
            and stripped.endswith(",")
            and ":" not in stripped
        ):
            lines[i] = line.rstrip() + " " + lines.pop(i + 1).strip()
            continue
        i += 1


def _prepare_docstring(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    _join_wrapped_names(lines)
    if what in ("attribute", "property", "data") and lines and lines[0].strip():
        lines[:0] = ["..", ""]


def setup(app: Sphinx) -> None:
    # Before napoleon (priority 500), which turns the sections into fields.
    app.connect("autodoc-process-docstring", _prepare_docstring, priority=400)
    app.connect("missing-reference", _resolve_private_path)
