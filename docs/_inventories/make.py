"""Write the intersphinx inventories of Python and Trio that the docs link to.

    python docs/_inventories/make.py

The docs build must not download anything, so instead of fetching
``objects.inv`` from docs.python.org and trio.readthedocs.io, conf.py reads
the two small inventories this script writes next to it: ``python.inv`` and
``trio.inv``. They list exactly the names the docs and the docstrings
refer to, with their addresses on the real sites, so the links in the built
pages go there.

When the build says ``py:class reference target not found: trio.Something``
(``nitpicky`` is on), add the name to the table below with the page it is
documented on, run this script, and commit both ``.inv`` files.

The format is Sphinx's inventory version 2: four header lines, then
zlib-compressed lines ``name domain:role priority uri display-name``, where
a ``uri`` ending in ``$`` stands for the uri with the name in place of the
``$``, and a display name ``-`` for the name itself.
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (name, role, page); the anchor is the name itself (``page#name``),
#: except for modules (``page#module-name``).
PYTHON: list[tuple[str, str, str]] = [
    ("collections.abc.AsyncIterable", "class", "library/collections.abc.html"),
    ("collections.abc.AsyncIterator", "class", "library/collections.abc.html"),
    ("collections.abc.Awaitable", "class", "library/collections.abc.html"),
    ("collections.abc.Callable", "class", "library/collections.abc.html"),
    ("collections.abc.Container", "class", "library/collections.abc.html"),
    ("collections.abc.Iterable", "class", "library/collections.abc.html"),
    ("collections.abc.Mapping", "class", "library/collections.abc.html"),
    ("collections.abc.Sequence", "class", "library/collections.abc.html"),
    ("contextlib.AbstractAsyncContextManager", "class", "library/contextlib.html"),
    ("ipaddress", "module", "library/ipaddress.html"),
    ("ipaddress.IPv4Address", "class", "library/ipaddress.html"),
    ("ipaddress.IPv6Address", "class", "library/ipaddress.html"),
    ("logging", "module", "library/logging.html"),
    ("logging.Logger", "class", "library/logging.html"),
    ("logging.LoggerAdapter", "class", "library/logging.html"),
    ("os.PathLike", "class", "library/os.html"),
    ("os.urandom", "function", "library/os.html"),
    ("random.random", "function", "library/random.html"),
    ("re.Pattern", "class", "library/re.html"),
    ("ssl.SSLContext", "class", "library/ssl.html"),
    ("ssl.SSLError", "exception", "library/ssl.html"),
]

TRIO: list[tuple[str, str, str]] = [
    ("trio.Nursery", "class", "reference-core.html"),
    ("trio.SSLStream", "class", "reference-io.html"),
    ("trio.SocketStream", "class", "reference-io.html"),
    ("trio.TaskStatus", "class", "reference-core.html"),
    ("trio.abc.Listener", "class", "reference-io.html"),
    ("trio.abc.Stream", "class", "reference-io.html"),
    ("trio.testing.MockClock", "class", "reference-testing.html"),
]


def inventory(project: str, version: str, entries: list[tuple[str, str, str]]) -> bytes:
    """The bytes of an inventory (version 2) holding ``entries``."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    lines = []
    for name, role, page in sorted(entries):
        anchor = f"module-{name}" if role == "module" else name
        uri = f"{page}#{anchor}"
        if uri.endswith(name):
            uri = uri[: -len(name)] + "$"
        priority = 0 if role == "module" else 1
        lines.append(f"{name} py:{role} {priority} {uri} -\n")
    return header.encode() + zlib.compress("".join(lines).encode(), 9)


def main() -> None:
    (HERE / "python.inv").write_bytes(inventory("Python", "3", PYTHON))
    (HERE / "trio.inv").write_bytes(inventory("Trio", "stable", TRIO))


if __name__ == "__main__":
    main()
