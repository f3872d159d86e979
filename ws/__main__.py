"""``python -m ws``: the command line (``client``, ``serve``, ``demo``).

``python -m ws demo`` starts an echo server on 127.0.0.1 (a free port),
connects a client to it, exchanges a few messages with permessage-deflate,
and closes both ends: a one-minute look at the library that needs nothing
but ws itself. The commands live in :mod:`ws.cli`, which the installed
``trio-ws`` script runs too; ``docs/cli.md`` is their reference.
"""

from __future__ import annotations

import sys

from ws.cli import main

if __name__ == "__main__":
    sys.exit(main())
